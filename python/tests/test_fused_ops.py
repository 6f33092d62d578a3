"""concat_mla_k, concat_mla_absorb_q, merge_state / merge_attn_states and norm_rope
against SPEC 7 written plainly in float64."""
import math

import pytest
import torch

import mla
import reference as ref
from cases import bf16, strided


def test_concat_mla_k(device, gen):
    k_nope = bf16(torch.randn(5, 3, 128, generator=gen)).to(device)
    k_rope = bf16(torch.randn(5, 1, 64, generator=gen)).to(device)
    k = torch.empty(5, 3, 192, dtype=torch.bfloat16, device=device)
    mla.concat_mla_k(k, strided(k_nope), k_rope)
    assert torch.equal(k.cpu(), torch.cat([k_nope.cpu(), k_rope.cpu().expand(5, 3, 64)], -1))


@pytest.mark.parametrize("shape", [(7,), (4, 3)])
def test_concat_mla_absorb_q(device, gen, shape):
    a = bf16(torch.randn(*shape, 512, generator=gen)).to(device)
    b = bf16(torch.randn(*shape, 64, generator=gen)).to(device)
    out = mla.concat_mla_absorb_q(strided(a), b)
    assert torch.equal(out.cpu(), torch.cat([a.cpu(), b.cpu()], -1))


def merge_reference(v_a, s_a, v_b, s_b):
    la = torch.where(torch.isfinite(s_a), s_a.double(), torch.full_like(s_a.double(), -math.inf))
    lb = torch.where(torch.isfinite(s_b), s_b.double(), torch.full_like(s_b.double(), -math.inf))
    m = torch.maximum(la, lb)
    empty = torch.isinf(m)
    m0 = torch.where(empty, torch.zeros_like(m), m)
    ea, eb = torch.exp(la - m0), torch.exp(lb - m0)
    va = torch.where((ea > 0).unsqueeze(-1), v_a.double(), torch.zeros_like(v_a.double()))
    vb = torch.where((eb > 0).unsqueeze(-1), v_b.double(), torch.zeros_like(v_b.double()))
    total = ea + eb
    v = (va * ea.unsqueeze(-1) + vb * eb.unsqueeze(-1)) / torch.where(
        empty, torch.ones_like(total), total).unsqueeze(-1)
    lse = torch.where(empty, torch.full_like(m, math.inf), torch.log(total) + m0)
    return v, lse


def test_merge_state(device, gen):
    n, h, d = 6, 4, 64
    v_a, v_b = (bf16(torch.randn(n, h, d, generator=gen)) for _ in range(2))
    s_a, s_b = torch.randn(n, h, generator=gen) * 3, torch.randn(n, h, generator=gen) * 3
    s_a[0, 0], s_b[0, 0] = math.inf, -math.inf    # both empty
    s_a[1, 1], v_a[1, 1, 0] = -math.inf, math.nan  # an empty side's NaN must not leak
    s_b[2, 2] = math.nan
    want_v, want_s = merge_reference(v_a, s_a, v_b, s_b)
    v, s = mla.merge_state(*(t.to(device) for t in (v_a, s_a, v_b, s_b)))
    ref.assert_close(v, want_v, (1e-6, 2.0 ** -7, None), "v")
    ref.assert_close(s, want_s, (1e-6, 1e-6, None), "lse")
    out = torch.empty(n, h, d, dtype=torch.bfloat16, device=device)
    out_lse = torch.empty(h, n, device=device)
    mla.merge_attn_states(out, v_a.to(device), s_a.t().contiguous().to(device), v_b.to(device),
                          s_b.t().contiguous().to(device), out_lse)
    ref.assert_close(out, want_v, (1e-6, 2.0 ** -7, None), "merge_attn_states output")
    ref.assert_close(out_lse.t(), want_s, (1e-6, 1e-6, None), "merge_attn_states lse")


def rope_table(max_pos, layout):
    pos = torch.arange(max_pos, dtype=torch.float64).view(-1, 1)
    freq = 1.0 / (10000 ** (torch.arange(32, dtype=torch.float64) / 32))
    ang = pos * freq
    if layout == "halves":
        return torch.cat([ang.cos(), ang.sin()], 1).float()
    return torch.stack([ang.cos(), ang.sin()], -1).reshape(max_pos, 64).float()


def norm_rope_reference(x, weight, positions, table, layout, normalize, inverse, eps):
    y = x.double()
    if normalize:
        y = y * torch.rsqrt((y * y).mean(-1, keepdim=True) + eps)
        if weight is not None:
            y = y * weight.double()
    t = table.double()
    if layout == "halves":
        cos, sin = t[:, :32], t[:, 32:]
    else:
        cos, sin = t[:, 0::2], t[:, 1::2]
    out = y.clone()
    for n, p in enumerate(positions.tolist()):
        if p < 0 or p >= t.shape[0]:
            continue
        c, s = cos[p], sin[p]
        a, b = y[n, ..., -64::2], y[n, ..., -63::2]
        if inverse:
            s = -s
        out[n, ..., -64::2] = a * c - b * s
        out[n, ..., -63::2] = a * s + b * c
    return out


@pytest.mark.parametrize("layout", ["halves", "interleaved"])
@pytest.mark.parametrize("normalize,inverse", [(True, False), (False, True)])
def test_norm_rope(device, gen, layout, normalize, inverse):
    x = bf16(torch.randn(5, 3, 512, generator=gen) * 2)
    weight = bf16(torch.rand(512, generator=gen) + 0.5) if normalize else None
    positions = torch.tensor([0, 7, 99, -1, 100], dtype=torch.int64)
    table = rope_table(100, layout)
    want = norm_rope_reference(x, weight, positions, table, layout, normalize, inverse, 1e-6)
    got = mla.norm_rope(x.to(device), positions.to(device), table.to(device),
                        weight=None if weight is None else weight.to(device), eps=1e-6,
                        normalize=normalize, inverse=inverse, table_layout=layout)
    ref.assert_close(got, want, (1e-5, 2.0 ** -7, None), "norm_rope")


def test_norm_rope_in_place_and_errors(device, gen):
    x = bf16(torch.randn(4, 128, generator=gen)).to(device)
    table = rope_table(8, "halves").to(device)
    pos = torch.arange(4, dtype=torch.int32, device=device)
    want = mla.norm_rope(x, pos, table)
    assert mla.norm_rope(x, pos, table, out=x) is x
    assert torch.equal(x.cpu(), want.cpu())
    with pytest.raises(ValueError, match="^positions: shape"):
        mla.norm_rope(x, pos[:2], table)
    with pytest.raises(TypeError, match="^x: dtype"):
        mla.norm_rope(x.float(), pos, table)
    with pytest.raises(ValueError, match="^cos_sin: must be"):
        mla.norm_rope(x, pos, table[:, :32])
    with pytest.raises(ValueError, match="^b: must have shape"):
        mla.concat_mla_absorb_q(bf16(torch.zeros(2, 512, device=device)),
                                bf16(torch.zeros(3, 64, device=device)))
