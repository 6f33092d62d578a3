"""Writing bf16 rows into paged FP8 caches and reading them back (SPEC 2.4, 2.5), with
sglang's names: quantize_k_cache, dequantize_k_cache_paged; store_k_cache is the paged
scatter an engine's set_kv_buffer does.

Cache tensors are read as described in mla._kv_cache (FlashMLA's 4-D layout, a flat V3.2
pool [num_tokens, 656], or sglang's V4.0 pool [num_pages, page_bytes] with page_size).
"""
import ctypes
from typing import Optional

import torch

from . import _cabi as c
from . import _runtime
from ._kv_cache import (FLAVOR_NAMES, ROW_DIM, default_flavor, describe_cache, empty_cache,
                        fp8_dtype, parse_flavor)
from ._tensors import check_dim, check_last_contiguous, check_tensor, check_device_type, pointer

__all__ = ["dequantize_k_cache_paged", "quantize_k_cache", "store_k_cache", "empty_k_cache"]

_SLOT_DTYPES = (torch.int32, torch.int64)
_FORMATS = {"v32": c.KV_FORMAT_V32, "v3.2": c.KV_FORMAT_V32,
            "v40": c.KV_FORMAT_V40, "v4": c.KV_FORMAT_V40, "v4.0": c.KV_FORMAT_V40}


def _format(name, version):
    key = str(version).lower()
    if key not in _FORMATS:
        raise ValueError(f"{name}: must be 'v32' or 'v40', got {version!r}")
    return _FORMATS[key]


def _rows(name, t, d):
    """A [N, d] view of bf16 rows given as [N, d] or [N, 1, d]."""
    if t.dim() == 3 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 2 or t.shape[1] != d:
        raise ValueError(f"{name}: must be [N, {d}] or [N, 1, {d}], got shape {tuple(t.shape)}")
    check_last_contiguous(name, t)
    return t


def dequantize_k_cache_paged(
    quant_k_cache: torch.Tensor,
    page_table_1_flattened: torch.Tensor,
    page_size: Optional[int] = None,
    out: Optional[torch.Tensor] = None,
    *,
    fp8: Optional[str] = None,
) -> torch.Tensor:
    """Dequantized bf16 rows of the tokens at the given slots (SPEC 2.5).

    quant_k_cache: a V3.2 or V4.0 cache (format from its row bytes / layout).
    page_table_1_flattened: int32 or int64 [T] slots; an invalid slot gives a zero row.
    page_size: needed only for sglang's 2-D V4.0 pool; a V3.2 cache takes its geometry from
        the tensor, so sglang's V3.2 third argument (group_size=128) is ignored there.
    out: optional bf16 [T, 1, d] (or [T, d]) destination whose rows may be strided.
    fp8: 'e4m3fn' or 'e4m3fnuz' for a byte tensor, overriding the default flavour.
    Returns [T, 1, d] bf16, d = 576 (V3.2) or 512 (V4.0); `out` itself when given.
    """
    check_tensor("quant_k_cache", quant_k_cache, None, None, None)
    device = check_device_type("quant_k_cache", quant_k_cache)
    is_flat_v32 = quant_k_cache.shape[-1] * quant_k_cache.element_size() == 656
    kv, fmt = describe_cache("quant_k_cache", quant_k_cache,
                             None if is_flat_v32 or quant_k_cache.dim() > 2 else page_size,
                             fp8)
    d = ROW_DIM[fmt]
    slots = check_tensor("page_table_1_flattened", page_table_1_flattened, _SLOT_DTYPES, 1,
                         device)
    t = slots.shape[0]
    if out is None:
        out = torch.empty((t, 1, d), dtype=torch.bfloat16, device=device)
    else:
        check_tensor("out", out, (torch.bfloat16,), None, device)
        if out.shape[0] != t:
            raise ValueError(f"out: shape[0] must be {t} (one row per slot), "
                             f"got shape {tuple(out.shape)}")
    rows = _rows("out", out, d)
    args = c.KvGatherArgs()
    args.kv = ctypes.pointer(kv)
    args.slots = pointer(slots)
    args.out = pointer(rows)
    _runtime.run("mla_kv_gather", device, args)
    return out


def store_k_cache(
    k: torch.Tensor,
    k_cache: torch.Tensor,
    slots: torch.Tensor,
    page_size: Optional[int] = None,
    *,
    fp8: Optional[str] = None,
) -> None:
    """Quantizes bf16 rows and writes them at the given slots of a paged cache (SPEC 2.4).

    k: bf16 [N, d] or [N, 1, d], d = 576 (V3.2 cache) or 512 (V4.0 cache).
    k_cache: the cache, written in place; slots: int32 or int64 [N], a slot < 0 or beyond
    the cache is skipped. page_size: only for sglang's 2-D V4.0 pool.
    """
    check_tensor("k", k, (torch.bfloat16,), None, None)
    device = check_device_type("k", k)
    check_tensor("k_cache", k_cache, None, None, device)
    kv, fmt = describe_cache("k_cache", k_cache, page_size if k_cache.dim() == 2 else None, fp8)
    rows = _rows("k", k, ROW_DIM[fmt])
    check_tensor("slots", slots, _SLOT_DTYPES, 1, device)
    check_dim("slots", slots, 0, rows.shape[0], "N, the rows of k")
    args = c.KvStoreArgs()
    args.k = pointer(rows)
    args.slots = pointer(slots)
    args.kv = ctypes.pointer(kv)
    _runtime.run("mla_kv_store", device, args)


def empty_k_cache(
    num_blocks: int,
    page_block_size: int,
    version: str,
    device="cpu",
    dtype: Optional[torch.dtype] = None,
    *,
    zeroed: bool = False,
) -> torch.Tensor:
    """A new cache in FlashMLA's layout [num_blocks, page_block_size, 1, row_bytes]: row_bytes
    656 for version 'v32', 584 for 'v40' (V4.0 pages padded to 576-byte multiples, pages
    stride(0) apart). dtype: the float8 dtype of the default flavour when torch has it, else
    uint8. Uninitialized unless zeroed."""
    fmt = _format("version", version)
    device = _runtime.normalize(device)
    if dtype is None:
        dtype = fp8_dtype(default_flavor(device))
    return empty_cache(num_blocks, page_block_size, fmt, device, dtype, zeroed)


def quantize_k_cache(k_cache: torch.Tensor, *, fp8: Optional[str] = None) -> torch.Tensor:
    """FlashMLA's test helper: bf16 [num_blocks, page_block_size, 1, d] (d = 576 for V3.2,
    512 for V4.0) -> a new quantized cache [num_blocks, page_block_size, 1, 656 or 584].
    fp8 names the flavour (default: as for byte caches, see mla._kv_cache)."""
    check_tensor("k_cache", k_cache, (torch.bfloat16,), 4, None)
    device = check_device_type("k_cache", k_cache)
    num_blocks, page, h_k, d = k_cache.shape
    if h_k != 1 or d not in (576, 512):
        raise ValueError(f"k_cache: must be [num_blocks, page_block_size, 1, 576 or 512], "
                         f"got shape {tuple(k_cache.shape)}")
    flavor = parse_flavor("fp8", fp8) if fp8 is not None else default_flavor(device)
    cache = empty_k_cache(num_blocks, page, "v32" if d == 576 else "v40", device,
                          fp8_dtype(flavor), zeroed=True)
    slots = torch.arange(num_blocks * page, dtype=torch.int64, device=device)
    store_k_cache(k_cache.reshape(num_blocks * page, d), cache, slots,
                  fp8=FLAVOR_NAMES[flavor])
    return cache
