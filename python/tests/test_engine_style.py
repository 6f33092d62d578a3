"""An engine's view: FlashMLA's module swapped for libmla by one import, caches written
through a block table as an engine writes them, and every call checked against the float64
reference (which reads the cache bytes itself).

As a script it runs every head count from 1 to 128 on the GPU (or the CPU without one):
    MLA_LIBRARY=.../libmla.so PYTHONPATH=python python3 python/tests/test_engine_style.py
"""
import sys

import pytest
import torch

import mla
import mla.flash_mla as flash_mla  # the one-line switch: was `import flash_mla`
import reference as ref
from cases import cache_bytes, make_q
from mla._kv_cache import FLAVOR_NAMES, flavor_of

V32, V40 = "v32", "v40"


class PagedCache:
    """An engine's paged cache: pages handed to requests through a block table."""

    def __init__(self, version, page_size, num_pages, device, gen):
        self.version, self.page_size = version, page_size
        # the engine's default cache dtype: float8_e4m3fn where torch has it, else uint8
        self.cache = mla.empty_k_cache(num_pages, page_size, version, device, zeroed=True)
        self.flavor = FLAVOR_NAMES[flavor_of("k_cache", self.cache)]
        self.free = torch.randperm(num_pages, generator=gen).tolist()
        self.gen = gen

    def add_request(self, seq_len):
        """Writes seq_len random rows for a new request; returns its block table row."""
        pages = [self.free.pop() for _ in range(-(-seq_len // self.page_size))]
        table = torch.tensor(pages, dtype=torch.int64)
        pos = torch.arange(seq_len)
        slots = table[pos // self.page_size] * self.page_size + pos % self.page_size
        d = 576 if self.version == V32 else 512
        k = (torch.randn(seq_len, d, generator=self.gen) / 10).to(torch.bfloat16)
        mla.store_k_cache(k.to(self.cache.device), self.cache, slots.to(self.cache.device))
        return table

    def slots(self, table, positions):
        """Positions of a request -> cache slots (-1 stays -1), as int32."""
        p = positions.clamp(min=0)
        s = table[p // self.page_size] * self.page_size + p % self.page_size
        return torch.where(positions >= 0, s, -1).to(torch.int32)

    def keys(self, idx):
        """Reference rows for indices (float64, invalid -> 0) read from the raw bytes."""
        stride = self.cache.stride(0) * self.cache.element_size()
        return ref.read_cache(cache_bytes(self.cache), self.version, self.page_size, stride,
                              idx.reshape(-1).long(), self.flavor).reshape(*idx.shape, -1)


def _topk_positions(seq_lens, s_q, topk, gen):
    """Per request: topk positions < seq_len (random, -1 padded) for each query row."""
    rows = []
    for n in seq_lens:
        r = torch.full((s_q, topk), -1, dtype=torch.int64)
        for s in range(s_q):
            k = min(n, topk)
            r[s, :k] = torch.randperm(n, generator=gen)[:k]
        rows.append(r)
    return torch.stack(rows)


def _valid(idx, length):
    ok = idx >= 0
    if length is not None:
        ok &= torch.arange(idx.shape[-1], device=idx.device) < length.view(-1, 1, 1).long()
    return ok


def decode_v32(h_q, device, gen, b=3, s_q=2, topk=256, page=64):
    seq_lens = [int(x) for x in torch.randint(topk // 2, 3 * topk, (b,), generator=gen)]
    pool = PagedCache(V32, page, sum(-(-n // page) for n in seq_lens) + 2, device, gen)
    tables = [pool.add_request(n) for n in seq_lens]
    pos = _topk_positions(seq_lens, s_q, topk, gen)
    idx = torch.stack([pool.slots(t, p) for t, p in zip(tables, pos)]).to(device)
    q = make_q((b, s_q, h_q, 576), gen).to(device)
    meta, _ = flash_mla.get_mla_metadata()
    out, lse = flash_mla.flash_mla_with_kvcache(q, pool.cache, None, None, 512, meta,
                                                softmax_scale=576 ** -0.5,
                                                is_fp8_kvcache=True, indices=idx)
    want_out, want_lse, _ = ref.attention(q.double().reshape(b * s_q, h_q, 576),
                                          pool.keys(idx).reshape(b * s_q, topk, 576),
                                          _valid(idx, None).reshape(b * s_q, topk),
                                          576 ** -0.5)
    ref.assert_close(out, want_out.reshape(out.shape), ref.DECODE_OUT, f"V3.2 out h_q={h_q}")
    ref.assert_close(lse, want_lse.reshape(b, s_q, h_q).transpose(1, 2), ref.DECODE_LSE,
                     f"V3.2 lse h_q={h_q}")


def decode_v40(h_q, device, gen, b=3, s_q=1, window=128, topk=512, ratio=4, extra_page=64):
    """Sliding-window main cache (page 256) + compressed extra cache (c4, page 64)."""
    seq_lens = [int(x) for x in torch.randint(window, 4 * topk, (b,), generator=gen)]
    swa = PagedCache(V40, 256, sum(-(-n // 256) for n in seq_lens) + 1, device, gen)
    comp_lens = [max(1, n // ratio) for n in seq_lens]
    comp = PagedCache(V40, extra_page, sum(-(-n // extra_page) for n in comp_lens) + 1,
                      device, gen)
    swa_tables = [swa.add_request(n) for n in seq_lens]
    comp_tables = [comp.add_request(n) for n in comp_lens]
    swa_pos = torch.stack([torch.arange(n - window, n).clamp(min=-1).expand(s_q, window)
                           for n in seq_lens])
    idx = torch.stack([swa.slots(t, p) for t, p in zip(swa_tables, swa_pos)]).to(device)
    cpos = _topk_positions(comp_lens, s_q, topk, gen)
    eidx = torch.stack([comp.slots(t, p) for t, p in zip(comp_tables, cpos)]).to(device)
    swa_len = torch.tensor([min(n, window) for n in seq_lens], dtype=torch.int32)
    comp_len = torch.tensor([min(n, topk) for n in comp_lens], dtype=torch.int32)
    # the window is the last `window` positions: move the valid ones to the front
    idx = torch.stack([torch.cat([r[:, window - int(m):], r[:, :window - int(m)]], dim=1)
                       for r, m in zip(idx, swa_len)])
    sink = torch.randn(h_q, generator=gen).to(device)
    q = make_q((b, s_q, h_q, 512), gen).to(device)
    meta, _ = flash_mla.get_mla_metadata()
    out, lse = flash_mla.flash_mla_with_kvcache(
        q, swa.cache, None, None, 512, meta, softmax_scale=512 ** -0.5, is_fp8_kvcache=True,
        indices=idx, attn_sink=sink, extra_k_cache=comp.cache,
        extra_indices_in_kvcache=eidx, topk_length=swa_len.to(device),
        extra_topk_length=comp_len.to(device))
    keys = torch.cat([swa.keys(idx), comp.keys(eidx)], dim=2).reshape(b * s_q, -1, 512)
    valid = torch.cat([_valid(idx, swa_len.to(device)), _valid(eidx, comp_len.to(device))],
                      dim=2).reshape(b * s_q, -1)
    want_out, want_lse, _ = ref.attention(q.double().reshape(b * s_q, h_q, 512), keys, valid,
                                          512 ** -0.5, sink)
    ref.assert_close(out, want_out.reshape(out.shape), ref.DECODE_OUT, f"V4.0 out h_q={h_q}")
    ref.assert_close(lse, want_lse.reshape(b, s_q, h_q).transpose(1, 2), ref.DECODE_LSE,
                     f"V4.0 lse h_q={h_q}")


def prefill(h_q, d_qk, device, gen, s_q=6, s_kv=700, topk=256):
    kv = (torch.randn(s_kv, 1, d_qk, generator=gen) / 10).to(torch.bfloat16).to(device)
    idx = torch.stack([torch.randperm(s_kv, generator=gen)[:topk] for _ in range(s_q)])
    idx = idx.to(torch.int32).unsqueeze(1).to(device)
    length = torch.randint(1, topk + 1, (s_q,), generator=gen).to(torch.int32).to(device)
    sink = torch.randn(h_q, generator=gen).to(device)
    q = make_q((s_q, h_q, d_qk), gen).to(device)
    out, max_logits, lse = flash_mla.flash_mla_sparse_fwd(q, kv, idx, d_qk ** -0.5,
                                                          attn_sink=sink, topk_length=length)
    ok = torch.arange(topk, device=device).view(1, -1) < length.view(-1, 1).long()
    keys = kv[:, 0].double()[idx[:, 0].long()]
    want_out, want_lse, want_max = ref.attention(q.double(), keys, ok, d_qk ** -0.5, sink)
    ref.assert_close(out, want_out, ref.PREFILL_OUT, f"prefill out d={d_qk} h_q={h_q}")
    ref.assert_close(max_logits, want_max, ref.PREFILL_STAT, f"prefill max d={d_qk} h_q={h_q}")
    ref.assert_close(lse, want_lse, ref.PREFILL_STAT, f"prefill lse d={d_qk} h_q={h_q}")


HEADS = [1, 2, 3, 8, 16, 24, 64, 100, 128]


@pytest.mark.parametrize("h_q", HEADS)
def test_engine_v32_decode(device, gen, h_q):
    decode_v32(h_q, device, gen)


@pytest.mark.parametrize("h_q", HEADS)
def test_engine_v40_decode(device, gen, h_q):
    decode_v40(h_q, device, gen)


@pytest.mark.parametrize("h_q", HEADS)
@pytest.mark.parametrize("d_qk", [576, 512])
def test_engine_prefill(device, gen, h_q, d_qk):
    prefill(h_q, d_qk, device, gen)


def main():
    device = torch.device("cuda" if torch.cuda.is_available() and mla.device_count() else "cpu")
    big = device.type == "cuda"
    gen = torch.Generator().manual_seed(2024)
    print(f"libmla {mla.library_version()} ({mla.library_path()}), device {device}")
    failures = 0
    for h_q in range(1, 129):
        for name, fn in [
            ("V3.2 decode", lambda: decode_v32(h_q, device, gen, topk=2048 if big else 256)),
            ("V4.0 decode", lambda: decode_v40(h_q, device, gen, topk=512 if big else 128)),
            ("V3.2 prefill", lambda: prefill(h_q, 576, device, gen, topk=2048 if big else 256,
                                             s_kv=4096 if big else 700)),
            ("V4.0 prefill", lambda: prefill(h_q, 512, device, gen, topk=640 if big else 256,
                                             s_kv=4096 if big else 700)),
        ]:
            try:
                fn()
            except AssertionError as e:
                failures += 1
                print(f"FAIL h_q={h_q} {name}: {e}")
        print(f"h_q={h_q}: done ({mla.last_backend()})", flush=True)
    print(f"{128 * 4 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
