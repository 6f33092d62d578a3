#!/usr/bin/env bash
# ci/check-wgmma-pipelines.sh CUOBJDUMP LIB: fails when ptxas serialized the wgmma MMAs of a
# kernel in LIB. ptxas does that to a whole kernel when an MMA group stays in flight across a
# loop's back-edge, without a message (a polling loop inside the body does not: measured),
# when a register of an in-flight MMA is written (C7515) or when registers run short (C7512);
# the machine code then carries a WARPGROUP.DEPBAR (wait) after every HGMMA. A pipelined
# kernel waits once per group of MMAs: far fewer waits.
set -euo pipefail
cuobjdump="$1" lib="$2"
"$cuobjdump" -sass "$lib" | awk '
  function report() {
    if (hgmma == 0) return
    kernels++
    printf "%4d HGMMA, %3d WARPGROUP.DEPBAR: %s\n", hgmma, depbar, name
    if (2 * depbar > hgmma) { bad++; printf "  serialized: a wait for every few MMAs\n" }
  }
  /Function :/ { report(); name = $3; hgmma = 0; depbar = 0; next }
  /HGMMA/ { hgmma++ }
  /WARPGROUP\.DEPBAR/ { depbar++ }
  END {
    report()
    if (kernels == 0) { print "no kernel with HGMMA found"; exit 1 }
    if (bad > 0) { printf "%d of %d wgmma kernels serialized\n", bad, kernels; exit 1 }
    printf "wgmma pipelines: ok (%d kernels)\n", kernels
  }'
