"""libmla's attention as torch operations (torch.library): mla::sparse_decode,
mla::sparse_decode_out, mla::sparse_prefill and mla::sparse_prefill_paged.

Registered operations are what torch.compile traces (a Python function calling ctypes would
break the graph) and what engines wrap. Each has a CPU and a CUDA kernel (the CUDA key also
serves ROCm torch), both the functions of mla._attention, and a fake (shape-only)
implementation, so that torch.compile and FakeTensor tracing know the outputs without running
libmla. The fake goes through torch.library.register_fake (torch >= 2.4), impl_abstract
(2.2, 2.3) or, before those, a Meta kernel. Operations are defined through
torch.library.Library rather than the custom_op decorator, whose Python layers add about
10 us to every call (measured with torch 2.11); plain dispatch costs a few microseconds, and
the wrappers skip even that in plain eager mode (mla._eager).
"""
import torch

from . import _attention

NAMESPACE = "mla"

_DECODE_INPUTS = ("Tensor q, Tensor k_cache, Tensor indices, Tensor? topk_length, "
                  "Tensor? attn_sink, Tensor? extra_k_cache, Tensor? extra_indices, "
                  "Tensor? extra_topk_length, float softmax_scale")
SCHEMAS = {
    "sparse_decode": f"sparse_decode({_DECODE_INPUTS}) -> (Tensor, Tensor)",
    "sparse_decode_out": f"sparse_decode_out({_DECODE_INPUTS}, Tensor(a!) out) -> Tensor",
    "sparse_prefill": "sparse_prefill(Tensor q, Tensor kv, Tensor indices, Tensor? topk_length, "
                      "Tensor? attn_sink, float softmax_scale) -> (Tensor, Tensor, Tensor)",
    "sparse_prefill_paged": "sparse_prefill_paged(Tensor q, Tensor k_cache, Tensor indices, "
                            "Tensor? topk_length, Tensor? attn_sink, float softmax_scale, "
                            "int? page_size=None) -> (Tensor, Tensor, Tensor)",
}


# ---- kernels -----------------------------------------------------------------------------

def _decode(q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices,
            extra_topk_length, softmax_scale):
    return _attention.sparse_decode(q, k_cache, indices, topk_length, attn_sink, extra_k_cache,
                                    extra_indices, extra_topk_length, softmax_scale)


def _decode_out(q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices,
                extra_topk_length, softmax_scale, out):
    return _attention.sparse_decode(q, k_cache, indices, topk_length, attn_sink, extra_k_cache,
                                    extra_indices, extra_topk_length, softmax_scale, out)[1]


def _prefill(q, kv, indices, topk_length, attn_sink, softmax_scale):
    return _attention.sparse_prefill(q, kv, indices, topk_length, attn_sink, softmax_scale)


def _prefill_paged(q, k_cache, indices, topk_length, attn_sink, softmax_scale, page_size=None):
    return _attention.sparse_prefill_paged(q, k_cache, indices, topk_length, attn_sink,
                                           softmax_scale, page_size)


KERNELS = {"sparse_decode": _decode, "sparse_decode_out": _decode_out,
           "sparse_prefill": _prefill, "sparse_prefill_paged": _prefill_paged}


# ---- fakes: output shapes from input shapes ----------------------------------------------

def _decode_shapes(q):
    if q.dim() != 4:
        raise ValueError(f"q: must have 4 dimensions, got shape {tuple(q.shape)}")
    b, s_q, h_q = q.shape[0], q.shape[1], q.shape[2]
    return (b, s_q, h_q, _attention.D_V), (b, h_q, s_q)


def _decode_fake(q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices,
                 extra_topk_length, softmax_scale):
    out_shape, lse_shape = _decode_shapes(q)
    return q.new_empty(out_shape, dtype=torch.bfloat16), \
        q.new_empty(lse_shape, dtype=torch.float32)


def _decode_out_fake(q, k_cache, indices, topk_length, attn_sink, extra_k_cache, extra_indices,
                     extra_topk_length, softmax_scale, out):
    return q.new_empty(_decode_shapes(q)[1], dtype=torch.float32)


def _prefill_fake(q, kv, indices, topk_length, attn_sink, softmax_scale):
    if q.dim() != 3:
        raise ValueError(f"q: must have 3 dimensions, got shape {tuple(q.shape)}")
    s_q, h_q = q.shape[0], q.shape[1]
    return (q.new_empty((s_q, h_q, _attention.D_V), dtype=torch.bfloat16),
            q.new_empty((s_q, h_q), dtype=torch.float32),
            q.new_empty((s_q, h_q), dtype=torch.float32))


def _prefill_paged_fake(q, k_cache, indices, topk_length, attn_sink, softmax_scale,
                       page_size=None):
    return _prefill_fake(q, k_cache, indices, topk_length, attn_sink, softmax_scale)


FAKES = {"sparse_decode": _decode_fake, "sparse_decode_out": _decode_out_fake,
         "sparse_prefill": _prefill_fake, "sparse_prefill_paged": _prefill_paged_fake}


# ---- registration ------------------------------------------------------------------------

_library = None  # the torch.library.Library; kept alive, as dropping it unregisters


def _register_fake(lib, name, fn):
    qualified = f"{NAMESPACE}::{name}"
    register = getattr(torch.library, "register_fake", None) or \
        getattr(torch.library, "impl_abstract", None)
    if register is not None:
        register(qualified, fn, lib=lib)
    else:
        lib.impl(name, fn, "Meta")


def _register():
    global _library
    namespace = getattr(torch.ops, NAMESPACE)
    if all(hasattr(namespace, name) for name in SCHEMAS):
        return  # registered already (another copy of this package in the process)
    _library = torch.library.Library(NAMESPACE, "DEF")
    for name, schema in SCHEMAS.items():
        _library.define(schema)
        for key in ("CPU", "CUDA"):
            _library.impl(name, KERNELS[name], key)
        _register_fake(_library, name, FAKES[name])


_register()

sparse_decode = torch.ops.mla.sparse_decode.default
sparse_decode_out = torch.ops.mla.sparse_decode_out.default
sparse_prefill = torch.ops.mla.sparse_prefill.default
sparse_prefill_paged = torch.ops.mla.sparse_prefill_paged.default
