"""Sparse prefill, from bf16 rows and from a paged cache, captured in a CUDA graph and replayed:
the call neither allocates on the device nor synchronizes, and a replay over new inputs gives
the result of a direct call on those inputs, bit for bit (the plan depends on the shapes only)."""
import pytest
import torch

import mla.flash_mla as flash_mla
from cases import cache_to, prefill_case, prefill_paged_case
from conftest import DEVICES

GPU = [d for d in DEVICES if not isinstance(d, str)]  # the CUDA parameter, with its skip mark


def capture_and_replay(step, q, indices, gen):
    """Captures step(), puts new values in q and new indices in place, replays, and returns the
    replayed results beside a direct call's on the same inputs."""
    step()  # first call: the workspace and the call plan are made outside the capture
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        captured = step()
    q.copy_(torch.randn(q.shape, generator=gen).clamp(-1, 1).to(q.device, q.dtype))
    indices.copy_(indices.flip(-1))
    graph.replay()
    torch.cuda.synchronize()
    direct = step()
    torch.cuda.synchronize()
    return captured, direct


@pytest.mark.parametrize("device", GPU)
@pytest.mark.parametrize("d_qk,h_q,topk", [(576, 16, 300), (512, 64, 512), (576, 128, 128)])
def test_prefill_graph_capture_and_replay(device, gen, d_qk, h_q, topk):
    device = torch.device(device)
    c = prefill_case(d_qk, s_q=5, h_q=h_q, s_kv=2 * topk, topk=topk, gen=gen, sink=True)
    q, kv, indices = c["q"].to(device), c["kv"].to(device), c["indices"].to(device)
    sink = c["attn_sink"].to(device)

    def step():
        return flash_mla.flash_mla_sparse_fwd(q, kv, indices, c["sm_scale"], attn_sink=sink)

    captured, direct = capture_and_replay(step, q, indices, gen)
    for g, d in zip(captured, direct):
        assert torch.equal(g, d)


@pytest.mark.parametrize("device", GPU)
@pytest.mark.parametrize("version,h_q,topk", [("v32", 8, 256), ("v40", 64, 640)])
def test_prefill_paged_graph_capture_and_replay(device, gen, version, h_q, topk):
    device = torch.device(device)
    c = prefill_paged_case(version, s_q=5, h_q=h_q, topk=topk, gen=gen, sink=True)
    q, indices = c["q"].to(device), c["indices"].to(device)
    k_cache = cache_to(c["k_cache"], device)
    sink = c["attn_sink"].to(device)

    def step():
        return flash_mla.flash_mla_sparse_fwd_paged(q, k_cache, indices, c["sm_scale"],
                                                    attn_sink=sink, page_size=c["page_size"])

    captured, direct = capture_and_replay(step, q, indices, gen)
    for g, d in zip(captured, direct):
        assert torch.equal(g, d)
