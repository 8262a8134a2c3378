"""Refactoring never changes results: every method's smoke-scale CLI numbers match the recorded ones.

``tests/reference/cli_smoke.json`` holds the JSON of ``python -m cltoolkit run METHOD --scale smoke
--seed 0`` (one thread, CPU) for every method. A change that alters a number on purpose (a fidelity
fix, a new default) regenerates it in the same commit and says why in the commit message::

    OMP_NUM_THREADS=1 python tests/test_reference_numbers.py --update [METHOD ...]

Recorded before the structure change (methods moved to ``cltoolkit/experiments/``); since then
regenerated for: si (path integral reads the task-loss gradient alone, clamp on the cumulative
Omega — Zenke et al.); roaming (bytes_per_task counts the per-task BN statistics); hypernet (the
current and old tasks' weights generated in one batched pass, fused Adam: float rounding only).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path

import pytest

REFERENCE = Path(__file__).with_name("reference") / "cli_smoke.json"
METHODS = ("finetune", "ewc", "si", "joint", "piggyback", "roaming", "hypernet")
IGNORED = {"seconds", "device", "config", "threads", "torch"}  # timing and environment, not results


def run_cli(method: str) -> dict:
    from cltoolkit.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        code = main(
            ["run", method, "--scale", "smoke", "--seed", "0", "--device", "cpu", "--quiet", "--json", str(out)]
        )
        assert code == 0, f"`cltoolkit run {method}` exited {code}"
        return json.loads(out.read_text())


def differences(expected, actual, path: str = "") -> list[str]:
    """Where two JSON values differ (numbers to 1e-9), ignoring the keys in IGNORED."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key in expected:
            if key in IGNORED and not path:
                continue
            if key not in actual:
                problems.append(f"{path}/{key}: missing")
            else:
                problems += differences(expected[key], actual[key], f"{path}/{key}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(actual)}, expected {len(expected)}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual)) for p in differences(e, a, f"{path}[{i}]")]
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(expected, bool):
        if not math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9):
            return [f"{path}: {actual!r}, expected {expected!r}"]
        return []
    return [] if expected == actual else [f"{path}: {actual!r}, expected {expected!r}"]


@pytest.mark.parametrize("method", METHODS)
def test_smoke_numbers_unchanged(method):
    if os.environ.get("CLTK_SCALE") != "smoke" or os.environ.get("OMP_NUM_THREADS") != "1":
        pytest.skip("reference numbers were recorded at smoke scale with OMP_NUM_THREADS=1")
    reference = json.loads(REFERENCE.read_text())[method]
    problems = differences(reference, run_cli(method))
    assert not problems, (
        f"`cltoolkit run {method} --scale smoke --seed 0` no longer gives the recorded numbers:\n  "
        + "\n  ".join(problems[:20])
        + "\nIf the change is on purpose, run `OMP_NUM_THREADS=1 python tests/test_reference_numbers.py --update "
        f"{method}` and say why in the commit message."
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: OMP_NUM_THREADS=1 python tests/test_reference_numbers.py --update [METHOD ...]")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["CLTK_PROGRESS"] = "0"
    os.environ["CLTK_CACHE"] = tempfile.mkdtemp(prefix="cltk-ref-")
    data = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    for method in args[1:] or METHODS:
        result = run_cli(method)
        data[method] = {k: v for k, v in result.items() if k not in IGNORED}
        print(f"{method}: recorded")
    REFERENCE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
