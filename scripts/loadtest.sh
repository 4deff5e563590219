#!/usr/bin/env bash
# Load test (not in CI): `hawk serve` (release build) on a demo log of the reference
# workload, then CLIENTS clients for DURATION seconds of mixed reads and writes
# (crates/hawk-bench/examples/loadtest.rs), then every acknowledged write is checked
# against the file. Prints p50/p99 per operation, errors and lost writes; fails on any.
# Then streams the heaviest account (`1`) over HTTP and prints the server's resident
# memory (VmRSS) after the load and after the stream.
#
#   ENTRIES=100000 CLIENTS=8 DURATION=60 scripts/loadtest.sh
set -euo pipefail

cd "$(dirname "$0")/.."
entries="${ENTRIES:-100000}"
clients="${CLIENTS:-8}"
seconds="${DURATION:-60}"
target="${CARGO_TARGET_DIR:-target}/release"

cargo build --release -p hawk-cli -p hawk-bench --example loadtest
dir=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
db="sqlite:$dir/load.db"

echo "loading $entries entries of the reference workload"
"$target/hawk" demo --entries "$entries" --db "$db" >/dev/null
"$target/hawk" serve --listen 127.0.0.1:0 --db "$db" 2>"$dir/serve.log" &
server=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$dir/serve.log" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$dir/serve.log" >&2; exit 1; }

"$target/examples/loadtest" "http://127.0.0.1:$port" "$db" --clients "$clients" --seconds "$seconds"

rss() { sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$server/status"; }
echo "server resident memory after the load: $(rss)"
bytes=$(curl -sf "http://127.0.0.1:$port/v1/accounts/1/entries" | wc -c)
echo "server resident memory after streaming account 1 ($bytes bytes of JSON): $(rss)"
