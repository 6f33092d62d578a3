"""libmla for Python: DeepSeek sparse MLA attention kernels over torch tensors.

An engine that calls FlashMLA switches with one line:

    import mla.flash_mla as flash_mla

The package is pure Python: it loads libmla.so with ctypes (see mla._library for where it
looks), describes torch tensors (CPU or CUDA/HIP) to the C API, runs on torch's current
stream, and allocates outputs and reused workspace with torch's allocator.
"""
from ._errors import MlaError
from ._kv_cache import set_fp8_flavor
from ._library import LibraryNotFoundError, library
from ._runtime import get_backend, last_backend, set_backend
from .cache_ops import dequantize_k_cache_paged, empty_k_cache, quantize_k_cache, store_k_cache
from .fused_ops import concat_mla_absorb_q, concat_mla_k, merge_attn_states, merge_state, norm_rope
from .index_builders import build_swa_token_ids, combine_topk_swa_indices, combined_topk_width
from .indexer import (fast_topk_transform_fused, fast_topk_transform_ragged_fused, fast_topk_v2,
                      fp8_mqa_logits, fp8_paged_mqa_logits, get_paged_mqa_logits_metadata,
                      indexer_topk)

__version__ = "0.1.1"

__all__ = [
    "__version__", "library_version", "library_path", "device_count",
    "MlaError", "LibraryNotFoundError",
    "set_backend", "get_backend", "last_backend", "set_fp8_flavor",
    "dequantize_k_cache_paged", "store_k_cache", "quantize_k_cache", "empty_k_cache",
    "build_swa_token_ids", "combine_topk_swa_indices", "combined_topk_width",
    "fp8_mqa_logits", "fp8_paged_mqa_logits", "get_paged_mqa_logits_metadata", "indexer_topk",
    "fast_topk_v2", "fast_topk_transform_fused", "fast_topk_transform_ragged_fused",
    "concat_mla_k", "concat_mla_absorb_q", "merge_state", "merge_attn_states", "norm_rope",
]


def library_version():
    """libmla's version string, e.g. '0.1.1 cuda' (version and GPU vendor of the build)."""
    return library().mla_get_version_string().decode()


def library_path():
    """The path libmla was loaded from."""
    return library().path


def device_count():
    """GPUs libmla's runtime sees (0 on a CPU-only build)."""
    return int(library().mla_device_count())
