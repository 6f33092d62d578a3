#!/usr/bin/env bash
# ci/check-consumer.sh BUILD_DIR: installs the libmla built in BUILD_DIR to a temporary prefix
# with `cmake --install`, then builds and runs the C99 program of tests/consumer against that
# copy twice: through find_package(mla) (CMake) and through pkg-config (mla.pc), and the
# README's C example through pkg-config.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${1:?usage: ci/check-consumer.sh BUILD_DIR}"
work=$(mktemp -d "${TMPDIR:-/tmp}/mla-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

echo "check-consumer: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
  cat "$work/install.log" >&2
  echo "check-consumer: cmake --install failed" >&2
  exit 1
}

# The installed tree: header, library with its SONAME link, CMake package, pkg-config file.
lib=$(find "$prefix" -name 'libmla.so.0' | head -n1)
pcdir=$(dirname "$(find "$prefix" -name mla.pc | head -n1)")
for f in "$prefix/include/mla/mla.h" "$lib" "$pcdir/mla.pc"; do
  [[ -e "$f" ]] || { echo "check-consumer: $f missing from the install" >&2; exit 1; }
done
[[ -n "$(find "$prefix" -name mlaConfig.cmake)" ]] ||
  { echo "check-consumer: mlaConfig.cmake missing from the install" >&2; exit 1; }
"$here/check-exports.sh" "$lib"

# 1. CMake: find_package(mla) through CMAKE_PREFIX_PATH.
cmake -S "$root/tests/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 || {
  cat "$work/cmake.log" >&2
  echo "check-consumer: find_package(mla) configure failed" >&2
  exit 1
}
grep 'found libmla' "$work/cmake.log" || true
cmake --build "$work/cmake-build" >"$work/cmake-build.log" 2>&1 || {
  cat "$work/cmake-build.log" >&2
  echo "check-consumer: building against mla::mla failed" >&2
  exit 1
}
echo "check-consumer: run (find_package build)"
"$work/cmake-build/mla_consumer"

# 2. pkg-config: plain cc with the flags mla.pc gives: plain paths, and an rpath, so that the
# program runs without LD_LIBRARY_PATH.
export PKG_CONFIG_PATH="$pcdir"
pkg-config --exists --print-errors mla
flags="$(pkg-config --cflags --libs mla)"
echo "check-consumer: pkg-config mla $(pkg-config --modversion mla): $flags"
if [[ "$flags" == *"/../"* || "$flags" != *"-I$prefix/include"* || "$flags" != *"-Wl,-rpath,"* ]]; then
  echo "check-consumer: mla.pc should give -I$prefix/include and an rpath, without '..'" >&2
  exit 1
fi
# shellcheck disable=SC2046  # the flags are meant to split
cc -std=c99 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags mla) \
  "$root/tests/consumer/main.c" -o "$work/mla_consumer_pc" $(pkg-config --libs mla) -lm
echo "check-consumer: run (pkg-config build, no LD_LIBRARY_PATH)"
env -u LD_LIBRARY_PATH "$work/mla_consumer_pc"

# 3. The README's C example, from the README text.
"$here/check-readme-example.sh"
echo "check-consumer: ok"
