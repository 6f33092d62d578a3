"""Test data by SPEC 8: q clamped to [-1, 1], keys ~ randn/10, unused cache slots holding
NaN, caches written by the plain reference quantizer (never by libmla)."""
import torch

import reference as ref

NAN_BYTE = {ref.FN: 0xFF, ref.FNUZ: 0x80}


def bf16(t):
    return t.to(torch.bfloat16)


def make_cache(version, page_size, num_pages, used_slots, gen, flavor=ref.FN, extra_stride=0):
    """A cache in FlashMLA's tensor layout [num_pages, page_size, 1, row_bytes] (uint8),
    every byte NaN but the used slots, which hold quantized randn/10 rows. Returns
    (cache tensor, the bf16 rows written [len(used_slots), d], page stride in bytes)."""
    row = 656 if version == "v32" else 584
    d = 576 if version == "v32" else 512
    stride = ref.page_bytes(version, page_size) + extra_stride
    flat = torch.full((num_pages, stride), NAN_BYTE[flavor], dtype=torch.uint8)
    k = bf16(torch.randn(len(used_slots), d, generator=gen) / 10)
    ref.write_cache(flat, version, page_size, stride, torch.as_tensor(used_slots), k, flavor)
    cache = flat[:, :page_size * row].view(num_pages, page_size, 1, row)
    return cache, k, stride


def make_q(shape, gen):
    return bf16(torch.randn(*shape, generator=gen).clamp(-1, 1))


def strided(t, pad=3):
    """The same values as t in a non-contiguous tensor: 1-D with stride 2, else with every
    row padded (outer strides larger than the shape implies; last stride 1)."""
    if t.dim() == 1:
        big = torch.zeros(2 * t.shape[0], dtype=t.dtype, device=t.device)[::2]
    else:
        big = torch.zeros(*t.shape[:-1], t.shape[-1] + pad, dtype=t.dtype,
                          device=t.device)[..., :t.shape[-1]]
    big.copy_(t)
    assert not big.is_contiguous() or t.numel() <= 1
    return big


def cache_to(cache, device):
    """A FlashMLA-layout cache view on `device` with its page padding kept: a plain .to()
    compacts the pages, and V4.0 pages must stay a padded multiple of 576 bytes apart."""
    if cache.device == torch.device(device):
        return cache
    pages, size, heads, row = cache.shape
    flat = cache_bytes(cache).to(device)
    return flat[:, :size * heads * row].view(cache.dtype).view(pages, size, heads, row)


def cache_bytes(cache):
    """The whole byte buffer behind a FlashMLA-layout cache view, page padding included."""
    pages, stride = cache.shape[0], cache.stride(0) * cache.element_size()
    return cache.view(torch.uint8).as_strided((pages, stride), (stride, 1))


# ---- sparse decode (SPEC 3) -------------------------------------------------------------

def _indices(b, s_q, topk, used, n_slots, gen, lengths):
    """Indices into a cache: mostly written slots, with -1, out-of-range values, and
    NaN (unwritten) slots past each batch's length, which must never be read."""
    used = torch.as_tensor(used)
    pick = torch.randint(0, len(used), (b, s_q, topk), generator=gen)
    idx = used[pick].to(torch.int32)
    r = torch.rand(b, s_q, topk, generator=gen)
    idx[r < 0.05] = -1
    idx[(r >= 0.05) & (r < 0.08)] = n_slots + 5
    idx[(r >= 0.08) & (r < 0.09)] = 2 ** 30
    unused = sorted(set(range(n_slots)) - set(used.tolist()))
    if lengths is not None and unused:
        for i in range(b):
            tail = idx[i, :, int(lengths[i]):]
            tail.copy_(torch.as_tensor(unused, dtype=torch.int32)[
                torch.randint(0, len(unused), tail.shape, generator=gen)])
    return idx


def decode_case(version, b, s_q, h_q, topk, gen, page_size=64, num_pages=None, extra=None,
                lengths=False, sink=False, flavor="e4m3fn"):
    """Inputs of one sparse decode call (CPU tensors) and their float64 reference.
    extra: None or (extra_topk, extra_page_size, extra_num_pages)."""
    d = 576 if version == "v32" else 512
    num_pages = num_pages or max(2, -(-2 * topk // page_size))
    n_slots = page_size * num_pages
    used = torch.randperm(n_slots, generator=gen)[:max(1, n_slots * 3 // 4)].tolist()
    cache, _, stride = make_cache(version, page_size, num_pages, used, gen, flavor)
    topk_length = torch.randint(0, topk + 1, (b,), generator=gen).int() if lengths else None
    if lengths:
        topk_length[0] = 0
    c = dict(q=make_q((b, s_q, h_q, d), gen), k_cache=cache,
             indices=_indices(b, s_q, topk, used, n_slots, gen, topk_length),
             topk_length=topk_length, attn_sink=None, extra_k_cache=None,
             extra_indices_in_kvcache=None, extra_topk_length=None)
    if not lengths:
        c["indices"][0, 0, :] = -1  # a row with no valid key (when extra has none either)
    if sink:
        s = torch.randn(h_q, generator=gen)
        s[0] = -float("inf")
        if h_q > 1:
            s[1] = float("inf")
        c["attn_sink"] = s
    caches = [(cache, stride, page_size, c["indices"], topk_length)]
    if extra is not None:
        etopk, epage, epages = extra
        en = epage * epages
        eused = torch.randperm(en, generator=gen)[:max(1, en * 3 // 4)].tolist()
        ecache, _, estride = make_cache(version, epage, epages, eused, gen, flavor)
        elen = torch.randint(0, etopk + 1, (b,), generator=gen).int() if lengths else None
        if lengths:
            elen[0] = 0
        eidx = _indices(b, s_q, etopk, eused, en, gen, elen)
        if not lengths:
            eidx[0, 0, :] = -1
        c.update(extra_k_cache=ecache, extra_indices_in_kvcache=eidx, extra_topk_length=elen)
        caches.append((ecache, estride, epage, eidx, elen))
    c["reference"] = lambda dev="cpu": _decode_reference(c, version, caches, flavor, dev)
    return c


def _decode_reference(c, version, caches, flavor, dev):
    q = c["q"]
    b, s_q, h_q, d = q.shape
    keys, valid = [], []
    for cache, stride, page, idx, length in caches:
        n_slots = cache.shape[0] * page
        flat_idx = idx.reshape(-1).long()
        rows = ref.read_cache(cache_bytes(cache).to(dev), version, page, stride, flat_idx, flavor)
        keys.append(rows.reshape(b * s_q, idx.shape[-1], d))
        ok = (idx >= 0) & (idx < n_slots)
        if length is not None:
            ok &= torch.arange(idx.shape[-1]).view(1, 1, -1) < length.view(-1, 1, 1).long()
        valid.append(ok.reshape(b * s_q, -1).to(dev))
    scale = c.get("softmax_scale") or d ** -0.5
    sink = None if c["attn_sink"] is None else c["attn_sink"].to(dev)
    out, lse, _ = ref.attention(q.double().reshape(b * s_q, h_q, d).to(dev),
                                torch.cat(keys, 1), torch.cat(valid, 1), scale, sink)
    return out.reshape(b, s_q, h_q, 512), lse.reshape(b, s_q, h_q).permute(0, 2, 1)


# ---- sparse prefill (SPEC 4) ------------------------------------------------------------

def _sink(h_q, gen):
    """attn_sink [h_q]: random, with +inf on head 0 and -inf on the last (SPEC 8's test data)."""
    s = torch.randn(h_q, generator=gen)
    s[0] = float("inf")
    if h_q > 1:
        s[-1] = -float("inf")
    return s


def prefill_case(d_qk, s_q, h_q, s_kv, topk, gen, lengths=False, sink=False):
    """Inputs of one sparse prefill call (CPU tensors) and their float64 reference."""
    kv = bf16(torch.randn(s_kv, 1, d_qk, generator=gen) / 10)
    poisoned = torch.randperm(s_kv, generator=gen)[:max(1, s_kv // 8)]
    kv[poisoned] = float("nan")  # rows that only appear past a length: never read
    clean = sorted(set(range(s_kv)) - set(poisoned.tolist()))
    idx = torch.as_tensor(clean, dtype=torch.int32)[
        torch.randint(0, len(clean), (s_q, 1, topk), generator=gen)]
    r = torch.rand(s_q, 1, topk, generator=gen)
    idx[r < 0.05] = -1
    idx[(r >= 0.05) & (r < 0.08)] = s_kv + 3
    length = None
    if lengths:
        length = torch.randint(0, topk + 1, (s_q,), generator=gen).int()
        length[0] = 0
        for t in range(s_q):
            tail = idx[t, 0, int(length[t]):]
            tail.copy_(poisoned.int()[torch.randint(0, len(poisoned), tail.shape, generator=gen)])
    else:
        idx[0] = -1
    c = dict(q=make_q((s_q, h_q, d_qk), gen), kv=kv, indices=idx, topk_length=length,
             attn_sink=None, sm_scale=d_qk ** -0.5)
    if sink:
        c["attn_sink"] = _sink(h_q, gen)
    c["reference"] = lambda dev="cpu": _prefill_reference(c, dev)
    return c


def _prefill_reference(c, dev):
    idx = c["indices"][:, 0].long()
    s_kv = c["kv"].shape[0]
    ok = (idx >= 0) & (idx < s_kv)
    if c["topk_length"] is not None:
        ok &= torch.arange(idx.shape[-1]).view(1, -1) < c["topk_length"].view(-1, 1).long()
    keys = c["kv"][:, 0].double()[torch.where(ok, idx, 0)]
    sink = None if c["attn_sink"] is None else c["attn_sink"].to(dev)
    return ref.attention(c["q"].double().to(dev), keys.to(dev), ok.to(dev), c["sm_scale"], sink)


# ---- sparse prefill from a paged cache (SPEC 4.1) ---------------------------------------

def prefill_paged_case(version, s_q, h_q, topk, gen, page_size=64, num_pages=None,
                       lengths=False, sink=False, flavor="e4m3fn", flat_indices=True):
    """Inputs of one paged sparse prefill call (CPU tensors) and their float64 reference:
    indices [s_q, topk] (or [s_q, 1, topk]) into a cache whose unused slots hold NaN."""
    d = 576 if version == "v32" else 512
    num_pages = num_pages or max(2, -(-2 * topk // page_size))
    n_slots = page_size * num_pages
    used = torch.randperm(n_slots, generator=gen)[:max(1, n_slots * 3 // 4)].tolist()
    cache, _, stride = make_cache(version, page_size, num_pages, used, gen, flavor)
    topk_length = torch.randint(0, topk + 1, (s_q,), generator=gen).int() if lengths else None
    if lengths:
        topk_length[0] = 0
    idx = _indices(s_q, 1, topk, used, n_slots, gen, topk_length)  # [s_q, 1, topk]
    if not lengths:
        idx[0] = -1  # a row with no valid key
    c = dict(q=make_q((s_q, h_q, d), gen), k_cache=cache,
             indices=idx[:, 0].contiguous() if flat_indices else idx, topk_length=topk_length,
             attn_sink=None, sm_scale=d ** -0.5, page_size=page_size, page_stride=stride,
             flavor=flavor)
    if sink:
        c["attn_sink"] = _sink(h_q, gen)
    c["reference"] = lambda dev="cpu": _prefill_paged_reference(c, version, flavor, dev)
    return c


def _prefill_paged_reference(c, version, flavor, dev):
    idx = c["indices"].reshape(c["indices"].shape[0], -1).long()
    s_q, topk = idx.shape
    cache, page = c["k_cache"], c["page_size"]
    n_slots = cache.shape[0] * page
    rows = ref.read_cache(cache_bytes(cache).to(dev), version, page, c["page_stride"],
                          idx.reshape(-1), flavor)
    ok = (idx >= 0) & (idx < n_slots)
    if c["topk_length"] is not None:
        ok &= torch.arange(topk).view(1, -1) < c["topk_length"].view(-1, 1).long()
    sink = None if c["attn_sink"] is None else c["attn_sink"].to(dev)
    return ref.attention(c["q"].double().to(dev), rows.reshape(s_q, topk, -1), ok.to(dev),
                         c["sm_scale"], sink)
