"""FlashMLA's Python interface over libmla: `import mla.flash_mla as flash_mla`.

The names, arguments, shapes and return values are those of FlashMLA's flash_mla package
(its interface since the V4.0 "MODEL1" cache, which still runs on Hopper):
get_mla_metadata, flash_mla_with_kvcache and flash_mla_sparse_fwd. Differences an engine
may notice:
  - any number of query heads works (no padding to 64 or 128);
  - any top-k width works (no multiple of 64), and an index that is out of range for its
    cache is skipped rather than read (FlashMLA only skips -1);
  - the returned lse is a contiguous [b, h_q, s_q] tensor (FlashMLA returns a transposed
    view of a [b, s_q, h_q] buffer; the values are the same);
  - what libmla does not compute raises NotImplementedError naming it: dense decode
    (indices=None), sparse decode over a bf16 cache, causal masking, d_v other than 512.
"""
import ctypes
import dataclasses
from typing import Optional, Tuple

import torch

from . import _cabi as c
from . import _runtime
from ._kv_cache import describe_cache, ROW_DIM
from ._tensors import (check_device_type, check_dim, check_last_contiguous, check_tensor,
                       float8_dtypes, pointer)

__all__ = ["FlashMLASchedMeta", "get_mla_metadata", "flash_mla_with_kvcache",
           "flash_mla_sparse_fwd"]

_BF16 = (torch.bfloat16,)
_F32 = (torch.float32,)
_I32 = (torch.int32,)
_D_V = 512


@dataclasses.dataclass
class FlashMLASchedMeta:
    """What get_mla_metadata() returns and flash_mla_with_kvcache() fills on first use.

    libmla needs no tile schedule: it plans each call from the shapes alone. The object
    records the shapes of its first call, so that reusing it for different shapes is
    reported as FlashMLA reports it, and holds the workspace the calls ran with.
    """

    @dataclasses.dataclass
    class Config:
        b: int
        s_q: int
        h_q: int
        page_block_size: int
        h_k: int
        causal: bool
        is_fp8_kvcache: bool
        topk: Optional[int]
        extra_page_block_size: Optional[int]
        extra_topk: Optional[int]

    have_initialized: bool = False
    config: Optional[Config] = None
    workspace: Optional[torch.Tensor] = None  # the reused workspace of the last call
    # FlashMLA's own fields, kept for code that reads them; libmla leaves them None.
    tile_scheduler_metadata: Optional[torch.Tensor] = None
    num_splits: Optional[torch.Tensor] = None

    def _bind(self, config):
        if not self.have_initialized:
            self.config, self.have_initialized = config, True
            return
        for field in dataclasses.fields(config):
            was, now = getattr(self.config, field.name), getattr(config, field.name)
            if was != now:
                raise ValueError(
                    f"tile_scheduler_metadata: was made for {field.name} = {was}, this call has "
                    f"{now}; use one get_mla_metadata() object per shape, as with FlashMLA")


def get_mla_metadata(*args, **kwargs) -> Tuple[FlashMLASchedMeta, None]:
    """A fresh FlashMLASchedMeta, and None (FlashMLA's historical pair). The arguments of
    older FlashMLA versions (cache_seqlens, num_q_tokens_per_head_k, ...) are accepted and
    not needed."""
    return FlashMLASchedMeta(), None


def _not_served(what):
    raise NotImplementedError(f"libmla does not implement {what}")


def _cache_geometry(t):
    # page size and KV heads as FlashMLA reads them, for the schedule's record
    if t is None:
        return None, None
    return (t.shape[1] if t.dim() >= 3 else 1), (t.shape[2] if t.dim() == 4 else 1)


def _check_cache_dtype(name, t):
    allowed = float8_dtypes() + (torch.uint8, torch.int8)
    check_tensor(name, t, allowed, None, None)


def flash_mla_with_kvcache(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: Optional[torch.Tensor],
    cache_seqlens: Optional[torch.Tensor],
    head_dim_v: int,
    tile_scheduler_metadata: FlashMLASchedMeta,
    num_splits: None = None,
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    is_fp8_kvcache: bool = False,
    indices: Optional[torch.Tensor] = None,
    attn_sink: Optional[torch.Tensor] = None,
    extra_k_cache: Optional[torch.Tensor] = None,
    extra_indices_in_kvcache: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    extra_topk_length: Optional[torch.Tensor] = None,
    *,
    out: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sparse decode over paged FP8 caches (SPEC 3).

    q: bf16 [b, s_q, h_q, d_qk], d_qk 576 (V3.2 cache) or 512 (V4.0 cache).
    k_cache, extra_k_cache: [num_blocks, page_block_size, 1, 656 or 584] fp8/uint8/int8,
        FlashMLA's layout (see mla._kv_cache); page strides come from stride(0).
    indices: int32 [b, s_q, topk] slots (page * page_block_size + offset) of k_cache;
    extra_indices_in_kvcache: int32 [b, s_q, extra_topk] slots of extra_k_cache.
    topk_length, extra_topk_length: int32 [b] or None; attn_sink: fp32 [h_q] or None.
    block_table and cache_seqlens are not used by sparse decode (as in FlashMLA).
    out: an optional bf16 [b, s_q, h_q, 512] destination (last dimension contiguous).
    Returns (out bf16 [b, s_q, h_q, 512], lse fp32 [b, h_q, s_q]).
    """
    if tile_scheduler_metadata is not None and \
            not isinstance(tile_scheduler_metadata, FlashMLASchedMeta):
        raise TypeError("tile_scheduler_metadata: must be the FlashMLASchedMeta that "
                        "mla.flash_mla.get_mla_metadata() returns, got "
                        f"{type(tile_scheduler_metadata).__name__}")
    if num_splits is not None:
        raise ValueError("num_splits: must be None (as in FlashMLA's current interface)")
    if indices is None:
        _not_served("dense decode (indices=None); only sparse decode with indices is "
                    "available")
    if causal:
        _not_served("causal masking in sparse decode (FlashMLA has none either)")
    if not is_fp8_kvcache:
        _not_served("sparse decode over a bf16 cache (is_fp8_kvcache=False); libmla reads "
                    "the FP8 V3.2 and V4.0 caches")
    if head_dim_v != _D_V:
        _not_served(f"head_dim_v = {head_dim_v}; d_v is 512 in every supported format")

    check_tensor("q", q, _BF16, 4, None)
    device = check_device_type("q", q)
    _check_cache_dtype("k_cache", k_cache)
    check_tensor("k_cache", k_cache, None, None, device)
    kv, fmt = describe_cache("k_cache", k_cache)
    d_qk = ROW_DIM[fmt]
    check_dim("q", q, 3, d_qk, f"d_qk of a {'V3.2' if d_qk == 576 else 'V4.0'} k_cache")
    check_last_contiguous("q", q)
    b, s_q, h_q = q.shape[0], q.shape[1], q.shape[2]

    check_tensor("indices", indices, _I32, 3, device)
    check_dim("indices", indices, 0, b, "b")
    check_dim("indices", indices, 1, s_q, "s_q")
    check_last_contiguous("indices", indices)
    check_tensor("topk_length", topk_length, _I32, 1, device, optional_ok=True)
    check_dim("topk_length", topk_length, 0, b, "b")
    check_tensor("attn_sink", attn_sink, _F32, 1, device, optional_ok=True)
    check_dim("attn_sink", attn_sink, 0, h_q, "h_q")

    extra_kv = None
    if extra_k_cache is not None:
        _check_cache_dtype("extra_k_cache", extra_k_cache)
        check_tensor("extra_k_cache", extra_k_cache, None, None, device)
        extra_kv, _ = describe_cache("extra_k_cache", extra_k_cache, fmt=fmt)
        check_tensor("extra_indices_in_kvcache", extra_indices_in_kvcache, _I32, 3, device)
        check_dim("extra_indices_in_kvcache", extra_indices_in_kvcache, 0, b, "b")
        check_dim("extra_indices_in_kvcache", extra_indices_in_kvcache, 1, s_q, "s_q")
        check_last_contiguous("extra_indices_in_kvcache", extra_indices_in_kvcache)
        check_tensor("extra_topk_length", extra_topk_length, _I32, 1, device, optional_ok=True)
        check_dim("extra_topk_length", extra_topk_length, 0, b, "b")
    elif extra_indices_in_kvcache is not None or extra_topk_length is not None:
        which = "extra_indices_in_kvcache" if extra_indices_in_kvcache is not None \
            else "extra_topk_length"
        raise ValueError(f"{which}: given without extra_k_cache")

    schedule = tile_scheduler_metadata
    if schedule is not None:
        page, h_k = _cache_geometry(k_cache)
        extra_page, _ = _cache_geometry(extra_k_cache)
        schedule._bind(FlashMLASchedMeta.Config(
            b, s_q, h_q, page, h_k, causal, is_fp8_kvcache, indices.shape[-1],
            extra_page, None if extra_indices_in_kvcache is None
            else extra_indices_in_kvcache.shape[-1]))

    if out is None:
        out = torch.empty((b, s_q, h_q, _D_V), dtype=torch.bfloat16, device=device)
    else:
        check_tensor("out", out, _BF16, 4, device)
        if tuple(out.shape) != (b, s_q, h_q, _D_V):
            raise ValueError(f"out: must have shape {(b, s_q, h_q, _D_V)}, "
                             f"got {tuple(out.shape)}")
        check_last_contiguous("out", out)
    lse = torch.empty((b, h_q, s_q), dtype=torch.float32, device=device)

    args = c.SparseDecodeArgs()
    args.q = pointer(q)
    args.kv = _cache_pointer(kv)
    args.indices = pointer(indices)
    args.topk_length = pointer(topk_length)
    args.extra_kv = _cache_pointer(extra_kv)
    args.extra_indices = pointer(extra_indices_in_kvcache if extra_kv is not None else None)
    args.extra_topk_length = pointer(extra_topk_length if extra_kv is not None else None)
    args.attn_sink = pointer(attn_sink)
    args.softmax_scale = _scale(softmax_scale, d_qk)
    args.out = pointer(out)
    args.lse = pointer(lse)
    _runtime.run("mla_sparse_decode", device, args, "mla_sparse_decode_workspace_size")
    if schedule is not None:
        schedule.workspace = _runtime.workspace_tensor(device)
    return out, lse


def flash_mla_sparse_fwd(
    q: torch.Tensor,
    kv: torch.Tensor,
    indices: torch.Tensor,
    sm_scale: float,
    d_v: int = 512,
    attn_sink: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    indexer_topk: int = 0,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse prefill over a bf16 KV tensor (SPEC 4).

    q: bf16 [s_q, h_q, d_qk] (d_qk 576 or 512); kv: bf16 [s_kv, 1, d_qk], V = its first 512
    columns; indices: int32 [s_q, 1, topk], an index < 0 or >= s_kv is skipped;
    attn_sink: fp32 [h_q] or None; topk_length: int32 [s_q] or None.
    Returns (out bf16 [s_q, h_q, 512], max_logits fp32 [s_q, h_q], lse fp32 [s_q, h_q]).
    """
    if d_v != _D_V:
        _not_served(f"d_v = {d_v}; sparse prefill has d_v = 512")
    if indexer_topk:
        _not_served("indexer_topk (the separate lse over the indexer's part of indices)")
    check_tensor("q", q, _BF16, 3, None)
    device = check_device_type("q", q)
    s_q, h_q, d_qk = q.shape
    if d_qk not in (576, 512):
        raise ValueError(f"q: shape[2] (d_qk) must be 576 or 512, got shape {tuple(q.shape)}")
    check_last_contiguous("q", q)
    check_tensor("kv", kv, _BF16, 3, device)
    if kv.shape[1] != 1:
        _not_served(f"kv with {kv.shape[1]} heads (shape[1]); MLA has one KV head")
    check_dim("kv", kv, 2, d_qk, "d_qk")
    check_last_contiguous("kv", kv)
    check_tensor("indices", indices, _I32, 3, device)
    check_dim("indices", indices, 0, s_q, "s_q")
    check_dim("indices", indices, 1, 1, "h_kv")
    check_last_contiguous("indices", indices)
    check_tensor("attn_sink", attn_sink, _F32, 1, device, optional_ok=True)
    check_dim("attn_sink", attn_sink, 0, h_q, "h_q")
    check_tensor("topk_length", topk_length, _I32, 1, device, optional_ok=True)
    check_dim("topk_length", topk_length, 0, s_q, "s_q")

    out = torch.empty((s_q, h_q, _D_V), dtype=torch.bfloat16, device=device)
    max_logits = torch.empty((s_q, h_q), dtype=torch.float32, device=device)
    lse = torch.empty((s_q, h_q), dtype=torch.float32, device=device)

    args = c.SparsePrefillArgs()
    args.q = pointer(q)
    args.kv = pointer(kv)
    args.indices = pointer(indices)
    args.topk_length = pointer(topk_length)
    args.attn_sink = pointer(attn_sink)
    args.softmax_scale = _scale(sm_scale, d_qk)
    args.out = pointer(out)
    args.max_logits = pointer(max_logits)
    args.lse = pointer(lse)
    _runtime.run("mla_sparse_prefill", device, args, "mla_sparse_prefill_workspace_size")
    return out, max_logits, lse


def _scale(given, d_qk):
    """FlashMLA's default d_qk^-0.5 when None; libmla takes the value as fp32."""
    return float(d_qk ** -0.5 if given is None else given)


def _cache_pointer(desc):
    return None if desc is None else ctypes.pointer(desc)
