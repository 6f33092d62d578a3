"""Per-device libmla contexts, torch's current stream, and the reused workspace.

One mla_context per torch device, created on first use and kept for the process. Workspace
is a torch uint8 tensor per (device, stream), per thread on the CPU, grown when a call needs
more and otherwise reused, so a call allocates nothing beyond its outputs. Keeping it per
stream means work on two streams never shares scratch memory, and torch's caching allocator
orders the reuse of a grown-out buffer on the stream it was used on.

`generation` counts backend changes: call plans cached per shape (mla._plans) include it in
their key, because the backend decides the workspace size.
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
_workspaces = {}    # (device type, index, lane) -> WorkspaceSlot
_backend = None     # name given to set_backend(), applied to every context; None: MLA_BACKEND
generation = 0      # bumped by set_backend()


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
    return raw_stream(device.index if device.index is not None else torch.cuda.current_device())


def _raw_stream_slow(index):
    return torch.cuda.current_stream(index).cuda_stream or None


def _raw_stream_fast(index):
    return _current_raw_stream(index) or None


# torch's own accessor skips building a Stream object (a few microseconds per call).
_current_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)
raw_stream = _raw_stream_fast if _current_raw_stream is not None else _raw_stream_slow


def _workspace_key(device, stream_handle):
    # CPU work runs on the calling thread (ctypes drops the GIL), so threads get their own.
    lane = threading.get_ident() if device.type == "cpu" else stream_handle
    return _key(device) + (lane,)


class WorkspaceSlot:
    """The scratch buffer of one (device, stream) or CPU thread: the tensor and, for the
    per-call path, its pointer and size. Call plans hold the slot, not the pointer, so they
    see the buffer a larger call of another shape grew it to."""

    __slots__ = ("device", "tensor", "ptr", "nbytes")

    def __init__(self, device):
        self.device, self.tensor, self.ptr, self.nbytes = device, None, None, 0

    def reserve(self, nbytes):
        """(pointer, bytes) of at least nbytes; grows geometrically, so that a slowly rising
        size does not allocate on every call."""
        if nbytes > self.nbytes:
            size = max(nbytes, 2 * self.nbytes)
            self.tensor = torch.empty(size, dtype=torch.uint8, device=self.device)
            self.ptr, self.nbytes = self.tensor.data_ptr(), size
        return self.ptr, self.nbytes


def workspace_slot(device, stream_handle):
    """The WorkspaceSlot of this device and stream (this thread's, on the CPU)."""
    key = _workspace_key(device, stream_handle)
    slot = _workspaces.get(key)
    if slot is None:
        slot = _workspaces.setdefault(key, WorkspaceSlot(device))
    return slot


def workspace(device, stream_handle, nbytes):
    """(pointer, bytes) of scratch of at least nbytes for work on this device and stream."""
    if nbytes == 0:
        return None, 0
    return workspace_slot(device, stream_handle).reserve(nbytes)


def workspace_tensor(device, stream_handle=None):
    """The cached workspace tensor of a device and stream, or None (for tests and tools)."""
    device = normalize(device)
    if stream_handle is None:
        stream_handle = stream(device)
    slot = _workspaces.get(_workspace_key(device, stream_handle))
    return None if slot is None else slot.tensor


def set_backend(name):
    """Selects the backend of every context, present and future (MLA_BACKEND's values:
    'auto', 'native', 'reference', 'host', 'compare'); None goes back to MLA_BACKEND (unset:
    'auto'). CPU tensors always run the host backend."""
    global _backend, generation
    if name is not None and name not in c.BACKENDS:
        raise ValueError(f"backend: must be one of {', '.join(c.BACKENDS)} or None, got {name!r}")
    value = c.BACKENDS.get(name or os.environ.get("MLA_BACKEND") or "auto", 0)
    with _lock:
        _backend = name
        generation += 1
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
