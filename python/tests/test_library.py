"""Loading libmla, versions, backends, and how C errors reach Python."""
import ctypes
import os
import subprocess
import sys

import pytest
import torch

import mla
import mla.flash_mla as flash_mla
from cases import decode_case

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(mla.__file__)))


def run_python(code, **env_changes):
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_versions():
    assert mla.__version__ == "0.1.1"
    assert mla.library_version().startswith("0.1.1 ")
    assert os.path.exists(mla.library_path())


def test_missing_library_names_every_place_tried(tmp_path):
    bogus = str(tmp_path / "nowhere" / "libmla.so")
    r = run_python("import mla; mla.library_version()", MLA_LIBRARY=bogus, LD_LIBRARY_PATH="")
    if r.returncode == 0:
        pytest.skip("libmla is installed on the system search path")
    assert "LibraryNotFoundError" in r.stderr
    assert bogus in r.stderr and "MLA_LIBRARY" in r.stderr
    assert "next to the package" in r.stderr and "system search path" in r.stderr


def test_import_does_not_need_the_library():
    r = run_python("import mla, mla.flash_mla; print(mla.__version__)",
                   MLA_LIBRARY="/nonexistent/libmla.so", LD_LIBRARY_PATH="")
    assert r.returncode == 0, r.stderr


def test_set_backend_validates_and_applies():
    with pytest.raises(ValueError, match="backend"):
        mla.set_backend("fastest")
    try:
        mla.set_backend("host")
        assert mla.get_backend("cpu") == "host"
    finally:
        mla.set_backend(None)
    assert mla.get_backend("cpu") == "auto"


def test_mla_backend_environment_variable_is_honoured():
    r = run_python("import mla; print(mla.get_backend('cpu'))", MLA_BACKEND="host")
    assert r.returncode == 0 and r.stdout.strip() == "host", r.stderr
    r = run_python("import mla; mla.get_backend('cpu')", MLA_BACKEND="bogus")
    assert r.returncode != 0 and "MLA_BACKEND='bogus'" in r.stderr


def test_device_backend_on_cpu_tensors_warns():
    r = run_python("import mla; print(mla.get_backend('cpu'))", MLA_BACKEND="compare")
    assert r.returncode == 0, r.stderr
    assert "MLA_BACKEND=compare is ignored by CPU contexts" in r.stderr


def test_bad_log_level_is_reported():
    r = run_python("import mla; mla.get_backend('cpu')", MLA_LOG_LEVEL="loud")
    assert r.returncode != 0 and "MLA_LOG_LEVEL='loud'" in r.stderr


def test_c_errors_carry_status_and_detail(gen):
    c = decode_case("v32", b=1, s_q=1, h_q=2, topk=8, gen=gen)
    with pytest.raises(mla.MlaError) as info:
        flash_mla.flash_mla_with_kvcache(c["q"], c["k_cache"], None, None, 512,
                                         flash_mla.get_mla_metadata()[0], is_fp8_kvcache=True,
                                         indices=c["indices"], softmax_scale=float("inf"))
    e = info.value
    assert e.status == 1 and e.status_string and "softmax_scale" in e.detail
    assert e.function == "mla_sparse_decode_workspace_size"
    assert "softmax_scale" in str(e)


def test_context_errors_name_the_device():
    handle = ctypes.c_void_p()
    with pytest.raises(mla.MlaError, match="device -5"):
        mla._errors.call("mla_context_create", -5, ctypes.byref(handle))


def test_last_backend_reports_host_for_cpu_tensors(gen):
    c = decode_case("v40", b=1, s_q=1, h_q=2, topk=8, gen=gen)
    flash_mla.flash_mla_with_kvcache(c["q"], c["k_cache"], None, None, 512,
                                     flash_mla.get_mla_metadata()[0], is_fp8_kvcache=True,
                                     indices=c["indices"])
    assert mla.last_backend() == "host"


def test_float8_cache_dtypes_set_the_flavour():
    if not hasattr(torch, "float8_e4m3fnuz"):
        pytest.skip("this torch has no float8 dtypes")
    from mla._kv_cache import flavor_of
    from mla import _cabi as c
    assert flavor_of("k", torch.empty(1, dtype=torch.float8_e4m3fnuz)) == c.FP8_E4M3FNUZ
    assert flavor_of("k", torch.empty(1, dtype=torch.float8_e4m3fn)) == c.FP8_E4M3FN


def test_ctypes_mirrors_follow_the_headers():
    """Every args struct of include/mla/*.h has its fields, in order, in mla._cabi (the
    sizes are asserted when _cabi is imported)."""
    import glob
    import re
    from mla import _cabi
    # The headers of the checkout these tests belong to (the package may be installed).
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    headers = glob.glob(os.path.join(checkout, "include", "mla", "*.h"))
    if not headers:
        pytest.skip(f"no include/mla in {checkout}")
    text = "".join(open(h).read() for h in headers)
    structs = dict(re.findall(r"typedef struct (mla_\w+) \{(.*?)\} \1;", text, re.S))
    mirrors = {cls._c_name: cls for cls in vars(_cabi).values()
               if isinstance(cls, type) and hasattr(cls, "_c_name")}
    assert set(structs) == set(mirrors), set(structs) ^ set(mirrors)
    for name, body in structs.items():
        fields = re.findall(r"(\w+)(?:\[\w+\])?;", re.sub(r"/\*.*?\*/", "", body, flags=re.S))
        assert fields == [f[0] for f in mirrors[name]._fields_], name
