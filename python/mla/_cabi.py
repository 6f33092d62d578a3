"""ctypes mirrors of libmla's public C structs and constants (include/mla/*.h).

Every struct the package hands to libmla is declared here and nowhere else, so a change
of the C ABI (MLA_API_VERSION) is answered in one file. Each names its C struct (_c_name;
a test compares the field order with the headers), and sizes are asserted against the
LP64 layout the C compiler gives.
"""
import ctypes

API_VERSION = 1  # MLA_API_VERSION these mirrors follow

# ---- status codes (mla_status) ----
STATUS_SUCCESS = 0
STATUS_INVALID_ARGUMENT = 1
STATUS_MISALIGNED = 2
STATUS_WORKSPACE_TOO_SMALL = 3
STATUS_NOT_SUPPORTED = 4
STATUS_NO_DEVICE = 5
STATUS_DEVICE_ERROR = 6
STATUS_COMPARE_MISMATCH = 7
STATUS_OUT_OF_MEMORY = 8
STATUS_INTERNAL = 9

# ---- DLPack dtype codes ----
DTYPE_INT = 0
DTYPE_UINT = 1
DTYPE_FLOAT = 2
DTYPE_BFLOAT = 4
DTYPE_FLOAT8_E4M3FN = 10
DTYPE_FLOAT8_E4M3FNUZ = 11

MAX_DIMS = 6

# ---- KV cache formats and fp8 flavours ----
KV_FORMAT_V32 = 1
KV_FORMAT_V40 = 2
FP8_E4M3FN = 1
FP8_E4M3FNUZ = 2

DEVICE_CPU = -1

# ---- backends (mla_backend) ----
BACKENDS = {"auto": 0, "native": 1, "reference": 2, "host": 3, "compare": 4}

Pointer = ctypes.c_void_p


class Dtype(ctypes.Structure):
    _c_name = "mla_dtype"
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class Tensor(ctypes.Structure):
    _c_name = "mla_tensor"
    _fields_ = [
        ("data", Pointer),
        ("dtype", Dtype),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_DIMS),
        ("strides", ctypes.c_int64 * MAX_DIMS),
    ]


class KvCache(ctypes.Structure):
    _c_name = "mla_kv_cache"
    _fields_ = [
        ("data", Pointer),
        ("format", ctypes.c_int32),
        ("fp8", ctypes.c_int32),
        ("page_size", ctypes.c_int64),
        ("num_pages", ctypes.c_int64),
        ("page_stride_bytes", ctypes.c_int64),
    ]


TensorPtr = ctypes.POINTER(Tensor)
KvCachePtr = ctypes.POINTER(KvCache)


class SparseDecodeArgs(ctypes.Structure):
    _c_name = "mla_sparse_decode_args"
    _fields_ = [
        ("q", TensorPtr),
        ("kv", KvCachePtr),
        ("indices", TensorPtr),
        ("topk_length", TensorPtr),
        ("extra_kv", KvCachePtr),
        ("extra_indices", TensorPtr),
        ("extra_topk_length", TensorPtr),
        ("attn_sink", TensorPtr),
        ("softmax_scale", ctypes.c_float),
        ("out", TensorPtr),
        ("lse", TensorPtr),
    ]


class SparsePrefillArgs(ctypes.Structure):
    _c_name = "mla_sparse_prefill_args"
    _fields_ = [
        ("q", TensorPtr),
        ("kv", TensorPtr),
        ("indices", TensorPtr),
        ("topk_length", TensorPtr),
        ("attn_sink", TensorPtr),
        ("softmax_scale", ctypes.c_float),
        ("out", TensorPtr),
        ("max_logits", TensorPtr),
        ("lse", TensorPtr),
    ]


class SparsePrefillPagedArgs(ctypes.Structure):
    _c_name = "mla_sparse_prefill_paged_args"
    _fields_ = [
        ("q", TensorPtr),
        ("kv", KvCachePtr),
        ("indices", TensorPtr),
        ("topk_length", TensorPtr),
        ("attn_sink", TensorPtr),
        ("softmax_scale", ctypes.c_float),
        ("out", TensorPtr),
        ("max_logits", TensorPtr),
        ("lse", TensorPtr),
    ]


class KvStoreArgs(ctypes.Structure):
    _c_name = "mla_kv_store_args"
    _fields_ = [("k", TensorPtr), ("slots", TensorPtr), ("kv", KvCachePtr)]


class KvGatherArgs(ctypes.Structure):
    _c_name = "mla_kv_gather_args"
    _fields_ = [("kv", KvCachePtr), ("slots", TensorPtr), ("out", TensorPtr)]


# ---- SPEC 5: index builders (mla_index_builders.h) ----
class BuildSwaTokenIdsArgs(ctypes.Structure):
    _c_name = "mla_build_swa_token_ids_args"
    _fields_ = [
        ("seq_lens", TensorPtr),
        ("extend_seq_lens", TensorPtr),
        ("req_pool_indices", TensorPtr),
        ("req_to_token", TensorPtr),
        ("full_to_swa", TensorPtr),
        ("window", ctypes.c_int64),
        ("swa_token_ids", TensorPtr),
        ("swa_offsets", TensorPtr),
        ("swa_first_pos", TensorPtr),
        ("swa_gather_lens", TensorPtr),
    ]


class CombineTopkSwaIndicesArgs(ctypes.Structure):
    _c_name = "mla_combine_topk_swa_indices_args"
    _fields_ = [
        ("topk_indices", TensorPtr),
        ("query_start_loc", TensorPtr),
        ("seq_lens", TensorPtr),
        ("gather_lens", TensorPtr),
        ("compressed_base", TensorPtr),
        ("swa_base", TensorPtr),
        ("topk", ctypes.c_int64),
        ("window", ctypes.c_int64),
        ("compress_ratio", ctypes.c_int64),
        ("combined_indices", TensorPtr),
        ("combined_lens", TensorPtr),
    ]


# ---- SPEC 6: lightning indexer and top-k (mla_indexer.h) ----
INDEXER_PAGE_TOKENS = 64


class IndexerLogitsArgs(ctypes.Structure):
    _c_name = "mla_indexer_logits_args"
    _fields_ = [
        ("q", TensorPtr),
        ("k", TensorPtr),
        ("k_scale", TensorPtr),
        ("weights", TensorPtr),
        ("k_start", TensorPtr),
        ("k_end", TensorPtr),
        ("logits", TensorPtr),
    ]


class IndexerPagedLogitsArgs(ctypes.Structure):
    _c_name = "mla_indexer_paged_logits_args"
    _fields_ = [
        ("q", TensorPtr),
        ("kv_cache", TensorPtr),
        ("kv_fp8", ctypes.c_int32),
        ("weights", TensorPtr),
        ("context_lens", TensorPtr),
        ("block_table", TensorPtr),
        ("logits", TensorPtr),
    ]


class IndexerTopkArgs(ctypes.Structure):
    _c_name = "mla_indexer_topk_args"
    _fields_ = [
        ("logits", TensorPtr),
        ("starts", TensorPtr),
        ("lengths", TensorPtr),
        ("next_n", ctypes.c_int32),
        ("page_table", TensorPtr),
        ("page_size", ctypes.c_int64),
        ("indices", TensorPtr),
        ("raw_indices", TensorPtr),
    ]


# ---- SPEC 7: small fused operations (mla_fused.h) ----
ROPE_TABLE_HALVES = 0
ROPE_TABLE_INTERLEAVED = 1


class ConcatMlaKArgs(ctypes.Structure):
    _c_name = "mla_concat_mla_k_args"
    _fields_ = [("k_nope", TensorPtr), ("k_rope", TensorPtr), ("k", TensorPtr)]


class ConcatMlaAbsorbQArgs(ctypes.Structure):
    _c_name = "mla_concat_mla_absorb_q_args"
    _fields_ = [("a", TensorPtr), ("b", TensorPtr), ("out", TensorPtr)]


class MergeStateArgs(ctypes.Structure):
    _c_name = "mla_merge_state_args"
    _fields_ = [
        ("v_a", TensorPtr),
        ("lse_a", TensorPtr),
        ("v_b", TensorPtr),
        ("lse_b", TensorPtr),
        ("v_out", TensorPtr),
        ("lse_out", TensorPtr),
    ]


class NormRopeArgs(ctypes.Structure):
    _c_name = "mla_norm_rope_args"
    _fields_ = [
        ("x", TensorPtr),
        ("weight", TensorPtr),
        ("positions", TensorPtr),
        ("cos_sin", TensorPtr),
        ("table_layout", ctypes.c_int32),
        ("normalize", ctypes.c_int32),
        ("inverse", ctypes.c_int32),
        ("eps", ctypes.c_float),
        ("out", TensorPtr),
    ]


def _check_sizes():
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return  # the sizes below are those of 64-bit targets, the only ones libmla builds for
    expected = {
        Dtype: 4,
        Tensor: 8 + 4 + 4 + 2 * 8 * MAX_DIMS,
        KvCache: 8 + 4 + 4 + 3 * 8,
        SparseDecodeArgs: 8 * 8 + 8 + 2 * 8,  # the float is padded to 8 before `out`
        SparsePrefillArgs: 5 * 8 + 8 + 3 * 8,
        SparsePrefillPagedArgs: 5 * 8 + 8 + 3 * 8,
        KvStoreArgs: 3 * 8,
        KvGatherArgs: 3 * 8,
        BuildSwaTokenIdsArgs: 5 * 8 + 8 + 4 * 8,
        CombineTopkSwaIndicesArgs: 6 * 8 + 3 * 8 + 2 * 8,
        IndexerLogitsArgs: 7 * 8,
        IndexerPagedLogitsArgs: 2 * 8 + 8 + 4 * 8,  # the int32 is padded to 8
        IndexerTopkArgs: 3 * 8 + 8 + 8 + 8 + 2 * 8,
        ConcatMlaKArgs: 3 * 8,
        ConcatMlaAbsorbQArgs: 3 * 8,
        MergeStateArgs: 6 * 8,
        NormRopeArgs: 4 * 8 + 4 * 4 + 8,
    }
    for struct, size in expected.items():
        assert ctypes.sizeof(struct) == size, (struct.__name__, ctypes.sizeof(struct), size)


_check_sizes()
