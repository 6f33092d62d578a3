"""When a wrapper may call its kernel directly instead of through the torch operation.

Going through torch's dispatcher costs about 3.5 us per call of the attention operations,
a sixth of the whole budget of a decode call. When nothing observes or transforms the call
(no torch.compile or torch.jit tracing, no torch function or dispatch mode, a plain tensor),
the dispatcher would only forward to the same CPU or CUDA kernel, so the wrappers call that
kernel directly; every other case goes through the registered operation, which is what
torch.compile, FakeTensor tracing and the modes see.
"""
import torch

_Tensor = torch.Tensor
_compiler = getattr(torch, "compiler", None)
_is_compiling = getattr(_compiler, "is_compiling", None) or (lambda: False)
_function_modes = getattr(torch._C, "_len_torch_function_stack", None) or (lambda: 0)
_dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", None) or (lambda: 0)
_tracing_state = getattr(torch._C, "_get_tracing_state", None) or (lambda: None)


def plain(t):
    """True when a call on tensor t (a wrapper's first tensor) may skip the dispatcher."""
    return (type(t) is _Tensor and not _is_compiling() and not _function_modes()
            and not _dispatch_modes() and _tracing_state() is None)
