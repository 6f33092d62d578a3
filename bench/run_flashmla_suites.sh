#!/usr/bin/env bash
# FlashMLA's own sparse decode and sparse prefill suites, run against libmla.
#
# On a GPU machine, from the repo root, with libmla built at build/src/libmla.so and a
# FlashMLA checkout (its tests/ folder; its package built for the GPU) in .anchor/:
#     bash bench/run_flashmla_suites.sh            # both suites
#     bash bench/run_flashmla_suites.sh prefill    # one of: decode prefill
# The anchor's tests/ folder is copied to a temp folder and each suite runs there with
# `flash_mla` resolved to libmla (bench/flashmla_shim), through bench/flashmla_shim/run_suite.py:
# a shuffled sample of the suite's cases until a soft deadline, with the suite's timing off
# (it looks for FlashMLA's kernel names) and its correctness checks unchanged.
# Logs go to $OUT (else the temp folder); one summary line per suite is printed last.
#
# Environment: MLA_LIBRARY (default build/src/libmla.so), FLASHMLA_ANCHOR (default .anchor),
# MLA_SUITE_SECONDS (soft deadline per suite, default 90; the hard limit is 25 s more, so both
# suites end within about 4 minutes), MLA_SUITE_CASES, MLA_SUITE_SEED, MLA_SUITE_FULL=1
# (whole suite, no deadline: hours), as bench/flashmla_shim/run_suite.py describes.
set -u

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lib=${MLA_LIBRARY:-$repo/build/src/libmla.so}
anchor=${FLASHMLA_ANCHOR:-$repo/.anchor}
soft=${MLA_SUITE_SECONDS:-90}
hard=$((${soft%.*} + 25))
[ "${MLA_SUITE_FULL:-}" = 1 ] && hard=0   # timeout 0: no limit

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(decode prefill)

if [ ! -f "$lib" ]; then
    echo "run_flashmla_suites: no libmla at $lib (build it, or set MLA_LIBRARY)" >&2
    exit 2
fi
if [ ! -d "$anchor/tests" ]; then
    echo "run_flashmla_suites: no FlashMLA tests at $anchor/tests (put a FlashMLA checkout" \
         "in .anchor, or set FLASHMLA_ANCHOR)" >&2
    exit 2
fi

work=$(mktemp -d)
cp -r "$anchor/tests" "$work/tests"   # only tests/: FlashMLA's own flash_mla stays out of reach
logs=${OUT:-$work}
mkdir -p "$logs"
[ -n "${OUT:-}" ] && trap 'rm -rf "$work"' EXIT   # logs are in $OUT: the copy can go

export MLA_LIBRARY=$lib
# The shim and libmla's package first, so `import flash_mla` is libmla's.
export PYTHONPATH="$repo/python:$repo/bench/flashmla_shim${PYTHONPATH:+:$PYTHONPATH}"
export MLA_SUITE_SECONDS=$soft
export NO_COOLDOWN=1 PYTHONUNBUFFERED=1

declare -A file=([decode]=test_flash_mla_sparse_decoding.py [prefill]=test_flash_mla_sparse_prefill.py)
summaries=()
status=0
for s in "${suites[@]}"; do
    f=${file[$s]:-}
    if [ -z "$f" ]; then
        echo "run_flashmla_suites: unknown suite '$s' (decode or prefill)" >&2
        exit 2
    fi
    log="$logs/flashmla_suite_$s.log"
    echo "=== FlashMLA $s suite against libmla ($lib), log $log"
    (cd "$work/tests" && timeout -k 10 "$hard" python3 "$repo/bench/flashmla_shim/run_suite.py" "$f") \
        >"$log" 2>&1
    rc=$?
    line=$(grep '^\[mla-suite\] '"$s"': ' "$log" | tail -n 1)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        started=$(grep -c '^Running on' "$log")
        line="[mla-suite] $s: TIMEOUT killed after ${hard} s; $started cases started (see $log)"
    elif [ -z "$line" ]; then
        line="[mla-suite] $s: ERROR exit $rc without a summary (see $log)"
    fi
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "--- last lines of $log:"
        tail -n 25 "$log"
    fi
    summaries+=("$line")
done

echo "=== summary"
printf '%s\n' "${summaries[@]}"
exit $status
