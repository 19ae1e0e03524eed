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
source tests/local-stack.sh
# JSON logs: the check for ERROR lines below reads them.
export LOG_FORMAT=json RUST_LOG=${RUST_LOG:-info}
if [[ " $* " == *" --list "* ]]; then
    # A few callers making a thousand lists a second are not people: the per-user limits (which
    # still cost their one write per request) would refuse them.
    export RATE_LIMIT_READS_PER_MINUTE=100000 RATE_LIMIT_WRITES_PER_MINUTE=100000
fi
start_local_stack "$bin/local-runner" load

status=0
LOAD_API="http://127.0.0.1:$PORT" LOAD_PAYMENTS="http://127.0.0.1:$FAKE_PAYMENTS_PORT" "$bin/load" "$@" || status=$?
if grep -q '"level":"ERROR"' "$work/runner.log"; then
    echo "the local runner logged errors during the load:"
    grep '"level":"ERROR"' "$work/runner.log" | head -20
    exit 1
fi
exit $status
