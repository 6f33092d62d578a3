#!/usr/bin/env bash
# ci/check-docs.sh: the repository's documents stand on their own and say what users need:
# nothing points outside the repository, the contract and the license are there, build
# commands bound their parallel jobs, and no wording of the project's internals remains.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fail=0
bad() {
  echo "check-docs: $*" >&2
  fail=1
}

for f in docs/SPEC.md docs/BUILDING.md LICENSE pyproject.toml; do
  [[ -s "$f" ]] || bad "$f is missing"
done
grep -q "Apache License" LICENSE || bad "LICENSE is not the Apache-2.0 text"

# Tracked text files only (generated build folders aside); this script names the patterns.
list_files() {  # git's list; a tree without git: every file outside build folders
  git ls-files 2>/dev/null ||
    find . -type f -not -path './.git/*' -not -path './build*' -not -path './.*' | sed 's|^\./||'
}
mapfile -t files < <(list_files | grep -vE '^(LICENSE|ci/check-docs\.sh|bench/runs/)')
if out=$(grep -nE '\.\./shared|shared/(SPEC|TOOLCHAIN|ANCHORS|STYLE)' "${files[@]}"); then
  bad "references outside the repository:"$'\n'"$out"
fi
# Every "SPEC" a header or the README cites is docs/SPEC.md, which has sections 0 to 8.
for n in 0 1 2 3 4 5 6 7 8; do
  grep -qE "^## $n\. " docs/SPEC.md || bad "docs/SPEC.md has no section $n"
done
grep -q "docs/SPEC.md" README.md || bad "README.md does not cite docs/SPEC.md"
# A build command with a bare -j starts every job at once.
if out=$(grep -nE -- '(--build|make|ninja)[^#]*[[:space:]]-j[[:space:]]*($|#)' README.md docs/*.md \
    python/README.md); then
  bad "unbounded parallel builds (give -j a number):"$'\n'"$out"
fi
if out=$(grep -niE 'lent machine|the anchors?\b|anchor figures' README.md docs/*.md python/README.md); then
  bad "internal wording in user documents:"$'\n'"$out"
fi
grep -q "not yet run on AMD hardware" README.md || bad "README.md lacks the AMD support sentence"

[[ $fail -eq 0 ]] || exit 1
echo "check-docs: ok (${#files[@]} tracked files)"
