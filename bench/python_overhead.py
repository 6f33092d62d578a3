#!/usr/bin/env python3
"""Host cost of one Python call of sparse decode: mla.flash_mla.flash_mla_with_kvcache, and
FlashMLA's flash_mla_with_kvcache on the same tensors when `import flash_mla` works.

    python3 bench/python_overhead.py [--device cuda|cpu] [--calls 3000]

The shape is tiny on purpose (V3.2 fp8 cache, b 1, s_q 1, h_q 64, topk 64): the device work
is a few microseconds, so the loop's time is the host's (argument handling, allocation of
out and lse, launch). Each figure is host wall time over `calls` back-to-back calls after a
warm-up, with one synchronization at the end, the best of --repeats runs. The device time of
one call, from events around a separate loop, is printed beside it: a host figure close to it
means the loop waited for the device and the host cost is lower than shown.
libmla is the package's own (MLA_LIBRARY overrides); run from the repository root without
installing with PYTHONPATH=python.
"""
import argparse
import os
import sys
import time

import torch

BUDGET_US = 25.0  # issue 9: at most this per decode call on the H200, FlashMLA's cost or less


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=64)
    p.add_argument("--topk", type=int, default=64)
    return p.parse_args()


def make_inputs(mla, device, b, h_q, topk, page=64):
    """A V3.2 fp8 cache written by libmla's store, q, and indices inside the cache."""
    gen = torch.Generator().manual_seed(0)
    pages = max(2, -(-2 * topk // page)) * b
    fp8 = getattr(torch, "float8_e4m3fn", torch.uint8)
    cache = mla.empty_k_cache(pages, page, "v32", device, dtype=fp8)
    rows = (torch.randn(pages * page, 576, generator=gen) / 10).to(torch.bfloat16)
    mla.store_k_cache(rows.to(device), cache, torch.arange(pages * page, device=device))
    q = torch.randn(b, 1, h_q, 576, generator=gen).clamp(-1, 1).to(torch.bfloat16)
    indices = torch.randint(0, pages * page, (b, 1, topk), generator=gen, dtype=torch.int32)
    return q.to(device), cache, indices.to(device)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def host_us_per_call(call, device, calls, warmup, repeats):
    for _ in range(warmup):
        call()
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def device_us_per_call(call, device, calls=200):
    if device.type != "cuda":
        return None
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(calls):
        call()
    end.record()
    torch.cuda.synchronize(device)
    return begin.elapsed_time(end) * 1e3 / calls


def flashmla_call(q, cache, indices, scale):
    """FlashMLA's decode on the same tensors, or (None, why not)."""
    try:
        import flash_mla
    except ImportError as e:
        return None, f"import flash_mla failed ({e}); set PYTHONPATH to FlashMLA's package"
    if getattr(flash_mla, "__name__", "") == "mla.flash_mla" or \
            not hasattr(flash_mla, "get_mla_metadata"):
        return None, "flash_mla is not FlashMLA"
    if q.device.type != "cuda":
        return None, "FlashMLA runs on CUDA devices only"
    meta = flash_mla.get_mla_metadata()[0]

    def call():
        return flash_mla.flash_mla_with_kvcache(q, cache, None, None, 512, meta,
                                                softmax_scale=scale, is_fp8_kvcache=True,
                                                indices=indices)
    return call, None


def main():
    args = parse_args()
    try:
        import mla
    except ImportError:  # not installed: the package of this checkout
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "python"))
        import mla
    import mla.flash_mla as mla_flash_mla
    from mla import _torch_ops

    device = torch.device(args.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    q, cache, indices = make_inputs(mla, device, args.batch, args.heads, args.topk)
    scale = 576 ** -0.5
    meta = mla_flash_mla.get_mla_metadata()[0]

    def libmla_call():
        return mla_flash_mla.flash_mla_with_kvcache(q, cache, None, None, 512, meta,
                                                    softmax_scale=scale, is_fp8_kvcache=True,
                                                    indices=indices)

    def libmla_op_call():
        return _torch_ops.sparse_decode(q, cache, indices, None, None, None, None, None, scale)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"python_overhead: python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"libmla {mla.library_version()} ({mla.library_path()}), {device} ({name})")
    print(f"decode: V3.2 fp8 cache, b {args.batch}, s_q 1, h_q {args.heads}, topk {args.topk}, "
          f"page 64; {args.calls} calls after {args.warmup} warm-up, best of {args.repeats}")
    rows = [("mla.flash_mla.flash_mla_with_kvcache", libmla_call),
            ("torch.ops.mla.sparse_decode (no wrapper)", libmla_op_call)]
    fm_call, why = flashmla_call(q, cache, indices, scale)
    if fm_call is not None:
        rows.append(("flash_mla.flash_mla_with_kvcache (FlashMLA)", fm_call))
    results = {}
    for label, call in rows:
        host = host_us_per_call(call, device, args.calls, args.warmup, args.repeats)
        dev = device_us_per_call(call, device)
        results[label] = host
        dev_text = "" if dev is None else f"   (device {dev:6.1f} us/call)"
        print(f"  {label:44s} {host:7.1f} us/call{dev_text}")
    if fm_call is None:
        print(f"  FlashMLA: not measured: {why}")
    ours = results["mla.flash_mla.flash_mla_with_kvcache"]
    verdict = "PASS" if ours <= BUDGET_US else "FAIL"
    line = f"budget: {ours:.1f} us/call against {BUDGET_US:.0f} us: {verdict}"
    if fm_call is not None:
        line += f"; FlashMLA {results['flash_mla.flash_mla_with_kvcache (FlashMLA)']:.1f} us/call"
    if device.type != "cuda":
        line += " (the budget is for the H200 host; this is the CPU backend)"
    print(line)
    return 0 if verdict == "PASS" or device.type != "cuda" else 1


if __name__ == "__main__":
    sys.exit(main())
