"""The libmla Python package (import name `mla`): pure Python over libmla.so via ctypes.

`pip install ./python` builds with the setuptools already installed (no pyproject.toml,
so pip does not fetch a build backend: this works offline). torch is a requirement that
is not declared, so pip never tries to download it: install torch the way your platform
does (Debian's python3-torch, a CUDA or ROCm wheel). libmla.so itself is found at run time:
see README.md.
"""
from pathlib import Path

from setuptools import setup

README = Path(__file__).with_name("README.md")

setup(
    name="libmla",
    version="0.1.0",
    description="FlashMLA-compatible sparse MLA attention for DeepSeek V3.2 / V4 over libmla",
    long_description=README.read_text() if README.exists() else "",
    long_description_content_type="text/markdown",
    packages=["mla"],
    package_data={"mla": ["libmla.so*"]},
    python_requires=">=3.8",
)
