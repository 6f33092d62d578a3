"""Shared fixtures: the device each test runs on (the CPU always; CUDA/HIP when torch sees
a GPU and libmla was built for one) and a seeded generator per test."""
import os
import zlib

import sys

import pytest
import torch

try:
    import mla
except ImportError:  # not installed: test the package of this source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import mla


def _gpu_usable():
    return torch.cuda.is_available() and mla.device_count() > 0


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not _gpu_usable(), reason="needs a GPU that torch and libmla both see"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture
def gen(request):
    """A CPU generator seeded from the test's name (MLA_TEST_SEED changes every seed)."""
    seed = zlib.crc32(request.node.nodeid.encode()) ^ int(os.environ.get("MLA_TEST_SEED", "0"))
    return torch.Generator().manual_seed(seed)


def pytest_report_header(config):
    try:
        return [f"libmla {mla.library_version()} from {mla.library_path()}; "
                f"torch {torch.__version__}; GPUs seen by libmla: {mla.device_count()}"]
    except mla.LibraryNotFoundError as e:
        return [f"libmla not found: {e}"]
