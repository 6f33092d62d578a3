"""Paged FP8 KV cache tensors -> mla_kv_cache descriptors (SPEC 2), and new caches.

How a cache tensor's geometry is read:
  [num_blocks, page_size, 1, row_bytes]  FlashMLA's k_cache: row_bytes 656 is V3.2, 584 is
        V4.0. The page stride is stride(0) (V4.0 pages are padded to a multiple of 576
        bytes: FlashMLA, sglang and vLLM slice a [num_blocks, padded_bytes] buffer).
  [num_blocks, page_size, row_bytes]     the same without the head axis.
  [num_tokens, 656]                      a flat V3.2 pool (pages of one token).
  [num_pages, page_bytes]                sglang's V4.0 pool; page_size must be given.
Any element type is read as bytes. The fp8 flavour comes from the dtype for
float8_e4m3fn / float8_e4m3fnuz tensors; byte tensors (uint8, int8, ...) use the default
flavour: set_fp8_flavor(), else the MLA_FP8_FLAVOR environment variable, else e4m3fnuz on
AMD gfx94x (MI300: ROCm torch) and e4m3fn everywhere else.
"""
import os

import torch

from . import _cabi as c
from . import _plans
from ._library import library
from ._tensors import _FLOAT8_E4M3FN, _FLOAT8_E4M3FNUZ, check_device_type, storage_bytes

V32_ROW_BYTES = 656
V40_ROW_BYTES = 584
ROW_BYTES = {c.KV_FORMAT_V32: V32_ROW_BYTES, c.KV_FORMAT_V40: V40_ROW_BYTES}
ROW_DIM = {c.KV_FORMAT_V32: 576, c.KV_FORMAT_V40: 512}
FORMAT_NAMES = {c.KV_FORMAT_V32: "V3.2 (656-byte rows, d_qk 576)",
                c.KV_FORMAT_V40: "V4.0 (584-byte rows, d_qk 512)"}

_FLAVORS = {"e4m3fn": c.FP8_E4M3FN, "fn": c.FP8_E4M3FN,
            "e4m3fnuz": c.FP8_E4M3FNUZ, "fnuz": c.FP8_E4M3FNUZ}
FLAVOR_NAMES = {c.FP8_E4M3FN: "e4m3fn", c.FP8_E4M3FNUZ: "e4m3fnuz"}
_default_flavor = None  # set_fp8_flavor()


def set_fp8_flavor(name):
    """Default fp8 flavour of caches held in byte tensors: 'e4m3fn', 'e4m3fnuz', or None
    for the automatic choice (MLA_FP8_FLAVOR, else by GPU)."""
    global _default_flavor
    if name is not None and name not in _FLAVORS:
        raise ValueError(f"fp8: must be 'e4m3fn', 'e4m3fnuz' or None, got {name!r}")
    if name != _default_flavor:
        _plans.clear()  # their cache descriptors name the flavour that was the default
    _default_flavor = name


def _is_gfx94x(device):
    if getattr(torch.version, "hip", None) is None or device.type != "cuda":
        return False
    arch = getattr(torch.cuda.get_device_properties(device), "gcnArchName", "")
    return arch.startswith("gfx94")


def parse_flavor(name, value):
    """'e4m3fn' / 'e4m3fnuz' (or 'fn' / 'fnuz') -> mla_fp8_flavor."""
    if value not in _FLAVORS:
        raise ValueError(f"{name}: must be 'e4m3fn' or 'e4m3fnuz', got {value!r}")
    return _FLAVORS[value]


def default_flavor(device):
    """The flavour of byte caches on a device when nothing names one (module docstring)."""
    chosen = _default_flavor or os.environ.get("MLA_FP8_FLAVOR") or None
    if chosen is not None:
        return parse_flavor("MLA_FP8_FLAVOR", chosen)
    return c.FP8_E4M3FNUZ if _is_gfx94x(device) else c.FP8_E4M3FN


def flavor_of(name, t, fp8=None):
    """The mla_fp8_flavor of cache tensor t; fp8 ('e4m3fn'/'e4m3fnuz') overrides."""
    if fp8 is not None:
        return parse_flavor("fp8", fp8)
    if _FLOAT8_E4M3FN is not None and t.dtype == _FLOAT8_E4M3FN:
        return c.FP8_E4M3FN
    if _FLOAT8_E4M3FNUZ is not None and t.dtype == _FLOAT8_E4M3FNUZ:
        return c.FP8_E4M3FNUZ
    return default_flavor(t.device)


def page_bytes(fmt, page_size):
    """Bytes one page occupies (V4.0 pages padded to a multiple of 576)."""
    return int(library().mla_kv_page_bytes(fmt, page_size))


def format_of_row_bytes(name, row_bytes):
    for fmt, n in ROW_BYTES.items():
        if n == row_bytes:
            return fmt
    raise ValueError(f"{name}: rows of {row_bytes} bytes are neither V3.2 (656) nor V4.0 (584)")


def describe_cache(name, t, page_size=None, fp8=None, fmt=None):
    """(mla_kv_cache, format) of a cache tensor; fmt, when given, is the format expected."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: must be a torch.Tensor, got {type(t).__name__}")
    check_device_type(name, t)
    esize = t.element_size()
    if t.dim() == 0 or (t.shape[-1] > 1 and t.stride(-1) != 1):
        raise ValueError(f"{name}: the last dimension must be contiguous, "
                         f"got strides {tuple(t.stride())}")
    row = t.shape[-1] * esize
    if t.dim() in (3, 4):
        if t.dim() == 4 and t.shape[2] != 1:
            raise NotImplementedError(f"{name}: shape[2] (h_k) is {t.shape[2]}; only one KV "
                                      "head (MQA, h_k = 1) exists in these formats")
        got = format_of_row_bytes(name, row)
        pages, size = t.shape[0], t.shape[1]
        if t.shape[1] > 1 and t.stride(1) * esize != row:
            raise ValueError(f"{name}: the rows of a page must be contiguous (stride(1) * "
                             f"element size = {row}), got strides {tuple(t.stride())}")
        if page_size is not None and page_size != size:
            raise ValueError(f"{name}: page_size {page_size} differs from shape[1] = {size}")
    elif t.dim() == 2 and row == V32_ROW_BYTES:
        # A flat V3.2 pool: slots are token rows, so pages of one token (no V4.0 page is
        # 656 bytes long: those are multiples of 576).
        got, pages, size = c.KV_FORMAT_V32, t.shape[0], 1
    elif t.dim() == 2:
        got = c.KV_FORMAT_V40
        if page_size is None:
            raise ValueError(f"{name}: a [num_pages, page_bytes] cache needs page_size")
        pages, size = t.shape[0], int(page_size)
        if size < 1 or row < page_bytes(got, size):
            raise ValueError(f"{name}: rows of {row} bytes cannot hold a V4.0 page of {size} "
                             f"tokens")
    else:
        raise ValueError(f"{name}: must be [num_blocks, page_size, 1, row_bytes] (or one of "
                         f"the layouts in mla.cache_ops), got shape {tuple(t.shape)}")
    if fmt is not None and got != fmt:
        raise ValueError(f"{name}: holds {FORMAT_NAMES[got]} rows, expected {FORMAT_NAMES[fmt]}")
    if size < 1 or pages < 1:
        raise ValueError(f"{name}: has no pages or an empty page, shape {tuple(t.shape)}")
    need = page_bytes(got, size)
    stride = t.stride(0) * esize if pages > 1 else need  # one page: its stride is never used
    if stride < need:
        padded = "; V4.0 pages are padded to a multiple of 576 bytes" \
            if got == c.KV_FORMAT_V40 else ""
        raise ValueError(f"{name}: pages are {stride} bytes apart (stride(0)), less than one "
                         f"page of {size} tokens ({need} bytes{padded})")
    if stride % 16 or t.data_ptr() % 16:
        raise ValueError(f"{name}: data pointer and page stride ({stride} bytes) must be "
                         "multiples of 16")
    if storage_bytes(t) < (pages - 1) * stride + need:
        raise ValueError(f"{name}: its storage ends before its last page does "
                         f"({pages} pages of {need} bytes, {stride} apart)")
    d = c.KvCache()
    d.data = t.data_ptr()
    d.format = got
    d.fp8 = flavor_of(name, t, fp8)
    d.page_size = size
    d.num_pages = pages
    d.page_stride_bytes = stride
    return d, got


def fp8_dtype(flavor):
    """The torch dtype a new cache of this flavour gets: float8 if torch has it, else uint8."""
    want = _FLOAT8_E4M3FN if flavor == c.FP8_E4M3FN else _FLOAT8_E4M3FNUZ
    return want if want is not None else torch.uint8


def empty_cache(num_blocks, page_size, fmt, device, dtype=None, zeroed=False):
    """A new paged cache in FlashMLA's layout [num_blocks, page_size, 1, row_bytes], whose
    pages are page_bytes() apart (zero-filled when zeroed, padding included)."""
    stride = page_bytes(fmt, page_size)
    row = ROW_BYTES[fmt]
    alloc = torch.zeros if zeroed else torch.empty
    flat = alloc((num_blocks, stride), dtype=torch.uint8, device=device)
    cache = flat[:, :page_size * row].view(num_blocks, page_size, 1, row)
    return cache if dtype in (None, torch.uint8) else cache.view(dtype)
