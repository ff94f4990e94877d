#!/usr/bin/env bash
# Run the arrow-npy fuzz targets: build them (cargo fuzz, on stable through RUSTC_BOOTSTRAP=1),
# seed their corpora from the committed fixtures, and run each for SECONDS (default 20).
#
#   fuzz/run.sh                      every target, 20 s each (what .ci/run does)
#   fuzz/run.sh 3600 npy_read        one target for an hour
#   LIBFUZZER_ARGS=-runs=1000000 fuzz/run.sh 0 header    a fixed number of executions
#
# The tool's absence, or a toolchain that cannot build the targets, is a skip with the reason
# printed (exit 0); a crash, leak, timeout or out-of-memory is a failure (exit 1), its input
# saved under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(header dtype npy_read npz_read roundtrip)
export RUSTC_BOOTSTRAP=1
# Its own target dir, whatever the caller's CARGO_TARGET_DIR (the sanitizer flags would
# invalidate a normal build's artifacts).
export CARGO_TARGET_DIR="$PWD/target"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it"
    if ! cargo install cargo-fuzz --locked; then
        echo "SKIP fuzzing: cargo-fuzz could not be installed"
        exit 0
    fi
fi
if ! cargo fuzz build -O >build.log 2>&1; then
    echo "SKIP fuzzing: the fuzz targets do not build with this toolchain ($(rustc --version)):"
    tail -n 20 build.log
    exit 0
fi
./seed.sh

status=0
for target in "${targets[@]}"; do
    dict=()
    [ "$target" = roundtrip ] || dict=(-dict=dict/npy.dict)
    time_limit=()
    [ "$seconds" = 0 ] || time_limit=(-max_total_time="$seconds")
    echo "== fuzz $target"
    # shellcheck disable=SC2086 # LIBFUZZER_ARGS is a list of flags
    if ! cargo fuzz run -O "$target" -- "${dict[@]}" "${time_limit[@]}" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 ${LIBFUZZER_ARGS:-} >"run-$target.log" 2>&1; then
        echo "FAILED: $target (input under fuzz/artifacts/$target/):"
        grep -v '^#' "run-$target.log" | tail -n 40
        status=1
    fi
    grep -E '^(Done|#[0-9]+ *DONE)|stat::number_of_executed_units|stat::peak_rss_mb' "run-$target.log" || true
done
exit $status
