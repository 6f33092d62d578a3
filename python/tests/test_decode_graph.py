"""The sparse decode captured in a CUDA graph and replayed: the call neither allocates on the
device nor synchronizes, and a replay over new inputs gives the result of a direct call on
those inputs, bit for bit (the plan depends on the shapes only)."""
import pytest
import torch

import mla.flash_mla as flash_mla
from cases import decode_case, cache_to
from conftest import DEVICES

GPU = [d for d in DEVICES if not isinstance(d, str)]  # the CUDA parameter, with its skip mark


@pytest.mark.parametrize("device", GPU)
@pytest.mark.parametrize("version,h_q,topk", [("v32", 16, 2048), ("v40", 64, 640)])
def test_decode_graph_capture_and_replay(device, gen, version, h_q, topk):
    device = torch.device(device)
    c = decode_case(version, b=4, s_q=2, h_q=h_q, topk=topk, gen=gen, page_size=64, sink=True)
    q = c["q"].to(device)
    k_cache = cache_to(c["k_cache"], device)
    indices = c["indices"].to(device)
    sink = c["attn_sink"].to(device)
    schedule = flash_mla.get_mla_metadata()[0]

    def step():
        return flash_mla.flash_mla_with_kvcache(q, k_cache, None, None, 512, schedule,
                                                is_fp8_kvcache=True, indices=indices,
                                                attn_sink=sink)

    step()  # first call: the schedule object takes its workspace outside the capture
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        out_g, lse_g = step()
    # New inputs in the captured buffers, then replay.
    q.copy_(torch.randn(q.shape, generator=gen).clamp(-1, 1).to(device, q.dtype))
    indices.copy_(indices.flip(-1))
    graph.replay()
    torch.cuda.synchronize()
    out_d, lse_d = step()
    torch.cuda.synchronize()
    assert torch.equal(out_g, out_d)
    assert torch.equal(lse_g, lse_d)
