#!/bin/sh
# The first oo service in shell: every call to the oo API is a plain curl, and the "service" is
# python3's static file server over a directory laid out like the route, so GET /<slug>/hello
# returns the file <dir>/<slug>/hello. Swap in any HTTP server you have.
#
# It logs in or registers its account, registers its URL with a heartbeat TTL, heartbeats, and
# deregisters when stopped (Ctrl-C or SIGTERM).
#
# Env: OO_URL (or OB_URL, OPENORCH_URL), SELF_URL (or PORT), OO_TOKEN, OO_SLUG (default sh-svc).
set -eu

server=${OO_URL:-${OB_URL:-${OPENORCH_URL:-http://127.0.0.1:58231}}}
server=${server%/}
slug=${OO_SLUG:-sh-svc}
port=${PORT:-9312}
self=${SELF_URL:-http://127.0.0.1:$port}
port=${self##*:}
port=${port%%/*}
beat=5

# api METHOD PATH [JSON] - prints the body; fails on a non-2xx answer.
api() {
	curl -sS --fail-with-body --max-time 10 -X "$1" -H 'Content-Type: application/json' \
		${token:+-H "Authorization: Bearer $token"} ${3:+--data "$3"} "$server$2"
}
# field NAME - the last "NAME":"value" of the JSON on stdin (enough for these answers).
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# The password this service makes up for itself lives where the Go SDK keeps its own, 0600.
creds=${XDG_DATA_HOME:-$HOME/.local/share}/oo/services/$slug.json
token=${OO_TOKEN:-}
if [ -z "$token" ]; then
	password=$( [ -f "$creds" ] && field password <"$creds" || true)
	if [ -n "$password" ]; then
		token=$(api POST /user-svc/login "{\"slug\":\"$slug\",\"password\":\"$password\"}" | field token) || token=
	else
		password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
		(umask 077 && mkdir -p "${creds%/*}" && printf '{"slug":"%s","password":"%s"}\n' "$slug" "$password" >"$creds")
	fi
	if [ -z "$token" ]; then
		token=$(api POST /user-svc/register "{\"slug\":\"$slug\",\"name\":\"$slug\",\"password\":\"$password\"}" | field token)
	fi
fi

# The content: one file per route.
root=$(mktemp -d)
mkdir -p "$root/$slug"
printf '{"hello":"world"}' >"$root/$slug/hello"
python3 -m http.server --bind 127.0.0.1 --directory "$root" "$port" >/dev/null 2>&1 &
web=$!

id=
cleanup() {
	trap - INT TERM EXIT
	kill "$beater" "$web" 2>/dev/null || true
	[ -n "$id" ] && api DELETE "/registry-svc/instance/$id" >/dev/null 2>&1 && echo "deregistered $id"
	rm -rf "$root"
}
beater=
trap cleanup EXIT
trap 'exit 0' INT TERM

# Listen first, then register: the server's first health check must find the port open.
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "web server did not start" >&2; exit 1; }
	sleep 0.1
done
id=$(api PUT /registry-svc/instance "{\"url\":\"$self\",\"heartbeatTtl\":\"$((3 * beat))s\"}" | field id)
echo "$slug listening on $self, registered as $id"

# The heartbeat loop ends its own sleep when stopped, so nothing is left holding our output.
(
	trap 'kill "$nap" 2>/dev/null; exit 0' TERM
	while :; do
		sleep "$beat" &
		nap=$!
		wait "$nap"
		api PUT "/registry-svc/instance/$id/heartbeat" "{\"ttl\":\"$((3 * beat))s\"}" >/dev/null || true
	done
) &
beater=$!
wait "$web"
