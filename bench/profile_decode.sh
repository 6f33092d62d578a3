#!/usr/bin/env bash
# bench/profile_decode.sh [BENCH_FILTER...]: Nsight Compute over the native decode kernel at
# the given mla_bench shapes (default: the TP8 and the h128 V3.2 shapes), for the lent H200.
# MLA_PROFILE_KERNEL: a regex of the kernel to profile (default sparse_decode_kernel).
# Writes, per shape, the report (.ncu-rep), the details page and the per-instruction source
# page (SASS with stall samples, CSV) to $OUT. Needs a build at $BUILD (default build).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-$PWD/out}"
BUILD="${BUILD:-build}"
mkdir -p "$OUT"
filters=("$@")
[[ ${#filters[@]} -gt 0 ]] || filters=("V3.2 h16 topk2048 b128" "V3.2 h128 topk2048 b128")
i=0
for f in "${filters[@]}"; do
  i=$((i + 1))
  rep="$OUT/prof$i"
  ncu --clock-control none -k "regex:${MLA_PROFILE_KERNEL:-sparse_decode_kernel}" -c 1 --set full --import-source no \
    -f -o "$rep" "$BUILD/bench/mla_bench" --filter "$f" --reps 1 >"$OUT/prof$i.run.log" 2>&1
  ncu --import "$rep.ncu-rep" --page details >"$OUT/prof$i.details.txt" 2>&1
  ncu --import "$rep.ncu-rep" --page source --csv --print-source sass >"$OUT/prof$i.sass.csv" 2>&1
  echo "== $f =="
  grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Issue Slots Busy|No Eligible|Block Limit" \
    "$OUT/prof$i.details.txt" | head -20
done
