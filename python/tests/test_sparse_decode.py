"""mla.flash_mla.flash_mla_with_kvcache (sparse decode, SPEC 3) against the float64
reference, and its argument checking."""
import pytest
import torch

import mla
import mla.flash_mla as flash_mla
import reference as ref
from cases import decode_case, strided, cache_to

DECODE_ARGS = ("indices", "topk_length", "attn_sink", "extra_k_cache",
               "extra_indices_in_kvcache", "extra_topk_length")


def run_decode(c, device, schedule=None, **overrides):
    """Calls flash_mla_with_kvcache on the case's tensors moved to device; overrides
    replace any argument (q and k_cache included)."""
    move = {"extra_k_cache": cache_to}
    args = {k: (None if c[k] is None else move.get(k, lambda t, d: t.to(d))(c[k], device))
            for k in DECODE_ARGS}
    args.update(overrides)
    q = args.pop("q", None)
    q = c["q"].to(device) if q is None else q
    k_cache = args.pop("k_cache", None)
    k_cache = cache_to(c["k_cache"], device) if k_cache is None else k_cache
    if schedule is None:
        schedule = flash_mla.get_mla_metadata()[0]
    return flash_mla.flash_mla_with_kvcache(q, k_cache, None, None, 512, schedule,
                                            is_fp8_kvcache=True, **args)


def check(c, out, lse, device):
    want_out, want_lse = c["reference"](device)
    ref.assert_close(out, want_out, ref.DECODE_OUT, "out")
    ref.assert_close(lse, want_lse, ref.DECODE_LSE, "lse")


@pytest.mark.parametrize("version", ["v32", "v40"])
@pytest.mark.parametrize("h_q", [1, 3, 16, 128])
def test_decode_plain(device, gen, version, h_q):
    c = decode_case(version, b=2, s_q=1, h_q=h_q, topk=96, gen=gen, page_size=64)
    out, lse = run_decode(c, device)
    assert out.shape == (2, 1, h_q, 512) and out.dtype == torch.bfloat16
    assert lse.shape == (2, h_q, 1) and lse.dtype == torch.float32
    assert out.device.type == device.type and lse.device.type == device.type
    check(c, out, lse, device)
    assert bool((out[0, 0] == 0).all()) and bool(torch.isinf(lse[0, :, 0]).all())


@pytest.mark.parametrize("version,page,extra", [("v32", 53, (40, 61, 5)),
                                                ("v40", 256, (64, 64, 3)),
                                                ("v40", 64, (33, 2, 40))])
@pytest.mark.parametrize("h_q", [2, 64])
def test_decode_extra_cache_lengths_sink_mtp(device, gen, version, page, extra, h_q):
    c = decode_case(version, b=3, s_q=2, h_q=h_q, topk=70, gen=gen, page_size=page,
                    extra=extra, lengths=True, sink=True)
    out, lse = run_decode(c, device)
    check(c, out, lse, device)


@pytest.mark.parametrize("version", ["v32", "v40"])
def test_decode_fnuz_cache(device, gen, version):
    c = decode_case(version, b=2, s_q=1, h_q=4, topk=40, gen=gen, flavor="e4m3fnuz",
                    lengths=True, sink=True)
    mla.set_fp8_flavor("e4m3fnuz")  # a byte cache's flavour comes from the default
    try:
        out, lse = run_decode(c, device)
    finally:
        mla.set_fp8_flavor(None)
    check(c, out, lse, device)


def test_decode_flavor_change_after_a_call(device, gen):
    """A call plan made under one default flavour is not reused under another."""
    c = decode_case("v40", b=2, s_q=1, h_q=4, topk=40, gen=gen, flavor="e4m3fnuz",
                    lengths=True, sink=True)
    mla.set_fp8_flavor("e4m3fn")
    try:
        run_decode(c, device)  # a plan for these shapes, reading the bytes as e4m3fn
        mla.set_fp8_flavor("e4m3fnuz")
        out, lse = run_decode(c, device)
    finally:
        mla.set_fp8_flavor(None)
    check(c, out, lse, device)


def test_decode_non_contiguous_inputs(device, gen):
    c = decode_case("v40", b=3, s_q=2, h_q=8, topk=50, gen=gen, extra=(20, 2, 30),
                    lengths=True, sink=True)
    q = c["q"].to(device).permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)  # heads outer
    assert not q.is_contiguous()
    args = {k: strided(c[k].to(device)) for k in DECODE_ARGS if k not in ("extra_k_cache",)}
    out, lse = run_decode(c, device, q=q, **args)
    check(c, out, lse, device)


def test_decode_into_given_out(device, gen):
    c = decode_case("v32", b=2, s_q=1, h_q=4, topk=30, gen=gen)
    space = torch.zeros(2, 1, 4, 600, dtype=torch.bfloat16, device=device)
    out, lse = run_decode(c, device, out=space[..., :512])
    assert out.data_ptr() == space.data_ptr()
    check(c, out, lse, device)


def test_decode_softmax_scale(device, gen):
    c = decode_case("v32", b=1, s_q=1, h_q=2, topk=30, gen=gen)
    c["softmax_scale"] = 0.3
    out, lse = run_decode(c, device, softmax_scale=0.3)
    check(c, out, lse, device)


def test_decode_reuses_workspace_and_allocates_only_outputs(device, gen):
    c = decode_case("v32", b=2, s_q=1, h_q=16, topk=64, gen=gen)
    schedule = flash_mla.get_mla_metadata()[0]
    run_decode(c, device, schedule)
    first = mla._runtime.workspace_tensor(device)
    inputs = {k: (None if c[k] is None else c[k].to(device)) for k in DECODE_ARGS}
    q, cache = c["q"].to(device), cache_to(c["k_cache"], device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_stats(device)["allocation.all.allocated"]
    for _ in range(3):
        flash_mla.flash_mla_with_kvcache(q, cache, None, None, 512, schedule,
                                         is_fp8_kvcache=True, **inputs)
    if device.type == "cuda":
        after = torch.cuda.memory_stats(device)["allocation.all.allocated"]
        assert after - before == 3 * 2  # out and lse per call, nothing else
    assert mla._runtime.workspace_tensor(device) is first


def test_decode_schedule_reused_across_shapes_is_reported(device, gen):
    schedule = flash_mla.get_mla_metadata()[0]
    run_decode(decode_case("v32", 1, 1, 4, 30, gen), device, schedule)
    with pytest.raises(ValueError, match="tile_scheduler_metadata.*h_q"):
        run_decode(decode_case("v32", 1, 1, 8, 30, gen), device, schedule)


def test_decode_not_implemented(device, gen):
    c = decode_case("v32", b=1, s_q=1, h_q=2, topk=16, gen=gen)
    q, cache = c["q"].to(device), cache_to(c["k_cache"], device)
    idx = c["indices"].to(device)
    meta = flash_mla.get_mla_metadata()[0]
    with pytest.raises(NotImplementedError, match="dense decode"):
        flash_mla.flash_mla_with_kvcache(q, cache, torch.zeros(1, 4, dtype=torch.int32),
                                         torch.ones(1, dtype=torch.int32), 512, meta)
    with pytest.raises(NotImplementedError, match="causal"):
        flash_mla.flash_mla_with_kvcache(q, cache, None, None, 512, meta, causal=True,
                                         is_fp8_kvcache=True, indices=idx)
    with pytest.raises(NotImplementedError, match="bf16 cache"):
        flash_mla.flash_mla_with_kvcache(q, cache, None, None, 512, meta, indices=idx)
    with pytest.raises(NotImplementedError, match="head_dim_v"):
        flash_mla.flash_mla_with_kvcache(q, cache, None, None, 448, meta,
                                         is_fp8_kvcache=True, indices=idx)


def test_decode_argument_errors(device, gen):
    c = decode_case("v40", b=2, s_q=1, h_q=4, topk=16, gen=gen, extra=(8, 2, 10))

    def bad(error, pattern, **kw):
        with pytest.raises(error, match=pattern):
            run_decode(c, device, **kw)

    q = c["q"].to(device)
    bad(TypeError, "^q: dtype", q=q.float())
    bad(ValueError, "^q: shape\\[3\\]", q=torch.zeros(2, 1, 4, 576, dtype=torch.bfloat16,
                                                       device=device))
    bad(ValueError, "^q: must have 4 dimensions", q=q[0])
    bad(ValueError, "^q: the last dimension", q=q.repeat(1, 1, 1, 2)[..., ::2])
    bad(TypeError, "^k_cache: dtype", k_cache=cache_to(c["k_cache"], device).view(torch.int16))
    bad(ValueError, "^k_cache: rows of 583 bytes", k_cache=cache_to(c["k_cache"], device)[..., :583])
    bad(TypeError, "^indices: dtype", indices=c["indices"].to(device).long())
    bad(ValueError, "^indices: shape\\[0\\] \\(b\\)", indices=c["indices"].to(device)[:1])
    bad(TypeError, "^topk_length: must be a torch.Tensor", topk_length=[3, 3])
    bad(ValueError, "^topk_length: shape\\[0\\]",
        topk_length=torch.ones(3, dtype=torch.int32, device=device))
    bad(ValueError, "^attn_sink: shape\\[0\\] \\(h_q\\)",
        attn_sink=torch.zeros(5, device=device))
    bad(TypeError, "^attn_sink: dtype", attn_sink=torch.zeros(4, device=device).double())
    bad(ValueError, "^extra_k_cache: holds V3.2",
        extra_k_cache=mla.empty_k_cache(2, 4, "v32", device, torch.uint8))
    bad(TypeError, "^extra_indices_in_kvcache: is required", extra_indices_in_kvcache=None)
    bad(ValueError, "^extra_topk_length: given without extra_k_cache", extra_k_cache=None,
        extra_indices_in_kvcache=None,
        extra_topk_length=torch.ones(2, dtype=torch.int32, device=device))
    if device.type == "cuda":
        bad(ValueError, "^indices: is on cpu", indices=c["indices"])
        bad(ValueError, "^k_cache: is on cpu", k_cache=c["k_cache"])


def test_decode_cache_dtypes(device, gen):
    c = decode_case("v32", b=2, s_q=1, h_q=4, topk=40, gen=gen)
    views = [torch.int8] + ([torch.float8_e4m3fn] if hasattr(torch, "float8_e4m3fn") else [])
    for dtype in views:
        out, lse = run_decode(c, device, k_cache=cache_to(c["k_cache"], device).view(dtype))
        check(c, out, lse, device)


def test_decode_v40_cache_needs_padded_pages(device):
    unpadded = torch.zeros(3, 64, 1, 584, dtype=torch.uint8, device=device)  # 37376 B pages
    c = dict(q=torch.zeros(1, 1, 2, 512, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="^k_cache: pages are 37376 bytes apart.*576"):
        flash_mla.flash_mla_with_kvcache(
            c["q"].to(device), unpadded, None, None, 512, None, is_fp8_kvcache=True,
            indices=torch.zeros(1, 1, 4, dtype=torch.int32, device=device))
