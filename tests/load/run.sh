#!/usr/bin/env bash
# The load test (load/src/lib.rs) against a local stack of its own on free loopback ports, so it
# never disturbs `make dev`: the local runner and the load driver from <target dir>.
#
#   tests/load/run.sh <target dir> [--smoke | --list <users> <seconds>]
#
# `make load` runs the full test with the optimised `local` build; `make test` runs a smoke of it
# (seconds, small numbers) with the debug build, so it cannot rot.
set -euo pipefail

bin=${1:?the target directory holding local-runner and load}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'kill "${runner:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export PORT=$(free_port) DYNAMODB_PORT=$(free_port) SQS_PORT=$(free_port) FAKE_PAYMENTS_PORT=$(free_port)
# JSON logs: the check for ERROR lines below reads them.
export TABLE_NAME="events-load-$$" LOG_FORMAT=json RUST_LOG=${RUST_LOG:-info}
if [[ " $* " == *" --list "* ]]; then
    # A few callers making a thousand lists a second are not people: the per-user limits (which
    # still cost their one write per request) would refuse them.
    export RATE_LIMIT_READS_PER_MINUTE=100000 RATE_LIMIT_WRITES_PER_MINUTE=100000
fi

"$bin/local-runner" serve > "$work/runner.log" 2>&1 &
runner=$!
for _ in $(seq 1 600); do
    grep -q '^ready: ' "$work/runner.log" && break
    kill -0 "$runner" 2>/dev/null || { cat "$work/runner.log"; exit 1; }
    sleep 0.1
done
grep -q '^ready: ' "$work/runner.log" || { echo "the local runner did not start"; cat "$work/runner.log"; exit 1; }

status=0
LOAD_API="http://127.0.0.1:$PORT" LOAD_PAYMENTS="http://127.0.0.1:$FAKE_PAYMENTS_PORT" "$bin/load" "$@" || status=$?
if grep -q '"level":"ERROR"' "$work/runner.log"; then
    echo "the local runner logged errors during the load:"
    grep '"level":"ERROR"' "$work/runner.log" | head -20
    exit 1
fi
exit $status
