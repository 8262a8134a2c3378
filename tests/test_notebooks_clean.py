"""The notebooks are stored clean (no outputs, counts or widget state) and share one opening.

Every notebook starts with: a markdown header (title, Colab and Binder badges pointing at
this very notebook), the guarded Colab cell (verbatim), and one setup cell (scale, device,
seed). Fix a dirty notebook with ``python scripts/strip_notebooks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
FIX = "fix: run `python scripts/strip_notebooks.py` from the repository root (it rewrites notebooks/*.ipynb)"

COLAB_CELL = "\n".join(
    [
        "# Colab only: install the kit and turn on Colab's widget manager. Does nothing anywhere else.",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        "    import subprocess",
        "",
        "    subprocess.run(",
        '        [sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/cltoolkit/cltoolkit"], '
        "check=True",
        "    )",
        "    from google.colab import output",
        "",
        "    output.enable_custom_widget_manager()",
    ]
)


COLAB_URL = "https://colab.research.google.com/github/cltoolkit/cltoolkit/blob/main/notebooks/{name}"
BINDER_URL = "https://mybinder.org/v2/gh/cltoolkit/cltoolkit/main?labpath=notebooks%2F{name}"


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_notebooks_exist_and_are_named_in_order():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"
    bad = [p.name for p in NOTEBOOKS if not re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name)]
    assert not bad, f"notebook names must look like 00_start_here.ipynb (two digits, snake_case): {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_valid_nbformat_4(path: Path):
    nb = _read(path)
    assert nb.nbformat == 4, f"{path.name}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_stored_without_outputs_or_widget_state(path: Path):
    nb = _read(path)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has execution_count {cell.execution_count}")
        timing_keys = sorted({"execution", "ExecuteTime"} & set(cell.metadata))
        if timing_keys:
            problems.append(f"cell {index} has execution timing metadata {timing_keys}")
    if "widgets" in nb.metadata:
        problems.append("notebook metadata holds saved widget state ('widgets')")
    assert not problems, f"{path.name} is not stored clean:\n  " + "\n  ".join(problems) + f"\n{FIX}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_standard_python3_kernelspec(path: Path):
    kernelspec = _read(path).metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", (
        f"{path.name}: metadata.kernelspec is {kernelspec or 'missing'}; JupyterLab would ask which kernel to use. "
        + FIX
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_opening_cells(path: Path):
    cells = _read(path).cells
    assert len(cells) >= 3, f"{path.name}: expected at least a header, the Colab cell and a setup cell"
    header, colab, setup = cells[:3]

    assert header.cell_type == "markdown", f"{path.name}: cell 1 must be the markdown header"
    assert header.source.lstrip().startswith("# "), f"{path.name}: the header must start with a '# Title' line"
    for what, url in (("Colab", COLAB_URL), ("Binder", BINDER_URL)):
        expected = url.format(name=path.name)
        assert expected in header.source, f"{path.name}: the header needs the {what} badge linking to {expected}"

    assert colab.cell_type == "code", f"{path.name}: cell 2 must be the guarded Colab code cell"
    assert colab.source.strip() == COLAB_CELL, (
        f"{path.name}: cell 2 must be exactly the guarded Colab cell:\n{COLAB_CELL}\n--- found ---\n{colab.source}"
    )

    assert setup.cell_type == "code", f"{path.name}: cell 3 must be the setup code cell"
    for call in ("get_scale(", "get_device(", "seed_everything("):
        assert call in setup.source, f"{path.name}: the setup cell (cell 3) should call {call}...)"
