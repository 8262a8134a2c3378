"""Session-wide test environment: small, quiet, single-threaded and hermetic.

The variables are set in ``os.environ`` when pytest imports this file, i.e.
before any test module imports torch and before nbval starts a notebook
kernel: with ``--nbval-current-env`` the kernel is a child of the pytest
process and inherits its environment, so every notebook runs at smoke scale
with throw-away data and checkpoint directories.

This file sits at the repository root, so it applies to every pytest run from
there, also to a single notebook (``pytest notebooks/NAME.ipynb``).

Overrides:

``CLTK_TEST_SCALE``
    Run the tests (and notebooks) at another scale, e.g. ``CLTK_TEST_SCALE=default pytest notebooks``
    on a GPU machine. A ``CLTK_SCALE`` already in your shell is deliberately ignored, so an exported
    ``CLTK_SCALE=paper`` never turns the test suite into a day-long run.
``OMP_NUM_THREADS``
    Kept if already set (defaults to 1: the CI machine has two cores).

``CLTK_DEVICE`` is left alone: ``auto`` uses a GPU where there is one.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_SESSION_DIR = tempfile.mkdtemp(prefix="cltk-pytest-")

os.environ["CLTK_SCALE"] = os.environ.get("CLTK_TEST_SCALE") or "smoke"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["CLTK_PROGRESS"] = "0"
os.environ["CLTK_CACHE"] = os.path.join(_SESSION_DIR, "cache")
os.environ["CLTK_DATA"] = os.path.join(_SESSION_DIR, "data")
os.makedirs(os.environ["CLTK_CACHE"])
os.makedirs(os.environ["CLTK_DATA"])
# Headless plotting for the test process. MPLBACKEND is deliberately NOT put into the
# environment: notebook kernels inherit it, and with "Agg" there ``plt.show()`` draws nothing,
# so errors that only happen while drawing (bad mathtext in a label, say) would go unnoticed.
# The kernels keep ipykernel's inline backend, which draws every figure and needs no display.
os.environ.pop("MPLBACKEND", None)
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # silences a debugger warning in kernels


def pytest_configure(config) -> None:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a runtime dependency
        return
    matplotlib.use("Agg")


def pytest_report_header(config) -> list[str]:
    return [
        f"cltoolkit: CLTK_SCALE={os.environ['CLTK_SCALE']} OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} "
        f"CLTK_CACHE/CLTK_DATA under {_SESSION_DIR}"
    ]


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
