"""Finding and loading libmla.so, and declaring the C functions the package calls.

Search order (the first that loads wins):
  1. the MLA_LIBRARY environment variable (a path to the .so file);
  2. next to the package: mla/libmla.so.0 or mla/libmla.so, then the library directory
     that `cmake --install` recorded in mla/_install_location.py;
  3. the system search path (LD_LIBRARY_PATH, the ld.so cache): libmla.so.0, then the
     name ctypes.util.find_library("mla") gives.
"""
import ctypes
import ctypes.util
import os
import threading

from . import _cabi as c

_SONAME = "libmla.so.0"


class LibraryNotFoundError(ImportError):
    """libmla.so could not be loaded from any of the places searched."""


def _candidates():
    """(path or name, where it came from) in search order."""
    env = os.environ.get("MLA_LIBRARY")
    if env:
        yield env, "MLA_LIBRARY"
    here = os.path.dirname(os.path.abspath(__file__))
    for name in (_SONAME, "libmla.so"):
        yield os.path.join(here, name), "next to the package"
    try:
        from . import _install_location  # written by `cmake --install`
    except ImportError:
        _install_location = None
    if _install_location is not None:
        libdir = os.path.normpath(os.path.join(here, _install_location.LIBRARY_DIR))
        for name in (_SONAME, "libmla.so"):
            yield os.path.join(libdir, name), "cmake install location"
    yield _SONAME, "system search path"
    found = ctypes.util.find_library("mla")
    if found and found != _SONAME:
        yield found, "ctypes.util.find_library('mla')"


def _load():
    tried = []
    for path, origin in _candidates():
        is_path = os.sep in path
        if is_path and not os.path.exists(path):
            tried.append(f"{path} ({origin}: no such file)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({origin}: {e})")
    raise LibraryNotFoundError(
        "libmla could not be loaded. Set MLA_LIBRARY to the path of libmla.so, or install "
        "libmla where the loader finds it. Tried:\n  " + "\n  ".join(tried))


# name: (result type, argument types). The C prototypes are in include/mla/*.h.
_P = ctypes.c_void_p
_STATUS = ctypes.c_int
_PROTOTYPES = {
    "mla_get_api_version": (ctypes.c_int32, []),
    "mla_get_version_string": (ctypes.c_char_p, []),
    "mla_status_string": (ctypes.c_char_p, [ctypes.c_int]),
    "mla_last_error": (ctypes.c_char_p, []),
    "mla_last_backend": (ctypes.c_char_p, []),
    "mla_kv_page_bytes": (ctypes.c_int64, [ctypes.c_int32, ctypes.c_int64]),
    "mla_kv_row_dim": (ctypes.c_int32, [ctypes.c_int32]),
    "mla_context_create": (_STATUS, [ctypes.c_int32, ctypes.POINTER(_P)]),
    "mla_context_destroy": (_STATUS, [_P]),
    "mla_context_set_backend": (_STATUS, [_P, ctypes.c_int]),
    "mla_context_get_backend": (_STATUS, [_P, ctypes.POINTER(ctypes.c_int)]),
    "mla_device_count": (ctypes.c_int32, []),
    "mla_sparse_decode_workspace_size": (
        _STATUS, [_P, ctypes.POINTER(c.SparseDecodeArgs), ctypes.POINTER(ctypes.c_size_t)]),
    "mla_sparse_decode": (
        _STATUS, [_P, ctypes.POINTER(c.SparseDecodeArgs), _P, ctypes.c_size_t, _P]),
    "mla_sparse_prefill_workspace_size": (
        _STATUS, [_P, ctypes.POINTER(c.SparsePrefillArgs), ctypes.POINTER(ctypes.c_size_t)]),
    "mla_sparse_prefill": (
        _STATUS, [_P, ctypes.POINTER(c.SparsePrefillArgs), _P, ctypes.c_size_t, _P]),
    "mla_kv_store": (_STATUS, [_P, ctypes.POINTER(c.KvStoreArgs), _P]),
    "mla_kv_gather": (_STATUS, [_P, ctypes.POINTER(c.KvGatherArgs), _P]),
    # SPEC 4.1 and 5-7: absent from libmla builds older than these operations
    "mla_sparse_prefill_paged_workspace_size": (
        _STATUS, [_P, ctypes.POINTER(c.SparsePrefillPagedArgs), ctypes.POINTER(ctypes.c_size_t)]),
    "mla_sparse_prefill_paged": (
        _STATUS, [_P, ctypes.POINTER(c.SparsePrefillPagedArgs), _P, ctypes.c_size_t, _P]),
    "mla_combined_topk_width": (ctypes.c_int64, [ctypes.c_int64, ctypes.c_int64]),
    "mla_build_swa_token_ids": (_STATUS, [_P, ctypes.POINTER(c.BuildSwaTokenIdsArgs), _P]),
    "mla_combine_topk_swa_indices": (
        _STATUS, [_P, ctypes.POINTER(c.CombineTopkSwaIndicesArgs), _P]),
    "mla_indexer_logits_workspace_size": (
        _STATUS, [_P, ctypes.POINTER(c.IndexerLogitsArgs), ctypes.POINTER(ctypes.c_size_t)]),
    "mla_indexer_logits": (
        _STATUS, [_P, ctypes.POINTER(c.IndexerLogitsArgs), _P, ctypes.c_size_t, _P]),
    "mla_indexer_paged_logits_workspace_size": (
        _STATUS, [_P, ctypes.POINTER(c.IndexerPagedLogitsArgs), ctypes.POINTER(ctypes.c_size_t)]),
    "mla_indexer_paged_logits": (
        _STATUS, [_P, ctypes.POINTER(c.IndexerPagedLogitsArgs), _P, ctypes.c_size_t, _P]),
    "mla_indexer_topk_workspace_size": (
        _STATUS, [_P, ctypes.POINTER(c.IndexerTopkArgs), ctypes.POINTER(ctypes.c_size_t)]),
    "mla_indexer_topk": (
        _STATUS, [_P, ctypes.POINTER(c.IndexerTopkArgs), _P, ctypes.c_size_t, _P]),
    "mla_concat_mla_k": (_STATUS, [_P, ctypes.POINTER(c.ConcatMlaKArgs), _P]),
    "mla_concat_mla_absorb_q": (_STATUS, [_P, ctypes.POINTER(c.ConcatMlaAbsorbQArgs), _P]),
    "mla_merge_state": (_STATUS, [_P, ctypes.POINTER(c.MergeStateArgs), _P]),
    "mla_norm_rope": (_STATUS, [_P, ctypes.POINTER(c.NormRopeArgs), _P]),
}
# Operations added after the first release: a library without them still loads, and
# calling one raises NotImplementedError naming the missing function.
_OPTIONAL = {"mla_sparse_prefill_paged_workspace_size", "mla_sparse_prefill_paged",
             "mla_combined_topk_width", "mla_build_swa_token_ids",
             "mla_combine_topk_swa_indices", "mla_indexer_logits_workspace_size",
             "mla_indexer_logits", "mla_indexer_paged_logits_workspace_size",
             "mla_indexer_paged_logits", "mla_indexer_topk_workspace_size", "mla_indexer_topk",
             "mla_concat_mla_k", "mla_concat_mla_absorb_q", "mla_merge_state", "mla_norm_rope"}


class Library:
    """The loaded libmla with typed functions as attributes (lib.mla_sparse_decode, ...)."""

    def __init__(self):
        self.cdll, self.path = _load()
        api = self.cdll.mla_get_api_version()
        if api != c.API_VERSION:
            raise LibraryNotFoundError(
                f"{self.path} has C API version {api}; this package speaks version "
                f"{c.API_VERSION}. Install matching versions of libmla and its Python package.")
        for name, (restype, argtypes) in _PROTOTYPES.items():
            if name in _OPTIONAL and not hasattr(self.cdll, name):
                continue
            fn = getattr(self.cdll, name)
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)

    def function(self, name):
        """A typed C function; NotImplementedError if this build of libmla lacks it."""
        fn = getattr(self, name, None)
        if fn is None:
            raise NotImplementedError(f"{self.path} has no {name}: this operation needs a newer "
                                      "libmla")
        return fn


_lock = threading.Lock()
_library = None


def library():
    """The process-wide Library, loaded on first use."""
    global _library
    if _library is None:
        with _lock:
            if _library is None:
                _library = Library()
    return _library
