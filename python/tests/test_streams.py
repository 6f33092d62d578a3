"""Work is enqueued on torch's current stream (GPU only): inputs produced late on a side
stream must be seen, and outputs consumed on that stream must be complete."""
import pytest
import torch

import mla
import mla.flash_mla as flash_mla
import reference as ref
from cases import cache_to, decode_case, prefill_case

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and mla.device_count() > 0),
                                reason="needs a GPU that torch and libmla both see")


def _late(stream, src):
    """A copy of src that the side stream writes only after a long sleep: a kernel on any
    other stream that reads it early sees zeros."""
    dst = torch.zeros_like(src)
    stream.wait_stream(torch.cuda.current_stream())  # the zero fill comes first
    with torch.cuda.stream(stream):
        torch.cuda._sleep(200_000_000)  # ~0.1 s on an H100
        dst.copy_(src, non_blocking=True)
    return dst


def test_decode_runs_on_the_current_stream(gen):
    dev = torch.device("cuda")
    c = decode_case("v40", b=2, s_q=1, h_q=16, topk=64, gen=gen, extra=(32, 2, 40),
                    lengths=True, sink=True)
    side = torch.cuda.Stream(dev)
    q_src = c["q"].to(dev)
    torch.cuda.synchronize()
    q = _late(side, q_src)
    with torch.cuda.stream(side):
        out, lse = flash_mla.flash_mla_with_kvcache(
            q, cache_to(c["k_cache"], dev), None, None, 512, flash_mla.get_mla_metadata()[0],
            is_fp8_kvcache=True, indices=c["indices"].to(dev),
            topk_length=c["topk_length"].to(dev), attn_sink=c["attn_sink"].to(dev),
            extra_k_cache=cache_to(c["extra_k_cache"], dev),
            extra_indices_in_kvcache=c["extra_indices_in_kvcache"].to(dev),
            extra_topk_length=c["extra_topk_length"].to(dev))
        out_copy, lse_copy = out.clone(), lse.clone()  # consumed on the same stream
    side.synchronize()
    want_out, want_lse = c["reference"](dev)
    ref.assert_close(out_copy, want_out, ref.DECODE_OUT, "out")
    ref.assert_close(lse_copy, want_lse, ref.DECODE_LSE, "lse")


def test_prefill_runs_on_the_current_stream(gen):
    dev = torch.device("cuda")
    c = prefill_case(576, s_q=8, h_q=32, s_kv=200, topk=64, gen=gen, lengths=True, sink=True)
    side = torch.cuda.Stream(dev)
    q_src = c["q"].to(dev)
    torch.cuda.synchronize()
    q = _late(side, q_src)
    with torch.cuda.stream(side):
        out, max_logits, lse = flash_mla.flash_mla_sparse_fwd(
            q, c["kv"].to(dev), c["indices"].to(dev), c["sm_scale"],
            attn_sink=c["attn_sink"].to(dev), topk_length=c["topk_length"].to(dev))
        copies = [t.clone() for t in (out, max_logits, lse)]
    side.synchronize()
    want_out, want_lse, want_max = c["reference"](dev)
    ref.assert_close(copies[0], want_out, ref.PREFILL_OUT, "out")
    ref.assert_close(copies[1], want_max, ref.PREFILL_STAT, "max_logits")
    ref.assert_close(copies[2], want_lse, ref.PREFILL_STAT, "lse")


def test_each_stream_has_its_own_workspace(gen):
    dev = torch.device("cuda")
    c = prefill_case(512, s_q=2, h_q=4, s_kv=32, topk=8, gen=gen)
    args = [c["q"].to(dev), c["kv"].to(dev), c["indices"].to(dev), c["sm_scale"]]
    side = torch.cuda.Stream(dev)
    flash_mla.flash_mla_sparse_fwd(*args)
    with torch.cuda.stream(side):
        flash_mla.flash_mla_sparse_fwd(*args)
    a = mla._runtime.workspace_tensor(dev, torch.cuda.current_stream(dev).cuda_stream or None)
    b = mla._runtime.workspace_tensor(dev, side.cuda_stream)
    if a is not None and b is not None:  # the device reference kernels need no workspace
        assert a.data_ptr() != b.data_ptr()
    torch.cuda.synchronize()
