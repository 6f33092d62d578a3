# shellcheck shell=bash
# Helpers shared by the ci/ scripts: logging, timed stages, apt-get installs, builds.
# Source it from a bash script that runs with `set -euo pipefail`.

MLA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLA_JOBS="${MLA_JOBS:-$(nproc)}"
# Build folders live in the checkout (/build*/ is git-ignored) unless MLA_CI_BUILD_ROOT says so.
MLA_CI_BUILD_ROOT="${MLA_CI_BUILD_ROOT:-$MLA_ROOT}"
# Python's output reaches the log in order with the shell's (no buffered lines after errors).
export PYTHONUNBUFFERED=1

log() { printf '\033[1m[ci]\033[0m %s\n' "$*" >&2; }
die() {
  printf '\033[1;31m[ci] FAILED:\033[0m %s\n' "$*" >&2
  exit 1
}

# ---- Timed stages: `run_stage NAME COMMAND...` runs the command, records how long it took,
# and stops everything with a clear message if it fails. Inside a stage, `skip_check WHAT WHY`
# records a check that could not run and `stage_skipped WHY` a stage that did not apply: the
# summary shows them as SKIPPED with the reason, never as ok.
MLA_STAGE_NAMES=()
MLA_STAGE_TIMES=()
MLA_STAGE_RESULTS=()
MLA_CI_START=$SECONDS
MLA_CI_NOTES="$(mktemp "${TMPDIR:-/tmp}/mla-ci-notes.XXXXXX")"
trap 'rm -f "$MLA_CI_NOTES"' EXIT

skip_check() {
  log "SKIPPED: $1: $2"
  printf 'check\t%s: %s\n' "$1" "$2" >>"$MLA_CI_NOTES.$MLA_CI_STAGE"
}
stage_skipped() {
  log "SKIPPED: stage '$MLA_CI_STAGE': $1"
  printf 'stage\t%s\n' "$1" >>"$MLA_CI_NOTES.$MLA_CI_STAGE"
}

# The summary text of a stage that succeeded, from the notes it left.
stage_result() {
  local notes="$MLA_CI_NOTES.$1" why checks
  [[ -f "$notes" ]] || { echo ok; return; }
  why=$(awk -F'\t' '$1 == "stage" {print $2; exit}' "$notes")
  checks=$(awk -F'\t' '$1 == "check" {printf "%s%s", sep, $2; sep = "; "}' "$notes")
  if [[ -n "$why" ]]; then
    echo "SKIPPED: $why${checks:+ (also skipped: $checks)}"
  else
    echo "ok, but SKIPPED: $checks"
  fi
  rm -f "$notes"
}

run_stage() {
  local name="$1" start=$SECONDS rc=0
  shift
  log "==== stage '$name' ===="
  # A subshell with errexit of its own: `if stage_fn` would silently turn errexit off inside it.
  set +e
  (
    set -eE
    MLA_CI_STAGE="$name"
    trap 'printf "\033[1;31m[ci]\033[0m stage %s: command failed (exit %s) at %s:%s: %s\n" \
      "$name" "$?" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR
    "$@"
  )
  rc=$?
  set -e
  MLA_STAGE_NAMES+=("$name")
  MLA_STAGE_TIMES+=($((SECONDS - start)))
  if [[ $rc -eq 0 ]]; then
    MLA_STAGE_RESULTS+=("$(stage_result "$name")")
    log "==== stage '$name': ${MLA_STAGE_RESULTS[-1]} ($((SECONDS - start)) s) ===="
  else
    rm -f "$MLA_CI_NOTES.$name"
    MLA_STAGE_RESULTS+=("FAILED (exit $rc)")
    print_summary
    die "stage '$name' failed (exit $rc); see the output above"
  fi
}

# A stage that did not apply on this machine (for the summary).
skip_stage() {
  MLA_STAGE_NAMES+=("$1")
  MLA_STAGE_TIMES+=(0)
  MLA_STAGE_RESULTS+=("SKIPPED: $2")
  log "==== stage '$1' SKIPPED: $2 ===="
}

print_summary() {
  local i
  printf '\n[ci] summary\n' >&2
  for i in "${!MLA_STAGE_NAMES[@]}"; do
    printf '[ci]   %-10s %5ss  %s\n' "${MLA_STAGE_NAMES[$i]}" "${MLA_STAGE_TIMES[$i]}" \
      "${MLA_STAGE_RESULTS[$i]}" >&2
  done
  printf '[ci]   %-10s %5ss\n' total $((SECONDS - MLA_CI_START)) >&2
}

# ---- Packages: `apt_install [--no-recommends] PKG...` installs the Debian packages that are
# not installed yet; quiet and non-interactive; `apt-get update` at most once per process.
MLA_APT_UPDATED=0
apt_install() {
  local missing=() pkg sudo=() extra=()
  if [[ "${1:-}" == --no-recommends ]]; then
    extra=(--no-install-recommends)
    shift
  fi
  for pkg in "$@"; do
    # Installed, or a tool of that name is on PATH already (e.g. a newer cmake of one's own).
    command -v "$pkg" >/dev/null && continue
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] ||
      missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "apt: all of $* already installed"
    return 0
  fi
  command -v apt-get >/dev/null || die "missing packages and no apt-get: install ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  local start=$SECONDS
  if [[ $MLA_APT_UPDATED -eq 0 ]]; then
    log "apt-get update (the package lists; usually under a minute)"
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    MLA_APT_UPDATED=1
  fi
  log "apt-get install ${#missing[@]} package(s): ${missing[*]} (can take a few minutes)"
  "${sudo[@]}" apt-get install -y -qq "${extra[@]}" "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
  log "apt: installed in $((SECONDS - start)) s"
}

# What each kind of build needs from Debian 12 (nvcc itself comes from /usr/local/cuda).
# shellcheck disable=SC2034  # used by the scripts that source this file
{
  MLA_PKGS_BASE=(cmake make g++ gcc libgtest-dev pkg-config binutils)
  MLA_PKGS_HIP=(hipcc libamdhip64-dev librocprim-dev rocm-device-libs clang-19 lld-19 llvm-19
    clang-tools-19)
  MLA_PKGS_PYTHON=(python3 python3-torch python3-pytest python3-numpy python3-venv)
}

# How many GPUs of each vendor the machine has (0 without the vendor's tools or driver).
nvidia_gpus() {
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
  else
    echo 0
  fi
}
amd_gpus() {
  if [[ -e /dev/kfd ]] && command -v rocminfo >/dev/null; then
    rocminfo 2>/dev/null | grep -cE 'Name:\s+gfx[0-9]' || true
  else
    echo 0
  fi
}

# The nvcc CMake would find (MlaGpuSelect.cmake looks on PATH, then in /usr/local/cuda).
find_nvcc() {
  command -v nvcc 2>/dev/null || { [[ -x /usr/local/cuda/bin/nvcc ]] && echo /usr/local/cuda/bin/nvcc; }
}

# ---- Builds. cmake_configure DIR ARGS... configures DIR from the checkout (incrementally when
# it exists; the log goes to DIR/ci-configure.log and is shown on failure).
cmake_configure() {
  local dir="$1"
  shift
  log "configure $dir: $*"
  mkdir -p "$dir"
  cmake -S "$MLA_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir/ci-configure.log" 2>&1 || {
    cat "$dir/ci-configure.log" >&2
    die "configuring $dir failed"
  }
  grep -E '^-- libmla' "$dir/ci-configure.log" >&2 || true
}

# cmake_build_targets DIR TARGET...: builds only those targets ("all" for everything).
cmake_build_targets() {
  local dir="$1"
  shift
  log "build $dir: $* (-j$MLA_JOBS)"
  cmake --build "$dir" -j "$MLA_JOBS" --target "$@" || die "building $* in $dir failed"
}

# True when the configured build in DIR has a target of that name (Makefile or Ninja).
has_target() {
  local targets  # not piped into grep -q: with pipefail, an early grep exit fails the pipe
  targets=$(cmake --build "$1" --target help 2>/dev/null) || return 1
  grep -qE "^(\.\.\. )?$2(:|\$)" <<<"$targets"
}

# run_ctest DIR ARGS...: ctest in DIR with its (long) output in DIR/ci-ctest.log; prints the
# summary when all pass and the whole log when something fails.
run_ctest() {
  local dir="$1"
  shift
  log "ctest $* in $dir (log: $dir/ci-ctest.log)"
  if ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" >"$dir/ci-ctest.log" 2>&1; then
    # The summary, with the list of skipped tests folded into a count.
    awk '/tests passed/ {on = 1} /\(Skipped\)$/ {skipped++; next}
         /The following tests did not run/ {next} on && NF {print}
         END {if (skipped) printf "%d test(s) skipped\n", skipped}' \
      "$dir/ci-ctest.log" >&2
  else
    cat "$dir/ci-ctest.log" >&2
    die "ctest $* in $dir failed"
  fi
}
