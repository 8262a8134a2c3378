"""Style never drifts: ``ruff check`` and ``ruff format --check`` pass (configuration in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKED_DIRS = [
    name
    for name in ("cltoolkit", "tests", "data_scripts", "benchmarks", "scripts", "notebooks")
    if (REPO / name).is_dir()
]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    try:
        import ruff  # noqa: F401  (only to give a clear message when it is missing)
    except ImportError:
        pytest.fail("ruff is not installed in this environment: pip install -r requirements-dev.txt")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *CHECKED_DIRS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_check():
    result = _ruff("check", "--no-cache", "--output-format", "concise")
    if result.returncode != 0:
        pytest.fail(
            f"ruff check found problems (many fix themselves: `ruff check --fix {' '.join(CHECKED_DIRS)}`):\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )


def test_ruff_format():
    result = _ruff("format", "--check", "--no-cache")
    if result.returncode != 0:
        pytest.fail(
            f"ruff format would reformat files (run `ruff format {' '.join(CHECKED_DIRS)}`):\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )
