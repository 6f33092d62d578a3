#!/usr/bin/env bash
# ci/check-readme-example.sh: the C program of README.md's "A short C example" section, cut
# from the README text itself, builds with the flags `pkg-config mla` gives (PKG_CONFIG_PATH
# must find an installed mla.pc), and runs without LD_LIBRARY_PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d "${TMPDIR:-/tmp}/mla-readme.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The first ```c block after the section heading.
awk '/^## A short C example/ {section = 1}
     section && /^```c$/ {code = 1; next}
     code && /^```$/ {exit}
     code {print}' "$root/README.md" >"$work/readme_example.c"
[[ -s "$work/readme_example.c" ]] ||
  { echo "check-readme-example: no \`\`\`c block under '## A short C example' in README.md" >&2; exit 1; }
echo "check-readme-example: $(wc -l <"$work/readme_example.c") lines from README.md"
# shellcheck disable=SC2046  # the flags are meant to split
cc -std=c99 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags mla) \
  "$work/readme_example.c" -o "$work/readme_example" $(pkg-config --libs mla)
env -u LD_LIBRARY_PATH "$work/readme_example"
echo "check-readme-example: ok"
