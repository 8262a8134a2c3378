"""The student editions in ``notebooks/student/`` are up to date and hold no solution.

They are generated from the solution notebooks by ``scripts/make_student_editions.py`` (nbgrader's
``ClearSolutions``). These tests regenerate them in memory and compare, and read every solution
region of every solution notebook to make sure none of its lines survives in the student cell.
Fix a failure with ``python scripts/make_student_editions.py`` (never by editing a student edition).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "make_student_editions.py"
SOLUTION_NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FIX = "fix: run `python scripts/make_student_editions.py` from the repository root"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_student_editions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _load_script()


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _student_path(path: Path) -> Path:
    return path.parent / "student" / path.name


def _solution_regions(source: str) -> list[list[str]]:
    """The lines strictly inside each BEGIN SOLUTION ... END SOLUTION region of a cell."""
    regions, current = [], None
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            current = []
        elif "END SOLUTION" in line:
            if current is not None:
                regions.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return regions


def test_the_script_reports_up_to_date():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"the student editions are stale:\n{result.stderr}{result.stdout}\n{FIX}"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=[p.name for p in SOLUTION_NOTEBOOKS])
def test_student_edition_is_regenerated_identically(path: Path):
    student = _student_path(path)
    assert student.exists(), f"notebooks/student/{path.name} is missing. {FIX}"
    nb = _read(path)
    assert not GENERATOR.mark_solutions(nb), (
        f"{path.name}: a cell with a solution region lacks nbgrader's metadata (or a cell without one keeps it). {FIX}"
    )
    expected = GENERATOR._text(GENERATOR.student_edition(nb, path.name))
    assert student.read_text() == expected, f"notebooks/student/{path.name} is stale. {FIX}"


def test_no_orphan_student_editions():
    names = {p.name for p in SOLUTION_NOTEBOOKS}
    orphans = sorted(p.name for p in (REPO / "notebooks" / "student").glob("*.ipynb") if p.name not in names)
    assert not orphans, f"student editions without a solution notebook: {orphans}. {FIX}"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=[p.name for p in SOLUTION_NOTEBOOKS])
def test_no_solution_text_left(path: Path):
    student_path = _student_path(path)
    if not student_path.exists():
        pytest.fail(f"notebooks/student/{path.name} is missing. {FIX}")
    solution, student = _read(path), _read(student_path)
    student_cells = {cell.id: cell for cell in student.cells}
    assert [c.id for c in solution.cells] == [c.id for c in student.cells], (
        f"{path.name}: the student edition's cells are not the solution notebook's cells, in order. {FIX}"
    )
    leaks = []
    for cell in solution.cells:
        regions = _solution_regions(cell.source)
        if not regions:
            continue
        student_cell = student_cells[cell.id]
        stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
        if stub not in student_cell.source:
            leaks.append(f"cell {cell.id}: no `{stub}` in the student edition")
        student_lines = set(student_cell.source.splitlines())
        for line in (line for region in regions for line in region if line.strip()):
            if line in student_lines:
                leaks.append(f"cell {cell.id}: {line.strip()!r}")
        if "SOLUTION" in student_cell.source.replace("YOUR ANSWER HERE", ""):
            leaks.append(f"cell {cell.id}: a solution marker is left")
        if "nbgrader" in student_cell.metadata:
            leaks.append(f"cell {cell.id}: nbgrader metadata is left (the student edition is a plain notebook)")
    assert not leaks, f"notebooks/student/{path.name} gives away solution text:\n  " + "\n  ".join(leaks)


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=[p.name for p in SOLUTION_NOTEBOOKS])
def test_cells_without_a_solution_are_unchanged(path: Path):
    """Apart from the header's badges, a student edition differs only inside solution regions."""
    student_path = _student_path(path)
    if not student_path.exists():
        pytest.fail(f"notebooks/student/{path.name} is missing. {FIX}")
    solution, student = _read(path), _read(student_path)
    changed = [
        a.id
        for a, b in zip(solution.cells[1:], student.cells[1:])
        if not _solution_regions(a.source) and (a.source != b.source or a.cell_type != b.cell_type)
    ]
    assert not changed, f"notebooks/student/{path.name}: cells without a solution differ: {changed}. {FIX}"


def test_every_solution_is_inside_a_function_body():
    """A solution region at the top level of a code cell would make the student's cell fail when run;
    inside a function body, the stub only raises when the function is called (by its check)."""
    bad = []
    for path in SOLUTION_NOTEBOOKS:
        for cell in _read(path).cells:
            if cell.cell_type != "code":
                continue
            for line in cell.source.splitlines():
                if "BEGIN SOLUTION" in line and not line.startswith((" ", "\t")):
                    bad.append(f"{path.name} cell {cell.id}")
    assert not bad, f"solution regions not indented inside a function: {bad}"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=[p.name for p in SOLUTION_NOTEBOOKS])
def test_nbgrader_accepts_the_solution_notebook(path: Path):
    """A lecturer can import the solution notebooks into nbgrader as they are (notebooks/README.md):
    nbgrader's own metadata validator, the one ``nbgrader generate_assignment`` runs, must accept them."""
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError

    try:
        MetadataValidator().validate_nb(_read(path))
    except ValidationError as exc:
        first = str(exc).splitlines()[0]
        pytest.fail(
            f"{path.name}: nbgrader rejects the cell metadata: {first[:200]}. A written answer (markdown solution "
            "cell) must be a manually graded answer: grade true, with points (scripts/make_student_editions.py)"
        )
