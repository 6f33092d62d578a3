"""mla.flash_mla.flash_mla_sparse_fwd_paged (sparse prefill from a paged FP8 cache, SPEC 4.1)
against the float64 reference, its contract with dequantize_k_cache_paged +
flash_mla_sparse_fwd, and its argument checking."""
import pytest
import torch

import mla
import mla.flash_mla as flash_mla
import reference as ref
from cases import cache_bytes, cache_to, prefill_paged_case, strided


def run_paged(c, device, **overrides):
    args = dict(q=c["q"], indices=c["indices"], attn_sink=c["attn_sink"],
                topk_length=c["topk_length"])
    args = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in args.items()}
    args["k_cache"] = cache_to(c["k_cache"], device)
    args.update(overrides)
    return flash_mla.flash_mla_sparse_fwd_paged(args.pop("q"), args.pop("k_cache"),
                                                args.pop("indices"), c["sm_scale"], **args)


def check(c, out, max_logits, lse, device):
    want_out, want_lse, want_max = c["reference"](device)
    ref.assert_close(out, want_out, ref.PREFILL_OUT, "out")
    ref.assert_close(max_logits, want_max, ref.PREFILL_STAT, "max_logits")
    ref.assert_close(lse, want_lse, ref.PREFILL_STAT, "lse")


@pytest.mark.parametrize("version", ["v32", "v40"])
@pytest.mark.parametrize("h_q", [1, 5, 64, 128])
def test_prefill_paged_plain(device, gen, version, h_q):
    c = prefill_paged_case(version, s_q=4, h_q=h_q, topk=64, gen=gen)
    out, max_logits, lse = run_paged(c, device)
    assert out.shape == (4, h_q, 512) and out.dtype == torch.bfloat16
    assert out.device.type == device.type
    assert max_logits.shape == lse.shape == (4, h_q) and lse.dtype == torch.float32
    check(c, out, max_logits, lse, device)
    assert bool((out[0] == 0).all()) and bool(torch.isinf(lse[0]).all())  # the empty row
    assert bool((max_logits[0] == -float("inf")).all())


@pytest.mark.parametrize("version,page,flat", [("v32", 53, True), ("v32", 1, False),
                                               ("v40", 64, True), ("v40", 2, False),
                                               ("v40", 256, True)])
def test_prefill_paged_lengths_sink_page_sizes(device, gen, version, page, flat):
    c = prefill_paged_case(version, s_q=6, h_q=16, topk=100, gen=gen, page_size=page,
                           lengths=True, sink=True, flat_indices=flat)
    check(c, *run_paged(c, device), device)


@pytest.mark.parametrize("version", ["v32", "v40"])
def test_prefill_paged_fnuz_cache(device, gen, version):
    c = prefill_paged_case(version, s_q=3, h_q=4, topk=40, gen=gen, flavor="e4m3fnuz",
                           lengths=True, sink=True)
    mla.set_fp8_flavor("e4m3fnuz")  # a byte cache's flavour comes from the default
    try:
        out = run_paged(c, device)
    finally:
        mla.set_fp8_flavor(None)
    check(c, *out, device)


def test_prefill_paged_non_contiguous_inputs(device, gen):
    c = prefill_paged_case("v40", s_q=5, h_q=8, topk=40, gen=gen, lengths=True, sink=True)
    q = c["q"].to(device).transpose(0, 1).contiguous().transpose(0, 1)
    assert not q.is_contiguous()
    out = run_paged(c, device, q=q, indices=strided(c["indices"].to(device)),
                    topk_length=strided(c["topk_length"].to(device)),
                    attn_sink=strided(c["attn_sink"].to(device)))
    check(c, *out, device)


@pytest.mark.parametrize("version", ["v32", "v40"])
def test_prefill_paged_equals_dequantize_then_sparse_fwd(device, gen, version):
    """The contract: dequantize_k_cache_paged of every slot, then flash_mla_sparse_fwd with
    the same indices, gives the same bits."""
    c = prefill_paged_case(version, s_q=5, h_q=20, topk=90, gen=gen, page_size=53,
                           lengths=True, sink=True)
    got = run_paged(c, device)
    cache = cache_to(c["k_cache"], device)
    slots = torch.arange(cache.shape[0] * c["page_size"], dtype=torch.int32, device=device)
    kv = mla.dequantize_k_cache_paged(cache, slots)
    want = flash_mla.flash_mla_sparse_fwd(
        c["q"].to(device), kv, c["indices"].to(device).unsqueeze(1), c["sm_scale"],
        attn_sink=c["attn_sink"].to(device), topk_length=c["topk_length"].to(device))
    for name, g, w in zip(("out", "max_logits", "lse"), got, want):
        assert torch.equal(g, w), name


def test_prefill_paged_sglang_v40_pool(device, gen):
    """sglang's 2-D V4.0 pool [num_pages, page_bytes] with page_size, same as the 4-D view."""
    c = prefill_paged_case("v40", s_q=4, h_q=8, topk=50, gen=gen, page_size=64, sink=True)
    pool = cache_bytes(cache_to(c["k_cache"], device))
    got = run_paged(c, device, k_cache=pool, page_size=64)
    check(c, *got, device)
    want = run_paged(c, device)
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_prefill_paged_not_implemented_and_argument_errors(device, gen):
    c = prefill_paged_case("v40", s_q=2, h_q=4, topk=8, gen=gen, lengths=True)

    def bad(error, pattern, **kw):
        with pytest.raises(error, match=pattern):
            run_paged(c, device, **kw)

    q = c["q"].to(device)
    idx = c["indices"].to(device)
    bad(NotImplementedError, "d_v = 256", d_v=256)
    bad(TypeError, "^q: dtype", q=q.half())
    bad(ValueError, "^q: shape\\[2\\] \\(d_qk of a V4.0 k_cache\\)",
        q=torch.zeros(2, 4, 576, dtype=torch.bfloat16, device=device))
    bad(TypeError, "^k_cache: dtype", k_cache=cache_to(c["k_cache"], device).float())
    bad(TypeError, "^indices: dtype", indices=idx.long())
    bad(ValueError, "^indices: must be \\[s_q, topk\\]", indices=idx[:, None, None])
    bad(ValueError, "^indices: shape\\[0\\] \\(s_q\\)", indices=idx[:1])
    bad(ValueError, "^indices: shape\\[1\\] \\(h_kv\\)", indices=idx.view(2, 2, 4))
    bad(ValueError, "^topk_length: shape\\[0\\] \\(s_q\\)",
        topk_length=torch.ones(5, dtype=torch.int32, device=device))
    bad(ValueError, "^attn_sink: shape\\[0\\] \\(h_q\\)",
        attn_sink=torch.zeros(3, device=device))
    bad(TypeError, "^k_cache: is required", k_cache=None)
    if device.type == "cuda":
        bad(ValueError, "^indices: is on cpu", indices=c["indices"])


def test_prefill_paged_reuses_workspace_and_allocates_only_outputs(device, gen):
    c = prefill_paged_case("v32", s_q=3, h_q=4, topk=32, gen=gen)
    run_paged(c, device)
    first = mla._runtime.workspace_tensor(device)
    args = [c["q"].to(device), cache_to(c["k_cache"], device), c["indices"].to(device),
            c["sm_scale"]]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_stats(device)["allocation.all.allocated"]
    for _ in range(3):
        flash_mla.flash_mla_sparse_fwd_paged(*args)
    if device.type == "cuda":
        after = torch.cuda.memory_stats(device)["allocation.all.allocated"]
        assert after - before == 3 * 3  # out, max_logits and lse per call
    assert mla._runtime.workspace_tensor(device) is first
