#!/usr/bin/env bash
# bench/compare_trees.sh NAME=REV[,FLAG...] ...: for a device call that times variants side by
# side. Each NAME is the tree of git revision REV (a commit, a branch, or "." for the working
# tree as it is), built with the CUDA flags FLAG (e.g. -DMLA_DECODE_SPLIT_KEYS_WIDE=2048) into
# .variants/NAME (git-ignored; an existing one is used as it is, e.g. carried to the device:
# remove it to take REV afresh), then timed by
# bench/compare_flashmla.py beside FlashMLA ($MLA_COMPARE_ARGS, default --ops decode,prefill;
# needs .anchor/) and by mla_bench ($MLA_BENCH_FILTER, default sparse). Writes $OUT/NAME/ and
# prints one line per shape and tree. All variants run in one process call after another, so
# their figures, FlashMLA's and the ceilings are of the same machine state (bench/RESULTS.md).
# Example (a variant of the library's own knob against main, same call):
#   bench/compare_trees.sh main=main split2048=main,-DMLA_DECODE_SPLIT_KEYS_WIDE=2048
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-$PWD/out}"
ARCHS="${MLA_CUDA_ARCHS:-90a}"
for v in "$@"; do
  name=${v%%=*} spec=${v#*=}
  rev=${spec%%,*} flags=""
  [[ "$spec" == *,* ]] && flags=$(echo "${spec#*,}" | tr ',' ' ')
  dir=".variants/$name" log="$OUT/$name"
  mkdir -p "$log"
  if [[ ! -f "$dir/CMakeLists.txt" ]]; then  # not carried: make it from the revision
    mkdir -p "$dir"
    if [[ "$rev" == "." ]]; then
      git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$dir"
    else
      git archive "$rev" | tar -x -C "$dir" || { echo "$name: no revision $rev"; continue; }
    fi
  fi
  if ! (cmake -S "$dir" -B "$dir/build" -G Ninja -DMLA_GPU=cuda "-DCMAKE_CUDA_ARCHITECTURES=$ARCHS" \
    "-DCMAKE_CUDA_FLAGS=$flags" -DMLA_BUILD_TESTS=OFF -DMLA_BUILD_EXAMPLES=OFF &&
    cmake --build "$dir/build" -j "$(nproc)" --target mla mla_bench) >"$log/build.log" 2>&1; then
    echo "$name: build failed"
    tail -20 "$log/build.log"
    continue
  fi
  lib="$PWD/$dir/build/src/libmla.so"
  # shellcheck disable=SC2086
  MLA_LIBRARY="$lib" PYTHONPATH="$PWD/python:$PWD/.anchor" python3 bench/compare_flashmla.py \
    --lib "$lib" ${MLA_COMPARE_ARGS:---ops decode,prefill} >"$log/compare.log" 2>&1
  "$dir/build/bench/mla_bench" --filter "${MLA_BENCH_FILTER:-sparse}" --reps "${MLA_BENCH_REPS:-10}" \
    >"$log/bench.log" 2>&1
  # "--- <shape>" then its "libmla X us ..., FlashMLA Y us ..." line: one line per shape.
  awk -v n="$name" '/^--- /{shape=substr($0, 5)} /libmla .* us/{
      for (i = 1; i <= NF; ++i) { if ($i == "libmla") l = $(i + 1); if ($i == "FlashMLA") f = $(i + 1) }
      printf "%-12s %-36s libmla %9s us  FlashMLA %9s us\n", n, shape, l, f }' "$log/compare.log"
  { grep -E "^(sparse|gather)" "$log/bench.log" || tail -2 "$log/bench.log"; } |
    awk -v n="$name" '{printf "%-12s %s\n", n, $0}' | cut -c1-140
done
exit 0  # per-tree failures are printed above
