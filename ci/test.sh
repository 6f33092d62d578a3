#!/usr/bin/env bash
# ci/test.sh [STAGE...]: the README's test command, and what CI's .ci/run runs on a clean clone.
#
# Stages (all by default, in this order):
#   setup    apt-get the packages the selected stages need (skips what is installed)
#   host     MLA_GPU=none build with warnings as errors; ctest -L host; the python tests with
#            Debian's torch
#   asan     the host library and suite built with ASan and UBSan (any report fails); ctest -L host
#   wheel    `pip install .` in a fresh venv with the pinned PyPI torch (ci/python-pins.txt),
#            then the python tests against the installed wheel (float8 dtypes, torch.compile)
#   cuda     MLA_GPU=cuda (sm_90a + sm_80) to a linked libmla.so (+ GPU tests, demo); exports
#   hip      MLA_GPU=hip (gfx942 + gfx90a) to a linked libmla.so (+ GPU tests); exports and
#            the code objects of both AMD architectures
#   demo     runs examples/decode_v40 (the README's main job) from the CUDA build
#   install  cmake --install to a temporary prefix; a C99 program builds against it through
#            find_package(mla) and through pkg-config, and runs
#   gpu      ctest -L gpu on the vendor whose GPU the machine has (and the python tests on it);
#            without a GPU, SKIPPED (after checking that the GPU tests start and skip cleanly)
#
# The summary at the end lists each stage's time and result; a stage or check that could not
# run on this machine reads SKIPPED with the reason.
# Environment: MLA_JOBS (parallel jobs, default nproc), MLA_CI_BUILD_ROOT (where the build-ci-*
# folders go, default the checkout), MLA_CUDA_ARCHS ("90a;80"), MLA_HIP_ARCHS ("gfx942;gfx90a"),
# MLA_WHEEL_CMAKE_ARGS (CMAKE_ARGS of the wheel stage's `pip install .`, default none: auto).
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$MLA_ROOT"

ALL_STAGES=(setup host asan wheel cuda hip demo install gpu)
CUDA_ARCHS="${MLA_CUDA_ARCHS:-90a;80}"
HIP_ARCHS="${MLA_HIP_ARCHS:-gfx942;gfx90a}"
HOST_BUILD="$MLA_CI_BUILD_ROOT/build-ci-host"
ASAN_BUILD="$MLA_CI_BUILD_ROOT/build-ci-asan"
CUDA_BUILD="$MLA_CI_BUILD_ROOT/build-ci-cuda"
HIP_BUILD="$MLA_CI_BUILD_ROOT/build-ci-hip"
PYTHON=/usr/bin/python3
PINS="$MLA_ROOT/ci/python-pins.txt"

STAGES=("$@")
[[ ${#STAGES[@]} -gt 0 ]] || STAGES=("${ALL_STAGES[@]}")
for s in "${STAGES[@]}"; do
  [[ " ${ALL_STAGES[*]} " == *" $s "* ]] || die "unknown stage '$s' (stages: ${ALL_STAGES[*]})"
done
selected() { [[ " ${STAGES[*]} " == *" $1 "* ]]; }
have_python_tests() { [[ -d "$MLA_ROOT/python/tests" ]]; }

# ---- setup -----------------------------------------------------------------------------------
stage_setup() {
  local pkgs=("${MLA_PKGS_BASE[@]}")
  selected hip && pkgs+=("${MLA_PKGS_HIP[@]}")
  apt_install "${pkgs[@]}"
  # torch's recommends (libtorch-dev, build-essential, ...) are not needed to run the tests.
  have_python_tests && apt_install --no-recommends "${MLA_PKGS_PYTHON[@]}"
  if selected cuda || selected demo; then
    local nvcc
    nvcc=$(find_nvcc) || die "nvcc not found (on PATH or in /usr/local/cuda/bin): the cuda" \
      "stage needs the CUDA 13 toolkit, which apt-get cannot install; run without 'cuda'"
    log "nvcc: $nvcc ($("$nvcc" --version | grep -o 'release [0-9.]*'))"
  fi
  log "cmake $(cmake --version | head -n1 | awk '{print $3}'), $MLA_JOBS parallel jobs"
}

# A fresh venv at $1 with the pinned PyPI packages $2...; $1 is removed first.
make_venv() {
  local venv="$1" start=$SECONDS
  shift
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  log "pip install into $venv: $* (pinned by ${PINS#"$MLA_ROOT"/})"
  "$venv/bin/pip" install -q --disable-pip-version-check -c "$PINS" "$@"
  log "pip: installed in $((SECONDS - start)) s"
}

# Runs the python package's tests against a built libmla, without pip install; skip reasons
# are printed (-rs).
run_python_tests() {
  local lib="$1"
  log "pytest python/tests against $lib"
  PYTHONPATH="$MLA_ROOT/python${PYTHONPATH:+:$PYTHONPATH}" MLA_LIBRARY="$lib" \
    "$PYTHON" -m pytest "$MLA_ROOT/python/tests" -q -rs -p no:cacheprovider
}

# ---- host ------------------------------------------------------------------------------------
stage_host() {
  cmake_configure "$HOST_BUILD" -DMLA_GPU=none -DMLA_WERROR=ON
  cmake_build_targets "$HOST_BUILD" all
  "$MLA_ROOT/ci/check-exports.sh" "$HOST_BUILD/src/libmla.so"
  "$MLA_ROOT/ci/check-docs.sh"
  "$MLA_ROOT/ci/check-ci-lib.sh"
  run_ctest "$HOST_BUILD" -L host -j "$MLA_JOBS"
  if have_python_tests; then
    run_python_tests "$HOST_BUILD/src/libmla.so"
  else
    log "no python/tests: python tests skipped"
  fi
}

# ---- asan ------------------------------------------------------------------------------------
# The library and the host tests only (no bench, examples or python), at -O1: about 90 s on two
# cores. Every sanitizer report stops its test with a failure.
stage_asan() {
  local san="-fsanitize=address,undefined -fno-sanitize-recover=all"
  cmake_configure "$ASAN_BUILD" -DMLA_GPU=none -DMLA_WERROR=ON -DMLA_BUILD_BENCH=OFF \
    -DMLA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 \
    "-DCMAKE_CXX_FLAGS=$san -fno-omit-frame-pointer" "-DCMAKE_C_FLAGS=$san" \
    "-DCMAKE_EXE_LINKER_FLAGS=$san" "-DCMAKE_SHARED_LINKER_FLAGS=$san"
  cmake_build_targets "$ASAN_BUILD" all
  export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1
  run_ctest "$ASAN_BUILD" -L host -j "$MLA_JOBS"
}

# ---- wheel -----------------------------------------------------------------------------------
# A newcomer's path: a fresh venv, torch from PyPI, `pip install .` (CMake builds libmla and the
# wheel bundles it), import with no environment variable, then the python tests against the
# installed package.
stage_wheel() {
  local venv="$MLA_CI_BUILD_ROOT/build-ci-venv" start
  make_venv "$venv" torch numpy pytest
  start=$SECONDS
  log "pip install $MLA_ROOT (CMAKE_ARGS='${MLA_WHEEL_CMAKE_ARGS:-}', $MLA_JOBS parallel jobs)"
  if ! CMAKE_ARGS="${MLA_WHEEL_CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL="$MLA_JOBS" \
      PIP_CONSTRAINT="$PINS" "$venv/bin/pip" install -v --disable-pip-version-check \
      "$MLA_ROOT" >"$venv/pip-install.log" 2>&1; then
    cat "$venv/pip-install.log" >&2
    die "pip install $MLA_ROOT failed"
  fi
  grep -E -- '-- libmla|Created wheel|Successfully installed' "$venv/pip-install.log" >&2 || true
  log "pip install .: $((SECONDS - start)) s (log: $venv/pip-install.log)"
  # From a folder without the source tree, so that only the installed package can be found.
  (cd "$venv" && env -u MLA_LIBRARY -u PYTHONPATH "$venv/bin/python" -c '
import mla, mla.flash_mla
assert "site-packages" in mla.__file__, mla.__file__
assert mla.library_path().startswith(mla.__path__[0]), mla.library_path()
print("import mla.flash_mla: ok:", mla.__file__, "with", mla.library_path(),
      "(" + mla.library_version() + ")")')
  log "pytest python/tests against the installed wheel"
  (cd "$venv" && env -u MLA_LIBRARY -u PYTHONPATH \
    "$venv/bin/python" -m pytest "$MLA_ROOT/python/tests" -q -rs -p no:cacheprovider)
}

# ---- cuda ------------------------------------------------------------------------------------
stage_cuda() {
  cmake_configure "$CUDA_BUILD" -DMLA_GPU=cuda -DMLA_WERROR=ON \
    "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS"
  local targets=(mla decode_v40)
  has_target "$CUDA_BUILD" mla_gpu_tests && targets+=(mla_gpu_tests)
  cmake_build_targets "$CUDA_BUILD" "${targets[@]}"
  "$MLA_ROOT/ci/check-exports.sh" "$CUDA_BUILD/src/libmla.so"
  check_cuda_archs "$CUDA_BUILD/src/libmla.so"
  check_wgmma_pipelines "$CUDA_BUILD/src/libmla.so"
}

# Hopper's warpgroup kernels keep their MMAs pipelined: ptxas serializes every wgmma of a kernel,
# not always with a message, for an MMA group in flight across a loop's back-edge (RESULTS.md).
check_wgmma_pipelines() {
  local lib="$1" cuobjdump
  [[ ";$CUDA_ARCHS;" == *";90a;"* ]] || return 0
  cuobjdump=$(find_cuobjdump) || {
    skip_check "wgmma pipeline check" "no cuobjdump in the toolkit and none from PyPI"
    return 0
  }
  local out rc=0
  out=$(PATH="$(dirname "$cuobjdump"):$PATH" "$MLA_ROOT/ci/check-wgmma-pipelines.sh" "$cuobjdump" \
    "$lib") || rc=$?
  printf '%s\n' "$out" | sed 's/: _Z.*attn[0-9]*/: /' | cut -c1-150
  [[ $rc -eq 0 ]] || die "$lib: ptxas serialized the wgmma MMAs of a kernel"
}

# The CUDA library carries machine code for every requested architecture. cuobjdump comes with
# the full toolkit; where the toolkit lacks it, NVIDIA's PyPI package provides it.
check_cuda_archs() {
  local lib="$1" cuobjdump arch listed
  cuobjdump=$(find_cuobjdump) || {
    skip_check "CUDA architecture check" "no cuobjdump in the toolkit and none from PyPI"
    return 0
  }
  listed=$("$cuobjdump" --list-elf "$lib" 2>/dev/null || true)
  for arch in ${CUDA_ARCHS//;/ }; do
    grep -q "\.sm_${arch}\.cubin" <<<"$listed" ||
      die "$lib holds no sm_$arch code; cuobjdump --list-elf says:"$'\n'"$listed"
  done
  log "$lib: cubins for sm_${CUDA_ARCHS//;/, sm_} (listed by $cuobjdump)"
}

find_cuobjdump() {
  local tool venv="$MLA_CI_BUILD_ROOT/build-ci-tools"
  tool="$(dirname "$(find_nvcc)")/cuobjdump"
  [[ -x "$tool" ]] && { echo "$tool"; return 0; }
  command -v cuobjdump && return 0
  tool=$(find "$venv" -name cuobjdump -type f 2>/dev/null | head -n1)
  if [[ -z "$tool" ]]; then
    log "no cuobjdump in the CUDA toolkit: installing nvidia-cuda-cuobjdump from PyPI"
    # cuobjdump -sass runs nvdisasm, found beside it (both land in the same bin folder).
    make_venv "$venv" nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm >&2 || return 1
    tool=$(find "$venv" -name cuobjdump -type f | head -n1)
  fi
  [[ -x "$tool" ]] && echo "$tool"
}

# ---- hip -------------------------------------------------------------------------------------
stage_hip() {
  cmake_configure "$HIP_BUILD" -DMLA_GPU=hip -DMLA_WERROR=ON "-DMLA_HIP_ARCHITECTURES=$HIP_ARCHS"
  local targets=(mla)
  has_target "$HIP_BUILD" mla_gpu_tests && targets+=(mla_gpu_tests)
  cmake_build_targets "$HIP_BUILD" "${targets[@]}"
  "$MLA_ROOT/ci/check-exports.sh" "$HIP_BUILD/src/libmla.so"
  # shellcheck disable=SC2086  # one argument per architecture
  "$MLA_ROOT/ci/check-hip-code-objects.sh" "$HIP_BUILD/src/libmla.so" ${HIP_ARCHS//;/ }
  # The attention kernels' machine code: no scratch, LDS within 64 KiB, MFMA present.
  # shellcheck disable=SC2086
  "$MLA_ROOT/ci/check-hip-kernels.py" "$HIP_BUILD/src/libmla.so" 'sparse_decode_kernel' \
    ${HIP_ARCHS//;/ }
}

# ---- demo ------------------------------------------------------------------------------------
# The README's main job from the CUDA build: on the GPU if the machine has one, else the CPU.
stage_demo() {
  local build="$CUDA_BUILD"
  if [[ ! -x "$build/examples/decode_v40" ]]; then
    build="$HOST_BUILD"
    [[ -x "$build/examples/decode_v40" ]] || die "no decode_v40 built: run the cuda or host stage first"
  fi
  "$build/examples/decode_v40"
}

# ---- install ---------------------------------------------------------------------------------
# Installs the CUDA build when there is one (a consumer of a GPU build needs no CUDA toolkit),
# else the host build.
stage_install() {
  local build="$CUDA_BUILD"
  [[ -f "$build/src/libmla.so" ]] || build="$HOST_BUILD"
  [[ -f "$build/src/libmla.so" ]] || die "no libmla.so built: run the cuda or host stage first"
  "$MLA_ROOT/ci/check-consumer.sh" "$build"
}

# ---- gpu -------------------------------------------------------------------------------------
run_gpu_tests() {
  local build="$1"
  [[ -f "$build/CTestTestfile.cmake" ]] || die "$build is not built: run its stage first"
  run_ctest "$build" -L gpu
}

stage_gpu() {
  local nv amd
  nv=$(nvidia_gpus)
  amd=$(amd_gpus)
  if [[ ${nv:-0} -gt 0 ]]; then
    log "$nv NVIDIA GPU(s): running the gpu tests of the CUDA build"
    run_gpu_tests "$CUDA_BUILD"
    have_python_tests && run_python_tests "$CUDA_BUILD/src/libmla.so"
  fi
  if [[ ${amd:-0} -gt 0 ]]; then
    log "$amd AMD GPU(s): running the gpu tests of the HIP build"
    run_gpu_tests "$HIP_BUILD"
  fi
  if [[ ${nv:-0} -eq 0 && ${amd:-0} -eq 0 ]]; then
    # No GPU: the GPU tests must still start, find no device and skip, not fail.
    if [[ -f "$CUDA_BUILD/CTestTestfile.cmake" ]] && has_target "$CUDA_BUILD" mla_gpu_tests; then
      log "no GPU: checking that the CUDA build's gpu tests start and skip cleanly"
      run_gpu_tests "$CUDA_BUILD"
      stage_skipped "no GPU (its tests started and skipped cleanly)"
    else
      stage_skipped "no GPU"
    fi
  fi
}

# ---- main ------------------------------------------------------------------------------------
log "libmla CI: stages ${STAGES[*]} in $MLA_ROOT ($(git -C "$MLA_ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
for s in "${STAGES[@]}"; do
  run_stage "$s" "stage_$s"
done
print_summary
log "all stages passed"
