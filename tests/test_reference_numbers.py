"""Refactoring never changes results: every method's smoke-scale CLI numbers match the recorded ones.

``tests/reference/cli_smoke.json`` holds the JSON of ``python -m cltoolkit run METHOD --scale smoke
--seed 0`` (one thread, CPU) for every method. A change that alters a number on purpose (a fidelity
fix, a new default) regenerates it in the same commit and says why in the commit message::

    OMP_NUM_THREADS=1 python tests/test_reference_numbers.py --update [METHOD ...]

Exact only on the machine that recorded them. CPU kernels differ between machines (AVX-512 vs AVX2
dispatch in ATen and MKL changes float rounding, and training amplifies it): on a fresh machine the
hypernetwork's smoke accuracies moved by up to 0.04, Piggyback's fine-tuning baseline by 0.003, the
other methods not at all. So the file also records the environment (``ENVIRONMENT_KEY``): where it
matches, every number must agree to 1e-9; elsewhere integers and strings must still agree exactly
and floats within ``OTHER_MACHINE_TOLERANCE`` (wide enough for rounding drift, far too narrow for a
method that stops working: without its regulariser the hypernetwork's BWT drops by ~0.5), and the
test says, as a warning, that exactness was not checked.

Recorded before the structure change (methods moved to ``cltoolkit/experiments/``); since then
regenerated for: si (path integral reads the task-loss gradient alone, clamp on the cumulative
Omega — Zenke et al.); roaming (bytes_per_task counts the per-task BN statistics); hypernet (the
current and old tasks' weights generated in one batched pass, fused Adam: float rounding only).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

REFERENCE = Path(__file__).with_name("reference") / "cli_smoke.json"
METHODS = ("finetune", "ewc", "si", "joint", "piggyback", "roaming", "hypernet")
IGNORED = {"seconds", "device", "config", "threads", "torch"}  # timing and environment, not results
ENVIRONMENT_KEY = "_recorded_on"
OTHER_MACHINE_TOLERANCE = 0.1


def environment() -> dict:
    """What decides float rounding: torch's build, the architecture, the CPU kernels ATen picks, the CPU flags."""
    import torch

    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        pass
    return {
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16] if flags else "unknown",
    }


def run_cli(method: str) -> dict:
    from cltoolkit.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        code = main(
            ["run", method, "--scale", "smoke", "--seed", "0", "--device", "cpu", "--quiet", "--json", str(out)]
        )
        assert code == 0, f"`cltoolkit run {method}` exited {code}"
        return json.loads(out.read_text())


def differences(expected, actual, path: str = "", float_tol: float = 1e-9) -> list[str]:
    """Where two JSON values differ (floats to ``float_tol``, integers exactly), ignoring the keys in IGNORED."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key in expected:
            if key in IGNORED and not path:
                continue
            if key not in actual:
                problems.append(f"{path}/{key}: missing")
            else:
                problems += differences(expected[key], actual[key], f"{path}/{key}", float_tol)
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(actual)}, expected {len(expected)}"]
        return [
            p for i, (e, a) in enumerate(zip(expected, actual)) for p in differences(e, a, f"{path}[{i}]", float_tol)
        ]
    if isinstance(expected, int) and isinstance(actual, int) and not isinstance(expected, bool):
        return [] if expected == actual else [f"{path}: {actual!r}, expected {expected!r}"]
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(expected, bool):
        if not math.isclose(expected, actual, rel_tol=float_tol, abs_tol=float_tol):
            return [f"{path}: {actual!r}, expected {expected!r}"]
        return []
    return [] if expected == actual else [f"{path}: {actual!r}, expected {expected!r}"]


@pytest.mark.parametrize("method", METHODS)
def test_smoke_numbers_unchanged(method):
    if os.environ.get("CLTK_SCALE") != "smoke" or os.environ.get("OMP_NUM_THREADS") != "1":
        pytest.skip("reference numbers were recorded at smoke scale with OMP_NUM_THREADS=1")
    data = json.loads(REFERENCE.read_text())
    recorded_on, here = data.get(ENVIRONMENT_KEY, {}), environment()
    same_machine = recorded_on == here
    tolerance = 1e-9 if same_machine else OTHER_MACHINE_TOLERANCE
    if not same_machine:
        changed = sorted(k for k in here if recorded_on.get(k) != here[k])
        warnings.warn(
            f"{method}: reference numbers were recorded on another environment (differs in {', '.join(changed)}); "
            f"floats compared within {tolerance}, not exactly",
            stacklevel=1,
        )
    problems = differences(data[method], run_cli(method), float_tol=tolerance)
    assert not problems, (
        f"`cltoolkit run {method} --scale smoke --seed 0` no longer gives the recorded numbers "
        f"({'exactly, same environment' if same_machine else f'within {tolerance}, other environment'}):\n  "
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
    methods = args[1:] or list(METHODS)
    if data.get(ENVIRONMENT_KEY) != environment() and set(methods) != set(METHODS):
        sys.exit(
            "this environment is not the one that recorded the reference: record every method here "
            "(`--update` with no names), so that the file holds one environment's numbers"
        )
    data[ENVIRONMENT_KEY] = environment()
    for method in methods:
        result = run_cli(method)
        data[method] = {k: v for k, v in result.items() if k not in IGNORED}
        print(f"{method}: recorded")
    REFERENCE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
