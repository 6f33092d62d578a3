#!/usr/bin/env bash
# ci/check-hip-code-objects.sh LIB ARCH...: the HIP build of libmla.so carries an AMD GPU code
# object for every ARCH (e.g. gfx942 gfx90a) in every offload bundle it embeds.
#
# How: clang embeds one clang-offload-bundle per HIP translation unit in the ELF section
# .hip_fatbin (each starts with the magic __CLANG_OFFLOAD_BUNDLE__). We cut that section out
# with objcopy, split it at each magic, list each bundle's entries with
# clang-offload-bundler-19 --list, and for each ARCH unbundle its code object and check with
# llvm-readelf-19 that it is an AMDGPU ELF for that processor holding at least one kernel.
# (Debian's llvm-objdump-19 has no --offload-fatbin for this section layout.)
set -euo pipefail

lib="${1:?usage: ci/check-hip-code-objects.sh path/to/libmla.so gfx942 gfx90a}"
shift
archs=("$@")
[[ ${#archs[@]} -gt 0 ]] || { echo "check-hip-code-objects: name at least one arch" >&2; exit 1; }
for tool in objcopy clang-offload-bundler-19 llvm-readelf-19; do
  command -v "$tool" >/dev/null || { echo "check-hip-code-objects: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

objcopy -O binary --only-section=.hip_fatbin "$lib" "$work/fatbin" 2>/dev/null || true
if [[ ! -s "$work/fatbin" ]]; then
  echo "check-hip-code-objects: $lib has no .hip_fatbin section (not a HIP build?)" >&2
  exit 1
fi

mapfile -t offsets < <(grep -obUa "__CLANG_OFFLOAD_BUNDLE__" "$work/fatbin" | cut -d: -f1)
[[ ${#offsets[@]} -gt 0 ]] || { echo "check-hip-code-objects: no offload bundle in .hip_fatbin" >&2; exit 1; }

fail=0
kernels_total=0
for i in "${!offsets[@]}"; do
  bundle="$work/bundle$i"
  tail -c +"$((offsets[i] + 1))" "$work/fatbin" >"$bundle"  # the bundler ignores what follows
  entries=$(clang-offload-bundler-19 --list --type=o --input="$bundle")
  for arch in "${archs[@]}"; do
    target=$(grep -E -- "^hipv4-amdgcn-amd-amdhsa-.*-${arch}(:.*)?\$" <<<"$entries" | head -n1 || true)
    if [[ -z "$target" ]]; then
      echo "check-hip-code-objects: bundle $i of $lib has no $arch code object; it holds:" >&2
      while read -r entry; do echo "  $entry"; done <<<"$entries" >&2
      fail=1
      continue
    fi
    clang-offload-bundler-19 --unbundle --type=o --input="$bundle" --targets="$target" \
      --output="$work/$arch.$i.co"
    header=$(llvm-readelf-19 -h "$work/$arch.$i.co")
    if ! grep -q "EM_AMDGPU" <<<"$header" || ! grep -q "Flags:.*$arch" <<<"$header"; then
      echo "check-hip-code-objects: bundle $i's $arch entry is not an AMDGPU $arch ELF:" >&2
      grep -E "Machine|Flags" <<<"$header" >&2 || true
      fail=1
      continue
    fi
    kernels=$(llvm-readelf-19 -s "$work/$arch.$i.co" | grep -c '\.kd$' || true)
    kernels_total=$((kernels_total + kernels))
  done
done
[[ $fail -eq 0 ]] || exit 1
if [[ $kernels_total -eq 0 ]]; then
  echo "check-hip-code-objects: the code objects of $lib hold no kernels" >&2
  exit 1
fi
echo "check-hip-code-objects: $lib: ${#offsets[@]} bundle(s), each with ${archs[*]};" \
  "$kernels_total kernel descriptors in all"
