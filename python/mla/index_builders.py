"""Index builders of the DeepSeek V4 sparse prefill (SPEC 5) with the engines' names:
build_swa_token_ids (sglang), combine_topk_swa_indices (sglang's and vLLM's argument
lists) and combined_topk_width. Results are exact integers on every backend."""
from typing import Optional, Tuple

import torch

from . import _cabi as c
from . import _runtime
from ._library import library
from ._tensors import check_dim, check_device_type, check_tensor, pointer

__all__ = ["build_swa_token_ids", "combine_topk_swa_indices", "combined_topk_width"]

_I32 = (torch.int32,)


def combined_topk_width(topk: int, window_size: int) -> int:
    """Width of a combined index row: topk + window rounded up to a multiple of 128."""
    width = int(library().function("mla_combined_topk_width")(topk, window_size))
    if width < 0:
        raise ValueError(f"topk ({topk}) must be >= 0 and window_size ({window_size}) >= 1")
    return width


def build_swa_token_ids(
    seq_lens: torch.Tensor,
    extend_seq_lens: torch.Tensor,
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    full_to_swa: torch.Tensor,
    swa_window: int,
    total_swa: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The SWA-cache token ids covering the sliding windows of each request's new tokens.

    seq_lens, extend_seq_lens, req_pool_indices: int32 [R]; req_to_token: int32
    [pool_rows, max_seq_len]; full_to_swa: int64 (or int32) [full_pool_size].
    total_swa: the number of ids when the caller knows it (no device synchronization);
    None computes it as sglang does (one synchronization on a GPU).
    Returns (swa_token_ids int32 [total_swa], swa_first_pos [R], swa_gather_lens [R],
    swa_offsets [R + 1]), sglang's order. An id that would read outside req_to_token or
    full_to_swa is -1.
    """
    check_tensor("seq_lens", seq_lens, _I32, 1, None)
    device = check_device_type("seq_lens", seq_lens)
    r = seq_lens.shape[0]
    for name, t in (("extend_seq_lens", extend_seq_lens), ("req_pool_indices", req_pool_indices)):
        check_tensor(name, t, _I32, 1, device)
        check_dim(name, t, 0, r, "R, the requests of seq_lens")
    check_tensor("req_to_token", req_to_token, _I32, 2, device)
    check_tensor("full_to_swa", full_to_swa, (torch.int64, torch.int32), 1, device)
    if swa_window < 1:
        raise ValueError(f"swa_window: must be at least 1, got {swa_window}")
    if total_swa is None:
        gather = torch.minimum(seq_lens.long(), extend_seq_lens.long() + (swa_window - 1))
        total_swa = int(gather.clamp(min=0).sum())
    ids = torch.empty(total_swa, dtype=torch.int32, device=device)
    offsets = torch.empty(r + 1, dtype=torch.int32, device=device)
    first_pos = torch.empty(r, dtype=torch.int32, device=device)
    gather_lens = torch.empty(r, dtype=torch.int32, device=device)
    args = c.BuildSwaTokenIdsArgs()
    args.seq_lens = pointer(seq_lens)
    args.extend_seq_lens = pointer(extend_seq_lens)
    args.req_pool_indices = pointer(req_pool_indices)
    args.req_to_token = pointer(req_to_token)
    args.full_to_swa = pointer(full_to_swa)
    args.window = swa_window
    args.swa_token_ids = pointer(ids)
    args.swa_offsets = pointer(offsets)
    args.swa_first_pos = pointer(first_pos)
    args.swa_gather_lens = pointer(gather_lens)
    _runtime.run("mla_build_swa_token_ids", device, args)
    return ids, first_pos, gather_lens, offsets


def combine_topk_swa_indices(topk_indices, query_start_loc, seq_lens, gather_lens, *args,
                             **kwargs) -> Tuple[torch.Tensor, torch.Tensor]:
    """One flash_mla_sparse_fwd index row per query token: its compressed top-k entries
    (shifted to its request's compressed base), then its sliding window in the gathered SWA
    rows, then -1. Returns (combined_indices int32 [T, combined_topk_width(topk, window)],
    combined_lens int32 [T]).

    Both engines' argument lists are accepted:
      sglang: (topk_indices, query_start_loc, seq_lens, gather_lens, compressed_base,
               swa_base, window_size, compress_ratio, topk, out_indices=None, out_lens=None)
      vLLM:   (topk_indices, query_start_loc, seq_lens, gather_lens, window_size,
               compress_ratio, topk, M, N), where request r's compressed rows start at
               M * r and its SWA rows at M * r + N.
    topk_indices: int32 [T, >= topk] request-local compressed indices (None when topk = 0).
    """
    fifth = args[0] if args else kwargs.get("compressed_base", kwargs.get("window_size"))
    if isinstance(fifth, int) and "compressed_base" not in kwargs:
        return _combine_vllm(topk_indices, query_start_loc, seq_lens, gather_lens, *args,
                             **kwargs)
    return _combine(topk_indices, query_start_loc, seq_lens, gather_lens, *args, **kwargs)


def _combine_vllm(topk_indices, query_start_loc, seq_lens, gather_lens, window_size,
                  compress_ratio, topk, M, N):
    check_tensor("seq_lens", seq_lens, _I32, 1, None)
    rows = torch.arange(seq_lens.shape[0], dtype=torch.int64, device=seq_lens.device) * M
    if int(M) * max(seq_lens.shape[0] - 1, 0) + int(N) >= 2 ** 31:
        raise ValueError(f"M ({M}) and N ({N}): request bases exceed int32")
    compressed_base = rows.to(torch.int32)
    swa_base = (rows + N).to(torch.int32)
    return _combine(topk_indices, query_start_loc, seq_lens, gather_lens, compressed_base,
                    swa_base, window_size, compress_ratio, topk)


def _combine(topk_indices, query_start_loc, seq_lens, gather_lens, compressed_base, swa_base,
             window_size, compress_ratio, topk, out_indices=None, out_lens=None):
    check_tensor("query_start_loc", query_start_loc, _I32, 1, None)
    device = check_device_type("query_start_loc", query_start_loc)
    r = query_start_loc.shape[0] - 1
    for name, t in (("seq_lens", seq_lens), ("gather_lens", gather_lens),
                    ("swa_base", swa_base)):
        check_tensor(name, t, _I32, 1, device)
        check_dim(name, t, 0, r, "R, one less than query_start_loc")
    check_tensor("compressed_base", compressed_base, _I32, 1, device, optional_ok=True)
    check_dim("compressed_base", compressed_base, 0, r, "R, one less than query_start_loc")
    if topk_indices is not None:
        check_tensor("topk_indices", topk_indices, _I32, None, device)
        if topk_indices.dim() != 2:
            topk_indices = topk_indices.reshape(topk_indices.shape[0], -1)
        if topk_indices.shape[1] < topk:
            raise ValueError(f"topk_indices: needs at least topk = {topk} columns, got shape "
                             f"{tuple(topk_indices.shape)}")
    elif topk:
        raise TypeError("topk_indices: is required when topk > 0")
    t = topk_indices.shape[0] if topk_indices is not None else \
        (out_lens.shape[0] if out_lens is not None else None)
    if topk == 0:
        topk_indices = None  # SWA-only layers: libmla reads no top-k
    width = combined_topk_width(topk, window_size)
    if t is None:
        raise ValueError("topk_indices: with topk = 0, pass a [T, 1] tensor (as sglang does) or "
                         "out_lens, so that the number of tokens T is known")
    if out_indices is None:
        out_indices = torch.empty((t, width), dtype=torch.int32, device=device)
    else:
        check_tensor("out_indices", out_indices, _I32, 2, device)
        if tuple(out_indices.shape) != (t, width):
            raise ValueError(f"out_indices: must have shape {(t, width)}, "
                             f"got {tuple(out_indices.shape)}")
    if out_lens is None:
        out_lens = torch.empty(t, dtype=torch.int32, device=device)
    else:
        check_tensor("out_lens", out_lens, _I32, 1, device)
        check_dim("out_lens", out_lens, 0, t, "T")
    args = c.CombineTopkSwaIndicesArgs()
    args.topk_indices = pointer(topk_indices)
    args.query_start_loc = pointer(query_start_loc)
    args.seq_lens = pointer(seq_lens)
    args.gather_lens = pointer(gather_lens)
    args.compressed_base = pointer(compressed_base)
    args.swa_base = pointer(swa_base)
    args.topk = topk
    args.window = window_size
    args.compress_ratio = compress_ratio
    args.combined_indices = pointer(out_indices)
    args.combined_lens = pointer(out_lens)
    _runtime.run("mla_combine_topk_swa_indices", device, args)
    return out_indices, out_lens
