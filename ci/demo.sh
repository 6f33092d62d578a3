#!/usr/bin/env bash
# ci/demo.sh [BATCH] [ITERATIONS]: the README's first command. Sets everything up and runs the
# main job: one DeepSeek V4.0 sparse decode step (examples/decode_v40.c) on the best backend
# the machine has, which then checks itself against an independent path (PASS or FAIL).
#
# It apt-gets what the build needs and looks for a GPU. With an NVIDIA or AMD GPU visible it
# configures MLA_GPU=auto (CUDA when nvcc is there, else HIP when clang-19 and the HIP headers
# are) into build-demo/; with none it builds the CPU configuration (MLA_GPU=none) into
# build-demo-cpu/, as GPU code could not run there anyway. Then it builds libmla and the demo
# and runs it. Environment: MLA_JOBS (parallel jobs), MLA_CI_BUILD_ROOT (where the build
# folders go), MLA_DEMO_GPU (auto, cuda, hip or none: overrides the choice).
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$MLA_ROOT"
start=$SECONDS

apt_install cmake make g++ gcc
nv=$(nvidia_gpus)
amd=$(amd_gpus)
gpu="${MLA_DEMO_GPU:-}"
if [[ -z "$gpu" ]]; then
  if [[ ${nv:-0} -gt 0 || ${amd:-0} -gt 0 ]]; then
    gpu=auto
    log "GPUs visible: $nv NVIDIA, $amd AMD: building for the GPU (MLA_GPU=auto)"
  else
    gpu=none
    log "no GPU visible (nvidia-smi and rocminfo list none): building the CPU configuration" \
      "only (MLA_GPU=none); on a GPU machine this builds CUDA or HIP"
  fi
fi
# An AMD GPU and no CUDA toolkit: bring in Debian's HIP toolchain so that auto picks HIP.
if [[ "$gpu" != none && -z "$(find_nvcc)" && ${amd:-0} -gt 0 ]]; then
  apt_install "${MLA_PKGS_HIP[@]}"
fi

build="$MLA_CI_BUILD_ROOT/build-demo"
[[ "$gpu" == none ]] && build="$MLA_CI_BUILD_ROOT/build-demo-cpu"
cmake_configure "$build" "-DMLA_GPU=$gpu" -DMLA_BUILD_TESTS=OFF -DMLA_BUILD_BENCH=OFF \
  -DMLA_BUILD_EXAMPLES=ON
cmake_build_targets "$build" decode_v40
log "set up and built in $((SECONDS - start)) s; running $build/examples/decode_v40 $*"
"$build/examples/decode_v40" "$@"
