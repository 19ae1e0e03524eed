# Sourced by tests/fuzz/run.sh and tests/load/run.sh: a local stack of their own on free loopback
# ports, so neither disturbs `make dev`. After `start_local_stack <local-runner binary> <name>`,
# `$PORT`, `$FAKE_PAYMENTS_PORT` and `$work` (a scratch folder, runner.log in it) are set, and
# the runner and the folder go when the script exits.

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_local_stack() {
    local runner_bin=$1 name=$2
    work=$(mktemp -d)
    trap 'kill "${runner:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
    # Assigned before they are exported, so a failing free_port stops the script.
    PORT=$(free_port) DYNAMODB_PORT=$(free_port) SQS_PORT=$(free_port) FAKE_PAYMENTS_PORT=$(free_port)
    export PORT DYNAMODB_PORT SQS_PORT FAKE_PAYMENTS_PORT TABLE_NAME="events-$name-$$"
    "$runner_bin" serve > "$work/runner.log" 2>&1 &
    runner=$!
    for _ in $(seq 1 600); do
        grep -q '^ready: ' "$work/runner.log" && return 0
        kill -0 "$runner" 2>/dev/null || { cat "$work/runner.log"; exit 1; }
        sleep 0.1
    done
    echo "the local runner did not start"
    cat "$work/runner.log"
    exit 1
}
