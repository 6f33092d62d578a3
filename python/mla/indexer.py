"""The lightning indexer (SPEC 6) with DeepGEMM's and sglang's names: fp8_mqa_logits,
fp8_paged_mqa_logits, get_paged_mqa_logits_metadata, and the top-k of each logits row
(indexer_topk; sglang's fast_topk_v2, fast_topk_transform_fused and
fast_topk_transform_ragged_fused).

fp8 inputs may be torch.float8_e4m3fn / float8_e4m3fnuz, or uint8 / int8 bytes whose
flavour is the default one (mla.set_fp8_flavor, MLA_FP8_FLAVOR, else by GPU) or the fp8=
argument. Invalid positions of every logits row are -inf (DeepGEMM's clean_logits=True
behaviour, whatever clean_logits says).
"""
from typing import Optional

import torch

from . import _cabi as c
from . import _runtime
from ._kv_cache import flavor_of
from ._tensors import (check_dim, check_device_type, check_last_contiguous, check_tensor,
                       float8_dtypes, fp8_dtype_code, pointer)

__all__ = ["fp8_mqa_logits", "fp8_paged_mqa_logits", "get_paged_mqa_logits_metadata",
           "indexer_topk", "fast_topk_v2", "fast_topk_transform_fused",
           "fast_topk_transform_ragged_fused"]

_F32 = (torch.float32,)
_I32 = (torch.int32,)


def _fp8_bytes():
    return float8_dtypes() + (torch.uint8, torch.int8)


def _unpack_q(q):
    """DeepGEMM's newer entry points take q as (values, scales); fp8 has no q scales."""
    if isinstance(q, (tuple, list)):
        values, scales = q
        if scales is not None:
            raise NotImplementedError("libmla's indexer reads fp8 q only: q scales (the FP4 "
                                      "path) are not supported")
        return values
    return q


def _fp8_tensor(name, t, ndim, device, fp8):
    check_tensor(name, t, _fp8_bytes(), ndim, device)
    return flavor_of(name, t, fp8)


def fp8_mqa_logits(q, kv, weights: torch.Tensor, cu_seqlen_ks: torch.Tensor,
                   cu_seqlen_ke: torch.Tensor, clean_logits: bool = True, *,
                   fp8: Optional[str] = None) -> torch.Tensor:
    """Ragged indexer logits (DeepGEMM fp8_mqa_logits):
    logits[i, j] = sum_h relu(<q[i, h], k[j]> * k_scale[j]) * weights[i, h] for
    cu_seqlen_ks[i] <= j < cu_seqlen_ke[i], else -inf.

    q: fp8 [M, H, D] (or (q, None)); kv: (k fp8 [N, D], k_scale fp32 with N values);
    weights: fp32 [M, H]; cu_seqlen_ks, cu_seqlen_ke: int32 [M]. Returns fp32 [M, N].
    """
    q = _unpack_q(q)
    check_tensor("q", q, None, 3, None)
    device = check_device_type("q", q)
    flavor = _fp8_tensor("q", q, 3, device, fp8)
    if not isinstance(kv, (tuple, list)) or len(kv) != 2:
        raise TypeError("kv: must be the pair (k, k_scale)")
    k, k_scale = kv
    k_flavor = _fp8_tensor("kv[0] (k)", k, 2, device, fp8)
    if k_flavor != flavor:
        raise TypeError("kv[0] (k): its fp8 flavour differs from q's")
    check_tensor("kv[1] (k_scale)", k_scale, _F32 + (torch.uint8,), None, device)
    if k_scale.dtype == torch.uint8:  # vLLM keeps the scales as bytes
        k_scale = k_scale.contiguous().view(torch.float32)
    k_scale = k_scale.reshape(-1)
    m, h, d = q.shape
    n = k.shape[0]
    check_dim("kv[0] (k)", k, 1, d, "D, the head size of q")
    check_dim("kv[1] (k_scale)", k_scale, 0, n, "N, the keys of k")
    check_tensor("weights", weights, _F32, 2, device)
    check_dim("weights", weights, 0, m, "M, the rows of q")
    check_dim("weights", weights, 1, h, "H, the heads of q")
    for name, t in (("cu_seqlen_ks", cu_seqlen_ks), ("cu_seqlen_ke", cu_seqlen_ke)):
        check_tensor(name, t, _I32, 1, device)
        check_dim(name, t, 0, m, "M, the rows of q")
    for name, t in (("q", q), ("kv[0] (k)", k), ("weights", weights)):
        check_last_contiguous(name, t)
    logits = torch.empty((m, n), dtype=torch.float32, device=device)
    code = fp8_dtype_code(flavor)
    args = c.IndexerLogitsArgs()
    args.q = pointer(q, code)
    args.k = pointer(k, code)
    args.k_scale = pointer(k_scale)
    args.weights = pointer(weights)
    args.k_start = pointer(cu_seqlen_ks)
    args.k_end = pointer(cu_seqlen_ke)
    args.logits = pointer(logits)
    _runtime.run("mla_indexer_logits", device, args, "mla_indexer_logits_workspace_size")
    return logits


def get_paged_mqa_logits_metadata(context_lens: torch.Tensor, block_size: int = 64,
                                  num_sms: int = 1) -> torch.Tensor:
    """DeepGEMM's schedule for fp8_paged_mqa_logits. libmla plans from the shapes alone:
    this returns a zero int32 [num_sms + 1, 2] tensor that engines may store and pass back,
    and that fp8_paged_mqa_logits ignores."""
    return torch.zeros((num_sms + 1, 2), dtype=torch.int32, device=context_lens.device)


def fp8_paged_mqa_logits(q, kv_cache: torch.Tensor, weights: torch.Tensor,
                         context_lens: torch.Tensor, block_table: torch.Tensor,
                         schedule_meta: Optional[torch.Tensor], max_context_len: int,
                         clean_logits: bool = False, *,
                         fp8: Optional[str] = None) -> torch.Tensor:
    """Paged indexer logits for decode (DeepGEMM fp8_paged_mqa_logits).

    q: fp8 [B, next_n, H, D] (or (q, None)); kv_cache: bytes of pages of 64 tokens,
    [64 x D fp8 | 64 fp32 scales] each, as [num_pages, 64, 1, D + 4], [num_pages, 64, D + 4]
    or [num_pages, 64 * (D + 4)] (its fp8 flavour is q's); weights: fp32 [B * next_n, H];
    context_lens: int32 [B] (causal MTP rule) or [B, next_n]; block_table: int32
    [B, max_pages]. schedule_meta is not needed. Returns fp32 [B * next_n, max_context_len].
    """
    q = _unpack_q(q)
    check_tensor("q", q, None, 4, None)
    device = check_device_type("q", q)
    flavor = _fp8_tensor("q", q, 4, device, fp8)
    check_tensor("kv_cache", kv_cache, _fp8_bytes(), None, device)
    if kv_cache.dtype != torch.uint8:
        kv_cache = kv_cache.view(torch.uint8)  # libmla reads the bytes; q names the flavour
    b, next_n, h, _ = q.shape
    check_tensor("weights", weights, _F32, 2, device)
    check_dim("weights", weights, 0, b * next_n, "B * next_n")
    check_dim("weights", weights, 1, h, "H, the heads of q")
    check_tensor("context_lens", context_lens, _I32, None, device)
    if context_lens.dim() == 2 and context_lens.shape[1] == 1 and next_n == 1:
        context_lens = context_lens[:, 0]
    if context_lens.dim() not in (1, 2):
        raise ValueError(f"context_lens: must be [B] or [B, next_n], got shape "
                         f"{tuple(context_lens.shape)}")
    check_dim("context_lens", context_lens, 0, b, "B")
    check_tensor("block_table", block_table, _I32, 2, device)
    check_dim("block_table", block_table, 0, b, "B")
    check_last_contiguous("q", q)
    logits = torch.empty((b * next_n, int(max_context_len)), dtype=torch.float32, device=device)
    args = c.IndexerPagedLogitsArgs()
    args.q = pointer(q, fp8_dtype_code(flavor))
    args.kv_cache = pointer(kv_cache)
    args.kv_fp8 = flavor
    args.weights = pointer(weights)
    args.context_lens = pointer(context_lens)
    args.block_table = pointer(block_table)
    args.logits = pointer(logits)
    _runtime.run("mla_indexer_paged_logits", device, args,
                 "mla_indexer_paged_logits_workspace_size")
    return logits


def indexer_topk(logits: torch.Tensor, topk: int, *, starts: Optional[torch.Tensor] = None,
                 lengths: Optional[torch.Tensor] = None, next_n: int = 0,
                 page_table: Optional[torch.Tensor] = None, page_size: int = 1,
                 out: Optional[torch.Tensor] = None,
                 raw_out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The topk best columns of each row of logits (SPEC 6; libmla's own signature).

    Row r's candidates are lengths[r] columns from starts[r] (all columns by default;
    lengths [R / n] follows the causal MTP rule with n = next_n, lengths [R / n, n] gives
    each row its own); a row with no more candidates than topk gets [0, 1, ..., len - 1,
    -1, ...], otherwise its topk largest logits in ascending index order (NaN lowest, ties
    to the lower index). Indices count from starts[r]. With page_table (int32 [R or R / n,
    max_pages]) each index i becomes page_table[row, i // page_size] * page_size +
    i % page_size, and raw_out, if given, receives i. Returns int32 [R, topk] (out if given).
    """
    check_tensor("logits", logits, _F32, 2, None)
    device = check_device_type("logits", logits)
    check_last_contiguous("logits", logits)
    rows = logits.shape[0]
    if topk < 1:
        raise ValueError(f"topk: must be at least 1, got {topk}")
    check_tensor("starts", starts, _I32, 1, device, optional_ok=True)
    check_dim("starts", starts, 0, rows, "R, the rows of logits")
    check_tensor("lengths", lengths, _I32, None, device, optional_ok=True)
    check_tensor("page_table", page_table, _I32, 2, device, optional_ok=True)
    if page_table is not None and page_size < 1:
        raise ValueError(f"page_size: must be at least 1, got {page_size}")
    for name, t in (("out", out), ("raw_out", raw_out)):
        check_tensor(name, t, _I32, 2, device, optional_ok=True)
        if t is not None and tuple(t.shape) != (rows, topk):
            raise ValueError(f"{name}: must have shape {(rows, topk)}, got {tuple(t.shape)}")
        check_last_contiguous(name, t)
    if out is None:
        out = torch.empty((rows, topk), dtype=torch.int32, device=device)
    args = c.IndexerTopkArgs()
    args.logits = pointer(logits)
    args.starts = pointer(starts)
    args.lengths = pointer(lengths)
    args.next_n = next_n
    args.page_table = pointer(page_table)
    args.page_size = page_size if page_table is not None else 1
    args.indices = pointer(out)
    args.raw_indices = pointer(raw_out)
    _runtime.run("mla_indexer_topk", device, args, "mla_indexer_topk_workspace_size")
    return out


def fast_topk_v2(score: torch.Tensor, lengths: torch.Tensor, topk: int,
                 row_starts: Optional[torch.Tensor] = None) -> torch.Tensor:
    """sglang's fast_topk_v2: the top-k of score[i, row_starts[i]:][:lengths[i]], as
    indices from row_starts[i] (any topk, not only 2048)."""
    _check_lengths("lengths", lengths, score)
    return indexer_topk(score, topk, starts=row_starts, lengths=lengths)


def fast_topk_transform_fused(score: torch.Tensor, lengths: torch.Tensor,
                              page_table_size_1: torch.Tensor, cu_seqlens_q: torch.Tensor,
                              topk: int, row_starts: Optional[torch.Tensor] = None
                              ) -> torch.Tensor:
    """sglang's fast_topk_transform_fused: fast_topk_v2, then each index i of row r mapped
    to page_table_size_1[request of r, i] (-1 stays -1). page_table_size_1 has one row per
    score row, or one per request with cu_seqlens_q (int32 [requests + 1]) telling which rows
    belong to which request (then the table's rows are gathered per score row)."""
    _check_lengths("lengths", lengths, score)
    check_tensor("page_table_size_1", page_table_size_1, _I32, 2, score.device)
    table = page_table_size_1
    if table.shape[0] != score.shape[0]:
        check_tensor("cu_seqlens_q", cu_seqlens_q, _I32, 1, score.device)
        check_dim("cu_seqlens_q", cu_seqlens_q, 0, table.shape[0] + 1,
                  "requests + 1, one more than page_table_size_1's rows")
        row_ids = torch.arange(score.shape[0], device=score.device, dtype=torch.int32)
        owner = torch.searchsorted(cu_seqlens_q[1:].contiguous(), row_ids, right=True)
        table = table.index_select(0, owner.clamp(max=table.shape[0] - 1))
    return indexer_topk(score, topk, starts=row_starts, lengths=lengths, page_table=table,
                        page_size=1)


def fast_topk_transform_ragged_fused(score: torch.Tensor, lengths: torch.Tensor,
                                     topk_indices_offset: torch.Tensor, topk: int,
                                     row_starts: Optional[torch.Tensor] = None
                                     ) -> torch.Tensor:
    """sglang's fast_topk_transform_ragged_fused: fast_topk_v2 plus topk_indices_offset[r]
    on every valid index of row r (-1 stays -1)."""
    check_tensor("topk_indices_offset", topk_indices_offset, _I32, 1, score.device)
    check_dim("topk_indices_offset", topk_indices_offset, 0, score.shape[0], "rows of score")
    idx = fast_topk_v2(score, lengths, topk, row_starts)
    return torch.where(idx >= 0, idx + topk_indices_offset.view(-1, 1), idx)


def _check_lengths(name, lengths, score):
    check_tensor("score", score, _F32, 2, None)
    check_tensor(name, lengths, _I32, 1, score.device)
    check_dim(name, lengths, 0, score.shape[0], "rows of score")
