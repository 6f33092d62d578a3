#!/usr/bin/env bash
# ci/check-exports.sh LIB: LIB (a built libmla.so) has SONAME libmla.so.0 and exports nothing
# but the C API: every defined dynamic symbol starts with mla_, and the core entry points are
# there.
set -euo pipefail

lib="${1:?usage: ci/check-exports.sh path/to/libmla.so}"
[[ -f "$lib" ]] || { echo "check-exports: no library at $lib" >&2; exit 1; }

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [[ "$soname" != "libmla.so.0" ]]; then
  echo "check-exports: $lib has SONAME '$soname', expected libmla.so.0" >&2
  exit 1
fi

# Defined dynamic symbols, with symbol versions stripped (none are expected).
mapfile -t symbols < <(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
stray=()
for s in "${symbols[@]}"; do
  [[ "$s" == mla_* ]] || stray+=("$s")
done
if [[ ${#stray[@]} -gt 0 ]]; then
  echo "check-exports: $lib exports ${#stray[@]} symbol(s) outside mla_*:" >&2
  printf '  %s\n' "${stray[@]:0:40}" >&2
  exit 1
fi
for s in mla_get_api_version mla_context_create mla_sparse_decode mla_sparse_prefill \
         mla_sparse_prefill_paged mla_kv_store mla_kv_gather; do
  [[ " ${symbols[*]} " == *" $s "* ]] || {
    echo "check-exports: $lib does not export $s" >&2
    exit 1
  }
done
echo "check-exports: $lib: SONAME $soname, ${#symbols[@]} symbols, all mla_*"
