"""Strip outputs, execution counts and widget state from notebooks, and normalise their metadata.

Usage (from the repository root)::

    python scripts/strip_notebooks.py              # rewrite every notebooks/*.ipynb in place
    python scripts/strip_notebooks.py PATH ...     # only these notebooks
    python scripts/strip_notebooks.py --check      # change nothing; exit 1 and list notebooks that need it

What it does to each notebook:

- code cells: outputs removed, ``execution_count`` set to null;
- cell metadata: volatile keys dropped (``execution`` timings, ``ExecuteTime``, ``collapsed``, ``scrolled``);
  ``tags`` (used by nbval, e.g. ``raises-exception``) are kept;
- notebook metadata: ``widgets`` (saved widget state) removed, ``kernelspec`` set to the standard
  ``python3`` kernel unless it already names it (so JupyterLab, Binder and Colab open it without
  asking for a kernel),
  ``language_info`` reduced to ``{"name": "python"}`` (no machine-specific Python version);
- every cell gets an ``id`` (nbformat 4.5) if it lacks one;
- written in Jupyter's own layout (1-space indent, trailing newline), so a notebook saved by
  JupyterLab and then stripped gives a small diff.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def strip_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return ``nb`` (modified in place) without outputs, execution counts or widget state."""
    nb.nbformat, nb.nbformat_minor = 4, max(int(nb.get("nbformat_minor", 5)), 5)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if not cell.get("id"):
            cell["id"] = f"cell-{index:03d}"
    nb.metadata.pop("widgets", None)
    if nb.metadata.get("kernelspec", {}).get("name") != KERNELSPEC["name"]:
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as Jupyter writes it (what ends up on disk)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def strip_file(path: Path, check: bool = False) -> bool:
    """Strip one notebook file; return True if it was (or, with ``check``, would be) changed."""
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    stripped = notebook_text(strip_notebook(nb))
    nbformat.validate(nbformat.reads(stripped, as_version=4))
    if stripped == original:
        return False
    if not check:
        path.write_text(stripped, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report notebooks that need stripping")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((REPO / "notebooks").glob("*.ipynb"))
    changed = [path for path in paths if strip_file(path, check=args.check)]
    for path in changed:
        print(f"{'needs stripping' if args.check else 'stripped'}: {path}")
    if args.check and changed:
        print(f"run: python {Path(__file__).relative_to(REPO)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
