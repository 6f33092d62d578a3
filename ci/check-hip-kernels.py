#!/usr/bin/env python3
"""ci/check-hip-kernels.py LIB REGEX ARCH...: reads the AMD machine code of the HIP build of
libmla.so and checks every kernel whose name matches REGEX, for each ARCH (e.g. gfx942
gfx90a): no scratch (private segment 0 bytes), LDS (group segment) within 64 KiB, and at least
one MFMA instruction in its body. No AMD GPU exists to this project: this is how its kernels
are checked. Prints one line per kernel and architecture; exits 1 on any failure or when no
kernel matches.

How: clang embeds one offload bundle per HIP translation unit in the section .hip_fatbin; each
is cut out with objcopy, unbundled per architecture with clang-offload-bundler-19, and read with
llvm-readelf-19 --notes (the kernels' metadata) and llvm-objdump-19 -d (their instructions)."""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LDS_LIMIT = 64 * 1024
MAGIC = b"__CLANG_OFFLOAD_BUNDLE__"


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def code_objects(lib, arch, work):
    fatbin = work / "fatbin"
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.hip_fatbin", lib, str(fatbin)],
                   check=True, capture_output=True)
    data = fatbin.read_bytes()
    starts = [m.start() for m in re.finditer(re.escape(MAGIC), data)]
    for i, start in enumerate(starts):
        bundle = work / f"bundle{i}"
        bundle.write_bytes(data[start:])  # the bundler ignores what follows the bundle
        entries = run("clang-offload-bundler-19", "--list", "--type=o", f"--input={bundle}")
        target = next((e for e in entries.split() if re.search(rf"-{arch}(:|$)", e)), None)
        if target is None:
            continue
        out = work / f"{arch}.{i}.co"
        run("clang-offload-bundler-19", "--unbundle", "--type=o", f"--input={bundle}",
            f"--targets={target}", f"--output={out}")
        yield out


def kernel_metadata(co):
    """{kernel name: {key: value}} from the AMDHSA metadata note."""
    notes = run("llvm-readelf-19", "--notes", str(co))
    kernels, current = {}, {}
    for line in notes.splitlines():
        m = re.match(r"\s*(-\s+)?\.(\w+):\s+(\S+)", line)
        if not m:
            continue
        if m.group(1) and current:  # a new list entry begins
            if ".name" in current:
                kernels[current[".name"]] = current
            current = {}
        current["." + m.group(2)] = m.group(3)
    if ".name" in current:
        kernels[current[".name"]] = current
    return kernels


def mfma_counts(co):
    counts, name = {}, None
    for line in run("llvm-objdump-19", "-d", str(co)).splitlines():
        m = re.match(r"[0-9a-f]+ <(.+)>:", line)
        if m:
            name = m.group(1)
        elif name and re.search(r"\bv_mfma_", line):
            counts[name] = counts.get(name, 0) + 1
    return counts


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    lib, pattern, archs = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3:]
    failures = checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for arch in archs:
            for co in code_objects(lib, arch, work):
                meta, mfma = kernel_metadata(co), mfma_counts(co)
                for name, m in sorted(meta.items()):
                    if not pattern.search(name):
                        continue
                    checked += 1
                    scratch = int(m.get(".private_segment_fixed_size", "-1"))
                    lds = int(m.get(".group_segment_fixed_size", "-1"))
                    n_mfma = mfma.get(name, 0)
                    problems = []
                    if scratch != 0:
                        problems.append(f"scratch {scratch} B")
                    if not 0 <= lds <= LDS_LIMIT:
                        problems.append(f"LDS {lds} B over {LDS_LIMIT}")
                    if n_mfma == 0:
                        problems.append("no MFMA instruction")
                    failures += bool(problems)
                    print(f"{arch} {name[:110]}: scratch {scratch} B, LDS {lds} B, "
                          f"{n_mfma} MFMA, VGPRs {m.get('.vgpr_count', '?')}"
                          + (f"  FAILED: {', '.join(problems)}" if problems else ""))
    if checked == 0:
        print(f"check-hip-kernels: no kernel of {lib} matches {pattern.pattern} for {archs}")
        return 1
    print(f"check-hip-kernels: {checked} kernel(s) checked, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
