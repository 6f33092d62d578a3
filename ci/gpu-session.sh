#!/usr/bin/env bash
# ci/gpu-session.sh STAGE...: what the project runs on a lent GPU machine, in one call:
#   build      CUDA build of libmla, the GPU tests and mla_bench (sm_90a unless MLA_CUDA_ARCHS)
#   test       the GPU suites (GTEST filter: MLA_GPU_FILTER, default all)
#   memcheck   compute-sanitizer memcheck over the native decode tests (MLA_MEMCHECK_FILTER)
#   racecheck  compute-sanitizer racecheck over a few native decode cases (MLA_RACECHECK_FILTER)
#   bench      mla_bench (MLA_BENCH_FILTER, default sparse_decode)
#   python     the python suite against the CUDA build
#   compare    bench/compare_flashmla.py beside FlashMLA (needs .anchor/, see README)
#   flashmla   FlashMLA's own sparse suites against mla.flash_mla (bench/run_flashmla_suites.sh)
#   profile    Nsight Compute over the decode kernels (bench/profile_decode.sh), summarized by
#              bench/ncu_summary.py (MLA_PROFILE_SHAPES: ';'-separated mla_bench filters)
# Logs go to $OUT (or ./out): session.log with every stage's tail and the summary, and
# logs.tgz with the whole logs (the device tool returns at most 8 files). Each stage has a
# time limit; a failing stage does not stop the others.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"
BUILD="${MLA_GPU_BUILD:-build}"
ARCHS="${MLA_CUDA_ARCHS:-90a}"
JOBS="$(nproc)"
summary=()

stage() {  # stage NAME LIMIT_SECONDS COMMAND...
  local name="$1" limit="$2" start=$SECONDS rc
  shift 2
  echo "==== $name ====" | tee -a "$OUT/session.log"
  timeout "$limit" bash -c "$*" >"$OUT/$name.log" 2>&1
  rc=$?
  tail -n "${MLA_TAIL:-15}" "$OUT/$name.log" | tee -a "$OUT/session.log"
  summary+=("$(printf '%-10s rc=%-3s %4ss' "$name" "$rc" $((SECONDS - start)))")
}

do_build() {
  cmake -S . -B "$BUILD" -G Ninja -DMLA_GPU=cuda "-DCMAKE_CUDA_ARCHITECTURES=$ARCHS" \
    -DMLA_BUILD_EXAMPLES=OFF ${MLA_CMAKE_ARGS:-} &&
    cmake --build "$BUILD" -j "$JOBS" --target mla mla_gpu_tests mla_bench
}
do_test() {
  "$BUILD/tests/mla_gpu_tests" --gtest_filter="${MLA_GPU_FILTER:-*}" --gtest_brief=1
}
do_memcheck() {
  compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/tests/mla_gpu_tests" \
    --gtest_filter="${MLA_MEMCHECK_FILTER:-*Native*}" --gtest_brief=1
}
do_racecheck() {
  compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD/tests/mla_gpu_tests" \
    --gtest_filter="${MLA_RACECHECK_FILTER:-Split/NativeDecodeSweep*:Spec/NativeDecodeSweep*h3_*}" \
    --gtest_brief=1
}
do_bench() {
  "$BUILD/bench/mla_bench" --filter "${MLA_BENCH_FILTER:-sparse_decode}" --reps "${MLA_BENCH_REPS:-10}" \
    --json "$OUT/bench.json"
}
do_python() {
  MLA_LIBRARY="$PWD/$BUILD/src/libmla.so" PYTHONPATH="$PWD/python" python3 -m pytest python/tests -q -x -rs
}
do_compare() {
  MLA_LIBRARY="$PWD/$BUILD/src/libmla.so" PYTHONPATH="$PWD/python:$PWD/.anchor" \
    python3 bench/compare_flashmla.py --json "$OUT/compare.json" --png "$OUT/roofline.png" \
    ${MLA_COMPARE_ARGS:-}
}
do_flashmla() { bash bench/run_flashmla_suites.sh; }
do_profile() {
  local shapes=()
  IFS=';' read -r -a shapes <<<"${MLA_PROFILE_SHAPES:-V3.2 h16 topk2048 b128;V3.2 h128 topk2048 b128}"
  BUILD="$BUILD" OUT="$OUT" bash bench/profile_decode.sh "${shapes[@]}" &&
    for f in "$OUT"/prof*.sass.csv; do python3 bench/ncu_summary.py "$f" 25; done
}

export -f do_build do_test do_memcheck do_racecheck do_bench do_python do_compare do_flashmla do_profile
export BUILD ARCHS JOBS OUT
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/gpu.txt"
for s in "$@"; do
  case "$s" in
    build) stage build 420 do_build ;;
    test) stage test 420 do_test ;;
    memcheck) stage memcheck 420 do_memcheck ;;
    racecheck) stage racecheck 300 do_racecheck ;;
    bench) stage bench 300 do_bench ;;
    python) stage python 300 do_python ;;
    compare) stage compare 300 do_compare ;;
    flashmla) stage flashmla 300 do_flashmla ;;
    profile) MLA_TAIL=${MLA_PROFILE_TAIL:-120} stage profile 420 do_profile ;;
    *) echo "unknown stage $s" ;;
  esac
done
echo "==== summary ===="
printf '%s\n' "${summary[@]}" | tee -a "$OUT/session.log"
# One archive of everything else (the reports stay out: large, and readable only with ncu).
(cd "$OUT" && find . -maxdepth 1 -type f ! -name session.log ! -name logs.tgz ! -name '*.ncu-rep' \
  ! -name '*.png' -printf '%P\n' | tar czf logs.tgz -T - && find . -maxdepth 1 -type f \
  ! -name session.log ! -name logs.tgz ! -name '*.png' ! -name 'bench.json' ! -name 'compare.json' -delete)
