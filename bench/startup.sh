#!/usr/bin/env bash
# bench/startup.sh: how soon a service that registers before it listens is routable through
# `oo server start` (127.0.0.1 only). Builds oo from this checkout, then runs bench/startup
# (20 services, each listening 700 ms after registering; see its doc comment).
#
#   bash bench/startup.sh                       # defaults
#   bash bench/startup.sh -runs 50 -wait 2s     # flags go to bench/startup
#   OO_BIN=path/to/oo bash bench/startup.sh     # measure another build (say, an older commit)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${OO_BIN:-}
if [ -z "$bin" ]; then
	go build -o "$tmp/oo" ./cmd/oo
	bin="$tmp/oo"
fi
go build -o "$tmp/startup" ./bench/startup
"$tmp/startup" -oo "$bin" "$@"
