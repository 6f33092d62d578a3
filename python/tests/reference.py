"""Plain torch references written from SPEC.md, independent of libmla: fp8 codecs, the two
cache formats (write and read), sparse attention in float64, and SPEC 8's tolerance check.
Nothing here calls libmla."""
import math

import torch

FN, FNUZ = "e4m3fn", "e4m3fnuz"
FP8_MAX = {FN: 448.0, FNUZ: 224.0}  # the store's clamp (SPEC 2.4): fnuz codes = fn codes


# ---- fp8 e4m3 (SPEC 1) ----------------------------------------------------------------

def fp8_table(flavor):
    """float64 value of each of the 256 codes (NaN codes give NaN)."""
    codes = torch.arange(256, dtype=torch.int64)
    sign = torch.where(codes >= 128, -1.0, 1.0).double()
    e = (codes >> 3) & 15
    m = (codes & 7).double()
    bias = 8 if flavor == FNUZ else 7
    normal = (1 + m / 8) * torch.pow(2.0, (e - bias).double())
    sub = (m / 8) * 2.0 ** (1 - bias)
    val = sign * torch.where(e == 0, sub, normal)
    if flavor == FN:
        val[(e == 15) & (m == 7)] = float("nan")
    else:
        val[0x80] = float("nan")
    return val


def fp8_decode(codes, flavor):
    return fp8_table(flavor)[codes.long()]


def fp8_encode(x, flavor):
    """Nearest code, ties to the even code, saturating at the max finite value."""
    table = fp8_table(flavor)
    positive = table[:128]
    last = 0x7E if flavor == FN else 0x7F  # largest finite positive code
    positive = positive[:last + 1]
    a = x.double().abs().clamp(max=positive[-1].item())
    hi = torch.searchsorted(positive, a).clamp(max=last)
    lo = (hi - 1).clamp(min=0)
    d_lo = a - positive[lo]
    d_hi = positive[hi] - a
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    code = torch.where(pick_hi, hi, lo)
    negative = (x < 0) & (code != 0)
    if flavor == FN:
        code = torch.where(x.double() < 0, code | 0x80, code)  # -0 is 0x80 in fn
    else:
        code = torch.where(negative, code | 0x80, code)
    return code.to(torch.uint8)


def bf16_round(x):
    """float64 -> nearest bf16 value (ties to even) with a single rounding, as float64."""
    x = x.double()
    mant, exp = torch.frexp(x)  # x = mant * 2^exp, |mant| in [0.5, 1)
    rounded = torch.round(mant * 256.0) / 256.0  # 8 significant bits; round() is half-even
    out = torch.ldexp(rounded, exp.double()) if hasattr(torch, "ldexp") else rounded * 2.0 ** exp
    return torch.where(torch.isfinite(x), out, x)


def bf16_bits_to_float(u16):
    """int32 bf16 bit patterns -> float64 values."""
    return (u16.int() << 16).view(torch.float32).double()


# ---- cache formats (SPEC 2) ------------------------------------------------------------

def page_bytes(version, page_size):
    if version == "v32":
        return page_size * 656
    return -(-page_size * 584 // 576) * 576


def ceil_log2(r):
    """ceil(log2(r)) exactly for positive float64 r."""
    e = torch.ceil(torch.log2(r))
    e = torch.where(torch.pow(2.0, e - 1) >= r, e - 1, e)
    e = torch.where(torch.pow(2.0, e) < r, e + 1, e)
    return e


def quantize_row_bytes(k, version, flavor):
    """bf16 rows [N, d] -> (nope codes, scale bytes, rope bytes) by SPEC 2.4."""
    x = k.float()
    fmax = FP8_MAX[flavor]
    if version == "v32":
        tiles = x[:, :512].reshape(-1, 4, 128)
        amax = tiles.abs().amax(-1)
        s = torch.maximum(amax / fmax, torch.tensor(1e-4, dtype=torch.float32) / fmax)
        codes = fp8_encode((tiles / s.unsqueeze(-1)).clamp(-fmax, fmax), flavor).reshape(-1, 512)
        scales = s.contiguous().view(torch.uint8).reshape(-1, 16)
        rope = k[:, 512:].contiguous().view(torch.uint8).reshape(-1, 128)
        return codes, scales, rope
    tiles = x[:, :448].reshape(-1, 7, 64)
    amax = tiles.abs().amax(-1).double()
    e = ceil_log2(torch.clamp(amax, min=1e-4) / fmax)
    scaled = tiles.double() / torch.pow(2.0, e).unsqueeze(-1)
    codes = fp8_encode(scaled.clamp(-fmax, fmax), flavor).reshape(-1, 448)
    scales = torch.zeros(k.shape[0], 8, dtype=torch.uint8)
    scales[:, :7] = (e + 127).to(torch.uint8)
    rope = k[:, 448:].contiguous().view(torch.uint8).reshape(-1, 128)
    return codes, scales, rope


def _row_offsets(version, page_size, page_stride, slots):
    """Byte offsets of each slot's row and of its scales (SPEC 2.1, 2.2), int64."""
    page, t = slots // page_size, slots % page_size
    base = page * page_stride
    if version == "v32":
        row = base + t * 656
        return row, row + 512
    return base + t * 576, base + page_size * 576 + t * 8


def write_cache(cache_bytes, version, page_size, page_stride, slots, k, flavor):
    """Writes rows k [N, d] at slots (all valid) of a byte buffer [pages, page_stride]."""
    flat = cache_bytes.reshape(-1)
    nope, scales, rope = quantize_row_bytes(k.cpu(), version, flavor)
    slots = torch.as_tensor(slots, dtype=torch.int64).cpu()
    row, scale = _row_offsets(version, page_size, page_stride, slots)
    row, scale = row.to(flat.device), scale.to(flat.device)
    parts = [(row, nope), (scale, scales), (row + (528 if version == "v32" else 448), rope)]
    for start, data in parts:
        idx = start.unsqueeze(1) + torch.arange(data.shape[1], device=flat.device)
        flat[idx.reshape(-1)] = data.reshape(-1).to(flat.device)


def read_cache(cache_bytes, version, page_size, page_stride, slots, flavor):
    """Dequantized rows [T, d] (float64 holding bf16 values) at slots; invalid -> 0.
    cache_bytes: the whole buffer [pages, page_stride]; runs on its device."""
    flat = cache_bytes.reshape(-1)
    dev = flat.device
    n_slots = (flat.numel() // page_stride) * page_size
    slots = torch.as_tensor(slots, dtype=torch.int64).to(dev)
    valid = (slots >= 0) & (slots < n_slots)
    row, scale_at = _row_offsets(version, page_size, page_stride, torch.where(valid, slots, 0))

    def take(start, n):
        return flat[start.unsqueeze(1) + torch.arange(n, device=dev)]

    table = fp8_table(flavor).to(dev)
    if version == "v32":
        row_bytes = take(row, 656)
        vals = table[row_bytes[:, :512].long()].reshape(-1, 4, 128)
        scale = row_bytes[:, 512:528].contiguous().view(torch.float32).double()
        nope = bf16_round(vals * scale.unsqueeze(-1)).reshape(-1, 512)
        rope_bytes = row_bytes[:, 528:]
    else:
        row_bytes = take(row, 576)
        vals = table[row_bytes[:, :448].long()].reshape(-1, 7, 64)
        scale = torch.pow(2.0, take(scale_at, 7).double() - 127)
        nope = bf16_round(vals * scale.unsqueeze(-1)).reshape(-1, 448)
        rope_bytes = row_bytes[:, 448:]
    rope = bf16_bits_to_float(rope_bytes.contiguous().view(torch.int16).int() & 0xFFFF)
    out = torch.cat([nope, rope], dim=1)
    return torch.where(valid.unsqueeze(1), out, torch.zeros_like(out))


# ---- attention (SPEC 3, 4) -------------------------------------------------------------

def attention(q, keys, valid, scale, sink=None):
    """q [R, h, d] float64; keys [R, n, d] float64; valid [R, n] bool; sink [h] or None.
    Returns out [R, h, 512], lse [R, h], max_logit [R, h] in float64."""
    logits = scale * torch.einsum("rhd,rnd->rhn", q, torch.where(valid.unsqueeze(-1), keys,
                                                                   torch.zeros_like(keys)))
    logits = logits.masked_fill(~valid.unsqueeze(1), -math.inf)
    lse = torch.logsumexp(logits, dim=-1)
    mx = logits.amax(dim=-1)
    empty = ~valid.any(dim=-1, keepdim=True).expand_as(lse)
    p = torch.exp(logits - torch.where(empty, torch.zeros_like(lse), lse).unsqueeze(-1))
    p = torch.where(empty.unsqueeze(-1), torch.zeros_like(p), p)
    v = torch.where(valid.unsqueeze(-1), keys[..., :512], torch.zeros_like(keys[..., :512]))
    out = torch.einsum("rhn,rnd->rhd", p, v)
    if sink is not None:
        factor = 1.0 / (1.0 + torch.exp(sink.double().view(1, -1) - lse))
        out = out * torch.where(empty, torch.zeros_like(factor), factor).unsqueeze(-1)
    lse = torch.where(empty, torch.full_like(lse, math.inf), lse)
    mx = torch.where(empty, torch.full_like(mx, -math.inf), mx)
    return out, lse, mx


# ---- SPEC 8 ----------------------------------------------------------------------------

DECODE_OUT = (1e-3, 2.01 / 128, 5e-6)
DECODE_LSE = (1e-6, 8.01 / 65536, None)
PREFILL_OUT = (8e-4, 3.01 / 128, 7e-6)
PREFILL_STAT = (1e-6, 2.01 / 65536, None)


def assert_close(actual, ref, tol, what):
    abs_tol, rel_tol, cos_tol = tol
    a = actual.detach().cpu().double()
    r = ref.detach().cpu().double()
    assert a.shape == r.shape, f"{what}: shape {tuple(a.shape)} != {tuple(r.shape)}"
    special = ~torch.isfinite(r) | ~torch.isfinite(a)
    same_special = (a[special] == r[special]) | (torch.isnan(a[special]) & torch.isnan(r[special]))
    assert bool(same_special.all()), (
        f"{what}: inf/NaN positions differ at {special.nonzero()[~same_special][:5].tolist()}")
    fa, fr = a[~special], r[~special]
    err = (fa - fr).abs()
    ok = (err <= abs_tol) | (err <= rel_tol * fr.abs())
    if not bool(ok.all()):
        i = int((~ok).nonzero()[0])
        raise AssertionError(f"{what}: {int((~ok).sum())} of {fa.numel()} beyond tolerance; "
                             f"first got {fa[i].item()} expected {fr[i].item()}")
    if cos_tol is not None and fa.numel():
        denom = float((fa * fa + fr * fr).sum())
        if denom > 0:
            cos_diff = 1 - 2 * float((fa * fr).sum()) / denom
            assert cos_diff <= cos_tol, f"{what}: cosine difference {cos_diff} > {cos_tol}"
