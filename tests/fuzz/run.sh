#!/usr/bin/env bash
# run.sh SECONDS BIN_DIR TARGET... - runs each libFuzzer target for SECONDS on
# a copy of its seed corpus (tests/fuzz/corpus/TARGET) in a temp dir, so the
# tree is never written, and prints executions, exec/s, coverage (cov),
# features (ft) and the corpus size from libFuzzer's last stats line.
# A crash fails the run; its input is kept in build/fuzz/crashes/ (see
# docs/fuzzing.md for reproducing it). FUZZ_FLAGS adds libFuzzer options.
set -uo pipefail

seconds=$1 bin_dir=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
crashes=$(cd "$bin_dir/.." && pwd)/crashes
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

printf '%-14s %12s %8s %7s %7s %7s  %s\n' target executions exec/s cov ft corpus result
failed=0
n_passed=0
n_failed=0
for target in "$@"; do
    corpus=$work/$target/corpus
    mkdir -p "$corpus"
    cp "$here/corpus/$target"/* "$corpus"/ 2>/dev/null || true
    log=$work/$target/log
    # -timeout: a hang is a finding too; -max_len: room for the largest seeds.
    "$bin_dir/fuzz_$target" -max_total_time="$seconds" -timeout=10 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$work/$target/" ${FUZZ_FLAGS:-} \
        "$corpus" >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    size=$(find "$corpus" -type f | wc -l)
    result=ok
    if [[ $rc -ne 0 ]]; then
        result=FAILED
        failed=1
        mkdir -p "$crashes"
        for a in "$work/$target"/crash-* "$work/$target"/leak-* "$work/$target"/timeout-* \
                 "$work/$target"/oom-*; do
            [[ -e $a ]] && cp "$a" "$crashes/$target-$(basename "$a")" &&
                result="FAILED: $crashes/$target-$(basename "$a")"
        done
    fi
    printf '%-14s %12s %8s %7s %7s %7s  %s\n' "$target" "${execs:--}" "${speed:--}" \
        "${cov:--}" "${ft:--}" "$size" "$result"
    if [[ $rc -ne 0 ]]; then
        echo "---- fuzz_$target output (last 40 lines) ----"
        tail -n 40 "$log"
        echo "----"
    fi
    if [[ $rc -ne 0 ]]; then n_failed=$((n_failed + 1)); else n_passed=$((n_passed + 1)); fi
done
echo "fuzz: $n_passed passed, $n_failed failed"
exit $failed
