#!/usr/bin/env bash
# bench/registry.sh: the registry at scale against a real `oo server start` over HTTP on
# 127.0.0.1 (issue 12). Builds oo from this checkout, then runs bench/registry twice: 10 000
# instances under one slug, then one slug each, registered by 32 concurrent clients; prints the
# rate of the first and last 1000 registrations, the server's RSS, and how long
# `oo instance ls -o json` takes to list them all. See bench/registry/main.go.
#
#   bash bench/registry.sh                      # both runs, defaults
#   bash bench/registry.sh -n 20000             # flags go to bench/registry (both runs)
#   OO_BIN=path/to/oo bash bench/registry.sh    # measure another build (say, an older commit)
#   PROFILE=1 bash bench/registry.sh            # also save the server's heap profiles (a build
#                                               # with net/http/pprof added through -overlay;
#                                               # the checkout is not modified) to bench/results
# The server of each run is stopped on exit (its process group), also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${OO_BIN:-}
extra=()
if [ "${PROFILE:-0}" = 1 ]; then
	cp bench/pprof-overlay.go.txt "$tmp/pprof.go" # serves net/http/pprof at $OO_BENCH_PPROF
	printf '{"Replace": {"%s": "%s"}}\n' "$PWD/cmd/oo/zz_bench_pprof.go" "$tmp/pprof.go" >"$tmp/overlay.json"
	go build -overlay "$tmp/overlay.json" -o "$tmp/oo" ./cmd/oo
	bin="$tmp/oo"
	mkdir -p bench/results
	extra=(-profiles bench/results)
fi
if [ -z "$bin" ]; then
	go build -o "$tmp/oo" ./cmd/oo
	bin="$tmp/oo"
fi
go build -o "$tmp/registry" ./bench/registry
for slugs in one many; do
	"$tmp/registry" -oo "$bin" -slugs "$slugs" "${extra[@]}" "$@"
	echo
done
