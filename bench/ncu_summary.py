"""Summarizes an Nsight Compute source page (ncu --page source --csv --print-source sass) of
one kernel: where the instructions and the stall samples go, by region between barriers and
by instruction, with the stall reasons. Usage: ncu_summary.py SASS.csv [TOP]"""
import csv
import sys


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    rows = list(csv.reader(open(path)))
    hdr, data = rows[1], rows[2:]
    col = {h: i for i, h in enumerate(hdr)}
    src, samp, ex = col["Source"], col["Warp Stall Sampling (All Samples)"], col["Instructions Executed"]
    reasons = [h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
    total_s = sum(int(r[samp]) for r in data) or 1
    total_e = sum(int(r[ex]) for r in data) or 1
    print(f"{rows[0][0][:160]}")
    print(f"samples {total_s}, warp instructions executed {total_e}")
    by_reason = {h: sum(int(r[col[h]]) for r in data) for h in reasons}
    print("stall reasons (% of samples): " + ", ".join(
        f"{h[6:]} {100 * v / total_s:.1f}" for h, v in sorted(by_reason.items(), key=lambda x: -x[1])[:8]))
    # Regions between barriers.
    seg, acc = 0, {}
    for k, r in enumerate(data):
        a = acc.setdefault(seg, [0, 0, k, r[src].strip()[:48], {}])
        a[0] += int(r[samp])
        a[1] += int(r[ex])
        for h in reasons:
            a[4][h] = a[4].get(h, 0) + int(r[col[h]])
        if "BAR.SYNC" in r[src] or "BAR.RED" in r[src]:
            seg += 1
    print("regions (between barriers): samples%, executed%, top stalls, first instruction")
    for k, (s, e, line, first, st) in sorted(acc.items()):
        if s < 0.01 * total_s and e < 0.01 * total_e:
            continue
        tops = ", ".join(f"{h[6:]} {100 * v / max(s, 1):.0f}" for h, v in
                         sorted(st.items(), key=lambda x: -x[1])[:3])
        print(f"  r{k:<3d} line {line:6d}  {100 * s / total_s:5.1f}%  {100 * e / total_e:5.1f}%  [{tops}]  {first}")
    # Instruction classes.
    cls = {}
    for r in data:
        op = r[src].strip().split(" ")
        op = [t for t in op if not t.startswith("@")]
        name = op[0].split(".")[0] if op else "?"
        c = cls.setdefault(name, [0, 0])
        c[0] += int(r[ex])
        c[1] += int(r[samp])
    print("by opcode (executed%, samples%): " + ", ".join(
        f"{n} {100 * v[0] / total_e:.1f}/{100 * v[1] / total_s:.1f}"
        for n, v in sorted(cls.items(), key=lambda x: -x[1][0])[:16]))
    print(f"top {top} instructions by samples: address samples executed top-stall source")
    for r in sorted(data, key=lambda r: -int(r[samp]))[:top]:
        st = max(reasons, key=lambda h: int(r[col[h]]))
        print(f"  {r[0][-5:]} {int(r[samp]):6d} {int(r[ex]):9d} {st[6:]:10s} {r[src].strip()[:70]}")


if __name__ == "__main__":
    main()
