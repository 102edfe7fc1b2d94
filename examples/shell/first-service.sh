#!/bin/sh
# The first oo service in shell: every call to the oo API is a plain curl, and the "service" is
# python3's static file server over a directory laid out like the route, so GET /<slug>/hello
# returns the file <dir>/<slug>/hello. Swap in any HTTP server you have.
#
# It logs in or registers its account, registers its URL with a heartbeat TTL, heartbeats, and
# deregisters when stopped (Ctrl-C or SIGTERM). It runs for longer than a token lives: a
# refused token is replaced (a new login with its stored password, or the file that
# `oo service run` keeps current), a forgotten instance is registered again. When the server
# has not answered for OO_GIVE_UP_SECONDS (default 60) it stops, rather than serve on with no
# one to route to it; and if the script itself is killed outright, its heartbeat loop stops the
# web server and ends too.
#
# Env: OO_URL (or OB_URL, OPENORCH_URL), SELF_URL (or PORT), OO_TOKEN_FILE or OO_TOKEN,
# OO_SLUG (default sh-svc), OO_HEARTBEAT_SECONDS (default 5), OO_GIVE_UP_SECONDS (default 60).
set -eu

server=${OO_URL:-${OB_URL:-${OPENORCH_URL:-http://127.0.0.1:58231}}}
server=${server%/}
slug=${OO_SLUG:-sh-svc}
port=${PORT:-9312}
self=${SELF_URL:-http://127.0.0.1:$port}
port=${self##*:}
port=${port%%/*}
beat=${OO_HEARTBEAT_SECONDS:-5}
give_up=${OO_GIVE_UP_SECONDS:-60}
ttl="$((3 * beat))s"

# token_now - the token to send: the file `oo service run` keeps current, else our own.
token_now() {
	if [ -n "${OO_TOKEN_FILE:-}" ]; then cat "$OO_TOKEN_FILE"; else printf '%s' "$token"; fi
}
# anon METHOD PATH [JSON] - prints the body; fails on a non-2xx answer.
anon() {
	curl -sS --fail-with-body --max-time 10 -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "$server$2"
}
# api METHOD PATH [JSON] - the same, with our token.
api() {
	curl -sS --fail-with-body --max-time 10 -X "$1" -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $(token_now)" ${3:+--data "$3"} "$server$2"
}
# status METHOD PATH [JSON] - only the HTTP status of a call (000: the server did not answer).
status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $(token_now)" ${3:+--data "$3"} "$server$2" || true
}
# field NAME - the last "NAME":"value" of the JSON on stdin (enough for these answers).
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
# login - a new token with the stored password; fails when there is none (or it is refused).
login() {
	[ -n "$password" ] || return 1
	t=$(anon POST /user-svc/login "{\"slug\":\"$slug\",\"password\":\"$password\"}" | field token)
	[ -n "$t" ] || return 1
	token=$t
}
# register - registers our URL and prints the instance's id.
register() { api PUT /registry-svc/instance "{\"url\":\"$self\",\"heartbeatTtl\":\"$ttl\"}" | field id; }

# The password this service makes up for itself lives where the Go SDK keeps its own, 0600.
creds=${XDG_DATA_HOME:-$HOME/.local/share}/oo/services/$slug.json
token=${OO_TOKEN:-}
password=
if [ -z "$token" ] && [ -z "${OO_TOKEN_FILE:-}" ]; then
	password=$( [ -f "$creds" ] && field password <"$creds" || true)
	if [ -n "$password" ]; then
		login || true
	else
		password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
		(umask 077 && mkdir -p "${creds%/*}" && printf '{"slug":"%s","password":"%s"}\n' "$slug" "$password" >"$creds")
	fi
	if [ -z "$token" ]; then
		token=$(anon POST /user-svc/register "{\"slug\":\"$slug\",\"name\":\"$slug\",\"password\":\"$password\"}" | field token)
	fi
	[ -n "$token" ] || { echo "could not log in or register $slug at $server" >&2; exit 1; }
fi

# The content: one file per route.
root=$(mktemp -d)
mkdir -p "$root/$slug"
printf '{"hello":"world"}' >"$root/$slug/hello"
python3 -m http.server --bind 127.0.0.1 --directory "$root" "$port" >/dev/null 2>&1 &
web=$!

beater=
id=
cleanup() {
	trap - INT TERM EXIT
	for p in $beater $web; do kill "$p" 2>/dev/null || true; done
	# The heartbeat loop may have registered again under a new id, so the file wins. Without
	# it, a signal that came while we registered (the shell runs the trap once registering
	# has returned, before the id is written down) still leaves us the id to remove.
	id=$(cat "$root/id" 2>/dev/null || printf '%s' "${id:-}")
	if [ -n "$id" ]; then
		code=$(status DELETE "/registry-svc/instance/$id")
		n=0
		while [ "$code" = 401 ] && [ "$n" -lt 3 ] && login; do
			code=$(status DELETE "/registry-svc/instance/$id")
			n=$((n + 1))
		done
		case $code in
		2?? | 404) echo "deregistered $id" ;; # 404: someone (oo service run) did it first
		*) echo "could not deregister $id (HTTP $code)" >&2 ;;
		esac
	fi
	rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Listen first, then register: the server's first health check must find the port open.
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "web server did not start" >&2; exit 1; }
	sleep 0.1
done
# Something else answering on the port (the web server could not bind it) is not us.
kill -0 "$web" 2>/dev/null || { echo "web server could not listen on port $port" >&2; exit 1; }
id=$(register)
[ -n "$id" ] || { echo "could not register $self as $slug" >&2; exit 1; }
echo "$id" >"$root/id"
echo "$slug listening on $self, registered as $id"

# The heartbeat loop ends its own sleep when stopped, so nothing is left holding our output.
main=$$
(
	nap=
	trap 'kill $nap 2>/dev/null; exit 0' TERM
	down=0
	while :; do
		sleep "$beat" &
		nap=$!
		wait "$nap"
		# Killed outright (no cleanup ran): do not serve on unsupervised.
		kill -0 "$main" 2>/dev/null || { kill "$web" 2>/dev/null; exit 0; }
		code=$(status PUT "/registry-svc/instance/$id/heartbeat" "{\"ttl\":\"$ttl\"}")
		if [ "$code" = 401 ]; then
			# Expired or revoked: log in again (under oo service run, the file is current by now).
			login || true
			code=$(status PUT "/registry-svc/instance/$id/heartbeat" "{\"ttl\":\"$ttl\"}")
		fi
		if [ "$code" = 404 ]; then
			# The server forgot us (its TTL ran out while we were suspended, or it was reset).
			new=$(register || true)
			if [ -n "$new" ]; then id=$new; echo "$id" >"$root/id"; code=200; fi
		fi
		case $code in
		2??) down=0 ;;
		000)
			down=$((down + beat))
			if [ "$down" -ge "$give_up" ]; then
				echo "the oo server at $server has not answered for ${down}s; stopping" >&2
				: >"$root/gave-up"
				kill "$web" 2>/dev/null
				exit 0
			fi ;;
		*) echo "heartbeat: HTTP $code" >&2 ;;
		esac
	done
) &
beater=$!
wait "$web" || true
# Stopped because the server is gone: a failure, so that a supervisor may restart it.
[ ! -e "$root/gave-up" ] || exit 1
