"""Figures survive export: a notebook exported to HTML shows every plotly figure offline, sliders work.

A purpose-built notebook (an explorer, a control change in a later cell, a static figure with a slider,
a plain ``fig.show()``, some math) is executed the way ``jupyter nbconvert --to html --execute`` does
it (nbconvert's ExecutePreprocessor) and exported twice:

* with nbconvert's defaults: the static figure and the plain figure must draw offline (plotly.js once,
  inline) and the slider must move the figure; the explorer's live widget needs a widget manager
  from a CDN, so it is not expected there;
* with ``scripts/build_site.py``'s offline export: additionally the explorer's static snapshot, MathJax
  from the folder beside the page, and not a single request to another host.

The unit tests below need no browser and also run under Colab's versions (ipywidgets 7, plotly 5).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from cltoolkit.data import load_digits, make_stream
from cltoolkit.widgets import _common, stream_explorer, stream_static_figure

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 240  # seconds; nbconvert would wait this long in the Output-widget stall
WALL_LIMIT = 200  # the whole execution must finish before a stalled cell would have


def _load_build_site():
    spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stream():
    return make_stream(load_digits(), "rotated", 3)


# ---------------------------------------------------------------- unit tests (no kernel, no browser)


def test_explorer_bundle_works_on_this_ipywidgets(stream):
    """``_repr_mimebundle_`` must not rely on the widget's own (ipywidgets 7 has none)."""
    explorer = stream_explorer(stream, n_examples=2)
    bundle = explorer._repr_mimebundle_()
    view = bundle[_common.WIDGET_VIEW_MIME]
    assert view["model_id"] == explorer.widget.model_id and view["version_major"] == 2
    assert bundle["text/plain"]


def test_explorer_output_holds_the_figure_without_a_display_context(stream):
    explorer = stream_explorer(stream, n_examples=2)
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    assert "application/vnd.plotly.v1+json" in output["data"] and "text/html" in output["data"]
    explorer.controls[0].value = 2
    assert len(explorer.output.outputs) == 1, "a redraw replaces the figure, it does not append one"
    assert explorer.figure.layout.title.text.startswith("Task 2")


def test_portable_renderer_bundle_and_snapshot(stream, monkeypatch):
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    before = pio.renderers.default
    try:
        pio.renderers.default = "plotly_mimetype"  # what plotly picks in a Jupyter kernel (plotly 6+)
        assert _common.use_portable_figures() is True
        fig = stream_static_figure(stream, n_examples=2)
        bundle = fig._repr_mimebundle_()
        assert set(bundle) >= {"application/vnd.plotly.v1+json", "text/html"}
        html = bundle["text/html"]
        assert "Plotly.newPlot" in html and "frames" in html
        assert "<script src" not in html and "cdn." not in html, "a figure loads nothing from anywhere"
        assert _common.PLOTLYJS_MARKER not in html, "plotly.js goes into its own output, once"
        explorer = stream_explorer(stream, n_examples=2)
        snapshot = explorer._repr_mimebundle_()["text/html"]
        assert "task = 0" in snapshot and "cltk-figure" in snapshot
    finally:
        pio.renderers.default = before


def test_other_front_ends_keep_their_renderer(monkeypatch):
    before = pio.renderers.default
    try:
        pio.renderers.default = "colab"
        assert _common.use_portable_figures() is False and pio.renderers.default == "colab"
        pio.renderers.default = "plotly_mimetype"
        monkeypatch.setenv("PLOTLY_RENDERER", "plotly_mimetype")
        assert _common.use_portable_figures() is False
    finally:
        pio.renderers.default = before


def test_figure_html_is_script_safe():
    fig = go.Figure(go.Bar(y=[1, 2]), layout=dict(title="</script><script>alert(1)</script>"))
    html = _common.figure_html(fig)
    assert html.count("</script>") == 1, "the title must not close the figure's script early"


def test_plotlyjs_hides_amd_loaders():
    html = _common.plotlyjs_html()
    assert html.startswith(_common.PLOTLYJS_MARKER)
    assert "(function (define, module, exports)" in html and "}).call(window);" in html
    assert "https://" not in html[:500]


def test_toggle_buttons_line_up_with_the_other_controls():
    import ipywidgets as W

    toggle = W.ToggleButtons(options=["accuracy", "loss"], description="colour")
    _common.Explorer([W.IntSlider(description="k"), toggle], lambda: go.Figure())
    assert "widget-inline-hbox" in toggle._dom_classes
    assert toggle.style.button_width == "102px"  # two buttons as wide as a slider's track


def test_frames_figure_opens_at_the_active_frame():
    frames = [(str(k), [go.Bar(y=[k, k])], f"frame {k}") for k in range(4)]
    fig = _common.frames_figure(frames, {}, "k = ", active=2)
    assert fig.layout.title.text == "frame 2" and list(fig.data[0].y) == [2, 2]
    assert fig.layout.sliders[0].active == 2 and len(fig.frames) == 4
    with pytest.raises(ValueError, match=r"active must be a frame index in \[0, 3\], got 4"):
        _common.frames_figure(frames, {}, "k = ", active=4)


# ---------------------------------------------------------------- export and open in Chromium

NOTEBOOK_CELLS = [
    ("markdown", "# Export check\n\nInline math $\\alpha + \\beta$ and a display\n\n$$\\sum_{t<T} R_{T,t}$$"),
    (
        "code",
        "import ipywidgets\nimport plotly\nimport plotly.graph_objects as go\n"
        "from cltoolkit.data import load_digits, make_stream\n"
        "from cltoolkit.widgets import stream_explorer, stream_static_figure\n\n"
        "stream = make_stream(load_digits(), 'rotated', 3)\n"
        "print('versions', ipywidgets.__version__, plotly.__version__)",
    ),
    ("code", "explorer = stream_explorer(stream, n_examples=3)\nexplorer"),
    ("code", "explorer.controls[0].value = 1  # a later cell moves a control (once a 90 s stall)"),
    ("code", "static = stream_static_figure(stream, n_examples=3)\nstatic"),
    ("code", "fig = go.Figure(go.Bar(x=['a', 'b'], y=[1, 2]))\nfig.update_layout(title='plain figure')\nfig.show()"),
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, float]:
    """The test notebook, executed as ``jupyter nbconvert --to notebook --execute`` does; (path, seconds)."""
    folder = tmp_path_factory.mktemp("export")
    nb = nbformat.v4.new_notebook()
    for kind, source in NOTEBOOK_CELLS:
        nb.cells.append(
            nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        )
    source = folder / "export_check.ipynb"
    nbformat.write(nb, source)
    command = [
        sys.executable,  # python -m nbconvert: the kernel runs this interpreter (the environment under test)
        "-m",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}",
        "--output",
        "executed.ipynb",
        str(source),
    ]
    start = time.monotonic()
    try:
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=WALL_LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"nbconvert --execute took more than {WALL_LIMIT} s on a notebook of a few seconds: a cell sat "
            "out its timeout (the Output-widget stall of nbclient is back?)"
        )
    seconds = time.monotonic() - start
    assert result.returncode == 0, f"nbconvert --execute failed:\n{result.stderr[-3000:]}"
    return folder / "executed.ipynb", seconds


def test_executed_notebook_carries_plotlyjs_once_and_html_everywhere(executed):
    import ipywidgets
    import plotly

    path, _ = executed
    nb = nbformat.read(path, as_version=4)
    outputs = [output for cell in nb.cells for output in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert f"versions {ipywidgets.__version__} {plotly.__version__}" in printed, f"the kernel is another env: {printed}"
    html = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert sum(text.startswith(_common.PLOTLYJS_MARKER) for text in html) == 1
    plotly_outputs = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plotly_outputs) == 2 and all("text/html" in o["data"] for o in plotly_outputs)
    explorer = [o for o in outputs if _common.WIDGET_VIEW_MIME in o.get("data", {})]
    assert len(explorer) == 1 and "text/html" in explorer[0]["data"], "the explorer carries a static snapshot"


def _open(offline, path: Path):
    page = offline.page
    page.goto(path.as_uri(), wait_until="load")
    return page


def _check_slider(page, name: str) -> None:
    from browser import figure_title, move_plotly_slider, wait_for_figure_title_change

    sliders = page.locator(".js-plotly-plot", has=page.locator(".slider-rail-touch-rect"))
    assert sliders.count() == 1, f"expected one figure with a slider, found {sliders.count()}"
    figure = sliders.first
    before = figure_title(figure)
    assert before.startswith("Task 0"), before
    move_plotly_slider(page, figure, fraction=1.0)
    after = wait_for_figure_title_change(page, figure, before, name)
    assert after.startswith("Task 2"), after


@pytest.mark.browser
def test_nbconvert_default_export_draws_static_figures_offline(executed, tmp_path):
    from browser import offline_page, page_errors, require_browser, wait_for_plotly_figures

    require_browser()
    path, _ = executed
    result = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    html_path = tmp_path / "executed.html"
    text = html_path.read_text(encoding="utf-8")
    assert text.count(_common.PLOTLYJS_MARKER) == 1
    remote = _load_build_site().remote_references(text)
    assert not [url for url in remote if "plot" in url.lower()], f"plotly.js from another host: {remote}"
    with offline_page() as offline:
        page = _open(offline, html_path)
        figures = wait_for_plotly_figures(page, 2, "nbconvert export")
        titles = sorted(f.locator(".gtitle").first.text_content() or "" for f in figures)
        assert any(t.startswith("Task 0") for t in titles) and "plain figure" in titles, titles
        _check_slider(page, "nbconvert export")
        assert not page.locator("[data-cltk-missing-plotlyjs]").count()
        assert not [e for e in page_errors(page) if "Plotly" in e], page_errors(page)
        # nbconvert's own template asks the network for require.js, MathJax and the widget manager:
        # the figures above drew without them.
        assert all("plot.ly" not in url for url in offline.blocked), offline.blocked


@pytest.mark.browser
def test_offline_export_shows_everything_and_asks_no_host(executed, tmp_path):
    from browser import offline_page, page_errors, require_browser, wait_for_plotly_figures

    require_browser()
    path, _ = executed
    build_site = _load_build_site()
    html_path = build_site.export_html(path, tmp_path, execute=False)
    with offline_page() as offline:
        page = _open(offline, html_path)
        figures = wait_for_plotly_figures(page, 3, "offline export")
        titles = [f.locator(".gtitle").first.text_content() or "" for f in figures]
        assert sum(t.startswith("Task 0") for t in titles) == 2, titles  # explorer snapshot + static figure
        snapshot = page.locator(".cltk-explorer-snapshot")
        assert snapshot.count() == 1 and "task = 0" in (snapshot.first.text_content() or "")
        _check_slider(page, "offline export")
        page.wait_for_function(
            "() => document.querySelectorAll('.MathJax, .MathJax_Display, mjx-container').length >= 2"
        )
        assert offline.blocked == [], f"the offline export asked other hosts for: {offline.blocked}"
        assert not page_errors(page), page_errors(page)
