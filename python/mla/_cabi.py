"""ctypes mirrors of libmla's public C structs and constants (include/mla/*.h).

Every struct the package hands to libmla is declared here and nowhere else, so a change
of the C ABI (MLA_API_VERSION) is answered in one file. Sizes are asserted against the
x86-64 / aarch64 LP64 layout the C compiler gives.
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
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class Tensor(ctypes.Structure):
    _fields_ = [
        ("data", Pointer),
        ("dtype", Dtype),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_DIMS),
        ("strides", ctypes.c_int64 * MAX_DIMS),
    ]


class KvCache(ctypes.Structure):
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


class KvStoreArgs(ctypes.Structure):
    _fields_ = [("k", TensorPtr), ("slots", TensorPtr), ("kv", KvCachePtr)]


class KvGatherArgs(ctypes.Structure):
    _fields_ = [("kv", KvCachePtr), ("slots", TensorPtr), ("out", TensorPtr)]


def _check_sizes():
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return  # the sizes below are those of 64-bit targets, the only ones libmla builds for
    expected = {
        Dtype: 4,
        Tensor: 8 + 4 + 4 + 2 * 8 * MAX_DIMS,
        KvCache: 8 + 4 + 4 + 3 * 8,
        SparseDecodeArgs: 8 * 8 + 8 + 2 * 8,  # the float is padded to 8 before `out`
        SparsePrefillArgs: 5 * 8 + 8 + 3 * 8,
        KvStoreArgs: 3 * 8,
        KvGatherArgs: 3 * 8,
    }
    for struct, size in expected.items():
        assert ctypes.sizeof(struct) == size, (struct.__name__, ctypes.sizeof(struct), size)


_check_sizes()
