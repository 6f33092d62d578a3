#!/usr/bin/env python3
"""Runs one of FlashMLA's test suites against libmla, within a time budget.

    cd <copy of FlashMLA's tests/> && python3 <repo>/bench/flashmla_shim/run_suite.py \\
        test_flash_mla_sparse_decoding.py        # or test_flash_mla_sparse_prefill.py

`flash_mla` must resolve to libmla's shim (bench/flashmla_shim first on PYTHONPATH;
bench/run_flashmla_suites.sh sets everything up). The suites are scripts with a main, not
pytest files, and their full case lists take far longer than a device call allows, so the
suite's source is run as __main__ with one hook added after each assignment to its
`testcases` list. The hook:
  - shuffles the cases with a fixed seed (so whatever part runs before the deadline is a
    spread over the whole suite) and keeps at most MLA_SUITE_CASES of them (0: all);
  - sets num_runs = 0: their timing reads FlashMLA's kernel names from the CUDA profiler,
    which libmla's kernels do not have (correctness checks are untouched);
  - wraps the per-case function to stop cleanly at the deadline and count results.
Nothing of the suites' checks or tolerances changes.

Environment: MLA_SUITE_SECONDS (soft deadline from start, default 90), MLA_SUITE_CASES
(default 0), MLA_SUITE_SEED (default 0), MLA_SUITE_FULL=1 (all cases in the suite's own
order, no deadline), MLA_SUITE_KEEP_TIMING=1 (leave num_runs alone).
Exit status: 0 all cases run passed, 1 a case failed or raised, 2 the suite could not run.
"""
import ast
import dataclasses
import os
import random
import sys
import time
import traceback
import types
from pathlib import Path

T0 = time.monotonic()
FULL = os.environ.get("MLA_SUITE_FULL", "") == "1"
SECONDS = float(os.environ.get("MLA_SUITE_SECONDS", "90"))
MAX_CASES = int(os.environ.get("MLA_SUITE_CASES", "0"))
SEED = int(os.environ.get("MLA_SUITE_SEED", "0"))
KEEP_TIMING = os.environ.get("MLA_SUITE_KEEP_TIMING", "") == "1"
MAX_ERRORS = 5  # after this many raising cases (a dead CUDA context, say), stop


class Deadline(BaseException):
    """Raised between cases once the time budget is spent (not an Exception: nothing in
    the suite catches it)."""


class Stats:
    total = selected = started = passed = failed = errors = 0
    failures = []
    stopped = ""


def hook_testcases(tree):
    """After every `testcases = ...` (at any depth), add `testcases = __mla_select__(testcases)`.
    Returns the number of hooks added."""
    added = 0
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            new = []
            for st in stmts:
                new.append(st)
                if isinstance(st, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "testcases" for t in st.targets):
                    new.append(ast.parse("testcases = __mla_select__(testcases)").body[0])
                    added += 1
            setattr(node, field, new)
    ast.fix_missing_locations(tree)
    return added


def failure_value(module, fn_name):
    """What the suite's per-case function returns for a failed case."""
    if fn_name == "test_flash_mla":  # decode: a Result dataclass with is_correct first
        result_cls = module.__dict__["Result"]
        n = len(dataclasses.fields(result_cls))
        return result_cls(False, *([0.0] * (n - 1)))
    return False  # prefill's run_test returns a bool


def wrap_case_function(module, fn_name):
    fn = module.__dict__[fn_name]
    deadline = None if FULL else T0 + SECONDS

    def run_case(p):
        if deadline is not None and time.monotonic() > deadline:
            Stats.stopped = f"stopped at the {SECONDS:.0f} s deadline"
            raise Deadline()
        Stats.started += 1
        try:
            res = fn(p)
        except Exception:
            traceback.print_exc()
            Stats.errors += 1
            Stats.failures.append(f"raised: {p}")
            if Stats.errors >= MAX_ERRORS:
                Stats.stopped = f"stopped after {MAX_ERRORS} raising cases"
                raise Deadline()
            return failure_value(module, fn_name)
        ok = res if isinstance(res, bool) else bool(getattr(res, "is_correct", res))
        if ok:
            Stats.passed += 1
        else:
            Stats.failed += 1
            Stats.failures.append(f"failed: {p}")
        return res

    module.__dict__[fn_name] = run_case


def make_selector(module, kind):
    def select(cases):
        Stats.total = len(cases)
        chosen = list(cases)
        if not FULL:
            random.Random(SEED).shuffle(chosen)
            if MAX_CASES > 0:
                chosen = chosen[:MAX_CASES]
        if not KEEP_TIMING:
            for c in chosen:
                if hasattr(c, "num_runs"):
                    c.num_runs = 0
        Stats.selected = len(chosen)
        # The per-case function is defined by now (the hook runs after `testcases = ...`).
        for name in ("test_flash_mla", "run_test"):
            fn = module.__dict__.get(name)
            if callable(fn) and getattr(fn, "__name__", "") != "run_case":
                wrap_case_function(module, name)
        print(f"[mla-suite] {kind}: running {len(chosen)} of {len(cases)} cases"
              f"{'' if FULL else f', shuffled (seed {SEED}), deadline {SECONDS:.0f} s'}"
              f"{'' if KEEP_TIMING else ', timing off (num_runs = 0)'}", flush=True)
        return chosen
    return select


def summary(kind, code):
    ran = Stats.passed + Stats.failed + Stats.errors
    if Stats.failed or Stats.errors:
        verdict = "FAIL"
    elif ran == 0:
        verdict = "NO-CASES"
    else:
        verdict = "PASS"
    tail = f", {Stats.stopped}" if Stats.stopped else ""
    return (f"[mla-suite] {kind}: {verdict} {Stats.passed}/{ran} cases passed "
            f"({Stats.failed} failed, {Stats.errors} raised; {Stats.selected} selected of "
            f"{Stats.total} in the suite{tail}; suite exit {code}; "
            f"{time.monotonic() - T0:.0f} s)")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = Path(sys.argv[1]).resolve()
    kind = "decode" if "decod" in path.name else "prefill" if "prefill" in path.name \
        else path.stem
    sys.path.insert(0, str(path.parent))  # lib.py, ref.py, quant.py, kernelkit/

    import flash_mla
    if not getattr(flash_mla, "__mla_shim__", False):
        print(f"[mla-suite] {kind}: ERROR flash_mla is {flash_mla.__file__}, not libmla's "
              "shim: put bench/flashmla_shim first on PYTHONPATH")
        return 2
    import mla
    try:
        print(f"[mla-suite] libmla {mla.library_version()} from {mla.library_path()}",
              flush=True)
    except Exception as e:  # no library: every case would fail the same way
        print(f"[mla-suite] {kind}: ERROR libmla did not load: {e}")
        return 2

    tree = ast.parse(path.read_text(), filename=str(path))
    hooks = hook_testcases(tree)
    if hooks == 0:
        print("[mla-suite] warning: no `testcases = ...` found; running the suite unchanged "
              "(its timing may fail on libmla's kernel names)")
    module = types.ModuleType("__main__")
    module.__file__ = str(path)
    module.__dict__["__mla_select__"] = make_selector(module, kind)
    sys.modules["__main__"] = module  # as runpy does, for dataclasses and pickling
    sys.argv = [str(path)]
    code = 0
    try:
        exec(compile(tree, str(path), "exec"), module.__dict__)
    except Deadline:
        code = 0
    except SystemExit as e:  # the decode suite exits 1 at its first failing case
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 2
    if Stats.failures:
        print("[mla-suite] cases that did not pass:")
        for f in Stats.failures[:20]:
            print(f"    {f}")
    print(summary(kind, code), flush=True)
    if Stats.failed or Stats.errors or code not in (0, None):
        return 1 if (Stats.failed or Stats.errors or code == 1) else 2
    return 0 if Stats.passed else 2


if __name__ == "__main__":
    sys.exit(main())
