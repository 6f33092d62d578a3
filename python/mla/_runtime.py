"""Per-device libmla contexts, torch's current stream, and the reused workspace.

One mla_context per torch device, created on first use and kept for the process. Workspace
is a torch uint8 tensor per (device, stream), per thread on the CPU, grown when a call needs
more and otherwise reused, so a call allocates nothing beyond its outputs. Keeping it per
stream means work on two streams never shares scratch memory, and torch's caching allocator
orders the reuse of a grown-out buffer on the stream it was used on.
"""
import ctypes
import os
import threading

import torch

from . import _cabi as c
from ._errors import call, check
from ._library import library

_lock = threading.Lock()
_contexts = {}      # (device type, index) -> mla_context handle (int)
_workspaces = {}    # (device type, index, stream handle) -> torch.uint8 tensor
_backend = None     # name given to set_backend(), applied to every context; None: MLA_BACKEND


def _key(device):
    return (device.type, device.index if device.type == "cuda" else None)


def _ordinal(device):
    if device.type == "cpu":
        return c.DEVICE_CPU
    return device.index if device.index is not None else torch.cuda.current_device()


def context(device):
    """The mla_context of a torch device (created once, cached)."""
    device = normalize(device)
    key = _key(device)
    handle = _contexts.get(key)
    if handle is not None:
        return handle
    with _lock:
        handle = _contexts.get(key)
        if handle is None:
            out = ctypes.c_void_p()
            call("mla_context_create", _ordinal(device), ctypes.byref(out))
            if _backend is not None:
                call("mla_context_set_backend", out, c.BACKENDS[_backend])
            handle = out.value
            _contexts[key] = handle
    return handle


def normalize(device):
    """torch.device with an explicit index for GPUs ('cuda' -> 'cuda:<current>')."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def stream(device):
    """torch's current stream on the device as a cudaStream_t / hipStream_t (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.current_stream(device).cuda_stream or None


def _workspace_key(device, stream_handle):
    # CPU work runs on the calling thread (ctypes drops the GIL), so threads get their own.
    lane = threading.get_ident() if device.type == "cpu" else stream_handle
    return _key(device) + (lane,)


def workspace(device, stream_handle, nbytes):
    """(pointer, bytes) of scratch of at least nbytes for work on this device and stream."""
    if nbytes == 0:
        return None, 0
    key = _workspace_key(device, stream_handle)
    buf = _workspaces.get(key)
    if buf is None or buf.numel() < nbytes:
        # Grow geometrically so a slowly rising size does not allocate on every call.
        size = nbytes if buf is None else max(nbytes, 2 * buf.numel())
        buf = torch.empty(size, dtype=torch.uint8, device=device)
        _workspaces[key] = buf
    return buf.data_ptr(), buf.numel()


def workspace_tensor(device, stream_handle=None):
    """The cached workspace tensor of a device and stream, or None (for tests and tools)."""
    device = normalize(device)
    if stream_handle is None:
        stream_handle = stream(device)
    return _workspaces.get(_workspace_key(device, stream_handle))


def set_backend(name):
    """Selects the backend of every context, present and future (MLA_BACKEND's values:
    'auto', 'native', 'reference', 'host', 'compare'); None goes back to MLA_BACKEND (unset:
    'auto'). CPU tensors always run the host backend."""
    global _backend
    if name is not None and name not in c.BACKENDS:
        raise ValueError(f"backend: must be one of {', '.join(c.BACKENDS)} or None, got {name!r}")
    value = c.BACKENDS.get(name or os.environ.get("MLA_BACKEND") or "auto", 0)
    with _lock:
        _backend = name
        for handle in _contexts.values():
            call("mla_context_set_backend", ctypes.c_void_p(handle), value)


def get_backend(device="cpu"):
    """The backend name a device's context runs with."""
    value = ctypes.c_int()
    call("mla_context_get_backend", ctypes.c_void_p(context(device)), ctypes.byref(value))
    return {v: k for k, v in c.BACKENDS.items()}[value.value]


def last_backend():
    """Which backend served the last successful libmla operation on this thread."""
    text = library().mla_last_backend()
    return text.decode() if text else ""


def run(function, device, args, workspace_query=None):
    """Calls an operation on the device's context and torch's current stream. With a
    workspace_query (the operation's *_workspace_size function name), asks for the size
    and hands the cached workspace over. Raises MlaError on a non-zero status."""
    lib = library()
    ctx = ctypes.c_void_p(context(device))
    handle = stream(device)
    args_ptr = ctypes.byref(args)
    if workspace_query is None:
        check(function, lib.function(function)(ctx, args_ptr, handle))
        return
    nbytes = ctypes.c_size_t()
    query = lib.function(workspace_query)
    check(workspace_query, query(ctx, args_ptr, ctypes.byref(nbytes)))
    ptr, size = workspace(device, handle, nbytes.value)
    check(function, lib.function(function)(ctx, args_ptr, ptr, size, handle))
