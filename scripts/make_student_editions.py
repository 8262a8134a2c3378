"""Generate the student editions ``notebooks/student/*.ipynb`` from the solution notebooks.

The solution notebooks mark each answer with nbgrader's markers: ``### BEGIN SOLUTION`` /
``### END SOLUTION`` in code cells (inside a function, so that a stub only raises when called),
``BEGIN SOLUTION`` / ``END SOLUTION`` lines around written answers in markdown cells. This script

1. gives every cell that holds a marker nbgrader's cell metadata (``solution: true``, a stable
   ``grade_id``), writing it back into the solution notebook, so a lecturer can also import the
   notebooks into nbgrader as they are;
2. runs nbgrader's own ``ClearSolutions`` preprocessor (through nbconvert) on a copy: solution
   code becomes ``raise NotImplementedError()``, written answers become "YOUR ANSWER HERE";
3. points the copy's Colab and Binder badges at the student edition itself and stores it clean.

``tests/test_student_editions.py`` regenerates them and fails when the committed ones are stale::

    python scripts/make_student_editions.py           # rewrite notebooks/student/
    python scripts/make_student_editions.py --check   # exit 1 if anything would change
    python scripts/make_student_editions.py 02_piggyback   # only some notebooks
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearSolutions
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "notebooks"
STUDENT = SOURCE / "student"
MARKER = "BEGIN SOLUTION"


def _nbgrader_metadata(cell) -> dict:
    """nbgrader's cell metadata: a solution cell; written answers (markdown) are manually graded, 1 point."""
    meta = {
        "grade": cell.cell_type == "markdown",
        "grade_id": f"solution-{cell.id}",
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    if cell.cell_type == "markdown":
        meta["points"] = 1
    return meta


def mark_solutions(nb) -> bool:
    """Give nbgrader metadata to every cell with a solution region (and take it from cells without)."""
    changed = False
    for cell in nb.cells:
        has_marker = MARKER in cell.source
        if has_marker and cell.metadata.get("nbgrader") != _nbgrader_metadata(cell):
            cell.metadata["nbgrader"] = _nbgrader_metadata(cell)
            changed = True
        elif not has_marker and "nbgrader" in cell.metadata:
            del cell.metadata["nbgrader"]
            changed = True
    return changed


def student_edition(nb, name: str):
    """The student edition of solution notebook ``nb`` (named ``name``), via nbgrader's ClearSolutions."""
    student = copy.deepcopy(nb)
    config = Config()
    config.ClearSolutions.enforce_metadata = True
    student, _ = ClearSolutions(config=config).preprocess(student, {})
    for cell in student.cells:
        cell.metadata.pop("nbgrader", None)  # the student edition is a plain notebook
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    header = student.cells[0]
    header.source = header.source.replace(f"blob/main/notebooks/{name}", f"blob/main/notebooks/student/{name}")
    header.source = header.source.replace(f"labpath=notebooks%2F{name}", f"labpath=notebooks%2Fstudent%2F{name}")
    return student


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a solution notebook lacks its nbgrader metadata or a student edition is stale",
    )
    parser.add_argument("names", nargs="*", metavar="NOTEBOOK", help="only these notebooks (default: all)")
    args = parser.parse_args()
    STUDENT.mkdir(exist_ok=True)
    stale = []
    paths = sorted(SOURCE.glob("*.ipynb"))
    if args.names:
        wanted = {Path(n).name if n.endswith(".ipynb") else f"{Path(n).name}.ipynb" for n in args.names}
        unknown = wanted - {p.name for p in paths}
        if unknown:
            parser.error(f"no solution notebook named {', '.join(sorted(unknown))} in notebooks/")
        paths = [p for p in paths if p.name in wanted]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if mark_solutions(nb):
            stale.append(str(path.relative_to(REPO)))
            if not args.check:
                path.write_text(_text(nb))
        target = STUDENT / path.name
        text = _text(student_edition(nb, path.name))
        if not target.exists() or target.read_text() != text:
            stale.append(str(target.relative_to(REPO)))
            if not args.check:
                target.write_text(text)
    orphans = set(p.name for p in STUDENT.glob("*.ipynb")) - set(p.name for p in SOURCE.glob("*.ipynb"))
    for orphan in sorted(orphans) if not args.names else []:
        stale.append(f"notebooks/student/{orphan} (no solution notebook)")
        if not args.check:
            (STUDENT / orphan).unlink()
    if args.check and stale:
        print("stale: " + ", ".join(stale) + "\nrun: python scripts/make_student_editions.py", file=sys.stderr)
        return 1
    if not args.check:
        print("up to date" if not stale else "wrote " + ", ".join(stale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
