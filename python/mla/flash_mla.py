"""FlashMLA's Python interface over libmla: `import mla.flash_mla as flash_mla`.

The names, arguments, shapes and return values are those of FlashMLA's flash_mla package
(its interface since the V4.0 "MODEL1" cache, which still runs on Hopper):
get_mla_metadata, flash_mla_with_kvcache and flash_mla_sparse_fwd; plus
flash_mla_sparse_fwd_paged, libmla's sparse prefill straight from a paged FP8 cache (no
FlashMLA counterpart). Differences an engine may notice:
  - any number of query heads works (no padding to 64 or 128);
  - any top-k width works (no multiple of 64), and an index that is out of range for its
    cache is skipped rather than read (FlashMLA only skips -1);
  - the returned lse is a contiguous [b, h_q, s_q] tensor (FlashMLA returns a transposed
    view of a [b, s_q, h_q] buffer; the values are the same);
  - what libmla does not compute raises NotImplementedError naming it: dense decode
    (indices=None), sparse decode over a bf16 cache, causal masking, d_v other than 512.
"""
import dataclasses
from typing import Optional, Tuple

import torch

from . import _attention, _eager, _torch_ops

__all__ = ["FlashMLASchedMeta", "get_mla_metadata", "flash_mla_with_kvcache",
           "flash_mla_sparse_fwd", "flash_mla_sparse_fwd_paged"]

_D_V = 512
_Tensor = torch.Tensor


@dataclasses.dataclass
class FlashMLASchedMeta:
    """What get_mla_metadata() returns and flash_mla_with_kvcache() fills on first use.

    libmla needs no tile schedule: it plans each call from the shapes alone. The object
    records the shapes of its first call, so that reusing it for different shapes is
    reported as FlashMLA reports it.
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
    # FlashMLA's own fields, kept for code that reads them; libmla leaves them None.
    tile_scheduler_metadata: Optional[torch.Tensor] = None
    num_splits: Optional[torch.Tensor] = None
    _shapes: Optional[tuple] = dataclasses.field(default=None, repr=False, compare=False)
    _seen: Optional[tuple] = dataclasses.field(default=None, repr=False, compare=False)

    def _bind(self, shapes):
        """Records the first call's shapes (a tuple in Config's field order); a later call
        with others raises as FlashMLA does."""
        if not self.have_initialized:
            self.config, self._shapes = FlashMLASchedMeta.Config(*shapes), shapes
            self.have_initialized = True
            return
        for field, was, now in zip(dataclasses.fields(FlashMLASchedMeta.Config),
                                   self._shapes, shapes):
            if was != now:
                raise ValueError(
                    f"tile_scheduler_metadata: was made for {field.name} = {was}, this call "
                    f"has {now}; use one get_mla_metadata() object per shape, as with FlashMLA")


def get_mla_metadata(*args, **kwargs) -> Tuple[FlashMLASchedMeta, None]:
    """A fresh FlashMLASchedMeta, and None (FlashMLA's historical pair). The arguments of
    older FlashMLA versions (cache_seqlens, num_q_tokens_per_head_k, ...) are accepted and
    not needed."""
    return FlashMLASchedMeta(), None


def _not_served(what):
    raise NotImplementedError(f"libmla does not implement {what}")


def _require_tensors(**tensors):
    """What the torch operation would reject less clearly: a missing or non-tensor argument."""
    for name, t in tensors.items():
        if not isinstance(t, _Tensor):
            if t is None:
                raise TypeError(f"{name}: is required, got None")
            raise TypeError(f"{name}: must be a torch.Tensor, got {type(t).__name__}")


def _optional_tensors(**tensors):
    for name, t in tensors.items():
        if t is not None and not isinstance(t, _Tensor):
            raise TypeError(f"{name}: must be a torch.Tensor, got {type(t).__name__}")


def _config_of(q, k_cache, indices, causal, is_fp8_kvcache, extra_k_cache, extra_indices):
    """The fields of FlashMLASchedMeta.Config of a call, in order."""
    page, h_k = _cache_geometry(k_cache)
    extra_page, _ = _cache_geometry(extra_k_cache)
    extra_topk = None if extra_indices is None else extra_indices.shape[-1]
    return (q.shape[0], q.shape[1], q.shape[2], page, h_k, causal, is_fp8_kvcache,
            indices.shape[-1], extra_page, extra_topk)


def _cache_geometry(t):
    # page size and KV heads as FlashMLA reads them
    if t is None:
        return None, None
    return (t.shape[1] if t.dim() >= 3 else 1), (t.shape[2] if t.dim() == 4 else 1)


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
    """Sparse decode over paged FP8 caches (SPEC 3), through the torch operation
    mla::sparse_decode (mla::sparse_decode_out with out=).

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
    schedule = tile_scheduler_metadata
    if schedule is not None and not isinstance(schedule, FlashMLASchedMeta):
        raise TypeError("tile_scheduler_metadata: must be the FlashMLASchedMeta that "
                        "mla.flash_mla.get_mla_metadata() returns, got "
                        f"{type(schedule).__name__}")
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
    if not (isinstance(q, _Tensor) and isinstance(k_cache, _Tensor)
            and isinstance(indices, _Tensor)):
        _require_tensors(q=q, k_cache=k_cache, indices=indices)
    if schedule is not None:
        # FlashMLA's record of the first call, compared cheaply through the raw shapes.
        seen = (q.shape, k_cache.shape, indices.shape, causal,
                None if extra_k_cache is None else extra_k_cache.shape,
                None if extra_indices_in_kvcache is None else extra_indices_in_kvcache.shape)
        if seen != schedule._seen:
            schedule._bind(_config_of(q, k_cache, indices, causal, is_fp8_kvcache,
                                      extra_k_cache, extra_indices_in_kvcache))
            schedule._seen = seen

    scale = _scale(softmax_scale, q)
    if _eager.plain(q):
        return _attention.sparse_decode(q, k_cache, indices, topk_length, attn_sink,
                                        extra_k_cache, extra_indices_in_kvcache,
                                        extra_topk_length, scale, out)
    # Through the torch operation: check here what the dispatcher would reject less clearly.
    _require_tensors(q=q, k_cache=k_cache, indices=indices)
    if extra_k_cache is not None:
        _require_tensors(extra_k_cache=extra_k_cache,
                         extra_indices_in_kvcache=extra_indices_in_kvcache)
    _optional_tensors(topk_length=topk_length, attn_sink=attn_sink,
                      extra_topk_length=extra_topk_length, out=out)
    if out is None:
        return _torch_ops.sparse_decode(q, k_cache, indices, topk_length, attn_sink,
                                        extra_k_cache, extra_indices_in_kvcache,
                                        extra_topk_length, scale)
    lse = _torch_ops.sparse_decode_out(q, k_cache, indices, topk_length, attn_sink,
                                       extra_k_cache, extra_indices_in_kvcache,
                                       extra_topk_length, scale, out)
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
    """Sparse prefill over a bf16 KV tensor (SPEC 4), through the torch operation
    mla::sparse_prefill.

    q: bf16 [s_q, h_q, d_qk] (d_qk 576 or 512); kv: bf16 [s_kv, 1, d_qk], V = its first 512
    columns; indices: int32 [s_q, 1, topk], an index < 0 or >= s_kv is skipped;
    attn_sink: fp32 [h_q] or None; topk_length: int32 [s_q] or None.
    Returns (out bf16 [s_q, h_q, 512], max_logits fp32 [s_q, h_q], lse fp32 [s_q, h_q]).
    """
    if d_v != _D_V:
        _not_served(f"d_v = {d_v}; sparse prefill has d_v = 512")
    if indexer_topk:
        _not_served("indexer_topk (the separate lse over the indexer's part of indices)")
    _require_tensors(q=q, kv=kv, indices=indices)
    scale = _scale(sm_scale, q)
    if _eager.plain(q):
        return _attention.sparse_prefill(q, kv, indices, topk_length, attn_sink, scale)
    _optional_tensors(attn_sink=attn_sink, topk_length=topk_length)
    return _torch_ops.sparse_prefill(q, kv, indices, topk_length, attn_sink, scale)


def flash_mla_sparse_fwd_paged(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    indices: torch.Tensor,
    sm_scale: Optional[float],
    d_v: int = 512,
    attn_sink: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    *,
    page_size: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse prefill straight from a paged FP8 cache (SPEC 4.1), through the torch operation
    mla::sparse_prefill_paged: flash_mla_sparse_fwd with the keys dequantized from the cache
    as mla.dequantize_k_cache_paged gives them, without the bf16 copy of the cache.

    q: bf16 [s_q, h_q, d_qk], d_qk 576 (V3.2 cache) or 512 (V4.0 cache).
    k_cache: a V3.2 or V4.0 cache as flash_mla_with_kvcache takes it ([num_blocks,
        page_block_size, 1, 656 or 584], see mla._kv_cache), or sglang's V4.0 pool
        [num_pages, page_bytes] with page_size.
    indices: int32 [s_q, topk] or [s_q, 1, topk] slots (page * page_size + offset) of k_cache,
        e.g. mla.combine_topk_swa_indices' rows; a slot < 0 or beyond the cache is skipped.
    attn_sink: fp32 [h_q] or None; topk_length: int32 [s_q] or None (e.g. the combined
        lengths). sm_scale None: d_qk^-0.5.
    Returns (out bf16 [s_q, h_q, 512], max_logits fp32 [s_q, h_q], lse fp32 [s_q, h_q]); the
    same values as dequantize_k_cache_paged of every slot followed by flash_mla_sparse_fwd.
    """
    if d_v != _D_V:
        _not_served(f"d_v = {d_v}; sparse prefill has d_v = 512")
    _require_tensors(q=q, k_cache=k_cache, indices=indices)
    scale = _scale(sm_scale, q)
    if _eager.plain(q):
        return _attention.sparse_prefill_paged(q, k_cache, indices, topk_length, attn_sink, scale,
                                               page_size)
    _optional_tensors(attn_sink=attn_sink, topk_length=topk_length)
    return _torch_ops.sparse_prefill_paged(q, k_cache, indices, topk_length, attn_sink, scale,
                                           page_size)


def _scale(given, q):
    """FlashMLA's default d_qk^-0.5 when None; libmla takes the value as fp32."""
    return float(q.shape[-1] ** -0.5 if given is None else given)
