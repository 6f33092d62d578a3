"""The attention as torch operations (mla::sparse_decode, mla::sparse_decode_out,
mla::sparse_prefill, mla::sparse_prefill_paged): torch.compile(fullgraph=True) traces through the FlashMLA wrappers and
matches eager, fake tensors get the right shapes, CUDA graphs capture a decode step, and the
per-shape call plans stay correct when workspace, threads or storage change."""
import threading

import pytest
import torch

import mla
import mla.flash_mla as flash_mla
import reference as ref
from cases import cache_to, decode_case, prefill_case, prefill_paged_case
from mla import _plans

HAS_FAKE = hasattr(torch.library, "register_fake") or hasattr(torch.library, "impl_abstract")
needs_compile = pytest.mark.skipif(not (HAS_FAKE and hasattr(torch, "compile")),
                                   reason=f"torch {torch.__version__} has no torch.compile "
                                          "with fake-tensor registration (torch >= 2.2)")


def _reset_dynamo():
    import torch._dynamo
    torch._dynamo.reset()


def _decode_inputs(device, gen, extra=True):
    c = decode_case("v40", b=2, s_q=2, h_q=8, topk=40, gen=gen, page_size=64,
                    extra=(24, 2, 30) if extra else None, lengths=True, sink=True)
    move = {"k_cache": cache_to, "extra_k_cache": cache_to}
    t = {k: (None if c[k] is None else move.get(k, lambda x, d: x.to(d))(c[k], device))
         for k in ("q", "k_cache", "indices", "topk_length", "attn_sink", "extra_k_cache",
                   "extra_indices_in_kvcache", "extra_topk_length")}
    return c, t


def _decode(t, schedule=None, out=None):
    return flash_mla.flash_mla_with_kvcache(
        t["q"], t["k_cache"], None, None, 512, schedule, is_fp8_kvcache=True,
        indices=t["indices"], topk_length=t["topk_length"], attn_sink=t["attn_sink"],
        extra_k_cache=t["extra_k_cache"],
        extra_indices_in_kvcache=t["extra_indices_in_kvcache"],
        extra_topk_length=t["extra_topk_length"], out=out)


def test_operations_are_registered():
    for name in ("sparse_decode", "sparse_decode_out", "sparse_prefill", "sparse_prefill_paged"):
        assert hasattr(torch.ops.mla, name), name


@needs_compile
def test_compiled_decode_matches_eager(device, gen):
    _reset_dynamo()
    c, t = _decode_inputs(device, gen)
    schedule = flash_mla.get_mla_metadata()[0]

    def step(q, t):
        out, lse = _decode(dict(t, q=q), schedule)
        return out.float() * 2, lse  # something around the operation, compiled with it

    compiled = torch.compile(step, fullgraph=True)
    got_out, got_lse = compiled(t["q"], t)
    want_out, want_lse = step(t["q"], t)
    assert torch.equal(got_out, want_out) and torch.equal(got_lse, want_lse)
    ref_out, ref_lse = c["reference"](device)
    ref.assert_close(got_out / 2, ref_out, ref.DECODE_OUT, "out")
    ref.assert_close(got_lse, ref_lse, ref.DECODE_LSE, "lse")
    # New values, same shapes: the compiled graph is reused and still right.
    q2 = (t["q"].float() * 0.5).to(torch.bfloat16)
    assert torch.equal(compiled(q2, t)[0], step(q2, t)[0])


@needs_compile
def test_compiled_decode_into_out_and_prefill_match_eager(device, gen):
    _reset_dynamo()
    _, t = _decode_inputs(device, gen, extra=False)
    p = prefill_case(576, s_q=4, h_q=8, s_kv=80, topk=32, gen=gen, lengths=True, sink=True)
    p_args = [p["q"].to(device), p["kv"].to(device), p["indices"].to(device), p["sm_scale"]]
    p_kw = dict(attn_sink=p["attn_sink"].to(device), topk_length=p["topk_length"].to(device))

    def step(t, out):
        o, lse = _decode(t, out=out)
        return o.sum(), lse, flash_mla.flash_mla_sparse_fwd(*p_args, **p_kw)

    out_eager = torch.zeros(2, 2, 8, 512, dtype=torch.bfloat16, device=device)
    out_compiled = torch.zeros_like(out_eager)
    want = step(t, out_eager)
    got = torch.compile(step, fullgraph=True)(t, out_compiled)
    assert torch.equal(out_compiled, out_eager)  # the mutation of out survives compilation
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    for g, w in zip(got[2], want[2]):
        assert torch.equal(g, w)


@pytest.mark.skipif(not HAS_FAKE, reason=f"torch {torch.__version__} has no fake tensors "
                                         "registration (torch >= 2.2)")
def test_fake_tensors_get_the_output_shapes(gen):
    from torch._subclasses.fake_tensor import FakeTensorMode
    _, t = _decode_inputs("cpu", gen)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fake = {k: None if v is None else mode.from_tensor(v) for k, v in t.items()}
        out, lse = _decode(fake)
        p_out, p_max, p_lse = flash_mla.flash_mla_sparse_fwd(
            torch.empty(5, 4, 512, dtype=torch.bfloat16), torch.empty(9, 1, 512,
                                                                      dtype=torch.bfloat16),
            torch.empty(5, 1, 7, dtype=torch.int32), 0.1)
    assert out.shape == (2, 2, 8, 512) and out.dtype == torch.bfloat16
    assert lse.shape == (2, 8, 2) and lse.dtype == torch.float32
    assert p_out.shape == (5, 4, 512) and p_max.shape == p_lse.shape == (5, 4)
    with FakeTensorMode(allow_non_fake_inputs=True):
        g_out, g_max, g_lse = flash_mla.flash_mla_sparse_fwd_paged(
            torch.empty(5, 4, 512, dtype=torch.bfloat16),
            torch.empty(3, 64, 1, 584, dtype=torch.uint8), torch.empty(5, 7, dtype=torch.int32),
            0.1)
    assert g_out.shape == (5, 4, 512) and g_out.dtype == torch.bfloat16
    assert g_max.shape == g_lse.shape == (5, 4) and g_lse.dtype == torch.float32


@needs_compile
def test_compiled_paged_prefill_matches_eager(device, gen):
    _reset_dynamo()
    c = prefill_paged_case("v40", s_q=4, h_q=8, topk=40, gen=gen, lengths=True, sink=True)
    args = [c["q"].to(device), cache_to(c["k_cache"], device), c["indices"].to(device),
            c["sm_scale"]]
    kw = dict(attn_sink=c["attn_sink"].to(device), topk_length=c["topk_length"].to(device))

    def step(q):
        out, max_logits, lse = flash_mla.flash_mla_sparse_fwd_paged(q, *args[1:], **kw)
        return out.float() * 2, max_logits, lse

    got = torch.compile(step, fullgraph=True)(args[0])
    want = step(args[0])
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_cuda_graph_captures_decode(gen):
    if not (torch.cuda.is_available() and mla.device_count() > 0):
        pytest.skip("needs a GPU that torch and libmla both see")
    dev = torch.device("cuda")
    c, t = _decode_inputs(dev, gen)
    schedule = flash_mla.get_mla_metadata()[0]
    static_q = t["q"].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        _decode(dict(t, q=static_q), schedule)  # warm-up: plans and workspace
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out, lse = _decode(dict(t, q=static_q), schedule)
    static_q.copy_((t["q"].float() * -0.75).to(torch.bfloat16))
    graph.replay()
    torch.cuda.synchronize()
    want_out, want_lse = _decode(dict(t, q=static_q.clone()))
    assert torch.equal(out, want_out) and torch.equal(lse, want_lse)


# ---- call plans --------------------------------------------------------------------------

def test_plans_are_reused_per_shape_and_rebuilt_for_new_ones(gen):
    _plans.clear()
    _, t = _decode_inputs("cpu", gen)
    first = _decode(t)
    assert len(_plans._plans) == 1
    again = _decode(dict(t, q=t["q"].clone()))
    assert len(_plans._plans) == 1
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    _decode(dict(t, q=t["q"][:, :1], indices=t["indices"][:, :1],
                 extra_indices_in_kvcache=t["extra_indices_in_kvcache"][:, :1]))
    assert len(_plans._plans) == 2
    with pytest.raises(TypeError, match="^indices: dtype"):
        _decode(dict(t, indices=t["indices"].long()))  # a dtype change is a new plan


def test_workspace_grown_by_another_call_is_seen_by_a_plan(device, gen):
    """Plans keep the workspace slot, not its pointer: when a call of another shape grows
    the buffer (the old one is freed), a plan made before must run on the new buffer."""
    _plans.clear()
    c, t = _decode_inputs(device, gen)
    first = _decode(t)
    (plan,) = _plans._plans.values()
    slot = mla._runtime.workspace_slot(plan.device, plan.stream)
    assert plan.slot is slot
    old_ptr = slot.ptr
    slot.reserve(max(slot.nbytes, 1 << 16) * 4)  # what a larger shape's first call does
    assert slot.ptr != old_ptr
    again = _decode(t)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert mla._runtime.workspace_tensor(device) is slot.tensor


def test_threads_share_no_call_state(gen):
    """Each thread has its own plans (their structs are written per call) and workspace."""
    cases = [decode_case("v32", b=2, s_q=1, h_q=8, topk=48, gen=gen) for _ in range(4)]
    wants = [c["reference"]() for c in cases]
    errors = []

    def worker(c, want):
        try:
            for _ in range(20):
                out, lse = flash_mla.flash_mla_with_kvcache(
                    c["q"], c["k_cache"], None, None, 512, None, is_fp8_kvcache=True,
                    indices=c["indices"])
                ref.assert_close(out, want[0], ref.DECODE_OUT, "out")
                ref.assert_close(lse, want[1], ref.DECODE_LSE, "lse")
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=cw) for cw in zip(cases, wants)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


def test_cache_storage_is_checked_on_every_call(gen):
    """A V4.0 cache view of the same shape and strides whose storage stops before the last
    page's padding is refused, even when a plan for that shape exists."""
    _plans.clear()
    c, t = _decode_inputs("cpu", gen, extra=False)
    _decode(t)
    cache = t["k_cache"]
    pages, page, _, row = cache.shape
    extent = (pages - 1) * cache.stride(0) + page * row
    short = torch.empty(extent, dtype=cache.dtype).as_strided(cache.shape, cache.stride())
    short.copy_(cache)
    with pytest.raises(ValueError, match="^k_cache: its storage ends before its last page"):
        _decode(dict(t, k_cache=short))
