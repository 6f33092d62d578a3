#!/usr/bin/env bash
# ci/demo.sh [BATCH] [ITERATIONS]: the README's first command. Sets everything up and runs the
# main job: one DeepSeek V4.0 sparse decode step (examples/decode_v40.c) on the best backend
# the machine has.
#
# It apt-gets what the build needs, configures with MLA_GPU=auto (CUDA when nvcc is there,
# else HIP when clang-19 and the HIP headers are, else CPU only), builds libmla and the demo
# into build-demo/, and runs it. The demo asks the library how many GPUs it sees: on a GPU it
# runs there, otherwise (including a CUDA build on a machine without a GPU) on the CPU.
# Environment: MLA_JOBS (parallel jobs), MLA_CI_BUILD_ROOT (where build-demo/ goes).
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$MLA_ROOT"
build="$MLA_CI_BUILD_ROOT/build-demo"

apt_install cmake make g++ gcc
# An AMD GPU and no CUDA toolkit: bring in Debian's HIP toolchain so that auto picks HIP.
if [[ -z "$(find_nvcc)" && -e /dev/kfd ]]; then
  apt_install "${MLA_PKGS_HIP[@]}"
fi

cmake_configure "$build" -DMLA_GPU=auto -DMLA_BUILD_TESTS=OFF -DMLA_BUILD_BENCH=OFF \
  -DMLA_BUILD_EXAMPLES=ON
cmake_build_targets "$build" decode_v40
log "running $build/examples/decode_v40 $*"
"$build/examples/decode_v40" "$@"
