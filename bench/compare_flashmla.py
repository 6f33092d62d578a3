#!/usr/bin/env python3
"""libmla against FlashMLA, side by side in one process on the same tensors (CUDA, H200).

Times `mla.flash_mla` (libmla) and `flash_mla` (FlashMLA, the anchor) on DeepSeek V3.2 / V4.0
sparse decode and sparse prefill shapes, checks libmla's output first, and measures the
copy and bf16 matrix ceilings in the same run.

Run on a GPU machine from the repo root (libmla built at build/src/libmla.so; FlashMLA's
Python package, with its extension built for the GPU, in .anchor/ or $FLASHMLA_ANCHOR):

    PYTHONPATH=$PWD/python:$PWD/.anchor MLA_LIBRARY=$PWD/build/src/libmla.so \\
        python3 bench/compare_flashmla.py --json $OUT/compare.json --png $OUT/roofline.png

Without FlashMLA importable, libmla is timed alone. `--quick` is a smoke run.

Method:
  - kernel time only: CUDA events around each call, median of --reps samples after warm-up;
    before every sample a 256 MB buffer is written (the H200's L2 is 60 MB), then a spin
    kernel keeps the GPU busy while the host enqueues the timed call, so Python and launch
    overhead never land between the two events;
  - the two libraries alternate sample by sample, so clock or thermal drift hits both alike;
  - FLOP = 2 * h_q * attended keys * (d_qk + d_v); decode bytes = q + out + unique KV rows
    fetched (656 B/token V3.2, 584 B/token V4.0); prefill bytes = q + out + unique kv rows.
    Where FlashMLA must run padded to 64 heads (TP8 shapes), both libraries are credited
    with the useful work of the real head count only.
  - checks (SPEC 8 tolerances): libmla against a float64 reference over the dequantized
    cache on a subset of requests / query rows, and against FlashMLA over the whole output.
"""
import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]

# SPEC 8: (abs_tol, rel_tol, cos_tol)
TOL_DECODE_OUT = (1e-3, 2.01 / 128, 5e-6)
TOL_DECODE_LSE = (1e-6, 8.01 / 65536, None)
TOL_PREFILL_OUT = (8e-4, 3.01 / 128, 7e-6)
TOL_PREFILL_STAT = (1e-6, 2.01 / 65536, None)

ROW_BYTES = {"v32": 656, "v40": 584}   # bytes per cached token
D_QK = {"v32": 576, "v40": 512}
D_V = 512
SCALE = {"v32": 0.13523, "v40": 512 ** -0.5}  # DeepSeek V3.2 / V4 softmax scales
FP8_MAX = 448.0
DEVICE = "cuda"   # a module global so the helpers can be exercised on the CPU


# ---------------------------------------------------------------------------------------
# Shapes

@dataclasses.dataclass
class DecodeShape:
    name: str
    fmt: str                 # "v32" or "v40"
    h: int
    b: int
    topk: int
    page: int
    ctx: int                 # tokens per request in the main cache
    extra_topk: int = 0
    extra_page: int = 0
    extra_ctx: int = 0
    sink: bool = False
    s_q: int = 2

    op = "decode"


@dataclasses.dataclass
class PrefillShape:
    name: str
    fmt: str                 # "v32" (d_qk 576) or "v40" (d_qk 512)
    h: int
    topk: int
    s_q: int = 4096
    s_kv: int = 32768
    sink: bool = True

    op = "prefill"


def decode_shapes():
    # Contexts follow FlashMLA's own performance cases (V3.2 32k, V4 16k per request), so
    # each cache is far larger than the L2 (b128 V3.2: 2.7 GB).
    v32 = dict(fmt="v32", topk=2048, page=64, ctx=32768)
    v4 = dict(fmt="v40", topk=128, page=256, ctx=16384, extra_page=64, extra_ctx=16384,
              sink=True)
    return [
        DecodeShape("dec V3.2 h128 k2048 b128", h=128, b=128, **v32),
        DecodeShape("dec V3.2 h128 k2048 b64", h=128, b=64, **v32),
        DecodeShape("dec V3.2 h128 k2048 b2", h=128, b=2,
                    **dict(v32, ctx=65536)),  # bigger context: the cache still beats the L2
        DecodeShape("dec V4 h64 k128+512 b128", h=64, b=128, extra_topk=512, **v4),
        DecodeShape("dec V4 h128 k128+1024 b128", h=128, b=128, extra_topk=1024, **v4),
        DecodeShape("dec V3.2 h16 k2048 b128 TP8", h=16, b=128, **v32),
        DecodeShape("dec V4 h8 k128+512 b128 TP8", h=8, b=128, extra_topk=512, **v4),
    ]


def prefill_shapes():
    return [
        PrefillShape("pre V3.2 h128 k2048 kv32k", fmt="v32", h=128, topk=2048),
        PrefillShape("pre V3.2 h128 k2048 kv128k", fmt="v32", h=128, topk=2048, s_kv=131072),
        PrefillShape("pre V4 h64 k512 kv32k", fmt="v40", h=64, topk=512),
        PrefillShape("pre V4 h128 k1024 kv32k", fmt="v40", h=128, topk=1024),
        PrefillShape("pre V4 h16 k1024 kv32k TP8", fmt="v40", h=16, topk=1024),
        PrefillShape("pre V3.2 h16 k2048 kv32k TP8", fmt="v32", h=16, topk=2048),
    ]


def flashmla_heads(h):
    """FlashMLA runs 64 or 128 query heads; engines pad smaller TP shards to 64."""
    return 64 if h <= 64 else 128


# ---------------------------------------------------------------------------------------
# Paths and imports (before torch, so MLA_LIBRARY is in place when mla loads the library)

def setup_paths(args):
    py = str(REPO / "python")
    if py not in sys.path:
        sys.path.insert(1, py)
    if args.lib:
        os.environ["MLA_LIBRARY"] = args.lib
    elif not os.environ.get("MLA_LIBRARY"):
        for cand in ("build/src/libmla.so", "build/src/libmla.so.0",
                     "build-cuda/src/libmla.so"):
            if (REPO / cand).exists():
                os.environ["MLA_LIBRARY"] = str(REPO / cand)
                break
    anchor = args.anchor or os.environ.get("FLASHMLA_ANCHOR")
    if not anchor and (REPO / ".anchor" / "flash_mla").is_dir():
        anchor = str(REPO / ".anchor")
    if anchor:
        # Ahead of PYTHONPATH, so that a shim named flash_mla there cannot shadow FlashMLA.
        sys.path.insert(1, str(Path(anchor).resolve()))


def import_flashmla(mla_fm):
    """FlashMLA's module, or (None, reason)."""
    try:
        import flash_mla as fm
    except Exception as e:  # ImportError, or the extension failing to load
        return None, f"{type(e).__name__}: {e}"
    if getattr(fm, "__mla_shim__", False) or \
            getattr(fm, "flash_mla_with_kvcache", None) is mla_fm.flash_mla_with_kvcache:
        return None, f"flash_mla at {fm.__file__} is libmla's shim, not FlashMLA"
    return fm, None


# ---------------------------------------------------------------------------------------
# Timing

class KernelTimer:
    """Median kernel time of callables, L2 flushed before every sample."""

    def __init__(self, torch, flush_mb=256, spin_us=1000):
        self.torch = torch
        self.flush = torch.empty(flush_mb * (1 << 20) // 4, dtype=torch.int32, device=DEVICE)
        # ~2 GHz SM clock: cycles for the spin that hides host enqueue time
        self.spin_cycles = int(spin_us * 2000)
        self.can_spin = hasattr(torch.cuda, "_sleep")

    def _prologue(self, i):
        self.flush.fill_(i)  # a 256 MB write evicts every input from the 60 MB L2
        if self.can_spin:
            self.torch.cuda._sleep(self.spin_cycles)

    def time(self, fns: Dict[str, callable], reps: int, warmup: int) -> Dict[str, List[float]]:
        torch = self.torch
        for _ in range(warmup):
            for f in fns.values():
                f()
        torch.cuda.synchronize()
        ev = {k: [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(reps)] for k in fns}
        for i in range(reps):
            for k, f in fns.items():  # alternate libraries sample by sample
                self._prologue(i)
                start, end = ev[k][i]
                start.record()
                f()
                end.record()
        torch.cuda.synchronize()
        return {k: [s.elapsed_time(e) * 1e3 for s, e in ev[k]] for k in fns}

    def one_call_us(self, f):
        """Cold time of one call (to size the repetitions of slow kernels)."""
        return statistics.median(self.time({"f": f}, 1, 0)["f"])


def copy_ceiling_us(torch, timer, reps, n):
    src = torch.empty(n, dtype=torch.uint8, device=DEVICE).random_(0, 256)
    dst = torch.empty_like(src)
    return statistics.median(timer.time({"c": lambda: dst.copy_(src)}, reps, 3)["c"])


def mm_ceiling_us(torch, timer, reps, m):
    a = torch.randn(m, m, dtype=torch.bfloat16, device=DEVICE)  # random data, not zeros
    b = torch.randn(m, m, dtype=torch.bfloat16, device=DEVICE)
    c = torch.empty(m, m, dtype=torch.bfloat16, device=DEVICE)
    return statistics.median(timer.time({"m": lambda: torch.mm(a, b, out=c)}, reps, 3)["m"])


def measure_ceilings(torch, timer, reps):
    n, m = 1 << 30, 8192  # a 1 GiB copy, far past the L2; a bf16 8192^3 product
    copy_us = copy_ceiling_us(torch, timer, reps, n)
    mm_us = mm_ceiling_us(torch, timer, reps, m)
    torch.cuda.empty_cache()
    return {"copy_GBps": 2 * n / (copy_us * 1e-6) / 1e9, "copy_us": copy_us,
            "mm_TFLOPs": 2 * m ** 3 / (mm_us * 1e-6) / 1e12, "mm_us": mm_us}


# ---------------------------------------------------------------------------------------
# FP8 caches (built here from the formats of SPEC 2; both libraries read the same bytes)

def fp8_encode(torch, x):
    """float -> e4m3fn bytes (uint8), round to nearest even; |x| <= 448 here."""
    return x.to(torch.float8_e4m3fn).view(torch.uint8)


def fp8_decode_table(torch):
    """float64 value of each e4m3fn byte (SPEC 1), built from the bits: the reference does
    not lean on torch's own float8 conversion."""
    vals = []
    for byte in range(256):
        sign = -1.0 if byte & 0x80 else 1.0
        exp, man = (byte >> 3) & 0xF, byte & 0x7
        if exp == 0xF and man == 0x7:
            vals.append(float("nan"))
        elif exp == 0:
            vals.append(sign * man / 8 * 2.0 ** -6)
        else:
            vals.append(sign * (1 + man / 8) * 2.0 ** (exp - 7))
    return torch.tensor(vals, dtype=torch.float64, device=DEVICE)


def pow2_exponent_ceil(torch, v):
    """ceil(log2(v)) exactly, for positive normal fp32 v (frexp: v = m * 2^e, m in [0.5, 1))."""
    m, e = torch.frexp(v)
    return e - (m == 0.5).to(e.dtype)


def quantize_v32(torch, x):
    """bf16-valued float rows [n, 576] -> V3.2 rows [n, 656] (uint8). Power-of-two scales,
    so FlashMLA's bf16 rounding of the scale is exact and both libraries decode alike."""
    n = x.shape[0]
    nope = x[:, :512].reshape(n, 4, 128)
    e = pow2_exponent_ceil(torch, nope.abs().amax(-1).clamp_min(1e-4) / FP8_MAX)
    scale = torch.ldexp(torch.ones_like(e, dtype=torch.float32), e)          # [n, 4]
    codes = fp8_encode(torch, nope / scale[..., None])
    rope = x[:, 512:].to(torch.bfloat16).contiguous().view(torch.uint8)       # [n, 128]
    return torch.cat([codes.reshape(n, 512), scale.contiguous().view(torch.uint8), rope], 1)


def quantize_v40_pages(torch, x, padded):
    """Float pages [pages, P, 512] -> V4.0 pages [pages, padded] (uint8): per token 448 fp8
    + 64 bf16 rope, then 7 UE8M0 scale bytes + 1 pad per token, then zero padding."""
    pages, p = x.shape[0], x.shape[1]
    nope = x[..., :448].reshape(pages, p, 7, 64)
    e = pow2_exponent_ceil(torch, nope.abs().amax(-1).clamp_min(1e-4) / FP8_MAX)  # [pg,P,7]
    codes = fp8_encode(torch, torch.ldexp(nope, -e[..., None]))
    rope = x[..., 448:].to(torch.bfloat16).contiguous().view(torch.uint8)        # [pg,P,128]
    data = torch.cat([codes.reshape(pages, p, 448), rope], -1).reshape(pages, p * 576)
    sc = torch.zeros(pages, p, 8, dtype=torch.uint8, device=x.device)
    sc[..., :7] = (e + 127).to(torch.uint8)
    tail = torch.zeros(pages, padded - p * 584, dtype=torch.uint8, device=x.device)
    return torch.cat([data, sc.reshape(pages, p * 8), tail], 1)


class PagedCache:
    """One FP8 paged cache: the [num_blocks, page, 1, row] tensor both libraries take, and
    the flat bytes under it for the reference's own dequantization."""

    def __init__(self, torch, fmt, num_blocks, page, gen):
        self.torch, self.fmt, self.page, self.num_blocks = torch, fmt, page, num_blocks
        row = ROW_BYTES[fmt]
        if fmt == "v32":
            self.stride = page * row
        else:  # V4.0 pages are padded to a multiple of 576 bytes (SPEC 2.2)
            self.stride = (page * row + 575) // 576 * 576
        self.buf = torch.empty(num_blocks, self.stride, dtype=torch.uint8, device=DEVICE)
        d = D_QK[fmt]
        chunk = max(1, (1 << 17) // page)  # ~128K tokens at a time bounds the temporaries
        for p0 in range(0, num_blocks, chunk):
            p1 = min(num_blocks, p0 + chunk)
            x = torch.randn(p1 - p0, page, d, device=DEVICE, generator=gen) / 10
            x = x.to(torch.bfloat16).float()
            if fmt == "v32":
                self.buf[p0:p1] = quantize_v32(torch, x.reshape(-1, d)).reshape(p1 - p0, -1)
            else:
                self.buf[p0:p1] = quantize_v40_pages(torch, x, self.stride)
        fp8 = getattr(torch, "float8_e4m3fn", torch.uint8)  # FlashMLA takes float8 caches
        self.tensor = self.buf.view(fp8)[:, :page * row].view(num_blocks, page, 1, row)
        self.lut = fp8_decode_table(torch)

    def dequant(self, slots):
        """float64 keys [n, d_qk] of valid slots (int64 tensor)."""
        torch = self.torch
        flat = self.buf.view(-1)
        pg, off = slots // self.page, slots % self.page
        if self.fmt == "v32":
            base = pg * self.stride + off * 656
            raw = flat[base[:, None] + torch.arange(656, device=slots.device)]
            codes = self.lut[raw[:, :512].long()]
            scale = raw[:, 512:528].contiguous().view(torch.float32).double()
            rope = raw[:, 528:].contiguous().view(torch.bfloat16).double()
            nope = (codes.view(-1, 4, 128) * scale[..., None]).reshape(-1, 512)
        else:
            base = pg * self.stride + off * 576
            raw = flat[base[:, None] + torch.arange(576, device=slots.device)]
            sbase = pg * self.stride + self.page * 576 + off * 8
            sb = flat[sbase[:, None] + torch.arange(7, device=slots.device)].double()
            codes = self.lut[raw[:, :448].long()]
            rope = raw[:, 448:].contiguous().view(torch.bfloat16).double()
            nope = (codes.view(-1, 7, 64) * torch.exp2(sb - 127)[..., None]).reshape(-1, 448)
        return torch.cat([nope, rope], 1)


def random_slots(torch, b, s_q, topk, ctx, page, gen):
    """int32 [b, s_q, topk] slots: per (request, query row) topk distinct positions of the
    request's context, mapped through a shuffled page table (as an engine's allocator
    leaves pages). Returns (slots, num_blocks)."""
    per_req = -(-ctx // page)
    num_blocks = b * per_req
    table = torch.randperm(num_blocks, device=DEVICE, generator=gen).view(b, per_req)
    rows = []
    for r0 in range(0, b * s_q, 64):  # bounded temporaries: 64 rows of ctx floats
        r1 = min(b * s_q, r0 + 64)
        rows.append(torch.rand(r1 - r0, ctx, device=DEVICE, generator=gen).topk(topk).indices)
    pos = torch.cat(rows).view(b, s_q, topk)
    req = torch.arange(b, device=DEVICE).view(b, 1, 1)
    slots = table[req, pos // page] * page + pos % page
    return slots.to(torch.int32).contiguous(), num_blocks


# ---------------------------------------------------------------------------------------
# Checks (SPEC 8)

class Agreement:
    """Accumulates SPEC 8's verdict over chunks: per-element abs-or-rel tolerance, matching
    inf/NaN positions, and the cosine criterion."""

    def __init__(self, tol):
        self.abs_tol, self.rel_tol, self.cos_tol = tol
        self.n = self.bad = 0
        self.special_mismatch = 0
        self.max_abs = 0.0
        self.sum_ar = self.sum_sq = 0.0

    def add(self, torch, a, r):
        a, r = a.double(), r.double()
        for pred in (torch.isnan, torch.isposinf, torch.isneginf):
            self.special_mismatch += int((pred(a) != pred(r)).sum())
        fin = torch.isfinite(a) & torch.isfinite(r)
        a, r = torch.where(fin, a, 0.0), torch.where(fin, r, 0.0)
        d = (a - r).abs()
        ok = (d <= self.abs_tol) | (d <= self.rel_tol * r.abs())
        self.n += a.numel()
        self.bad += int((~ok).sum())
        self.max_abs = max(self.max_abs, float(d.max()) if d.numel() else 0.0)
        self.sum_ar += float((a * r).sum())
        self.sum_sq += float((a * a + r * r).sum())

    def result(self):
        cos = 1 - 2 * self.sum_ar / self.sum_sq if self.sum_sq > 0 else 0.0
        ok = self.bad == 0 and self.special_mismatch == 0 and \
            (self.cos_tol is None or cos <= self.cos_tol)
        return {"ok": ok, "max_abs": self.max_abs, "bad": self.bad, "n": self.n,
                "special_mismatch": self.special_mismatch, "cos_diff": cos}


def agree(torch, a, r, tol, chunk=256):
    acc = Agreement(tol)
    for i in range(0, a.shape[0], chunk):
        acc.add(torch, a[i:i + chunk], r[i:i + chunk])
    return acc.result()


def verdict_checks(checks):
    """The checks that judge libmla: info_* entries (FlashMLA against the reference) don't."""
    return {k: c for k, c in checks.items() if not k.startswith("info_")}


def summarize_checks(checks):
    """('ok' | 'FAIL', max abs error of libmla's out) over a dict of Agreement results."""
    checks = verdict_checks(checks)
    if not checks:
        return "-", None
    ok = all(c["ok"] for c in checks.values())
    errs = [c["max_abs"] for k, c in checks.items() if k.endswith("out")]
    return ("ok" if ok else "FAIL"), (max(errs) if errs else None)


# ---------------------------------------------------------------------------------------
# Decode

def run_decode(torch, lm, fm, shape: DecodeShape, timer, args, gen):
    d_qk = D_QK[shape.fmt]
    scale = SCALE[shape.fmt]
    b, s_q, h = shape.b, shape.s_q, shape.h
    rec = {"op": "decode", "shape": dataclasses.asdict(shape)}

    idx, nb = random_slots(torch, b, s_q, shape.topk, shape.ctx, shape.page, gen)
    cache = PagedCache(torch, shape.fmt, nb, shape.page, gen)
    eidx = ecache = None
    if shape.extra_topk:
        eidx, enb = random_slots(torch, b, s_q, shape.extra_topk, shape.extra_ctx,
                                 shape.extra_page, gen)
        ecache = PagedCache(torch, shape.fmt, enb, shape.extra_page, gen)
    q = torch.randn(b, s_q, h, d_qk, device=DEVICE, generator=gen).clamp_(-1, 1)
    q = q.to(torch.bfloat16)
    sink = torch.randn(h, device=DEVICE, generator=gen) if shape.sink else None

    attended = b * s_q * (shape.topk + shape.extra_topk)
    uniq = int(torch.unique(idx).numel()) + (int(torch.unique(eidx).numel()) if eidx is not None
                                             else 0)
    rec["flops"] = 2 * h * attended * (d_qk + D_V)
    rec["bytes"] = 2 * b * s_q * h * (d_qk + D_V) + uniq * ROW_BYTES[shape.fmt]
    rec["unique_kv_rows"] = uniq
    rec["cache_bytes"] = cache.buf.numel() + (ecache.buf.numel() if ecache else 0)

    lm_meta = lm.get_mla_metadata()[0]

    def call_lm():
        return lm.flash_mla_with_kvcache(
            q, cache.tensor, None, None, D_V, lm_meta, softmax_scale=scale,
            is_fp8_kvcache=True, indices=idx, attn_sink=sink,
            extra_k_cache=ecache.tensor if ecache else None, extra_indices_in_kvcache=eidx)

    call_fm = None
    h_fm = flashmla_heads(h)
    rec["flashmla_heads"] = h_fm if fm else None
    if fm is not None:
        q_fm, sink_fm = q, sink
        if h_fm != h:  # pad like an engine: extra heads of random data, outputs dropped
            pad = torch.randn(b, s_q, h_fm - h, d_qk, device=DEVICE, generator=gen)
            q_fm = torch.cat([q, pad.clamp_(-1, 1).to(torch.bfloat16)], 2)
            if sink is not None:
                sink_fm = torch.cat([sink, torch.randn(h_fm - h, device=DEVICE,
                                                       generator=gen)])
        fm_meta = fm.get_mla_metadata()[0]

        def call_fm():
            return fm.flash_mla_with_kvcache(
                q_fm, cache.tensor, None, None, D_V, fm_meta, softmax_scale=scale,
                is_fp8_kvcache=True, indices=idx, attn_sink=sink_fm,
                extra_k_cache=ecache.tensor if ecache else None,
                extra_indices_in_kvcache=eidx)

    def reference(req):
        """float64 (out [s_q, h, 512], lse [h, s_q]) of request req."""
        keys = cache.dequant(idx[req].reshape(-1).long()).view(s_q, shape.topk, d_qk)
        if ecache is not None:
            ek = ecache.dequant(eidx[req].reshape(-1).long()).view(s_q, shape.extra_topk, d_qk)
            keys = torch.cat([keys, ek], 1)
        logits = torch.einsum("shd,skd->shk", q[req].double(), keys) * scale
        lse = torch.logsumexp(logits, -1)                                  # [s_q, h]
        out = torch.einsum("shk,skd->shd", torch.exp(logits - lse[..., None]), keys[..., :D_V])
        if sink is not None:
            out = out / (1 + torch.exp(sink.double()[None, :] - lse))[..., None]
        return out, lse.t()

    def check(res, res_fm):
        out, lse = res
        checks = {}
        reqs = sorted({0, b // 3, b // 2, (2 * b) // 3, b - 1})
        acc_o, acc_l = Agreement(TOL_DECODE_OUT), Agreement(TOL_DECODE_LSE)
        acc_f = Agreement(TOL_DECODE_OUT)
        for r in reqs:
            ro, rl = reference(r)
            # as FlashMLA's decode suite: out judged against the bf16-rounded reference
            acc_o.add(torch, out[r], ro.to(torch.bfloat16))
            acc_l.add(torch, lse[r], rl)
            if res_fm is not None:
                acc_f.add(torch, res_fm[0][r, :, :h], ro.to(torch.bfloat16))
        checks["ref_out"], checks["ref_lse"] = acc_o.result(), acc_l.result()
        if res_fm is not None:
            fo, fl = res_fm
            checks["info_fm_ref_out"] = acc_f.result()
            checks["fm_out"] = agree(torch, out, fo[:, :, :h], TOL_DECODE_OUT)
            checks["fm_lse"] = agree(torch, lse, fl[:, :h], TOL_DECODE_LSE)
        return checks

    return measure(torch, rec, call_lm, call_fm, check, timer, args)


# ---------------------------------------------------------------------------------------
# Prefill

def run_prefill(torch, lm, fm, shape: PrefillShape, timer, args, gen):
    d_qk = D_QK[shape.fmt]
    scale = SCALE[shape.fmt]
    s_q, s_kv, h, topk = shape.s_q, shape.s_kv, shape.h, shape.topk
    rec = {"op": "prefill", "shape": dataclasses.asdict(shape)}

    q = torch.randn(s_q, h, d_qk, device=DEVICE, generator=gen).clamp_(-1, 1)
    q = q.to(torch.bfloat16)
    kv = (torch.randn(s_kv, 1, d_qk, device=DEVICE, generator=gen) / 10).to(torch.bfloat16)
    rows = []
    for r0 in range(0, s_q, 256):  # distinct indices per query row, bounded temporaries
        n = min(256, s_q - r0)
        rows.append(torch.rand(n, s_kv, device=DEVICE, generator=gen).topk(topk).indices)
    idx = torch.cat(rows).to(torch.int32).view(s_q, 1, topk).contiguous()
    del rows
    sink = torch.randn(h, device=DEVICE, generator=gen) if shape.sink else None

    uniq = int(torch.unique(idx).numel())
    rec["flops"] = 2 * h * s_q * topk * (d_qk + D_V)
    rec["bytes"] = 2 * s_q * h * (d_qk + D_V) + uniq * d_qk * 2
    rec["unique_kv_rows"] = uniq

    def call_lm():
        return lm.flash_mla_sparse_fwd(q, kv, idx, scale, attn_sink=sink)

    call_fm = None
    h_fm = flashmla_heads(h)
    rec["flashmla_heads"] = h_fm if fm else None
    if fm is not None:
        q_fm, sink_fm = q, sink
        if h_fm != h:
            pad = torch.randn(s_q, h_fm - h, d_qk, device=DEVICE, generator=gen)
            q_fm = torch.cat([q, pad.clamp_(-1, 1).to(torch.bfloat16)], 1)
            if sink is not None:
                sink_fm = torch.cat([sink, torch.randn(h_fm - h, device=DEVICE,
                                                       generator=gen)])

        def call_fm():
            return fm.flash_mla_sparse_fwd(q_fm, kv, idx, scale, attn_sink=sink_fm)

    def check(res, res_fm):
        out, max_logits, lse = res
        rows = torch.linspace(0, s_q - 1, 32, device=DEVICE).long().unique()
        keys = kv[idx[rows, 0].long(), 0].double()                     # [n, topk, d]
        logits = torch.einsum("nhd,nkd->nhk", q[rows].double(), keys) * scale
        r_lse = torch.logsumexp(logits, -1)
        r_max = logits.amax(-1)
        r_out = torch.einsum("nhk,nkd->nhd", torch.exp(logits - r_lse[..., None]),
                             keys[..., :D_V])
        if sink is not None:
            r_out = r_out / (1 + torch.exp(sink.double()[None, :] - r_lse))[..., None]
        checks = {
            # as FlashMLA's prefill suite: out judged against the fp32 reference
            "ref_out": agree(torch, out[rows].float(), r_out.float(), TOL_PREFILL_OUT),
            "ref_max_logits": agree(torch, max_logits[rows], r_max, TOL_PREFILL_STAT),
            "ref_lse": agree(torch, lse[rows], r_lse, TOL_PREFILL_STAT),
        }
        if res_fm is not None:
            fo, fmx, fl = res_fm
            checks["info_fm_ref_out"] = agree(torch, fo[rows, :h].float(), r_out.float(),
                                              TOL_PREFILL_OUT)
            checks["fm_out"] = agree(torch, out, fo[:, :h], TOL_PREFILL_OUT)
            checks["fm_max_logits"] = agree(torch, max_logits, fmx[:, :h], TOL_PREFILL_STAT)
            checks["fm_lse"] = agree(torch, lse, fl[:, :h], TOL_PREFILL_STAT)
        return checks

    return measure(torch, rec, call_lm, call_fm, check, timer, args)


# ---------------------------------------------------------------------------------------
# Shared: first calls, checks, timing, metrics

def measure(torch, rec, call_lm, call_fm, check, timer, args):
    """Runs each library once (outputs for the checks), checks libmla, then times both.
    check(res_lm, res_fm or None) returns a dict of Agreement results."""
    import mla
    rec["libmla"], rec["flashmla"], rec["checks"] = {}, {}, {}
    res_lm = res_fm = None
    try:
        res_lm = call_lm()
        torch.cuda.synchronize()
    except Exception as e:
        rec["libmla"]["error"] = f"{type(e).__name__}: {e}"
        print(f"  libmla raised: {rec['libmla']['error']}")
        res_lm = None
    try:  # which libmla backend served the call (a reference path would be slow)
        rec["libmla"]["backend"] = mla.last_backend()
    except Exception:
        pass
    if call_fm is not None:
        try:
            res_fm = call_fm()
            torch.cuda.synchronize()
        except Exception as e:
            rec["flashmla"]["error"] = f"{type(e).__name__}: {e}"
            print(f"  FlashMLA raised: {rec['flashmla']['error']}")
            call_fm, res_fm = None, None

    if res_lm is not None and not args.no_check:
        try:
            checks = check(res_lm, res_fm)
            rec["checks"] = checks
            for k, c in checks.items():
                flag = "ok  " if c["ok"] else ("fail" if k.startswith("info_") else "FAIL")
                print(f"  check {k:15s} {flag} max_abs {c['max_abs']:.3e} bad {c['bad']}/{c['n']}"
                      f" inf/nan mismatch {c['special_mismatch']} cos_diff {c['cos_diff']:.2e}")
            bad = [k for k, c in verdict_checks(checks).items() if not c["ok"]]
            if bad:
                print(f"  !!!!!!!! MISMATCH: libmla fails {', '.join(bad)} at SPEC 8 "
                      "tolerances (ref_*: float64 reference, fm_*: FlashMLA) !!!!!!!!")
        except Exception as e:
            rec["checks"] = {"error": {"ok": False, "max_abs": float("nan"), "bad": -1,
                                       "n": 0, "special_mismatch": 0, "cos_diff": float("nan"),
                                       "what": f"{type(e).__name__}: {e}"}}
            print(f"  !!!!!!!! check raised: {type(e).__name__}: {e}")
    del res_lm, res_fm

    fns = {}
    if "error" not in rec["libmla"]:
        fns["libmla"] = call_lm
    if call_fm is not None:
        fns["flashmla"] = call_fm
    if not fns:
        return rec
    # Slow kernels (a reference path) get fewer samples so the whole run stays short.
    slowest = max(timer.one_call_us(f) for f in fns.values())
    reps = max(3, min(args.reps, int(args.shape_budget_s * 1e6 / max(slowest, 1.0) / len(fns))))
    warmup = 1 if slowest > 20000 else args.warmup
    try:
        samples = timer.time(fns, reps, warmup)
    except Exception as e:
        print(f"  timing raised: {type(e).__name__}: {e}")
        rec["timing_error"] = f"{type(e).__name__}: {e}"
        return rec
    rec["reps"] = reps
    for k, us in samples.items():
        med = statistics.median(us)
        rec[k].update({"us": med, "us_min": min(us), "us_max": max(us), "samples_us": us,
                       "TFLOPs": rec["flops"] / (med * 1e-6) / 1e12,
                       "GBps": rec["bytes"] / (med * 1e-6) / 1e9})
    if "us" in rec["libmla"] and "us" in rec["flashmla"]:
        rec["ratio_fm_over_lm"] = rec["flashmla"]["us"] / rec["libmla"]["us"]
    return rec


def add_fractions(rec, ceil):
    for k in ("libmla", "flashmla"):
        if "us" in rec.get(k, {}):
            rec[k]["frac_mm"] = rec[k]["TFLOPs"] / ceil["mm_TFLOPs"]
            rec[k]["frac_copy"] = rec[k]["GBps"] / ceil["copy_GBps"]


# ---------------------------------------------------------------------------------------
# Output

def fmt_us(d):
    return f"{d['us']:9.1f}" if "us" in d else f"{'raised' if 'error' in d else '-':>9s}"


def fmt_rate(d, key, frac):
    if "us" not in d:
        return f"{'-':>10s}"
    return f"{d[key]:5.0f} {100 * d[frac]:3.0f}%"


def print_table(records, ceil, meta):
    print()
    print(f"=== libmla vs FlashMLA on {meta['gpu']}: kernel time, L2 flushed, median of "
          f"{meta['reps']} (fewer for slow kernels) ===")
    print(f"ceilings this run: copy {ceil['copy_GBps']:.0f} GB/s (read+write), bf16 mm "
          f"{ceil['mm_TFLOPs']:.0f} TFLOP/s | FlashMLA: {meta['flashmla'] or 'absent'}")
    hdr = (f"{'shape':30s} {'lib us':>9s} {'FM us':>9s} {'FM/lib':>7s} {'lib TF %mm':>10s} "
           f"{'FM TF %mm':>10s} {'lib GB/s %cp':>12s} {'FM GB/s %cp':>12s} {'check':>5s} "
           f"{'max err':>8s}")
    print(hdr)
    print("-" * len(hdr))
    ratios = {"decode": [], "prefill": []}
    for r in records:
        lm_, fm_ = r.get("libmla", {}), r.get("flashmla", {})
        ratio = r.get("ratio_fm_over_lm")
        if ratio:
            ratios[r["op"]].append(ratio)
        verdict, err = summarize_checks(r.get("checks", {}))
        if "error" in lm_:
            verdict = "RAISE"
        elif "setup_error" in r:
            verdict = "SETUP"
        name = r["name"] + ("*" if r.get("flashmla_heads") and
                            r["flashmla_heads"] != r["shape"]["h"] else "")
        print(f"{name:30s} {fmt_us(lm_)} {fmt_us(fm_)} "
              f"{(f'{ratio:6.2f}x' if ratio else '      -')} "
              f"{fmt_rate(lm_, 'TFLOPs', 'frac_mm')} {fmt_rate(fm_, 'TFLOPs', 'frac_mm')} "
              f"{fmt_rate(lm_, 'GBps', 'frac_copy'):>12s} {fmt_rate(fm_, 'GBps', 'frac_copy'):>12s} "
              f"{verdict:>5s} {(f'{err:8.1e}' if err is not None else '       -')}")
    print("-" * len(hdr))
    for op, rs in ratios.items():
        if rs:
            g = math.exp(sum(math.log(x) for x in rs) / len(rs))
            print(f"{op}: geomean FlashMLA time / libmla time = {g:.2f}x over {len(rs)} shapes "
                  f"(> 1: libmla faster)")
    if any(r.get("flashmla_heads") not in (None, r["shape"]["h"]) for r in records):
        print("* FlashMLA ran padded to 64 heads; both libraries credited with the useful "
              "FLOPs/bytes only.")
    setup = [r["name"] for r in records if "setup_error" in r]
    if setup:
        print(f"!!! inputs could not be built for: {', '.join(setup)}")
    bad = [r["name"] for r in records if summarize_checks(r.get("checks", {}))[0] == "FAIL"]
    raised = [r["name"] for r in records if "error" in r.get("libmla", {})]
    if bad:
        print(f"!!! libmla MISMATCH at SPEC 8 tolerances: {', '.join(bad)}")
    if raised:
        print(f"!!! libmla raised on: {', '.join(raised)}")
    if not bad and not raised:
        print("libmla output agreed with the references on every shape checked.")


def write_png(path, records, ceil):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 7))
    ais = [r["flops"] / r["bytes"] for r in records if "flops" in r]
    lo, hi = min(ais + [1.0]) / 2, max(ais + [1000.0]) * 2
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(xs, [min(ceil["mm_TFLOPs"], ceil["copy_GBps"] * x / 1e3) for x in xs], "k-",
            lw=1.5, label=f"roofline: copy {ceil['copy_GBps']:.0f} GB/s, "
                          f"bf16 mm {ceil['mm_TFLOPs']:.0f} TFLOP/s")
    ax.axhline(ceil["mm_TFLOPs"], color="gray", ls=":", lw=1)
    cmap = plt.get_cmap("tab20")
    for i, r in enumerate(records):
        if "flops" not in r:
            continue
        ai, color = r["flops"] / r["bytes"], cmap(i % 20)
        for lib, marker, fill in (("libmla", "o", color), ("flashmla", "s", "none")):
            d = r.get(lib, {})
            if "TFLOPs" in d:
                ax.scatter([ai], [d["TFLOPs"]], marker=marker, s=70, facecolors=fill,
                           edgecolors=color, linewidths=1.8,
                           label=f"{r['name']} ({'libmla' if lib == 'libmla' else 'FlashMLA'})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("achieved TFLOP/s (useful FLOPs)")
    ax.set_title("libmla (filled circles) vs FlashMLA (open squares)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", default="decode,prefill", help="decode,prefill (comma list)")
    ap.add_argument("--reps", type=int, default=30, help="timed samples per shape (median)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke run: 5 reps, 1 warm-up")
    ap.add_argument("--shapes", default="", help="only shapes whose name contains one of "
                    "these comma-separated substrings")
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--png", help="write a roofline plot here")
    ap.add_argument("--no-check", action="store_true", help="skip the correctness checks")
    ap.add_argument("--lib", help="libmla.so to load (default: $MLA_LIBRARY, build/src/)")
    ap.add_argument("--anchor", help="folder holding FlashMLA's flash_mla package "
                    "(default: $FLASHMLA_ANCHOR, else .anchor/)")
    ap.add_argument("--shape-budget-s", type=float, default=4.0,
                    help="timing seconds per shape before reps are cut (slow kernels)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    if args.quick:
        args.reps, args.warmup = min(args.reps, 5), 1
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    for o in ops:
        if o not in ("decode", "prefill"):
            ap.error(f"--ops: unknown op {o!r}")

    setup_paths(args)
    import torch
    if not torch.cuda.is_available():
        sys.exit("compare_flashmla: needs a CUDA GPU")
    import mla
    import mla.flash_mla as lm
    fm, why = import_flashmla(lm)
    t_start = time.time()

    meta = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
            "python": platform.python_version(), "reps": args.reps, "warmup": args.warmup,
            "libmla_version": mla.library_version(), "libmla_path": mla.library_path(),
            "flashmla": getattr(fm, "__file__", None) if fm else None,
            "flashmla_absent_reason": why, "argv": sys.argv[1:]}
    print(f"GPU {meta['gpu']}, torch {meta['torch']}")
    print(f"libmla {meta['libmla_version']} from {meta['libmla_path']}")
    if fm is None:
        print(f"FlashMLA not importable ({why}): timing libmla alone")
    else:
        print(f"FlashMLA from {meta['flashmla']}")

    timer = KernelTimer(torch)
    if not timer.can_spin:
        print("note: torch.cuda._sleep missing: host enqueue time may leak into short kernels")
    ceil = measure_ceilings(torch, timer, max(5, min(args.reps, 20)))
    print(f"ceilings: copy {ceil['copy_GBps']:.0f} GB/s (read+write), "
          f"bf16 8192^3 mm {ceil['mm_TFLOPs']:.0f} TFLOP/s")

    shapes = (decode_shapes() if "decode" in ops else []) + \
        (prefill_shapes() if "prefill" in ops else [])
    if args.shapes:
        keys = [k.strip() for k in args.shapes.split(",") if k.strip()]
        shapes = [s for s in shapes if any(k in s.name for k in keys)]

    gen = torch.Generator(device=DEVICE)
    records = []
    for shape in shapes:
        gen.manual_seed(args.seed)
        print(f"--- {shape.name}")
        t0 = time.time()
        try:
            with torch.inference_mode():
                runner = run_decode if shape.op == "decode" else run_prefill
                rec = runner(torch, lm, fm, shape, timer, args, gen)
        except Exception as e:
            traceback.print_exc()
            # the inputs could not be built (memory, say): not libmla's fault
            rec = {"op": shape.op, "shape": dataclasses.asdict(shape), "libmla": {},
                   "flashmla": {}, "setup_error": f"{type(e).__name__}: {e}"}
        rec["name"] = shape.name
        add_fractions(rec, ceil)
        records.append(rec)
        lm_, fm_ = rec.get("libmla", {}), rec.get("flashmla", {})
        line = f"  libmla {lm_.get('us', float('nan')):.1f} us " \
               f"{lm_.get('TFLOPs', float('nan')):.0f} TFLOP/s"
        if "backend" in lm_:
            line += f" [{lm_['backend']}]"
        if fm is not None:
            line += f", FlashMLA {fm_.get('us', float('nan')):.1f} us " \
                    f"{fm_.get('TFLOPs', float('nan')):.0f} TFLOP/s"
            if rec.get("flashmla_heads") not in (None, shape.h):
                line += f" (at h{rec.get('flashmla_heads')})"
            if rec.get("ratio_fm_over_lm"):
                line += f", FlashMLA/libmla {rec['ratio_fm_over_lm']:.2f}x"
        line += f"; {rec.get('reps', 0)} reps, {time.time() - t0:.1f} s"
        print(line)
        torch.cuda.empty_cache()

    meta["seconds"] = time.time() - t_start
    if args.json:
        with open(args.json, "w") as f:
            json.dump(jsonable({"meta": meta, "ceilings": ceil, "tolerances": {
                "decode_out": TOL_DECODE_OUT, "decode_lse": TOL_DECODE_LSE,
                "prefill_out": TOL_PREFILL_OUT, "prefill_stats": TOL_PREFILL_STAT},
                "shapes": records}), f, indent=1)
        print(f"wrote {args.json}")
    if args.png:
        try:
            write_png(args.png, records, ceil)
            print(f"wrote {args.png}")
        except Exception as e:
            print(f"roofline plot failed: {type(e).__name__}: {e}")
    print_table(records, ceil, meta)
    print(f"total {meta['seconds']:.0f} s")
    bad = any(summarize_checks(r.get("checks", {}))[0] == "FAIL" or "error" in r.get("libmla", {})
              for r in records)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
