"""Call plans: the part of a libmla call that depends only on the shapes of its arguments,
built once per shape and reused by every later call of that shape.

Checking arguments in Python, filling ctypes descriptors and asking libmla for the
workspace size costs tens of microseconds, and an engine makes the same call thousands of
times per second. A Plan holds the ctypes argument struct with every descriptor filled in
but the data pointers, the function, context, stream, workspace slot and workspace size. A
call finds its plan by a key that holds everything the checks and the workspace size depend
on (each tensor's shape, strides, dtype and device; the stream; the thread, since the struct
is written per call; the backend generation), writes its data pointers and calls. What
depends on a pointer is checked again on every call: libmla checks alignment, and
plan.extent_checks names cache tensors whose storage must reach past their own extent.
"""
import ctypes
import threading

from . import _runtime
from ._errors import check
from ._library import library
from ._tensors import storage_bytes

_MAX_PLANS = 4096  # a bound for programs that see ever new shapes; cleared when reached
_plans = {}
get_ident = threading.get_ident


def signature(t):
    """What a tensor contributes to a plan key (None for an absent tensor)."""
    return None if t is None else (t.shape, t.stride(), t.dtype, t.get_device())


def lookup(key):
    """The plan of a key, or None."""
    return _plans.get(key)


def store(key, plan):
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[key] = plan
    return plan


def clear():
    """Forgets every plan (tests; a program never needs this)."""
    _plans.clear()


class Plan:
    """A ready libmla call: `descs[i]` is the descriptor (mla_tensor or mla_kv_cache) of the
    i-th tensor argument, None where that argument is absent; run() writes the pointers of
    the tensors given in the same order and calls."""

    __slots__ = ("name", "fn", "ctx", "stream", "args", "args_ref", "descs", "slot",
                 "ws_bytes", "extent_checks", "device", "shapes")

    def __init__(self, name, device, args, descs, workspace_query=None):
        lib = library()
        self.name = name
        self.fn = lib.function(name)
        self.device = device
        self.ctx = ctypes.c_void_p(_runtime.context(device))
        self.stream = _runtime.stream(device)
        self.args, self.args_ref, self.descs = args, ctypes.byref(args), descs
        self.extent_checks = ()
        self.shapes = None  # output shapes, for the operation that built the plan
        self.slot, self.ws_bytes = None, 0
        if workspace_query is not None:
            nbytes = ctypes.c_size_t()
            check(workspace_query, lib.function(workspace_query)(
                self.ctx, self.args_ref, ctypes.byref(nbytes)))
            self.ws_bytes = nbytes.value
            # The slot even for 0 bytes: run() then passes its (possibly NULL) pointer.
            self.slot = _runtime.workspace_slot(device, self.stream)

    def extents_hold(self, tensors):
        """False if a tensor's storage ends before the bytes libmla may read (see
        extent_checks: (argument index, bytes needed from the data pointer))."""
        for i, need in self.extent_checks:
            if storage_bytes(tensors[i]) < need:
                return False
        return True

    def run(self, tensors):
        """Writes the data pointers of tensors and runs the call; MlaError on failure."""
        for d, t in zip(self.descs, tensors):
            if t is not None:
                d.data = t.data_ptr()
        slot = self.slot
        if slot is None:
            status = self.fn(self.ctx, self.args_ref, self.stream)
        elif self.ws_bytes == 0:
            status = self.fn(self.ctx, self.args_ref, None, 0, self.stream)
        else:
            if slot.nbytes < self.ws_bytes:
                slot.reserve(self.ws_bytes)
            status = self.fn(self.ctx, self.args_ref, slot.ptr, slot.nbytes, self.stream)
        if status:
            check(self.name, status)
