#!/usr/bin/env python
"""Build the course website, or export one notebook as a page that works offline.

    python scripts/build_site.py [--scale smoke|default|paper] [--out _build/site] [--only 00,02] [--reuse] [--jobs 2]
    python scripts/build_site.py --export notebooks/02_piggyback.ipynb [--out DIR] [--scale ...] [--no-execute]

The website (Sphinx with myst-nb, theme furo) goes to ``_build/site/`` (open ``index.html``, or serve
the folder with ``python -m http.server -d _build/site``). Its sources are put together in
``_build/site-src/``:

* ``docs/`` (landing page, methods reference, API reference from the docstrings, and the generated
  ``scorecard.md`` / ``bad_inputs.md`` where they exist);
* every notebook ``notebooks/NN_*.ipynb``, executed here at ``--scale`` (``smoke`` in CI) with its outputs;
* the student editions ``notebooks/student/`` (not executed: their exercises are stubs) and the
  lecturers' page ``notebooks/README.md`` where they exist.

Offline by construction: plotly.js (``_static/cltk-plotly.js``) and MathJax 2 (``_static/mathjax/``, from
the ``jupyter-server-mathjax`` package) are served by the site itself; explorers show the static snapshot
the kit puts next to their widget view (a page has no kernel to drive them), and the static figures with
sliders work as they are. The build fails if a page still points a script, stylesheet or image at
another host.

Never a silent hang: each notebook runs in a child process with a per-cell timeout (nbclient) and a
wall-clock limit for the whole notebook; a cell that sits out its whole timeout is an error too (that
is what the Output-widget stall of nbclient looked like: the kernel idle, the executor still waiting).

``--export`` writes ``OUT/NAME.html`` plus ``OUT/mathjax/``: executed at ``--scale`` (unless
``--no-execute``), without widget state (so explorers show their snapshots), MathJax from the folder
next to it and no require.js: the page opens from ``file://`` with no network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
DOCS = REPO / "docs"
BUILD = REPO / "_build"
SCALES = ("smoke", "default", "paper")
CELL_TIMEOUT = {"smoke": 300, "default": 1800, "paper": 4 * 3600}  # seconds, per cell
NOTEBOOK_TIMEOUT = {"smoke": 600, "default": 3600, "paper": 12 * 3600}  # seconds, per notebook
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe,local/cltk"
# jupyter-server-mathjax ships the STIX-Web fonts only: tell MathJax so, or it asks for the TeX ones. Its
# "MathJax_Blank" measuring font points at about:blank, which Chromium refuses with a console error; a
# local() source fails the same way, silently. The combined config also carries the native-MathML output's
# styles, which give double-struck and script variants (\mathbb, \mathcal) TeX web fonts that are not
# shipped; the hidden MathML copy kept for screen readers (MJX_Assistive_MathML) made the browser fetch
# them (404s): it keeps the page's font instead.
MATHJAX_LOCAL_CONFIG = """MathJax.Hub.Config({
  styles: {".MJX_Assistive_MathML [mathvariant]": {"font-family": "inherit !important"}},
  "HTML-CSS": {
    availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
    styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}
  },
  SVG: {font: "STIX-Web"}
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/cltk.js");
"""
# script / stylesheet / image / frame sources that would make a page load something from another host
_REMOTE_REF = re.compile(r"""<(script|link|img|iframe)\b[^>]*?\b(src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", re.I)
_STALL_FRACTION = 0.95


class BuildError(RuntimeError):
    """The build cannot go on; the message says what failed and what to do."""


def _say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- executing notebooks


def notebook_env(scale: str, runtime_dir: Path) -> dict[str, str]:
    """Environment of an executing notebook's kernel: the scale, one thread, no progress bars."""
    env = dict(os.environ)
    env["CLTK_SCALE"] = scale
    env.setdefault("OMP_NUM_THREADS", "1")
    env["CLTK_PROGRESS"] = "0"
    env["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)  # identifies the kernel, to clean up after a kill
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend draws every figure
    return env


def _execute_in_this_process(src: Path, dst: Path, cell_timeout: int) -> None:
    """Run ``src`` with nbclient (no widget state kept), write it with outputs to ``dst``; raise BuildError."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(src, as_version=4)
    started: dict[int, float] = {}
    slow: list[str] = []

    def on_start(cell, cell_index):
        started[cell_index] = time.monotonic()

    def on_done(cell, cell_index, **_):
        took = time.monotonic() - started.get(cell_index, time.monotonic())
        if took >= _STALL_FRACTION * cell_timeout:
            slow.append(f"cell {cell_index} took {took:.0f} s of its {cell_timeout} s timeout")

    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        startup_timeout=120,
        kernel_name="python3",
        store_widget_state=False,
        record_timing=False,
        resources={"metadata": {"path": str(src.parent)}},
        on_cell_start=on_start,
        on_cell_executed=on_done,
    )
    try:
        client.execute()
    except CellTimeoutError as exc:
        raise BuildError(f"{src.name}: a cell ran past its {cell_timeout} s timeout ({_first_line(exc)})") from None
    except CellExecutionError as exc:
        raise BuildError(f"{src.name}: a cell raised an error:\n{_tail(str(exc), 3000)}") from None
    except DeadKernelError as exc:
        raise BuildError(f"{src.name}: the kernel died ({exc}); out of memory?") from None
    if slow:
        raise BuildError(
            f"{src.name}: {'; '.join(slow)}: the executor waited out its timeout (a stalled kernel "
            "conversation, not slow work?); raise --cell-timeout only if the cell really needs it"
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def _tail(text: str, chars: int) -> str:
    return text if len(text) <= chars else "…" + text[-chars:]


def _kill_processes_mentioning(marker: str) -> None:
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) != os.getpid() and marker.encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def execute_notebook(src: Path, dst: Path, scale: str, cell_timeout: int, notebook_timeout: int) -> float:
    """Execute ``src`` at ``scale`` into ``dst`` in a child process; return the seconds it took.

    The child (and its kernel) is killed when the notebook runs past ``notebook_timeout``
    seconds; every failure raises :class:`BuildError` naming the notebook.
    """
    runtime_dir = Path(tempfile.mkdtemp(prefix="cltk-site-kernel-"))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--execute-one",
        str(src),
        str(dst),
        "--cell-timeout",
        str(cell_timeout),
    ]
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        env=notebook_env(scale, runtime_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=notebook_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise BuildError(
            f"{src.name} did not finish within {notebook_timeout} s at scale {scale} (killed); "
            "pass --notebook-timeout to allow more"
        ) from None
    finally:
        _kill_processes_mentioning(str(runtime_dir))  # a kernel left behind by a killed child
        shutil.rmtree(runtime_dir, ignore_errors=True)
    seconds = time.monotonic() - start
    if process.returncode != 0:
        lines = [line for line in output.splitlines() if "Kernel is running over TCP" not in line]
        raise BuildError(_tail("\n".join(lines).strip(), 4000) or f"{src.name}: exit code {process.returncode}")
    return seconds


# ---------------------------------------------------------------- offline assets


def mathjax_dir() -> Path:
    """MathJax 2.7 as shipped in the ``jupyter-server-mathjax`` package (served by the site, no CDN)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise BuildError(
            "MathJax is missing: pip install jupyter-server-mathjax (it is in requirements-dev.txt)"
        ) from None
    folder = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (folder / "MathJax.js").is_file():
        raise BuildError(f"no MathJax.js in {folder}; reinstall jupyter-server-mathjax")
    return folder


def copy_mathjax(target: Path) -> Path:
    """Copy MathJax to ``target`` with the kit's font configuration (``config/local/cltk.js``); return it."""
    if not target.exists():
        shutil.copytree(mathjax_dir(), target)
    local = target / "config" / "local"
    local.mkdir(parents=True, exist_ok=True)
    (local / "cltk.js").write_text(MATHJAX_LOCAL_CONFIG, encoding="utf-8")
    return target


def remote_references(html_text: str) -> list[str]:
    """URLs of scripts, stylesheets, images or frames that a page would load from another host."""
    return [match.group(3) for match in _REMOTE_REF.finditer(html_text)]


def _serve_plotlyjs_from_file(nb, script_url: str) -> int:
    """Replace the inline plotly.js output(s) by one ``<script src=script_url>``; return how many there were."""
    from cltoolkit.widgets._common import PLOTLYJS_MARKER

    found = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            html_text = output.get("data", {}).get("text/html")
            if isinstance(html_text, list):
                html_text = "".join(html_text)
            if isinstance(html_text, str) and html_text.startswith(PLOTLYJS_MARKER):
                found += 1
                output["data"]["text/html"] = f'<script type="text/javascript" src="{script_url}"></script>'
    return found


# ---------------------------------------------------------------- single-page export


def export_html(
    notebook: Path,
    out_dir: Path,
    scale: str = "smoke",
    execute: bool = True,
    cell_timeout: int | None = None,
    notebook_timeout: int | None = None,
) -> Path:
    """Write ``out_dir/NAME.html`` (+ ``out_dir/mathjax/``), a page that needs no network; return its path."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if execute:
        with tempfile.TemporaryDirectory(prefix="cltk-export-") as tmp:
            executed = Path(tmp) / notebook.name
            # run it where it lives, so that relative paths in the notebook work
            seconds = execute_notebook(
                notebook,
                executed,
                scale,
                cell_timeout or CELL_TIMEOUT[scale],
                notebook_timeout or NOTEBOOK_TIMEOUT[scale],
            )
            _say(f"executed {notebook.name} at scale {scale} in {seconds:.1f} s")
            nb = nbformat.read(executed, as_version=4)
    else:
        nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # without widget state, explorers show their static snapshots
    copy_mathjax(out_dir / "mathjax")
    exporter = HTMLExporter(
        mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}",
        require_js_url="data:text/javascript,",  # the kit's figures need no require.js
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    remote = [url for url in remote_references(body) if not url.startswith("data:")]
    if remote:
        raise BuildError(f"{notebook.name}: the exported page still loads from other hosts: {remote[:5]}")
    target = out_dir / f"{notebook.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


# ---------------------------------------------------------------- the website


def _markdown_text(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def notebook_summary(path: Path) -> tuple[str, str]:
    """``(title, runtime note)`` from a notebook's header cell (its ``#`` heading and its runtime paragraph)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    title, runtime = path.stem, ""
    for cell in nb.cells[:3]:
        if cell.cell_type != "markdown":
            continue
        text = _markdown_text(cell)
        heading = re.search(r"^#\s+(.+)$", text, re.M)
        if heading and title == path.stem:
            title = heading.group(1).strip()
        for paragraph in re.split(r"\n\s*\n", text):
            if not runtime and re.search(r"runtime", paragraph, re.I):
                runtime = " ".join(paragraph.split())
    runtime = re.sub(r"^\*\*(Expected runtime|Runtime)[^*]*\*\*:?\s*", "", runtime)
    return title, runtime


def _notebook_map(executed: dict[str, float], scale: str, notebooks: list[Path]) -> str:
    rows = [
        f"| notebook | runtime (from its header) | this build ({scale}, seconds incl. kernel start) |",
        "|---|---|---|",
    ]
    for path in notebooks:
        title, runtime = notebook_summary(path)
        measured = f"{executed[path.name]:.0f}" if path.name in executed else "not executed"
        rows.append(f"| [{title}](notebooks/{path.stem}.ipynb) | {runtime.replace('|', '/')} | {measured} |")
    return "\n".join(rows)


def _student_page(student: list[Path]) -> str:
    lines = [
        "# Student editions",
        "",
        "The same notebooks with the exercise solutions replaced by stubs (generated from the solution",
        "notebooks; a test keeps them in step). Each exercise's check says *not done yet* until you fill",
        "the stub in. Download a notebook and open it in JupyterLab, or browse it here without outputs.",
        "",
    ]
    lines += [f"- {{download}}`{p.name} <notebooks/student/{p.name}>`" for p in student]
    lines += ["", "```{toctree}", ":maxdepth: 1", ""] + [f"notebooks/student/{p.stem}" for p in student] + ["```", ""]
    return "\n".join(lines)


_REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:https?:)?//[^)\s]+\)")
_DOCS_LINK = re.compile(r"\]\(\.\./docs/")
_NOTEBOOK_LINK = re.compile(r"\]\(([0-9][0-9]_[A-Za-z0-9_]+\.ipynb)")


def _site_markdown(nb, student: bool = False) -> None:
    """Adapt a notebook's Markdown to the site's layout, offline.

    Images from other hosts (the Colab / Binder badges) become their alt text (a link stays a link);
    ``../docs/X.md`` links point at the site's copy; a student edition's link to a notebook that has
    no student edition points at the solution notebook.
    """
    have_student = {p.name for p in (NOTEBOOKS / "student").glob("*.ipynb")}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = _REMOTE_IMAGE.sub(lambda match: match.group(1) or "image", _markdown_text(cell))
        text = _DOCS_LINK.sub("](../" if not student else "](../../", text)
        if student:
            text = _NOTEBOOK_LINK.sub(
                lambda m: f"]({m.group(1) if m.group(1) in have_student else '../' + m.group(1)}", text
            )
        cell.source = text


def _figures_without_html(nb) -> list[int]:
    """Cells with a plotly figure that has no ``text/html`` (it would be missing from the page)."""
    return [
        index
        for index, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in output.get("data", {}) and "text/html" not in output["data"]
    ]


def _fill(page: Path, values: dict[str, str]) -> None:
    text = page.read_text(encoding="utf-8")
    for marker, value in values.items():
        if marker not in text:
            raise BuildError(f"docs/{page.name} has no {marker} line to fill in")
        text = text.replace(marker, value)
    page.write_text(text, encoding="utf-8")


def _api_modules() -> str:
    """One ``automodule`` section per public module of ``cltoolkit``: the methods first, then the rest.

    Modules are found from the files (nothing is imported here); autodoc imports them when Sphinx runs.
    """
    package = REPO / "cltoolkit"
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    first = [f"cltoolkit.{name}" for name in ("piggyback", "roaming", "hypernet", "baselines", "metrics")]
    ordered = [name for name in first if name in names] + [name for name in names if name not in first]
    blocks = [f"## `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n```\n" for name in ordered]
    return "\n".join(blocks)


def _repository_url() -> str | None:
    """The repository address from ``pyproject.toml``'s ``[project.urls]`` (the one install source), if any."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return None
    try:
        urls = tomllib.loads((REPO / "pyproject.toml").read_text()).get("project", {}).get("urls", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    for key in ("Repository", "repository", "Source", "source", "Homepage", "homepage"):
        if isinstance(urls.get(key), str):
            return urls[key]
    return None


def _stage(
    src_dir: Path, scale: str, notebooks: list[Path], executed_dir: Path, executed: dict[str, float]
) -> list[str]:
    """Lay out the Sphinx sources in ``src_dir``; return the toctree entries of the landing page."""
    import nbformat

    from cltoolkit.widgets._common import plotlyjs_script

    shutil.copytree(DOCS, src_dir, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    static = src_dir / "_static"
    static.mkdir(exist_ok=True)
    copy_mathjax(static / "mathjax")
    (static / "cltk-plotly.js").write_text(plotlyjs_script(), encoding="utf-8")

    (src_dir / "notebooks").mkdir()
    for path in notebooks:
        source = executed_dir / path.name if path.name in executed else path
        nb = nbformat.read(source, as_version=4)
        nb.metadata.pop("widgets", None)
        _site_markdown(nb)
        bare = _figures_without_html(nb)
        if bare:
            raise BuildError(
                f"{path.name}: cell(s) {bare} show a plotly figure without HTML (is cltoolkit.widgets imported?)"
            )
        carriers = _serve_plotlyjs_from_file(nb, "../_static/cltk-plotly.js")
        figures = sum("cltk-figure" in json.dumps(cell.get("outputs", [])) for cell in nb.cells)
        if carriers > 1 or (figures and carriers != 1):
            raise BuildError(f"{path.name}: {figures} cell(s) with figures but plotly.js {carriers} times (want once)")
        nbformat.write(nb, src_dir / "notebooks" / path.name)

    toctree = ["methods"] + [f"notebooks/{p.stem}" for p in notebooks]
    student = sorted((NOTEBOOKS / "student").glob("[0-9][0-9]_*.ipynb"))
    if student:
        (src_dir / "notebooks" / "student").mkdir()
        for path in student:
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            _site_markdown(nb, student=True)
            nbformat.write(nb, src_dir / "notebooks" / "student" / path.name)
        (src_dir / "student.md").write_text(_student_page(student), encoding="utf-8")
        toctree.append("student")
    lecturers = NOTEBOOKS / "README.md"
    if lecturers.is_file():  # beside the notebooks, so that its relative links still resolve
        shutil.copy(lecturers, src_dir / "notebooks" / "lecturers.md")
        toctree.append("notebooks/lecturers")
    toctree += [name for name in ("scorecard", "bad_inputs") if (src_dir / f"{name}.md").is_file()]
    toctree.append("api")

    toctree_block = "```{toctree}\n:maxdepth: 1\n:hidden:\n\n" + "\n".join(toctree) + "\n```"
    _fill(src_dir / "index.md", {"<!-- notebook-map -->": _notebook_map(executed, scale, notebooks)})
    _fill(src_dir / "index.md", {"<!-- toctree -->": toctree_block})
    _fill(src_dir / "api.md", {"<!-- api-modules -->": _api_modules()})
    repository = _repository_url()
    if repository:
        index = src_dir / "index.md"
        index.write_text(index.read_text(encoding="utf-8").replace("<this repository>", repository), encoding="utf-8")
    (src_dir / "_build_info.json").write_text(json.dumps({"scale": scale, "seconds": executed}, indent=1))
    return toctree


def build_site(
    scale: str = "smoke",
    out: Path = BUILD / "site",
    only: list[str] | None = None,
    cell_timeout: int | None = None,
    notebook_timeout: int | None = None,
    sphinx_timeout: int = 900,
    reuse: bool = False,
    jobs: int = 1,
) -> dict[str, float]:
    """Build the website into ``out``; return the seconds per step (``notebooks/NAME``, ``sphinx``, ``total``)."""
    start = time.monotonic()
    out = Path(out).resolve()
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise BuildError(f"no notebooks in {NOTEBOOKS}")
    if only:
        unknown = [prefix for prefix in only if not any(p.name.startswith(prefix) for p in notebooks)]
        if unknown:
            raise BuildError(f"--only {','.join(unknown)} matches no notebook in {NOTEBOOKS}")
    to_run = [p for p in notebooks if not only or any(p.name.startswith(prefix) for prefix in only)]
    src_dir = out.parent / f"{out.name}-src"  # _build/site-src next to _build/site
    executed_dir = out.parent / f"{out.name}-executed" / scale
    for folder in (src_dir, out):
        shutil.rmtree(folder, ignore_errors=True)
    executed_dir.mkdir(parents=True, exist_ok=True)

    timings: dict[str, float] = {}
    executed: dict[str, float] = {}
    seconds_file = executed_dir / "seconds.json"
    previous = json.loads(seconds_file.read_text()) if reuse and seconds_file.is_file() else {}
    pending = []
    for path in to_run:
        target = executed_dir / path.name
        if reuse and path.name in previous and target.is_file() and target.stat().st_mtime > path.stat().st_mtime:
            executed[path.name] = previous[path.name]
            _say(f"reusing {target} (executed in {previous[path.name]:.1f} s)")
        else:
            pending.append(path)

    def run(path: Path) -> tuple[str, float]:
        _say(f"executing {path.name} at scale {scale} ...")
        seconds = execute_notebook(
            path,
            executed_dir / path.name,
            scale,
            cell_timeout or CELL_TIMEOUT[scale],
            notebook_timeout or NOTEBOOK_TIMEOUT[scale],
        )
        _say(f"  {path.name}: {seconds:.1f} s")
        return path.name, seconds

    notebooks_start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each notebook runs in its own process
        for name, seconds in pool.map(run, pending):
            executed[name] = timings[f"notebooks/{name}"] = seconds
    timings["notebooks"] = time.monotonic() - notebooks_start
    seconds_file.write_text(json.dumps({**previous, **executed}, indent=1))

    _stage(src_dir, scale, notebooks, executed_dir, executed)
    _say("sphinx-build ...")
    sphinx_start = time.monotonic()
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", str(src_dir), str(out)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=sphinx_timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"sphinx-build did not finish within {sphinx_timeout} s") from None
    if result.returncode != 0:
        raise BuildError(f"sphinx-build failed (exit {result.returncode}):\n{_tail(result.stderr, 4000)}")
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    if warnings:
        _say(f"sphinx-build: {len(warnings)} warning(s):\n  " + "\n  ".join(warnings[:30]))
    timings["sphinx"] = time.monotonic() - sphinx_start

    remote = {}
    for page in out.rglob("*.html"):
        found = remote_references(page.read_text(encoding="utf-8", errors="replace"))
        if found:
            remote[str(page.relative_to(out))] = found[:3]
    if remote:
        raise BuildError(f"pages that would load from other hosts (the site must work offline): {remote}")
    timings["total"] = time.monotonic() - start
    _say(f"site built in {timings['total']:.0f} s: {out / 'index.html'}")
    return timings


# ---------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 second, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=SCALES, default="smoke", help="scale the notebooks run at (default smoke)")
    parser.add_argument("--out", type=Path, help="output folder (default _build/site, or _build/export)")
    parser.add_argument("--only", help="comma-separated notebook prefixes to execute (e.g. 00,02); others unexecuted")
    parser.add_argument("--cell-timeout", type=_positive_int, help="seconds per cell (default by scale)")
    parser.add_argument("--notebook-timeout", type=_positive_int, help="seconds per notebook (default by scale)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep executed notebooks from an earlier build that are newer than theirs"
    )
    parser.add_argument("--jobs", type=_positive_int, default=1, help="notebooks executed at the same time (default 1)")
    parser.add_argument("--export", type=Path, metavar="NOTEBOOK", help="export one notebook as an offline page")
    parser.add_argument("--no-execute", action="store_true", help="with --export: keep the notebook's outputs")
    parser.add_argument("--execute-one", nargs=2, type=Path, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.execute_one:
            _execute_in_this_process(*args.execute_one, cell_timeout=args.cell_timeout or CELL_TIMEOUT["smoke"])
        elif args.export:
            if not args.export.is_file():
                raise BuildError(f"no notebook at {args.export}")
            target = export_html(
                args.export,
                args.out or BUILD / "export",
                args.scale,
                execute=not args.no_execute,
                cell_timeout=args.cell_timeout,
                notebook_timeout=args.notebook_timeout,
            )
            _say(f"wrote {target} (open it from the file system; it needs the mathjax/ folder beside it)")
        else:
            only = [part.strip() for part in args.only.split(",") if part.strip()] if args.only else None
            build_site(
                args.scale,
                args.out or BUILD / "site",
                only,
                args.cell_timeout,
                args.notebook_timeout,
                reuse=args.reuse,
                jobs=args.jobs,
            )
    except BuildError as exc:
        print(f"build_site: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
