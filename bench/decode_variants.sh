#!/usr/bin/env bash
# bench/decode_variants.sh NAME=NARROW/WIDE ...: builds libmla and mla_bench once per variant of
# the CUDA decode CTA shapes (src/cuda/attention/attention_shapes_cuda.h: row tiles, key groups,
# dimension groups, keys per block, CTAs per SM), for both cache formats at once, and times the
# decode shapes with each, for bench/RESULTS.md. On Hopper the 64-head CTAs run the warpgroup
# kernel, whose shape is fixed: export MLA_DISABLE_WGMMA=1 to time the WIDE mma.sync shapes.
# Example:
#   bench/decode_variants.sh base=1,2,4,32,2/4,2,1,32,1
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"
for v in "$@"; do
  name=${v%%=*} shapes=${v#*=}
  narrow=${shapes%%/*} wide=${shapes#*/}
  dir="build-variant-$name"
  mkdir -p "$dir"
  # nvcc splits -D values at commas: the shapes travel in a pre-included header.
  printf '#define MLA_SM80_DECODE_NARROW_%s %s\n#define MLA_SM80_DECODE_WIDE_%s %s\n' \
    V32 "$narrow" V32 "$wide" V40 "$narrow" V40 "$wide" >"$dir/variant.h"
  # Extra definitions (e.g. MLA_DECODE_SPLIT_KEYS_WIDE=512) from MLA_VARIANT_<name>.
  extra_var="MLA_VARIANT_$name"
  for d in ${!extra_var:-}; do echo "#define ${d%%=*} ${d#*=}" >>"$dir/variant.h"; done
  cmake -S . -B "$dir" -G Ninja -DMLA_GPU=cuda -DCMAKE_CUDA_ARCHITECTURES=90a -DMLA_BUILD_TESTS=OFF \
    -DMLA_BUILD_EXAMPLES=OFF "-DCMAKE_CUDA_FLAGS=--pre-include=$PWD/$dir/variant.h" \
    "-DCMAKE_CXX_FLAGS=-include $PWD/$dir/variant.h" \
    >"$OUT/variant-$name.log" 2>&1 &&
    cmake --build "$dir" -j "$(nproc)" --target mla_bench >>"$OUT/variant-$name.log" 2>&1 ||
    { echo "$name: build failed"; grep -m5 -E "error" "$OUT/variant-$name.log"; continue; }
  echo "== $name: narrow $narrow, wide $wide"
  "$dir/bench/mla_bench" --filter "${MLA_BENCH_FILTER:-sparse_decode}" --reps "${MLA_BENCH_REPS:-5}" |
    awk '/sparse_decode/ {printf "  %-36s %9s us %7s TF %6s GB/s\n", $2" "$3" "$4" "$5" "$6, $8, $9, $10}'
done
