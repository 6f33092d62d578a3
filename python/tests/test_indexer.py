"""Indexer logits (ragged and paged) and top-k against SPEC 6 written plainly."""
import math

import pytest
import torch

import mla
import reference as ref


def fp8_bytes(shape, gen, flavor=ref.FN, scale=1.0):
    return ref.fp8_encode(torch.randn(*shape, generator=gen) * scale, flavor)


def assert_logits(got, want, magnitude, what):
    got = got.cpu().double()
    inf = torch.isinf(want)
    assert torch.equal(torch.isinf(got), inf) and bool((got[inf] == want[inf]).all()), \
        f"{what}: -inf positions differ"
    err = (got[~inf] - want[~inf]).abs()
    assert bool((err <= 1e-5 * magnitude[~inf] + 1e-6).all()), f"{what}: max error {err.max()}"


def mqa_reference(q, k, scale, weights, ks, ke, flavor):
    qv = ref.fp8_decode(q, flavor)          # [M, H, D]
    kv = ref.fp8_decode(k, flavor)          # [N, D]
    dots = torch.einsum("mhd,nd->mhn", qv, kv) * scale.double().view(1, 1, -1)
    terms = torch.relu(dots) * weights.double().unsqueeze(-1)
    logits, magnitude = terms.sum(1), terms.abs().sum(1)
    j = torch.arange(k.shape[0]).view(1, -1)
    valid = (j >= ks.view(-1, 1).clamp(min=0)) & (j < ke.view(-1, 1))
    return torch.where(valid, logits, torch.full_like(logits, -math.inf)), magnitude


@pytest.mark.parametrize("flavor", [ref.FN, ref.FNUZ])
def test_fp8_mqa_logits(device, gen, flavor):
    m, h, d, n = 6, 4, 128, 40
    q, k = fp8_bytes((m, h, d), gen, flavor), fp8_bytes((n, d), gen, flavor)
    scale = torch.rand(n, generator=gen) + 0.5
    weights = torch.randn(m, h, generator=gen)
    ks = torch.tensor([0, 3, 10, -2, 20, 39], dtype=torch.int32)
    ke = torch.tensor([5, 3, 40, 7, 25, 50], dtype=torch.int32)
    want, mag = mqa_reference(q, k, scale, weights, ks, ke, flavor)
    got = mla.fp8_mqa_logits(q.to(device), (k.to(device), scale.to(device)), weights.to(device),
                             ks.to(device), ke.to(device), fp8=flavor)
    assert got.shape == (m, n) and got.dtype == torch.float32
    assert_logits(got, want, mag, "logits")


def test_fp8_paged_mqa_logits(device, gen):
    b, next_n, h, d, pages, max_ctx = 3, 2, 4, 64, 6, 150
    q = fp8_bytes((b, next_n, h, d), gen)
    keys = fp8_bytes((pages, 64, d), gen)
    scales = torch.rand(pages, 64, generator=gen) + 0.5
    cache = torch.cat([keys.reshape(pages, -1), scales.view(torch.uint8).reshape(pages, -1)], 1)
    weights = torch.randn(b * next_n, h, generator=gen)
    ctx = torch.tensor([130, 1, 70], dtype=torch.int32)
    table = torch.tensor([[5, 0, 3], [2, -1, 9], [1, 4, 99]], dtype=torch.int32)
    want = torch.full((b * next_n, max_ctx), -math.inf, dtype=torch.float64)
    mag = torch.zeros_like(want)
    qv = ref.fp8_decode(q, ref.FN)
    for bi in range(b):
        for j in range(next_n):
            for p in range(max_ctx):
                page_slot = p // 64
                if p > ctx[bi] - next_n + j or page_slot >= table.shape[1]:
                    continue
                page = int(table[bi, page_slot])
                if page < 0 or page >= pages:
                    continue
                key = ref.fp8_decode(keys[page, p % 64], ref.FN)
                terms = torch.relu(qv[bi, j] @ key * float(scales[page, p % 64])) * \
                    weights[bi * next_n + j].double()
                want[bi * next_n + j, p], mag[bi * next_n + j, p] = terms.sum(), terms.abs().sum()
    meta = mla.get_paged_mqa_logits_metadata(ctx.to(device), 64, 4)
    got = mla.fp8_paged_mqa_logits(q.to(device), cache.view(pages, 64, 1, d + 4).to(device),
                                   weights.to(device), ctx.to(device), table.to(device), meta,
                                   max_ctx)
    assert got.shape == (b * next_n, max_ctx)
    assert_logits(got, want, mag, "paged logits")


def topk_reference(logits, k, starts=None, lengths=None, table=None, page=1):
    rows, width = logits.shape
    out = []
    for r in range(rows):
        s = 0 if starts is None else min(max(int(starts[r]), 0), width)
        n = width - s if lengths is None else min(max(int(lengths[r]), 0), width - s)
        vals = logits[r, s:s + n].tolist()
        if n <= k:
            idx = list(range(n)) + [-1] * (k - n)
        else:
            order = sorted(range(n), key=lambda i: (math.isnan(vals[i]), -vals[i]
                                                    if not math.isnan(vals[i]) else 0, i))
            idx = sorted(order[:k])
        if table is not None:
            idx = [-1 if i < 0 or i // page >= table.shape[1] or table[r, i // page] < 0
                   else int(table[r, i // page]) * page + i % page for i in idx]
        out.append(idx)
    return out


def test_topk_plain_starts_and_lengths(device, gen):
    logits = torch.randn(5, 300, generator=gen)
    logits[0, 10] = float("nan")
    logits[1, :] = 1.0  # all ties: the lowest indices win
    starts = torch.tensor([0, 5, 100, 290, 0], dtype=torch.int32)
    lengths = torch.tensor([300, 200, 150, 10, 0], dtype=torch.int32)
    got = mla.fast_topk_v2(logits.to(device), lengths.to(device), 64, starts.to(device))
    assert got.tolist() == topk_reference(logits, 64, starts, lengths)
    plain = mla.indexer_topk(logits.to(device), 16)
    assert plain.tolist() == topk_reference(logits, 16)


def test_topk_transform_through_page_table(device, gen):
    logits = torch.randn(4, 200, generator=gen)
    lengths = torch.tensor([200, 120, 7, 180], dtype=torch.int32)
    table = torch.randint(0, 10_000, (2, 200), generator=gen, dtype=torch.int32)
    cu = torch.tensor([0, 3, 4], dtype=torch.int32)  # rows 0-2: request 0; row 3: request 1
    got = mla.fast_topk_transform_fused(logits.to(device), lengths.to(device), table.to(device),
                                        cu.to(device), 32)
    per_row = table[torch.tensor([0, 0, 0, 1])]
    assert got.tolist() == topk_reference(logits, 32, None, lengths, per_row, 1)
    raw = torch.empty(4, 32, dtype=torch.int32, device=device)
    paged = mla.indexer_topk(logits.to(device), 32, lengths=lengths.to(device),
                             page_table=(per_row[:, :4] % 50).to(device), page_size=64,
                             raw_out=raw)
    assert paged.tolist() == topk_reference(logits, 32, None, lengths, per_row[:, :4] % 50, 64)
    assert raw.tolist() == topk_reference(logits, 32, None, lengths)


def test_indexer_argument_errors(device, gen):
    q = fp8_bytes((2, 2, 64), gen).to(device)
    k = fp8_bytes((8, 64), gen).to(device)
    s = torch.ones(8, device=device)
    w = torch.ones(2, 2, device=device)
    ks = torch.zeros(2, dtype=torch.int32, device=device)
    with pytest.raises(TypeError, match="^q: dtype"):
        mla.fp8_mqa_logits(q.float(), (k, s), w, ks, ks)
    with pytest.raises(ValueError, match="^weights: shape"):
        mla.fp8_mqa_logits(q, (k, s), w[:1], ks, ks)
    with pytest.raises(ValueError, match="k_scale.*shape"):
        mla.fp8_mqa_logits(q, (k, s[:3]), w, ks, ks)
    with pytest.raises(TypeError, match="^cu_seqlen_ke: dtype"):
        mla.fp8_mqa_logits(q, (k, s), w, ks, ks.long())
    with pytest.raises(TypeError, match="^logits: dtype"):
        mla.indexer_topk(torch.zeros(2, 4, dtype=torch.float64, device=device), 2)
