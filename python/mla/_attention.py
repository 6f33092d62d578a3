"""Sparse decode and sparse prefill (SPEC 3, 4 and 4.1) on torch tensors: the kernels behind the
torch operations mla::sparse_decode, mla::sparse_prefill and mla::sparse_prefill_paged
(mla._torch_ops).

The first call of a shape checks every argument (TypeError / ValueError naming it) and
builds a call plan (mla._plans); later calls of that shape allocate the outputs, write the
data pointers and call libmla.
"""
import ctypes

import torch

from . import _cabi as c
from . import _plans
from . import _runtime
from ._kv_cache import ROW_DIM, describe_cache, page_bytes
from ._tensors import (check_device_type, check_dim, check_last_contiguous, check_tensor,
                       describe, float8_dtypes)

D_V = 512
_BF16 = (torch.bfloat16,)
_F32 = (torch.float32,)
_I32 = (torch.int32,)

# Argument names of the decode tensors, in the order the plans keep them.
DECODE_NAMES = ("q", "k_cache", "indices", "topk_length", "attn_sink", "extra_k_cache",
                "extra_indices_in_kvcache", "extra_topk_length", "out")
PREFILL_NAMES = ("q", "kv", "indices", "topk_length", "attn_sink")
PREFILL_PAGED_NAMES = ("q", "k_cache", "indices", "topk_length", "attn_sink")

_signature = _plans.signature
_get_ident = _plans.get_ident


def _stream_of(dev):
    return None if dev < 0 else _runtime.raw_stream(dev)


# ---- decode ------------------------------------------------------------------------------

def _plan_key(op, q, tensors):
    """The call-plan key of an operation's tensors on this thread and stream; None when they
    are not tensors (the checks of the plan's construction then say which)."""
    try:
        return (op, _runtime.generation, _get_ident(), _stream_of(q.get_device())) + \
            tuple(map(_signature, tensors))
    except (AttributeError, TypeError):
        return None


def sparse_decode(q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices,
                  extra_topk_length, softmax_scale, out=None):
    """(out, lse) of sparse decode; out is allocated unless given (then written)."""
    tensors = (q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices,
               extra_topk_length, out)
    key = _plan_key("decode", q, tensors)
    plan = _plans.lookup(key)
    if plan is None or not plan.extents_hold(tensors):
        plan = _plans.store(key, _decode_plan(tensors, softmax_scale))
    out_shape, lse_shape = plan.shapes
    device = plan.device
    if out is None:
        out = torch.empty(out_shape, dtype=torch.bfloat16, device=device)
    lse = torch.empty(lse_shape, dtype=torch.float32, device=device)
    plan.args.softmax_scale = softmax_scale
    plan.run(tensors[:8] + (out, lse))
    return out, lse


def _check_cache_dtype(name, t):
    check_tensor(name, t, float8_dtypes() + (torch.uint8, torch.int8), None, None)


def _decode_plan(tensors, softmax_scale):
    """Checks the decode arguments and builds their plan (out may be None: allocated)."""
    q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices, \
        extra_topk_length, out = tensors
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
        check_tensor("extra_indices_in_kvcache", extra_indices, _I32, 3, device)
        check_dim("extra_indices_in_kvcache", extra_indices, 0, b, "b")
        check_dim("extra_indices_in_kvcache", extra_indices, 1, s_q, "s_q")
        check_last_contiguous("extra_indices_in_kvcache", extra_indices)
        check_tensor("extra_topk_length", extra_topk_length, _I32, 1, device, optional_ok=True)
        check_dim("extra_topk_length", extra_topk_length, 0, b, "b")
    elif extra_indices is not None or extra_topk_length is not None:
        which = "extra_indices_in_kvcache" if extra_indices is not None else "extra_topk_length"
        raise ValueError(f"{which}: given without extra_k_cache")

    out_shape, lse_shape = (b, s_q, h_q, D_V), (b, h_q, s_q)
    if out is None:
        out = torch.empty(out_shape, dtype=torch.bfloat16, device=device)
    else:
        check_tensor("out", out, _BF16, 4, device)
        if tuple(out.shape) != out_shape:
            raise ValueError(f"out: must have shape {out_shape}, got {tuple(out.shape)}")
        check_last_contiguous("out", out)
    lse = torch.empty(lse_shape, dtype=torch.float32, device=device)

    descs = [describe(q), kv, describe(indices), _describe_opt(topk_length),
             _describe_opt(attn_sink), extra_kv,
             _describe_opt(extra_indices if extra_kv is not None else None),
             _describe_opt(extra_topk_length if extra_kv is not None else None),
             describe(out), describe(lse)]
    args = c.SparseDecodeArgs()
    args.q, args.kv, args.indices = _ptr(descs[0]), _ptr(kv), _ptr(descs[2])
    args.topk_length, args.attn_sink = _ptr(descs[3]), _ptr(descs[4])
    args.extra_kv, args.extra_indices = _ptr(extra_kv), _ptr(descs[6])
    args.extra_topk_length = _ptr(descs[7])
    args.softmax_scale = softmax_scale  # checked by the workspace query too
    args.out, args.lse = _ptr(descs[8]), _ptr(descs[9])
    plan = _runtime_plan("mla_sparse_decode", device, args, descs,
                         "mla_sparse_decode_workspace_size")
    plan.shapes = (out_shape, lse_shape)
    plan.extent_checks = _cache_extent_checks(((1, k_cache, kv), (5, extra_k_cache, extra_kv)))
    return plan


def _cache_extent_checks(caches):
    """(index, bytes) for each cache whose last page reaches past the tensor's own extent
    (a V4.0 page's zero padding): its storage is checked on every call."""
    checks = []
    for index, t, desc in caches:
        if desc is None:
            continue
        need = (desc.num_pages - 1) * desc.page_stride_bytes + \
            page_bytes(desc.format, desc.page_size)
        extent = sum((n - 1) * s for n, s in zip(t.shape, t.stride())) + 1
        if need > extent * t.element_size():
            checks.append((index, need))
    return tuple(checks)


# ---- prefill -----------------------------------------------------------------------------

def sparse_prefill(q, kv, indices, topk_length, attn_sink, softmax_scale):
    """(out, max_logits, lse) of sparse prefill."""
    tensors = (q, kv, indices, topk_length, attn_sink)
    key = _plan_key("prefill", q, tensors)
    plan = _plans.lookup(key)
    if plan is None:
        plan = _plans.store(key, _prefill_plan(tensors, softmax_scale))
    return _run_prefill(plan, tensors, softmax_scale)


def _run_prefill(plan, tensors, softmax_scale):
    """Allocates the outputs of a prefill plan and runs it: (out, max_logits, lse)."""
    out_shape, stat_shape = plan.shapes
    device = plan.device
    out = torch.empty(out_shape, dtype=torch.bfloat16, device=device)
    max_logits = torch.empty(stat_shape, dtype=torch.float32, device=device)
    lse = torch.empty(stat_shape, dtype=torch.float32, device=device)
    plan.args.softmax_scale = softmax_scale
    plan.run(tensors + (out, max_logits, lse))
    return out, max_logits, lse


def _prefill_plan(tensors, softmax_scale):
    q, kv, indices, topk_length, attn_sink = tensors
    check_tensor("q", q, _BF16, 3, None)
    device = check_device_type("q", q)
    s_q, h_q, d_qk = q.shape
    if d_qk not in (576, 512):
        raise ValueError(f"q: shape[2] (d_qk) must be 576 or 512, got shape {tuple(q.shape)}")
    check_last_contiguous("q", q)
    check_tensor("kv", kv, _BF16, 3, device)
    if kv.shape[1] != 1:
        raise NotImplementedError(f"libmla does not implement kv with {kv.shape[1]} heads "
                                  "(shape[1]); MLA has one KV head")
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
    return _prefill_plan_of("mla_sparse_prefill", c.SparsePrefillArgs(), device,
                            (q, describe(kv), indices, topk_length, attn_sink), softmax_scale)


def _prefill_plan_of(name, args, device, tensors, softmax_scale):
    """The plan of a checked prefill call: `tensors` is (q, the kv descriptor, indices,
    topk_length, attn_sink); outputs [s_q, h_q, 512] and [s_q, h_q] twice."""
    q, kv, indices, topk_length, attn_sink = tensors
    s_q, h_q = q.shape[0], q.shape[1]
    out_shape, stat_shape = (s_q, h_q, D_V), (s_q, h_q)
    out = torch.empty(out_shape, dtype=torch.bfloat16, device=device)
    stat = torch.empty(stat_shape, dtype=torch.float32, device=device)
    descs = [describe(q), kv, describe(indices), _describe_opt(topk_length),
             _describe_opt(attn_sink), describe(out), describe(stat), describe(stat)]
    args.q, args.kv, args.indices = _ptr(descs[0]), _ptr(kv), _ptr(descs[2])
    args.topk_length, args.attn_sink = _ptr(descs[3]), _ptr(descs[4])
    args.softmax_scale = softmax_scale
    args.out, args.max_logits, args.lse = _ptr(descs[5]), _ptr(descs[6]), _ptr(descs[7])
    plan = _runtime_plan(name, device, args, descs, name + "_workspace_size")
    plan.shapes = (out_shape, stat_shape)
    return plan


# ---- prefill from a paged FP8 cache ------------------------------------------------------

def sparse_prefill_paged(q, k_cache, indices, topk_length, attn_sink, softmax_scale,
                         page_size=None):
    """(out, max_logits, lse) of sparse prefill over a paged FP8 cache."""
    tensors = (q, k_cache, indices, topk_length, attn_sink)
    key = _plan_key("prefill_paged", q, tensors)
    if key is not None:
        # What else the cache's descriptor depends on: the page size of a 2-D V4.0 pool (the
        # default flavour of a byte cache too, but changing it forgets every plan).
        key += (page_size,)
    plan = _plans.lookup(key)
    if plan is None or not plan.extents_hold(tensors):
        plan = _plans.store(key, _prefill_paged_plan(tensors, softmax_scale, page_size))
    return _run_prefill(plan, tensors, softmax_scale)


def _prefill_paged_plan(tensors, softmax_scale, page_size):
    q, k_cache, indices, topk_length, attn_sink = tensors
    check_tensor("q", q, _BF16, 3, None)
    device = check_device_type("q", q)
    _check_cache_dtype("k_cache", k_cache)
    check_tensor("k_cache", k_cache, None, None, device)
    kv, fmt = describe_cache("k_cache", k_cache, page_size)
    d_qk = ROW_DIM[fmt]
    check_dim("q", q, 2, d_qk, f"d_qk of a {'V3.2' if d_qk == 576 else 'V4.0'} k_cache")
    check_last_contiguous("q", q)
    s_q, h_q = q.shape[0], q.shape[1]
    check_tensor("indices", indices, _I32, None, device)
    if indices.dim() not in (2, 3):
        raise ValueError("indices: must be [s_q, topk] or [s_q, 1, topk], got shape "
                         f"{tuple(indices.shape)}")
    check_dim("indices", indices, 0, s_q, "s_q")
    if indices.dim() == 3:
        check_dim("indices", indices, 1, 1, "h_kv")
    check_last_contiguous("indices", indices)
    check_tensor("topk_length", topk_length, _I32, 1, device, optional_ok=True)
    check_dim("topk_length", topk_length, 0, s_q, "s_q")
    check_tensor("attn_sink", attn_sink, _F32, 1, device, optional_ok=True)
    check_dim("attn_sink", attn_sink, 0, h_q, "h_q")
    plan = _prefill_plan_of("mla_sparse_prefill_paged", c.SparsePrefillPagedArgs(), device,
                            (q, kv, indices, topk_length, attn_sink), softmax_scale)
    plan.extent_checks = _cache_extent_checks(((1, k_cache, kv),))
    return plan


# ---- helpers -----------------------------------------------------------------------------

def _describe_opt(t):
    return None if t is None else describe(t)


def _ptr(desc):
    return None if desc is None else ctypes.pointer(desc)


def _runtime_plan(name, device, args, descs, workspace_query):
    return _plans.Plan(name, _runtime.normalize(device), args, descs, workspace_query)
