#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a while each (default 60 s; not in CI).
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). `-s none` builds without a sanitizer,
# which works on the stable toolchain. Corpora grow in fuzz/corpus/TARGET, crashes land
# in fuzz/artifacts/TARGET and full logs in fuzz/logs (all ignored by git); hand-written
# starting inputs live in fuzz/seeds/TARGET. The script fails when a target crashed.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
shift || true
targets=("$@")
# The fuzz workspace keeps its own build directory: its instrumented build never mixes
# with the main workspace's.
unset CARGO_TARGET_DIR
cargo fuzz build -s none
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    # New inputs go to corpus/TARGET; seeds/TARGET (in git) holds hand-written ones.
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    if cargo fuzz run -s none "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see fuzz/$log and fuzz/artifacts/$target)"
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "$target: ${seconds} s, ${runs:-?} runs, corpus $(ls "corpus/$target" | wc -l) inputs: $result"
done
exit "$status"
