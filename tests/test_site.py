"""The course website builds with one command and works offline.

``python scripts/build_site.py --scale smoke`` runs once per session (every notebook executed at smoke
scale, two at a time, then Sphinx); the tests check what it produced, and a browser test serves it from
127.0.0.1 with every other host blocked, opens the landing page, follows the notebook map to notebook
00 and moves the slider of its static figure. ``CLTK_TEST_SITE=DIR`` checks an existing build instead.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENT = sorted((REPO / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))
BUILD_LIMIT = 1200  # seconds: the build has its own per-notebook limits; this only bounds the test


def _build_site_module():
    spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built at smoke scale; ``CLTK_TEST_SITE=DIR`` checks an existing build instead (when iterating)."""
    if os.environ.get("CLTK_TEST_SITE"):
        return Path(os.environ["CLTK_TEST_SITE"])
    out = tmp_path_factory.mktemp("site-build") / "site"
    command = [sys.executable, "scripts/build_site.py", "--scale", "smoke", "--jobs", "2", "--out", str(out)]
    start = time.monotonic()
    try:
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=BUILD_LIMIT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"build_site.py ran past {BUILD_LIMIT} s:\n{(exc.stdout or b'')[-3000:]}")
    seconds = time.monotonic() - start
    assert result.returncode == 0, f"build_site.py failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    print(f"site built in {seconds:.0f} s\n{result.stdout[-1500:]}")
    return out


def _notebook_with(tmp_path: Path, source: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    path = tmp_path / "hang.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_hung_notebook_is_killed_and_named(tmp_path):
    build_site = _build_site_module()
    path = _notebook_with(tmp_path, "import time\ntime.sleep(600)")
    start = time.monotonic()
    with pytest.raises(build_site.BuildError, match=r"hang.ipynb did not finish within 15 s at scale smoke \(killed\)"):
        build_site.execute_notebook(path, tmp_path / "out.ipynb", "smoke", cell_timeout=300, notebook_timeout=15)
    assert time.monotonic() - start < 60


def test_a_cell_that_sits_out_its_timeout_is_an_error(tmp_path):
    """What the Output-widget stall looked like: the executor waited the whole cell timeout, then went on."""
    build_site = _build_site_module()
    path = _notebook_with(tmp_path, "import time\ntime.sleep(19.3)")  # 96 % of the timeout; > 95 % is flagged
    with pytest.raises(build_site.BuildError, match=r"cell 0 took (19|20) s of its 20 s timeout"):
        build_site.execute_notebook(path, tmp_path / "out.ipynb", "smoke", cell_timeout=20, notebook_timeout=120)


def test_every_page_is_there(site):
    assert (site / "index.html").is_file()
    for path in NOTEBOOKS:
        page = site / "notebooks" / f"{path.stem}.html"
        assert page.is_file(), f"no page for {path.name}"
    for path in STUDENT:
        assert (site / "notebooks" / "student" / f"{path.stem}.html").is_file(), f"no page for student/{path.name}"
    expected = ["methods.html", "api.html"]
    expected += [f"{name}.html" for name in ("scorecard", "bad_inputs") if (REPO / "docs" / f"{name}.md").is_file()]
    if STUDENT:
        expected.append("student.html")
    if (REPO / "notebooks" / "README.md").is_file():
        expected.append("notebooks/lecturers.html")
    missing = [name for name in expected if not (site / name).is_file()]
    assert not missing, f"pages missing from the site: {missing}"


def test_landing_page_maps_every_notebook_with_its_runtime(site):
    text = (site / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr.*?</tr>", text, re.S)
    for path in NOTEBOOKS:
        row = next((r for r in rows if f'href="notebooks/{path.stem}.html"' in r), None)
        assert row, f"the notebook map has no row linking to {path.stem}"
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert len(cells) == 3, cells
        assert re.fullmatch(r"\s*(<p>)?\d+(</p>)?\s*", cells[-1]), f"no measured runtime for {path.stem}: {cells[-1]!r}"


def test_notebook_pages_have_outputs_and_plotlyjs_from_the_site(site):
    page = (site / "notebooks" / "00_start_here.html").read_text(encoding="utf-8")
    assert page.count('src="../_static/cltk-plotly.js"') == 1, "plotly.js must be loaded once, from the site"
    assert "cltk-explorer-snapshot" in page and page.count("cltk-figure") >= 2
    assert (site / "_static" / "cltk-plotly.js").stat().st_size > 1_000_000
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()
    assert "<img" in (site / "notebooks" / "01_forgetting.html").read_text(encoding="utf-8"), "matplotlib outputs"


def test_api_reference_comes_from_the_docstrings(site):
    text = (site / "api.html").read_text(encoding="utf-8")
    for name in (
        "cltoolkit.piggyback.Binarize",
        "cltoolkit.roaming.RoamingPartition",
        "cltoolkit.hypernet.HyperNetwork",
    ):
        assert f'id="{name}"' in text, f"{name} is not documented in the API reference"
    assert "straight" in text  # Binarize's docstring: "the gradient passes straight through"


def test_no_page_loads_anything_from_another_host(site):
    remote_references = _build_site_module().remote_references
    found = {
        str(page.relative_to(site)): refs
        for page in site.rglob("*.html")
        if (refs := remote_references(page.read_text(encoding="utf-8", errors="replace")))
    }
    assert not found, f"pages that would load from other hosts: {found}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture
def served(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.browser
def test_site_offline_landing_page_to_a_notebook_and_its_slider(served):
    from browser import (
        fail,
        figure_title,
        move_plotly_slider,
        offline_page,
        page_errors,
        require_browser,
        wait_for_figure_title_change,
        wait_for_plotly_figures,
    )

    require_browser()
    with offline_page(allow_origin=served) as offline:
        page = offline.page
        page.goto(f"{served}/index.html", wait_until="load")
        assert "cltoolkit" in page.title()
        link = page.locator("article a[href='notebooks/00_start_here.html']").first
        link.click()
        page.wait_for_url(re.compile(r"notebooks/00_start_here\.html$"))
        page.wait_for_load_state("load")
        figures = wait_for_plotly_figures(page, 2, "site: notebook 00")
        with_slider = [f for f in figures if f.locator(".slider-rail-touch-rect").count()]
        if len(with_slider) != 1:
            fail(page, "site: notebook 00", f"expected one figure with a slider, found {len(with_slider)}")
        figure = with_slider[0]
        before = figure_title(figure)  # notebook 00 gives the figure a title of its own
        move_plotly_slider(page, figure, fraction=1.0)
        after = wait_for_figure_title_change(page, figure, before, "site: notebook 00")
        assert re.match(r"Task [1-9]", after), f"the last frame's title should name the last task, got {after!r}"
        page.wait_for_function("() => document.querySelectorAll('.MathJax, .MathJax_Display').length > 0")
        assert offline.blocked == [], f"the site asked other hosts for: {offline.blocked}"
        assert not page_errors(page), page_errors(page)


_PLOT_STATE_JS = """(el) => {
  const plot = el.querySelector('.cartesianlayer');
  const title = el.querySelector('.gtitle');
  return (plot ? plot.innerHTML : '') + '|' + (title ? title.textContent : '');
}"""


@pytest.mark.browser
@pytest.mark.parametrize("notebook", [p.stem for p in NOTEBOOKS])
def test_every_notebook_page_draws_every_figure_offline_and_its_sliders_work(served, notebook):
    """Each notebook's page, served offline: every plotly figure in it is drawn, and moving any figure's
    slider redraws its plot (not only the slider handle)."""
    from browser import fail, move_plotly_slider, offline_page, page_errors, require_browser, wait_for_plotly_figures

    require_browser()
    name = f"site: {notebook}"
    with offline_page(allow_origin=served) as offline:
        page = offline.page
        page.goto(f"{served}/notebooks/{notebook}.html", wait_until="load")
        expected = page.locator(".plotly-graph-div").count()
        figures = wait_for_plotly_figures(page, expected, name) if expected else []
        sliders = 0
        for index, figure in enumerate(figures):
            if not figure.locator(".slider-rail-touch-rect").count():
                continue
            sliders += 1
            before = figure.evaluate(_PLOT_STATE_JS)
            changed = False
            for fraction in (1.0, 0.0):  # whichever end is not where the figure opened
                move_plotly_slider(page, figure, fraction=fraction)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not changed:
                    changed = figure.evaluate(_PLOT_STATE_JS) != before
                    page.wait_for_timeout(200)
                if changed:
                    break
            if not changed:
                fail(page, name, f"figure {index}: moving its slider to either end did not redraw the plot")
        print(f"{notebook}: {len(figures)} plotly figure(s) drawn, {sliders} slider(s) moved")
        assert offline.blocked == [], f"{name}: the page asked other hosts for {offline.blocked}"
        assert not page_errors(page), f"{name}: {page_errors(page)}"
