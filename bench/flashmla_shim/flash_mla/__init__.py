"""`flash_mla` that is libmla: lets FlashMLA's own test suites run against libmla.

With bench/flashmla_shim first on PYTHONPATH (and the repo's python/ folder, or it is found
from here), `import flash_mla` gives libmla's `mla.flash_mla`, which has FlashMLA's
interface. The suites call get_mla_metadata, flash_mla_with_kvcache and
flash_mla_sparse_fwd; FlashMLA's package also exports dense varlen attention, which libmla
does not implement: those names exist here and raise NotImplementedError when called.
"""
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("mla") is None:
    # the repo's python/ not on the path: it sits three folders above this package
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python"))

from mla.flash_mla import (FlashMLASchedMeta, flash_mla_sparse_fwd, flash_mla_with_kvcache,
                           get_mla_metadata)

__version__ = "1.0.0"          # the FlashMLA interface version the suites were written for
__mla_shim__ = True            # lets tools (bench/compare_flashmla.py) tell this from FlashMLA


def _not_in_libmla(name):
    def absent(*args, **kwargs):
        raise NotImplementedError(f"flash_mla.{name}: FlashMLA's dense attention is not in "
                                  "libmla (this flash_mla is libmla's shim)")
    absent.__name__ = name
    return absent


flash_attn_varlen_func = _not_in_libmla("flash_attn_varlen_func")
flash_attn_varlen_qkvpacked_func = _not_in_libmla("flash_attn_varlen_qkvpacked_func")
flash_attn_varlen_kvpacked_func = _not_in_libmla("flash_attn_varlen_kvpacked_func")

# FlashMLA's submodule name, for code that imports from it directly.
flash_mla_interface = sys.modules[__name__]
sys.modules[__name__ + ".flash_mla_interface"] = flash_mla_interface

__all__ = [
    "get_mla_metadata",
    "flash_mla_with_kvcache",
    "flash_attn_varlen_func",
    "flash_attn_varlen_qkvpacked_func",
    "flash_attn_varlen_kvpacked_func",
    "flash_mla_sparse_fwd",
    "FlashMLASchedMeta",
]
