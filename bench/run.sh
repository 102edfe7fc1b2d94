#!/usr/bin/env bash
# bench/run.sh: measure one tiny backend ({"hello":"world"}) four ways in one run on 127.0.0.1,
# with the same load generator and the same settings: direct, through `oo server start`,
# through nginx as a keep-alive reverse proxy, and through Caddy's reverse_proxy. Prints
# requests/s, p50/p99 latency and CPU time per request of each proxy, and the ratios oo/nginx,
# oo/caddy and oo/direct; writes the same as JSON under bench/results/ (ignored by git).
#
#   bash bench/run.sh                                  # defaults below, about 3 minutes
#   REPEAT=1 WRK_DURATION=10s GO_BENCH=0 bash bench/run.sh   # one 10 s shot per target
#
# All four targets run side by side; each round measures every target once (the order rotates
# from round to round) and the table shows the median over the rounds, so a burst of other
# work on the machine does not land on one target only.
#
# Environment (all optional):
#   WRK_THREADS=2 WRK_CONNS=64 WRK_DURATION=8s WARMUP=1s   load settings, the same for every target
#   REPEAT=3                  rounds; figures are medians over the rounds
#   BENCH_PATH=/bench-svc/hello   path requested (the oo slug is its first segment)
#   OO_INFO_RUN=1             also measure a second oo with its access log on (--log-level info,
#                             written to a file), in the same rounds
#   OO_NETHTTP_RUN=1          also measure a second oo with its fast path off
#                             (--proxy-net-http-only: every request through net/http and
#                             httputil.ReverseProxy) as "oo-nethttp", in the same rounds; prints
#                             the CPU ratio of the two paths
#   OO_METRICS_OFF_RUN=1      also measure a second oo with metrics off (--metrics off: no
#                             /metrics and no per-request traffic record) as "oo-metoff", in
#                             the same rounds; prints the CPU ratio metrics on / off (target
#                             <= 1.05)
#   OO_BASE_BIN=PATH          also measure another oo binary (say, built from the previous commit)
#                             as "oo-base", in the same rounds: an A/B of a change, free of the
#                             drift between two runs; prints the CPU ratio oo/oo-base
#   PROFILE=1                 also profile oo under the same load (CPU and allocations through
#                             net/http/pprof, compiled into a separate binary with -overlay)
#   GO_BENCH=1                also run `go test -bench . -benchmem` in server/registry, server/proxy
#                             and server/httpapi (route lookup; one proxied request in process)
#   CADDY_KEEPALIVE=64        Caddy's idle upstream connections per host (nginx: keepalive 64)
#   BACKEND_PORT OO_PORT OO_INFO_PORT OO_BASE_PORT OO_NETHTTP_PORT OO_NOMETRICS_PORT NGINX_PORT
#   CADDY_PORT PPROF_PORT     loopback ports (19311 19231 19233 19234 19235 19236 19080 19081 19232)
#   BENCH_KEEP_TMP=1          keep the temp dir (configs, logs, raw wrk output) for inspection
# Needs go, curl, wrk, nginx and caddy; installs the Debian packages that are missing (apt-get
# as root, sudo otherwise). Every process it starts is stopped on exit.
set -euo pipefail

WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-8s}
WARMUP=${WARMUP:-1s}
REPEAT=${REPEAT:-3}
BENCH_PATH=${BENCH_PATH:-/bench-svc/hello}
OO_INFO_RUN=${OO_INFO_RUN:-1}
OO_NETHTTP_RUN=${OO_NETHTTP_RUN:-1}
OO_NETHTTP_PORT=${OO_NETHTTP_PORT:-19235}
OO_METRICS_OFF_RUN=${OO_METRICS_OFF_RUN:-1}
OO_NOMETRICS_PORT=${OO_NOMETRICS_PORT:-19236}
PROFILE=${PROFILE:-1}
GO_BENCH=${GO_BENCH:-1}
CADDY_KEEPALIVE=${CADDY_KEEPALIVE:-64}
BACKEND_PORT=${BACKEND_PORT:-19311}
OO_PORT=${OO_PORT:-19231}
OO_INFO_PORT=${OO_INFO_PORT:-19233}
OO_BASE_PORT=${OO_BASE_PORT:-19234}
OO_BASE_BIN=${OO_BASE_BIN:-}
NGINX_PORT=${NGINX_PORT:-19080}
CADDY_PORT=${CADDY_PORT:-19081}
PPROF_PORT=${PPROF_PORT:-19232}
HOST=127.0.0.1
SLUG=${BENCH_PATH#/}
SLUG=${SLUG%%/*}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

dur_seconds() { # 10s → 10, 1m → 60 (the forms wrk accepts that this script uses)
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
SECS=$(dur_seconds "$WRK_DURATION")
WARM_SECS=$(dur_seconds "$WARMUP")
[[ $SECS =~ ^[0-9]+$ && $WARM_SECS =~ ^[0-9]+$ ]] || die "WRK_DURATION and WARMUP must be like 8s or 1m"
((SECS >= 1 && SECS <= 15)) || die "WRK_DURATION must be between 1s and 15s"
((REPEAT >= 1 && REPEAT <= 5)) || die "REPEAT must be between 1 and 5"

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
install_missing() {
	local missing=() pkg
	for pkg in "$@"; do
		command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	log "installing ${missing[*]}"
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "need root or sudo to install ${missing[*]}"
		sudo=(sudo)
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# The packages enable their system services; this script never uses them.
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	for pkg in "${missing[@]}"; do
		command -v "$pkg" >/dev/null 2>&1 || die "$pkg still missing after apt-get install"
	done
}
command -v go >/dev/null 2>&1 || die "go is required (https://go.dev/dl/); the module needs go $(sed -n 's/^go //p' go.mod)"
install_missing curl wrk nginx caddy

# ---------------------------------------------------------------------------------------------
# Temp dir, processes, cleanup
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/oo-bench.XXXXXX")
RESULTS_DIR=bench/results
mkdir -p "$RESULTS_DIR"
PIDS=()

stop_pid() { # stop_pid PID: TERM, up to 5 s, then KILL; reaps it
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
		log "temp dir kept: $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_bg() { # start_bg NAME CMD...: background, output to $TMP/NAME.log, pid in LAST_PID
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_http() { # wait_http URL PID [SECONDS]: until URL answers anything over HTTP
	local url=$1 pid=$2 t=${3:-15} i
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		curl -s -o /dev/null --max-time 1 "$url" && return 0
		sleep 0.1
	done
	return 1
}

wait_200() { # wait_200 URL [SECONDS]: until URL answers 200; prints the last code on failure
	local url=$1 t=${2:-20} i code=000
	for ((i = 0; i < t * 5; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
		[[ $code == 200 ]] && return 0
		sleep 0.2
	done
	echo "$code"
	return 1
}

for p in "$BACKEND_PORT" "$OO_PORT" "$OO_INFO_PORT" "$OO_BASE_PORT" "$OO_NETHTTP_PORT" "$OO_NOMETRICS_PORT" "$NGINX_PORT" "$CADDY_PORT" "$PPROF_PORT"; do
	port_free "$p" || die "port $HOST:$p is in use; set BACKEND_PORT, OO_PORT, OO_INFO_PORT, OO_BASE_PORT, OO_NETHTTP_PORT, OO_NOMETRICS_PORT, NGINX_PORT, CADDY_PORT or PPROF_PORT"
done

# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc (clock ticks)
# ---------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

descendants() { # descendants PID: PID and all its live descendants (nginx master + workers)
	local root=$1 f rest ppid pid changed=1
	local -A set=([$root]=1)
	while ((changed)); do
		changed=0
		for f in /proc/[0-9]*/stat; do
			{ read -r rest <"$f"; } 2>/dev/null || continue
			pid=${rest%% *}
			[[ -n ${set[$pid]:-} ]] && continue
			rest=${rest##*) } # after "(comm) ": state ppid ...
			ppid=${rest#* }
			ppid=${ppid%% *}
			if [[ -n ${set[$ppid]:-} ]]; then
				set[$pid]=1
				changed=1
			fi
		done
	done
	echo "${!set[@]}"
}

cpu_ticks() { # cpu_ticks PID...: "UTIME STIME" summed (stat fields 14 and 15)
	local ut=0 st=0 pid rest
	local -a f
	for pid in "$@"; do
		{ read -r rest <"/proc/$pid/stat"; } 2>/dev/null || continue
		rest=${rest##*) }
		read -r -a f <<<"$rest" # f[0] is field 3, so utime is f[11], stime f[12]
		ut=$((ut + f[11]))
		st=$((st + f[12]))
	done
	echo "$ut $st"
}

# busy_snapshot: "MACHINE OURS" in ticks. MACHINE is user+nice+system+steal of all CPUs from
# /proc/stat (softirq left out: loopback traffic lands there); OURS is utime+stime+cutime+cstime
# of this script and its live descendants, so wrk counts once reaped. MACHINE - OURS over a
# measurement is what other processes took: on a shared 2-core machine, the main noise.
busy_snapshot() {
	local machine ours=0 pid rest
	local -a f
	machine=$(awk '/^cpu / {print $2 + $3 + $4 + $9}' /proc/stat)
	for pid in $(descendants $$); do
		{ read -r rest <"/proc/$pid/stat"; } 2>/dev/null || continue
		rest=${rest##*) }
		read -r -a f <<<"$rest"
		ours=$((ours + f[11] + f[12] + f[13] + f[14]))
	done
	echo "$machine $ours"
}

other_cpu() { # other_cpu "BEFORE" "AFTER": percent of the machine others used over SECS
	awk -v b="$1" -v a="$2" -v secs="$SECS" -v hz="$CLK_TCK" -v n="$NPROC" 'BEGIN {
		split(b, x, " "); split(a, y, " ")
		pct = ((y[1] - x[1]) - (y[2] - x[2])) / hz / (secs * n) * 100
		if (pct < 0) pct = 0
		if (pct > 100) pct = 100
		printf "%.0f", pct }'
}

# ---------------------------------------------------------------------------------------------
# One measurement
# ---------------------------------------------------------------------------------------------
to_ms() { # wrk latency (812.00us, 1.23ms, 1.05s, 1.00m) → milliseconds
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "nan" }'
}

RAW=() # name|round|rps|p50|p99|requests|errors|proxy_us|backend_us|other_pct|proxy_sys_pct|proxy_per_backend

# measure NAME ROUND URL PROXY_PID|-: warm up, run wrk, account CPU of the proxy's process
# tree and of the backend, append a RAW line.
measure() {
	local name=$1 round=$2 url=$3 ppid=$4 out="$TMP/wrk-$1-$2.txt"
	log "$name (round $round/$REPEAT): warm-up $WARMUP, then wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency $url"
	if ((WARM_SECS > 0)); then
		timeout --foreground -k 5 $((WARM_SECS + 10)) \
			wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WARMUP" "$url" >/dev/null
	fi
	local -a ppids=()
	[[ $ppid != - ]] && read -r -a ppids <<<"$(descendants "$ppid")"
	local p0 b0 p1 b1 busy0 busy1
	busy0=$(busy_snapshot)
	p0=$(cpu_ticks "${ppids[@]}")
	b0=$(cpu_ticks "$BACKEND_PID")
	timeout --foreground -k 5 $((SECS + 15)) \
		wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency "$url" >"$out"
	p1=$(cpu_ticks "${ppids[@]}")
	b1=$(cpu_ticks "$BACKEND_PID")
	busy1=$(busy_snapshot)

	local rps p50 p99 reqs errs=0 n other proxy_us=- proxy_sys=- proxy_rel=- backend_us
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
	reqs=$(awk '/ requests in / {print $1}' "$out")
	[[ -n $rps && -n $reqs && $reqs -gt 0 ]] || die "$name: could not parse wrk output: $(cat "$out")"
	n=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	errs=$((errs + ${n:-0}))
	n=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
	errs=$((errs + ${n:-0}))
	local -a pa pb ba bb
	read -r -a pa <<<"$p0"
	read -r -a pb <<<"$p1"
	read -r -a ba <<<"$b0"
	read -r -a bb <<<"$b1"
	if ((${#ppids[@]} > 0)); then
		local pu=$((pb[0] - pa[0])) ps=$((pb[1] - pa[1]))
		proxy_us=$(awk -v t=$((pu + ps)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
		proxy_sys=$(awk -v s="$ps" -v t=$((pu + ps)) 'BEGIN {if (t > 0) printf "%.0f", s / t * 100; else print "-"}')
	fi
	backend_us=$(awk -v t=$((bb[0] + bb[1] - ba[0] - ba[1])) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	# The proxy's CPU in units of the backend's (a minimal Go HTTP server): steadier than either
	# alone when the host's speed drifts (other guests, frequency), as both drift together.
	if [[ $proxy_us != - ]]; then
		proxy_rel=$(awk -v p="$proxy_us" -v b="$backend_us" 'BEGIN {if (b > 0) printf "%.2f", p / b; else print "-"}')
	fi
	other=$(other_cpu "$busy0" "$busy1")
	((errs == 0)) || log "WARNING: $name: $errs non-2xx responses or socket errors"
	((other < 10)) || log "note: other processes used about $other% of the machine during this run"
	RAW+=("$name|$round|$rps|$p50|$p99|$reqs|$errs|$proxy_us|$backend_us|$other|$proxy_sys|$proxy_rel")
}

# ---------------------------------------------------------------------------------------------
# Build, then start the backend and the three proxies side by side
# ---------------------------------------------------------------------------------------------
log "building oo and the backend (go build)"
go build -o "$TMP/oo" ./cmd/oo
go build -o "$TMP/backend" ./bench/backend

start_bg backend "$TMP/backend" -addr "$HOST:$BACKEND_PORT"
BACKEND_PID=$LAST_PID
wait_http "http://$HOST:$BACKEND_PORT/" "$BACKEND_PID" || die "backend did not start: $(cat "$TMP/backend.log")"

# oo_start NAME LOG_LEVEL BINARY PORT [ENV=VALUE...]: `oo server start` on a fresh data dir
# (its log to $TMP/NAME.log); register the slug and the backend's instance through the API;
# wait until the backend answers through the proxy. Sets OO_PID.
oo_start() {
	local name=$1 level=$2 bin=$3 port=$4 base="http://$HOST:$4" data="$TMP/data-$1"
	shift 4
	mkdir -p "$data/data" "$data/config"
	local pass body token code
	pass=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
	start_bg "$name" env "$@" XDG_DATA_HOME="$data/data" XDG_CONFIG_HOME="$data/config" \
		OO_ADMIN_PASSWORD="$pass" "$bin" server start --addr "$HOST:$port" --log-level "$level"
	OO_PID=$LAST_PID
	if ! wait_http "$base/" "$OO_PID"; then
		log "$name did not start: $(tail -5 "$TMP/$name.log")"
		stop_pid "$OO_PID"
		return 1
	fi
	body=$(curl -s --max-time 5 -H 'Content-Type: application/json' \
		-d "{\"slug\":\"$SLUG\",\"name\":\"bench backend\",\"password\":\"$pass\"}" \
		"$base/user-svc/register" || true)
	token=$(grep -o '"token":"[^"]*"' <<<"$body" | head -1 | cut -d'"' -f4 || true)
	if [[ -z $token ]]; then
		log "$name: POST /user-svc/register failed: $body"
		stop_pid "$OO_PID"
		return 1
	fi
	code=$(curl -s -o "$TMP/$name-instance.json" -w '%{http_code}' --max-time 5 -X PUT \
		-H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d "{\"url\":\"http://$HOST:$BACKEND_PORT\"}" "$base/registry-svc/instance" || true)
	if [[ $code != 2* ]]; then
		log "$name: PUT /registry-svc/instance answered $code: $(cat "$TMP/$name-instance.json")"
		stop_pid "$OO_PID"
		return 1
	fi
	if ! code=$(wait_200 "$base$BENCH_PATH" 20); then
		log "$name: GET $BENCH_PATH answered $code, not 200, 20 s after registering"
		stop_pid "$OO_PID"
		return 1
	fi
}

OO_STATUS=ok
OO_INFO_PID=-
OO_NETHTTP_PID=-
OO_NOMETRICS_PID=-
if oo_start oo warn "$TMP/oo" "$OO_PORT"; then
	OO_WARN_PID=$OO_PID
	if [[ $OO_INFO_RUN == 1 ]]; then
		if oo_start oo-info info "$TMP/oo" "$OO_INFO_PORT"; then
			OO_INFO_PID=$OO_PID
		else
			log "oo with info logging did not start; measuring without it"
			OO_INFO_RUN=0
		fi
	fi
	if [[ $OO_NETHTTP_RUN == 1 ]]; then
		if oo_start oo-nethttp warn "$TMP/oo" "$OO_NETHTTP_PORT" OO_PROXY_NET_HTTP_ONLY=1; then
			OO_NETHTTP_PID=$OO_PID
		else
			log "oo with the fast path off did not start; measuring without it"
			OO_NETHTTP_RUN=0
		fi
	fi
	if [[ $OO_METRICS_OFF_RUN == 1 ]]; then
		if oo_start oo-metoff warn "$TMP/oo" "$OO_NOMETRICS_PORT" OO_METRICS=off; then
			OO_NOMETRICS_PID=$OO_PID
		else
			log "oo with metrics off did not start; measuring without it"
			OO_METRICS_OFF_RUN=0
		fi
	fi
	if [[ -n $OO_BASE_BIN ]]; then
		[[ -x $OO_BASE_BIN ]] || die "OO_BASE_BIN=$OO_BASE_BIN is not an executable"
		if oo_start oo-base warn "$OO_BASE_BIN" "$OO_BASE_PORT"; then
			OO_BASE_PID=$OO_PID
		else
			log "the oo-base binary did not start; measuring without it"
			OO_BASE_BIN=""
		fi
	fi
else
	OO_STATUS=pending
	OO_INFO_RUN=0
	OO_NETHTTP_RUN=0
	OO_METRICS_OFF_RUN=0
	OO_BASE_BIN=""
	log "oo rows pending: the register-and-proxy flow does not work in this checkout yet"
fi

# nginx: keep-alive upstream, access log off, as the current user from a temp prefix.
NG="$TMP/nginx"
mkdir -p "$NG/logs" "$NG/tmp"
ng_user=""
if ((EUID == 0)); then ng_user="user $(id -un) $(id -gn);"; fi
cat >"$NG/nginx.conf" <<EOF
$ng_user
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    upstream backend {
        server $HOST:$BACKEND_PORT;
        keepalive 64;
    }
    server {
        listen $HOST:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
        }
    }
}
EOF
start_bg nginx nginx -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf"
NGINX_PID=$LAST_PID
wait_http "http://$HOST:$NGINX_PORT/" "$NGINX_PID" || die "nginx did not start: $(cat "$TMP/nginx.log" "$NG/logs/error.log" 2>/dev/null)"
code=$(wait_200 "http://$HOST:$NGINX_PORT$BENCH_PATH" 5) || die "nginx answered $code"

# Caddy: reverse_proxy with as many idle upstream connections as nginx keeps; admin endpoint
# off, no access log (Caddy has none unless asked), its own logger at ERROR.
CD="$TMP/caddy"
mkdir -p "$CD/data" "$CD/config"
cat >"$CD/Caddyfile" <<EOF
{
	admin off
	auto_https off
	log {
		level ERROR
	}
}
http://$HOST:$CADDY_PORT {
	reverse_proxy $HOST:$BACKEND_PORT {
		transport http {
			keepalive_idle_conns $CADDY_KEEPALIVE
			keepalive_idle_conns_per_host $CADDY_KEEPALIVE
		}
	}
}
EOF
HOME="$CD" XDG_DATA_HOME="$CD/data" XDG_CONFIG_HOME="$CD/config" \
	start_bg caddy caddy run --config "$CD/Caddyfile" --adapter caddyfile
CADDY_PID=$LAST_PID
wait_http "http://$HOST:$CADDY_PORT/" "$CADDY_PID" || die "caddy did not start: $(tail -20 "$TMP/caddy.log")"
code=$(wait_200 "http://$HOST:$CADDY_PORT$BENCH_PATH" 5) || die "caddy answered $code"

# ---------------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------------
TARGETS=(direct)
[[ $OO_STATUS == ok ]] && TARGETS+=(oo)
TARGETS+=(nginx caddy)
[[ $OO_INFO_RUN == 1 ]] && TARGETS+=(oo-info)
[[ $OO_NETHTTP_RUN == 1 ]] && TARGETS+=(oo-nethttp)
[[ $OO_METRICS_OFF_RUN == 1 ]] && TARGETS+=(oo-metoff)
[[ -n $OO_BASE_BIN ]] && TARGETS+=(oo-base)
declare -A URL=(
	[direct]="http://$HOST:$BACKEND_PORT$BENCH_PATH"
	[oo]="http://$HOST:$OO_PORT$BENCH_PATH"
	[oo-info]="http://$HOST:$OO_INFO_PORT$BENCH_PATH"
	[oo-base]="http://$HOST:$OO_BASE_PORT$BENCH_PATH"
	[oo-nethttp]="http://$HOST:$OO_NETHTTP_PORT$BENCH_PATH"
	[oo-metoff]="http://$HOST:$OO_NOMETRICS_PORT$BENCH_PATH"
	[nginx]="http://$HOST:$NGINX_PORT$BENCH_PATH"
	[caddy]="http://$HOST:$CADDY_PORT$BENCH_PATH"
)
declare -A PID_OF=([direct]=- [oo]=${OO_WARN_PID:--} [oo-info]=$OO_INFO_PID [oo-base]=${OO_BASE_PID:--} [oo-nethttp]=$OO_NETHTTP_PID [oo-metoff]=$OO_NOMETRICS_PID [nginx]=$NGINX_PID [caddy]=$CADDY_PID)
START_TIME=$SECONDS
for ((round = 1; round <= REPEAT; round++)); do
	nt=${#TARGETS[@]}
	for ((k = 0; k < nt; k++)); do
		t=${TARGETS[(k + round - 1) % nt]}
		measure "$t" "$round" "${URL[$t]}" "${PID_OF[$t]}"
	done
done
[[ $OO_STATUS == ok ]] && stop_pid "$OO_WARN_PID"
[[ $OO_INFO_RUN == 1 ]] && stop_pid "$OO_INFO_PID"
[[ $OO_NETHTTP_RUN == 1 ]] && stop_pid "$OO_NETHTTP_PID"
[[ $OO_METRICS_OFF_RUN == 1 ]] && stop_pid "$OO_NOMETRICS_PID"
[[ -n $OO_BASE_BIN ]] && stop_pid "$OO_BASE_PID"
log "measurements took $((SECONDS - START_TIME)) s"

# ---------------------------------------------------------------------------------------------
# Report: medians over rounds
# ---------------------------------------------------------------------------------------------
median() { # median VALUES...: of the numeric ones; - when none
	printf '%s\n' "$@" | awk '$1 != "-" {v[n++] = $1}
		END {
			if (n == 0) { print "-"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
			m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
			print m + 0 }'
}
column_of() { # column_of NAME INDEX: that field of every RAW line of NAME
	local r
	for r in "${RAW[@]}"; do
		[[ ${r%%|*} == "$1" ]] && cut -d'|' -f"$2" <<<"$r"
	done
	return 0
}
declare -A MED
NAMES=(direct oo nginx caddy)
[[ $OO_INFO_RUN == 1 ]] && NAMES+=(oo-info)
[[ $OO_NETHTTP_RUN == 1 ]] && NAMES+=(oo-nethttp)
[[ $OO_METRICS_OFF_RUN == 1 ]] && NAMES+=(oo-metoff)
[[ -n $OO_BASE_BIN ]] && NAMES+=(oo-base)
for n in "${NAMES[@]}"; do
	for i in 3 4 5 6 8 9 10 11 12; do
		# shellcheck disable=SC2046 # one value per line, word splitting intended
		MED[$n.$i]=$(median $(column_of "$n" "$i"))
	done
	errs=0
	for e in $(column_of "$n" 7); do errs=$((errs + e)); done
	MED[$n.7]=$errs
	rs=$(column_of "$n" 3 | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (NR > 1) printf "%.0f-%.0f", lo, hi; else print "-"}')
	MED[$n.range]=${rs:--}
done
[[ $OO_STATUS == ok ]] || { MED[oo.7]=-; MED[oo.range]=-; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo
echo "oo proxy benchmark, $DATE"
echo "machine: $NPROC CPU, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "tools:   $(go version | cut -d' ' -f3), $(nginx -v 2>&1 | sed 's/.*: //'), caddy $(caddy version | cut -d' ' -f1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "source:  $(git describe --always --dirty 2>/dev/null || echo unknown)"
echo "loadavg: $LOADAVG_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1, 5, 15 min)"
echo "load:    wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency, warm-up $WARMUP, GET $BENCH_PATH; median of $REPEAT round(s)"
echo
printf '| %-10s | %9s | %11s | %7s | %7s | %6s | %10s | %7s | %12s | %9s | %5s |\n' \
	target "req/s" "req/s range" "p50 ms" "p99 ms" errors "proxy CPU" "of it" "backend CPU" "proxy CPU" other
printf '| %-10s | %9s | %11s | %7s | %7s | %6s | %10s | %7s | %12s | %9s | %5s |\n' \
	"" "" "" "" "" "" "us/req" "sys %" "us/req" "/ backend" "CPU %"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------ ----------- ------------- --------- --------- -------- ------------ --------- -------------- ----------- -------
fmt1() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-") print v; else printf f, v }'; }
for n in "${NAMES[@]}"; do
	printf '| %-10s | %9s | %11s | %7s | %7s | %6s | %10s | %7s | %12s | %9s | %5s |\n' "$n" \
		"$(fmt1 "${MED[$n.3]}" %.0f)" "${MED[$n.range]}" "$(fmt1 "${MED[$n.4]}" %.2f)" "$(fmt1 "${MED[$n.5]}" %.2f)" \
		"${MED[$n.7]}" "$(fmt1 "${MED[$n.8]}" %.1f)" "$(fmt1 "${MED[$n.11]}" %.0f)" "$(fmt1 "${MED[$n.9]}" %.1f)" \
		"$(fmt1 "${MED[$n.12]}" %.2f)" "$(fmt1 "${MED[$n.10]}" %.0f)"
done
echo "(proxy CPU: user+system time of the proxy's processes per request, \"of it sys %\" the kernel's"
echo " share, \"/ backend\" the same in units of the backend's CPU per request, the steadiest figure"
echo " when the host's speed drifts; other CPU %: share of the whole machine taken by processes"
echo " outside this benchmark during the measurement, approximate)"
echo
echo "throughput oo/nginx  = $(ratio "${MED[oo.3]}" "${MED[nginx.3]}")   (target >= 0.85)"
echo "p99        oo/nginx  = $(ratio "${MED[oo.5]}" "${MED[nginx.5]}")   (target <= 1.20)"
echo "throughput oo/caddy  = $(ratio "${MED[oo.3]}" "${MED[caddy.3]}")   (target >= 1.20)"
echo "throughput oo/direct = $(ratio "${MED[oo.3]}" "${MED[direct.3]}")"
echo "p99        oo/caddy  = $(ratio "${MED[oo.5]}" "${MED[caddy.5]}")   (target <= 1.00)"
echo "CPU/req    oo/nginx  = $(ratio "${MED[oo.8]}" "${MED[nginx.8]}"),  oo/caddy = $(ratio "${MED[oo.8]}" "${MED[caddy.8]}")   (per backend-CPU units: $(ratio "${MED[oo.12]}" "${MED[nginx.12]}"), $(ratio "${MED[oo.12]}" "${MED[caddy.12]}"))"
echo "           (CPU/req target oo/nginx <= 1.30)"
if [[ $OO_NETHTTP_RUN == 1 ]]; then
	echo "fast path vs net/http path, same binary: throughput oo/oo-nethttp = $(ratio "${MED[oo.3]}" "${MED[oo-nethttp.3]}"), p99 = $(ratio "${MED[oo.5]}" "${MED[oo-nethttp.5]}"), CPU/req = $(ratio "${MED[oo.8]}" "${MED[oo-nethttp.8]}") (per backend-CPU units: $(ratio "${MED[oo.12]}" "${MED[oo-nethttp.12]}"))"
fi
if [[ $OO_METRICS_OFF_RUN == 1 ]]; then
	echo "metrics on vs off, same binary: CPU/req oo/oo-metoff = $(ratio "${MED[oo.8]}" "${MED[oo-metoff.8]}")   (target <= 1.05; per backend-CPU units: $(ratio "${MED[oo.12]}" "${MED[oo-metoff.12]}")), throughput = $(ratio "${MED[oo.3]}" "${MED[oo-metoff.3]}"), p99 = $(ratio "${MED[oo.5]}" "${MED[oo-metoff.5]}")"
fi
[[ -n $OO_BASE_BIN ]] && echo "CPU/req    oo/oo-base = $(ratio "${MED[oo.8]}" "${MED[oo-base.8]}")   (per backend-CPU units: $(ratio "${MED[oo.12]}" "${MED[oo-base.12]}"); oo-base: $OO_BASE_BIN)"
[[ $OO_STATUS == ok ]] || echo "oo: PENDING (the register-and-proxy flow did not work in this checkout; see the log above)"

JSON="$RESULTS_DIR/run-$(date -u +%Y%m%dT%H%M%SZ).json"
jnum() { if [[ $1 == - || -z $1 ]]; then echo null; else echo "$1"; fi; }
{
	printf '{\n  "date": "%s",\n  "source": "%s",\n  "nproc": %s,\n  "oo": "%s",\n' "$DATE" "$(git describe --always --dirty 2>/dev/null || echo unknown)" "$NPROC" "$OO_STATUS"
	printf '  "wrk": {"threads": %s, "connections": %s, "duration": "%s", "warmup": "%s", "rounds": %s},\n' \
		"$WRK_THREADS" "$WRK_CONNS" "$WRK_DURATION" "$WARMUP" "$REPEAT"
	printf '  "path": "%s",\n  "median": [\n' "$BENCH_PATH"
	sep=""
	for n in "${NAMES[@]}"; do
		printf '%s    {"target": "%s", "rps": %s, "p50_ms": %s, "p99_ms": %s, "errors": %s, "proxy_cpu_us_per_req": %s, "proxy_sys_pct": %s, "proxy_cpu_per_backend_cpu": %s, "backend_cpu_us_per_req": %s, "other_cpu_pct": %s}' \
			"$sep" "$n" "$(jnum "${MED[$n.3]}")" "$(jnum "${MED[$n.4]}")" "$(jnum "${MED[$n.5]}")" "$(jnum "${MED[$n.7]}")" \
			"$(jnum "${MED[$n.8]}")" "$(jnum "${MED[$n.11]}")" "$(jnum "${MED[$n.12]}")" "$(jnum "${MED[$n.9]}")" "$(jnum "${MED[$n.10]}")"
		sep=$',\n'
	done
	printf '\n  ],\n  "runs": [\n'
	sep=""
	for r in "${RAW[@]}"; do
		IFS='|' read -r n rd rps p50 p99 reqs errs pus bus oth psys prel <<<"$r"
		printf '%s    {"target": "%s", "round": %s, "rps": %s, "p50_ms": %s, "p99_ms": %s, "requests": %s, "errors": %s, "proxy_cpu_us_per_req": %s, "proxy_sys_pct": %s, "proxy_cpu_per_backend_cpu": %s, "backend_cpu_us_per_req": %s, "other_cpu_pct": %s}' \
			"$sep" "$n" "$rd" "$(jnum "$rps")" "$(jnum "$p50")" "$(jnum "$p99")" "$(jnum "$reqs")" "$(jnum "$errs")" \
			"$(jnum "$pus")" "$(jnum "$psys")" "$(jnum "$prel")" "$(jnum "$bus")" "$(jnum "$oth")"
		sep=$',\n'
	done
	printf '\n  ]\n}\n'
} >"$JSON"
echo "results: $JSON"

# ---------------------------------------------------------------------------------------------
# Profile oo under the same load. The server has no pprof endpoint, so a second binary is built
# with one extra file in package main, supplied through `go build -overlay` (the checkout is
# not modified), that serves net/http/pprof on another loopback port.
# ---------------------------------------------------------------------------------------------
oo_profile() {
	local ov="$TMP/overlay"
	mkdir -p "$ov"
	# bench/pprof-overlay.go.txt: serves net/http/pprof at $OO_BENCH_PPROF.
	cp "$ROOT/bench/pprof-overlay.go.txt" "$ov/pprof.go"
	printf '{"Replace": {"%s": "%s"}}\n' "$ROOT/cmd/oo/zz_bench_pprof.go" "$ov/pprof.go" >"$ov/overlay.json"
	go build -overlay "$ov/overlay.json" -o "$TMP/oo-pprof" ./cmd/oo || return 1
	oo_start oo-prof warn "$TMP/oo-pprof" "$OO_PORT" OO_BENCH_PPROF="$HOST:$PPROF_PORT" || return 1
	local url="http://$HOST:$OO_PORT$BENCH_PATH" psecs wrk_pid c1 c2 reqs
	psecs=$((SECS > 3 ? SECS - 2 : 1))
	log "oo-prof: warm-up $WARMUP, then wrk for $WRK_DURATION with a ${psecs}s CPU and allocation profile"
	if ((WARM_SECS > 0)); then
		timeout --foreground -k 5 $((WARM_SECS + 10)) \
			wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WARMUP" "$url" >/dev/null
	fi
	timeout -k 5 $((SECS + 15)) \
		wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" "$url" >"$TMP/wrk-prof.txt" &
	wrk_pid=$!
	PIDS+=("$wrk_pid")
	sleep 1
	curl -s --max-time $((psecs + 10)) -o "$RESULTS_DIR/oo-cpu.pprof" \
		"http://$HOST:$PPROF_PORT/debug/pprof/profile?seconds=$psecs" &
	c1=$!
	curl -s --max-time $((psecs + 10)) -o "$RESULTS_DIR/oo-allocs.pprof" \
		"http://$HOST:$PPROF_PORT/debug/pprof/allocs?seconds=$psecs" &
	c2=$!
	wait "$c1" || true
	wait "$c2" || true
	wait "$wrk_pid" || true
	stop_pid "$OO_PID"
	[[ -s $RESULTS_DIR/oo-cpu.pprof ]] || return 1
	reqs=$(awk '/ requests in / {print $1}' "$TMP/wrk-prof.txt")
	echo
	echo "oo CPU profile under load ($(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk-prof.txt") req/s while profiling), top by flat time:"
	go tool pprof -top -nodecount=25 "$RESULTS_DIR/oo-cpu.pprof" 2>/dev/null | sed -n '4,35p'
	echo
	echo "top by cumulative time:"
	go tool pprof -top -cum -nodecount=35 "$RESULTS_DIR/oo-cpu.pprof" 2>/dev/null | sed -n '6,45p'
	if [[ -s $RESULTS_DIR/oo-allocs.pprof ]]; then
		echo
		echo "allocations over ${psecs}s (sampled estimate; wrk counted ${reqs:-?} requests in ${SECS}s):"
		go tool pprof -top -sample_index=alloc_objects -nodecount=20 "$RESULTS_DIR/oo-allocs.pprof" 2>/dev/null | sed -n '5,30p'
	fi
	echo "profiles: $RESULTS_DIR/oo-cpu.pprof $RESULTS_DIR/oo-allocs.pprof (go tool pprof -http=: FILE)"
}
if [[ $PROFILE == 1 && $OO_STATUS == ok ]]; then
	oo_profile || log "profiling oo failed"
fi

# ---------------------------------------------------------------------------------------------
# In-process Go benchmarks: the route lookup lives with the table (server/registry), the
# end-to-end request through the whole handler in server/httpapi (or server/proxy); run
# whichever of them has benchmarks.
# ---------------------------------------------------------------------------------------------
if [[ $GO_BENCH == 1 ]]; then
	pkgs=()
	for d in server/registry server/proxy server/httpapi; do
		if grep -qs '^func Benchmark' "$d"/*_test.go; then pkgs+=("./$d/"); fi
	done
	if ((${#pkgs[@]} > 0)); then
		echo
		echo "go test -run '^\$' -bench . -benchmem ${pkgs[*]}"
		timeout 240 go test -run '^$' -bench . -benchmem -timeout 200s "${pkgs[@]}" || log "go test -bench failed"
	else
		log "no Go benchmarks in server/registry, server/proxy or server/httpapi yet; skipping go test -bench"
	fi
fi
