"""torch tensors -> mla_tensor descriptors, and the argument checks done in Python.

Argument mistakes found here raise TypeError (not a tensor, wrong dtype) or ValueError
(wrong device, shape or layout), and the message starts with the argument's name as the
caller knows it, so an engine sees which of its arguments is wrong before libmla runs.
"""
import ctypes

import torch

from . import _cabi as c

_FLOAT8_E4M3FN = getattr(torch, "float8_e4m3fn", None)
_FLOAT8_E4M3FNUZ = getattr(torch, "float8_e4m3fnuz", None)

_DTYPES = {
    torch.bfloat16: (c.DTYPE_BFLOAT, 16),
    torch.float16: (c.DTYPE_FLOAT, 16),
    torch.float32: (c.DTYPE_FLOAT, 32),
    torch.float64: (c.DTYPE_FLOAT, 64),
    torch.int8: (c.DTYPE_INT, 8),
    torch.int16: (c.DTYPE_INT, 16),
    torch.int32: (c.DTYPE_INT, 32),
    torch.int64: (c.DTYPE_INT, 64),
    torch.uint8: (c.DTYPE_UINT, 8),
}
if _FLOAT8_E4M3FN is not None:
    _DTYPES[_FLOAT8_E4M3FN] = (c.DTYPE_FLOAT8_E4M3FN, 8)
if _FLOAT8_E4M3FNUZ is not None:
    _DTYPES[_FLOAT8_E4M3FNUZ] = (c.DTYPE_FLOAT8_E4M3FNUZ, 8)


def float8_dtypes():
    """The float8 e4m3 dtypes this torch has (none before torch 2.1)."""
    return tuple(d for d in (_FLOAT8_E4M3FN, _FLOAT8_E4M3FNUZ) if d is not None)


def describe(t, dtype=None):
    """The mla_tensor of a torch tensor: data pointer, DLPack dtype, shape, element strides.
    dtype, a (code, bits) pair, overrides the tensor's own (fp8 data held in uint8)."""
    code, bits = dtype or _DTYPES[t.dtype]
    d = c.Tensor()
    d.data = t.data_ptr() or None
    d.dtype.code, d.dtype.bits, d.dtype.lanes = code, bits, 1
    d.ndim = t.dim()
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        d.shape[i], d.strides[i] = n, s
    return d


def pointer(t, dtype=None):
    """A pointer to t's descriptor for an args struct, or None (NULL) for an absent tensor.
    The pointer keeps the descriptor alive as long as the struct that holds it."""
    return None if t is None else ctypes.pointer(describe(t, dtype))


def fp8_dtype_code(flavor):
    """The (code, bits) of fp8 data of an mla_fp8_flavor."""
    return (c.DTYPE_FLOAT8_E4M3FNUZ if flavor == c.FP8_E4M3FNUZ else c.DTYPE_FLOAT8_E4M3FN, 8)


# ---- checks ----------------------------------------------------------------------------

def _dtype_names(dtypes):
    return " or ".join(str(d) for d in dtypes)


def check_tensor(name, t, dtypes, ndim, device, optional_ok=False):
    """Type, dtype, rank and device of an argument; returns t."""
    if t is None:
        if optional_ok:
            return None
        raise TypeError(f"{name}: is required, got None")
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: must be a torch.Tensor, got {type(t).__name__}")
    if dtypes is not None and t.dtype not in dtypes:
        raise TypeError(f"{name}: dtype must be {_dtype_names(dtypes)}, got {t.dtype}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name}: must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.dim() > c.MAX_DIMS:
        raise ValueError(f"{name}: has {t.dim()} dimensions; libmla takes at most {c.MAX_DIMS}")
    if device is not None and t.device != device:
        raise ValueError(f"{name}: is on {t.device}, but the other tensors are on {device}")
    return t


def check_dim(name, t, axis, expected, what):
    """One dimension must equal expected (what names it: 'b', 's_q', ...)."""
    if t is not None and t.shape[axis] != expected:
        raise ValueError(f"{name}: shape[{axis}] ({what}) must be {expected}, "
                         f"got shape {tuple(t.shape)}")


def check_last_contiguous(name, t):
    """libmla needs unit stride in the last dimension; other strides are free."""
    if t is not None and t.dim() > 0 and t.shape[-1] > 1 and t.stride(-1) != 1:
        raise ValueError(f"{name}: the last dimension must be contiguous (stride 1), "
                         f"got strides {tuple(t.stride())}")


def check_device_type(name, t):
    """libmla serves CPU tensors (host backend) and CUDA/HIP tensors."""
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError(f"{name}: tensors on {t.device.type} are not supported; "
                         "use CPU or CUDA/HIP tensors")
    return t.device


def storage_bytes(t):
    """Bytes of t's storage, from t's data pointer to the storage's end."""
    try:
        total = t.untyped_storage().nbytes()  # torch >= 2.0
    except AttributeError:
        total = t.storage().size() * t.element_size()  # torch 1.13
    return total - t.storage_offset() * t.element_size()
