"""mla.flash_mla.flash_mla_sparse_fwd (sparse prefill, SPEC 4) against the float64
reference, and its argument checking."""
import pytest
import torch

import mla
import mla.flash_mla as flash_mla
import reference as ref
from cases import prefill_case, strided


def run_prefill(c, device, **overrides):
    args = dict(q=c["q"], kv=c["kv"], indices=c["indices"], attn_sink=c["attn_sink"],
                topk_length=c["topk_length"])
    args = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in args.items()}
    args.update(overrides)
    return flash_mla.flash_mla_sparse_fwd(args.pop("q"), args.pop("kv"), args.pop("indices"),
                                          c["sm_scale"], **args)


def check(c, out, max_logits, lse, device):
    want_out, want_lse, want_max = c["reference"](device)
    ref.assert_close(out, want_out, ref.PREFILL_OUT, "out")
    ref.assert_close(max_logits, want_max, ref.PREFILL_STAT, "max_logits")
    ref.assert_close(lse, want_lse, ref.PREFILL_STAT, "lse")


@pytest.mark.parametrize("d_qk", [576, 512])
@pytest.mark.parametrize("h_q", [1, 5, 64, 128])
def test_prefill_plain(device, gen, d_qk, h_q):
    c = prefill_case(d_qk, s_q=4, h_q=h_q, s_kv=150, topk=64, gen=gen)
    out, max_logits, lse = run_prefill(c, device)
    assert out.shape == (4, h_q, 512) and out.dtype == torch.bfloat16 and out.device.type == device.type
    assert max_logits.shape == lse.shape == (4, h_q) and lse.dtype == torch.float32
    check(c, out, max_logits, lse, device)


@pytest.mark.parametrize("d_qk", [576, 512])
def test_prefill_lengths_and_sink(device, gen, d_qk):
    c = prefill_case(d_qk, s_q=6, h_q=16, s_kv=300, topk=100, gen=gen, lengths=True, sink=True)
    check(c, *run_prefill(c, device), device)


def test_prefill_non_contiguous_inputs(device, gen):
    c = prefill_case(512, s_q=5, h_q=8, s_kv=120, topk=40, gen=gen, lengths=True, sink=True)
    q = c["q"].to(device).transpose(0, 1).contiguous().transpose(0, 1)
    assert not q.is_contiguous()
    out = run_prefill(c, device, q=q, kv=strided(c["kv"].to(device)),
                      indices=strided(c["indices"].to(device)),
                      topk_length=strided(c["topk_length"].to(device)),
                      attn_sink=strided(c["attn_sink"].to(device)))
    check(c, *out, device)


def test_prefill_reuses_workspace_and_allocates_only_outputs(device, gen):
    c = prefill_case(576, s_q=3, h_q=4, s_kv=64, topk=32, gen=gen)
    run_prefill(c, device)
    first = mla._runtime.workspace_tensor(device)
    args = [c["q"].to(device), c["kv"].to(device), c["indices"].to(device), c["sm_scale"]]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_stats(device)["allocation.all.allocated"]
    for _ in range(3):
        flash_mla.flash_mla_sparse_fwd(*args)
    if device.type == "cuda":
        after = torch.cuda.memory_stats(device)["allocation.all.allocated"]
        assert after - before == 3 * 3  # out, max_logits and lse per call
    assert mla._runtime.workspace_tensor(device) is first


def test_prefill_not_implemented(device, gen):
    c = prefill_case(576, s_q=2, h_q=2, s_kv=16, topk=8, gen=gen)
    with pytest.raises(NotImplementedError, match="d_v = 256"):
        run_prefill(c, device, d_v=256)
    with pytest.raises(NotImplementedError, match="2 heads"):
        run_prefill(c, device, kv=c["kv"].to(device).repeat(1, 2, 1))


def test_prefill_argument_errors(device, gen):
    c = prefill_case(512, s_q=2, h_q=4, s_kv=32, topk=8, gen=gen)

    def bad(error, pattern, **kw):
        with pytest.raises(error, match=pattern):
            run_prefill(c, device, **kw)

    q = c["q"].to(device)
    bad(TypeError, "^q: dtype", q=q.half())
    bad(ValueError, "^q: shape\\[2\\] \\(d_qk\\)", q=q[..., :500])
    bad(TypeError, "^kv: dtype", kv=c["kv"].to(device).float())
    bad(ValueError, "^kv: shape\\[2\\] \\(d_qk\\)",
        kv=torch.zeros(32, 1, 576, dtype=torch.bfloat16, device=device))
    bad(TypeError, "^indices: dtype", indices=c["indices"].to(device).long())
    bad(ValueError, "^indices: must have 3 dimensions", indices=c["indices"].to(device)[:, 0])
    bad(ValueError, "^indices: shape\\[0\\] \\(s_q\\)", indices=c["indices"].to(device)[:1])
    bad(ValueError, "^topk_length: shape\\[0\\] \\(s_q\\)",
        topk_length=torch.ones(5, dtype=torch.int32, device=device))
    bad(ValueError, "^attn_sink: shape\\[0\\] \\(h_q\\)",
        attn_sink=torch.zeros(3, device=device))
    if device.type == "cuda":
        bad(ValueError, "^kv: is on cpu", kv=c["kv"])
