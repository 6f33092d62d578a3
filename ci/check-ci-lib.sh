#!/usr/bin/env bash
# ci/check-ci-lib.sh: the summary of ci/lib.sh tells the truth: a stage that ran reads ok, a
# check skipped inside a stage makes it read "ok, but SKIPPED: <check>: <why>", a stage that did
# not apply reads "SKIPPED: <why>", and a failing stage stops the run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out=$(
  bash -c '
    set -euo pipefail
    source "$1/lib.sh"
    ran() { true; }
    skipped_check() { skip_check "CUDA architecture check" "no cuobjdump"; }
    not_here() { stage_skipped "no GPU"; }
    run_stage plain ran
    run_stage partial skipped_check
    run_stage gpu not_here
    skip_stage hip "not selected"
    print_summary
    run_stage broken false
    echo "not reached"
  ' _ "$here" 2>&1
) && { echo "check-ci-lib: a failing stage did not stop the run" >&2; exit 1; }

expect() {
  grep -qE "$1" <<<"$out" || {
    echo "check-ci-lib: the summary lacks /$1/; it reads:"$'\n'"$out" >&2
    exit 1
  }
}
expect '\[ci\]   plain +[0-9]+s  ok$'
expect '\[ci\]   partial +[0-9]+s  ok, but SKIPPED: CUDA architecture check: no cuobjdump$'
expect '\[ci\]   gpu +[0-9]+s  SKIPPED: no GPU$'
expect '\[ci\]   hip +[0-9]+s  SKIPPED: not selected$'
expect '\[ci\]   broken +[0-9]+s  FAILED \(exit 1\)$'
if grep -q "not reached" <<<"$out"; then
  echo "check-ci-lib: the run went on after a failed stage" >&2
  exit 1
fi
echo "check-ci-lib: ok (ok, SKIPPED check, SKIPPED stage, FAILED)"
