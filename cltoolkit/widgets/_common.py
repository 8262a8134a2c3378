"""Plumbing shared by the explorers and every plotly figure the kit shows.

Explorers. The explorers never use ``plotly.graph_objects.FigureWidget`` (it needs anywidget and
breaks in Colab and VS Code). Instead each control change builds a fresh ``go.Figure`` and puts it
into an ``ipywidgets.Output`` by setting the widget's ``outputs`` directly (not with
``with output: display(fig)``, see :meth:`Explorer.redraw` for why). The same figure-building
function also backs a static figure with frames and a slider (:func:`frames_figure`) for places
without a widget manager (nbviewer, exported HTML, the course website).

Figures that survive export. JupyterLab draws a figure from its ``application/vnd.plotly.v1+json``
output, but nbconvert, nbviewer and the course website only show ``text/html``, and what plotly
itself puts there either is missing (plotly 6+ in JupyterLab emits the JSON alone) or waits for
require.js from a CDN (plotly 5's ``notebook`` renderer), so offline the page stays blank. On import,
the kit therefore registers the plotly renderer ``"cltoolkit"`` (:func:`use_portable_figures`) when
plotly has picked its generic Jupyter default, so that every figure (the kit's and the notebooks'
own ``fig.show()``) carries both:

* the JSON, which JupyterLab and Notebook 7 prefer, and
* a small ``text/html`` that draws the figure with ``window.Plotly`` (:func:`figure_html`).

plotly.js itself goes into the page once: the first figure of a kernel session is preceded by one
extra ``text/html`` output holding plotly.js inline (:func:`plotlyjs_html`), no CDN. An exported
page therefore works offline as long as the notebook was run top to bottom (a figure that finds no
plotly.js on its page says so and how to fix it). Colab, VS Code, Kaggle and other front ends that
plotly detects keep plotly's own renderer; so does anyone who sets ``PLOTLY_RENDERER`` or
``plotly.io.renderers.default`` after importing the kit.

An explorer's own output carries the same kind of ``text/html`` next to the widget view: a snapshot
of the figure it shows, with a line saying its controls need a running kernel. Front ends with a
widget manager show the live widget; an export without widget state shows the snapshot.
"""

from __future__ import annotations

import html
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
RENDERER_NAME = "cltoolkit"
PLOTLYJS_MARKER = "<!-- cltoolkit: plotly.js inline, once per page -->"
# plotly's own choices inside a Jupyter kernel when it detects no particular front end
_GENERIC_JUPYTER_DEFAULTS = {"plotly_mimetype", "plotly_mimetype+notebook"}

_MISSING_PLOTLYJS = (
    "This figure needs plotly.js, which is not on this page. Re-run the notebook from the top "
    "(Kernel > Restart Kernel and Run All Cells) and export it again."
)
_MISSING_HTML = f'<p style="color:#b00; padding:0.5em; border:1px solid #b00;">{html.escape(_MISSING_PLOTLYJS)}</p>'

# ---------------------------------------------------------------- figures as self-contained HTML


def _script_safe_json(value: Any) -> str:
    """JSON that can sit inside a ``<script>`` element (no ``</script>`` or ``<!--`` in it)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def figure_html(fig: go.Figure | dict, div_id: str | None = None) -> str:
    """The figure as an HTML fragment drawn by the page's ``window.Plotly`` (frames and sliders included).

    The fragment holds no plotly.js and loads nothing from the network: put
    :func:`plotlyjs_html` once on the page (the ``"cltoolkit"`` renderer does).
    If plotly.js is still missing once the page has loaded, the figure's box
    says so instead of staying blank.
    """
    fig_json = pio.to_json(fig, validate=False)
    layout = json.loads(fig_json).get("layout", {})
    height = f"{int(layout['height'])}px" if layout.get("height") else "525px"
    width = f"{int(layout['width'])}px" if layout.get("width") else "100%"
    div_id = div_id or f"cltk-{uuid.uuid4().hex}"
    return f"""<div id="{div_id}" class="plotly-graph-div cltk-figure" style="height:{height}; width:{width};"></div>
<script type="text/javascript">
(function () {{
  var figure = {_script_safe_json(fig_json)};
  var config = Object.assign({{responsive: true}}, figure.config || {{}});
  function draw() {{
    var gd = document.getElementById("{div_id}");
    if (!gd || gd.getAttribute("data-cltk-drawn")) return true;
    if (!window.Plotly) return false;
    gd.setAttribute("data-cltk-drawn", "1");
    window.Plotly.newPlot(gd, {{data: figure.data || [], layout: figure.layout || {{}},
                                 frames: figure.frames || [], config: config}});
    return true;
  }}
  function missing() {{
    var gd = document.getElementById("{div_id}");
    if (gd && !gd.getAttribute("data-cltk-drawn")) {{
      gd.style.height = "auto";
      gd.setAttribute("data-cltk-missing-plotlyjs", "1");
      gd.innerHTML = {json.dumps(_MISSING_HTML)};
    }}
  }}
  if (draw()) return;
  // plotly.js may come later on the page (document order) or after an asynchronous render: wait a while.
  var tries = 0;
  function retry() {{ if (draw()) return; if (++tries < 50) setTimeout(retry, 200); else missing(); }}
  if (document.readyState === "complete") retry();
  else window.addEventListener("load", retry);
}})();
</script>"""


def plotlyjs_script() -> str:
    """plotly.js (about 4.5 MB) as one script that sets ``window.Plotly`` wherever it runs.

    The bundle runs with ``define``, ``module`` and ``exports`` hidden, so it sets ``window.Plotly``
    even on a page that loaded require.js (nbconvert's templates do). The course website serves
    this as a file; :func:`plotlyjs_html` inlines it.
    """
    from plotly.offline import get_plotlyjs

    return (
        'window.PlotlyConfig = {MathJaxConfig: "local"};\n'
        f"(function (define, module, exports) {{\n{get_plotlyjs()}\n}}).call(window);\n"
    )


def plotlyjs_html() -> str:
    """plotly.js inline, as an HTML fragment to put once on a page (no network)."""
    return f'{PLOTLYJS_MARKER}\n<script type="text/javascript">{plotlyjs_script()}</script>'


# ---------------------------------------------------------------- the "cltoolkit" plotly renderer

_plotlyjs_emitted = False


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel / ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def emit_plotlyjs(force: bool = False) -> bool:
    """Display plotly.js inline as its own output, once per kernel session; True if it did so now.

    Called before the first figure or explorer of a session is displayed. ``force=True``
    emits it again (e.g. after its output was cleared and you want to export the notebook).
    """
    global _plotlyjs_emitted
    if (_plotlyjs_emitted and not force) or not _in_kernel():
        return False
    from IPython.display import display

    display({"text/html": plotlyjs_html(), "text/plain": ""}, raw=True)
    _plotlyjs_emitted = True
    return True


def _renderer_class():
    from plotly.io.base_renderers import MimetypeRenderer

    class PortableRenderer(MimetypeRenderer):
        """plotly's JSON for JupyterLab plus self-contained ``text/html`` for exports (see the module docstring)."""

        def activate(self) -> None:
            emit_plotlyjs()

        def to_mimebundle(self, fig_dict: dict) -> dict:
            bundle = dict(pio.renderers["plotly_mimetype"].to_mimebundle(fig_dict))
            bundle["text/html"] = figure_html(fig_dict)
            return bundle

    return PortableRenderer


def portable_figures_active() -> bool:
    """True when plotly's default renderer is the kit's ``"cltoolkit"`` renderer."""
    return pio.renderers.default == RENDERER_NAME


def use_portable_figures(force: bool = False) -> bool:
    """Make the ``"cltoolkit"`` renderer plotly's default; return whether it is now the default.

    Without ``force`` this only replaces plotly's generic Jupyter choice
    (``plotly_mimetype`` with plotly 6+, ``plotly_mimetype+notebook`` with plotly 5), and
    only when ``PLOTLY_RENDERER`` is unset: Colab, VS Code, Kaggle and your own choice keep
    their renderer. Runs once when :mod:`cltoolkit.widgets` is imported.
    """
    if RENDERER_NAME not in pio.renderers:
        pio.renderers[RENDERER_NAME] = _renderer_class()()
    current = pio.renderers.default
    if force or (current in _GENERIC_JUPYTER_DEFAULTS and not os.environ.get("PLOTLY_RENDERER")):
        if current != RENDERER_NAME:
            pio.renderers.default = RENDERER_NAME
    return portable_figures_active()


def figure_bundle(fig: go.Figure) -> dict:
    """The mime bundle a figure is shown with inside an explorer (no plotly.js in it).

    plotly's own bundle where another front end's renderer is in charge (Colab, VS Code, ...), the
    kit's where it is or where plotly's default yields no bundle (outside Jupyter).
    """
    if not portable_figures_active():
        bundle = fig._repr_mimebundle_()
        if bundle:
            return bundle
    if RENDERER_NAME not in pio.renderers:
        pio.renderers[RENDERER_NAME] = _renderer_class()()
    return pio.renderers[RENDERER_NAME].to_mimebundle(fig.to_dict())


# ---------------------------------------------------------------- explorers


def _widget_view_bundle(widget) -> dict:
    """``widget``'s display bundle on ipywidgets 7 (which has no ``_repr_mimebundle_``) and 8 alike."""
    text = repr(widget)
    return {
        "text/plain": text if len(text) <= 110 else text[:110] + "…",
        WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
    }


def _control_value(control) -> str:
    label = getattr(control, "label", None)
    return str(label if label is not None else control.value)


class Explorer:
    """A control panel over a plotly figure.

    ``controls``: ipywidgets controls; ``draw()`` returns the figure for their
    current values. ``.widget`` is the ``VBox`` to display; ``.figure`` is the
    figure currently shown (handy in tests and for saving).
    """

    def __init__(self, controls: list, draw: Callable[[], go.Figure], layout: str = "vertical"):
        import ipywidgets as W

        self.controls = list(controls)
        self._draw = draw
        self.output = W.Output()
        self.figure: go.Figure | None = None
        self.redraws = 0
        for control in self.controls:
            control.observe(self._on_change, names="value")
            if isinstance(control, W.ToggleButtons):
                # JupyterLab 4 with ipywidgets 8 draws ToggleButtons as a block (its label on a line of its
                # own, the buttons under it); the class every other control has puts it in line with them.
                control.add_class("widget-inline-hbox")
                if not control.style.button_width:  # the buttons together as wide as a slider or dropdown
                    control.style.button_width = f"{max(56, 212 // max(1, len(control.options)) - 4)}px"
        bar = W.HBox(self.controls) if layout == "horizontal" else W.VBox(self.controls)
        self.widget = W.VBox([bar, self.output])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> go.Figure:
        """Draw the figure for the controls' current values and show it in ``self.output``.

        The figure is put into the Output widget's ``outputs`` in one state update, not displayed
        inside ``with self.output:``. Displaying inside the context makes a headless executor
        (nbclient, i.e. nbconvert, nbval, the site build) play the front end's part and send the
        captured output back to the kernel on the shell channel while it waits there for the cell's
        reply; pyzmq's edge-triggered socket can then miss the reply's arrival, and the executor
        sits until its cell timeout although the kernel is idle (74 s instead of 13 s for notebook
        00 under ipywidgets 7.7). Setting ``outputs`` involves no such round trip.
        """
        self.figure = self._draw()
        self.redraws += 1
        self.output.outputs = ({"output_type": "display_data", "data": figure_bundle(self.figure), "metadata": {}},)
        return self.figure

    def snapshot_html(self) -> str:
        """The current figure as self-contained HTML with a line naming the control values it shows."""
        values = ", ".join(f"{c.description} = {_control_value(c)}" for c in self.controls if c.description)
        note = (
            f"Snapshot of an interactive explorer ({values}): its controls need a running Jupyter kernel."
            if values
            else "Snapshot of an interactive explorer: its controls need a running Jupyter kernel."
        )
        return (
            f'<div class="cltk-explorer-snapshot"><p style="font-size:90%; color:#555; margin:0.2em 0;">'
            f"{html.escape(note)}</p>\n{figure_html(self.figure)}</div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict:
        """The widget view (live front ends) and, where the kit's renderer is on, a static HTML snapshot.

        Works on ipywidgets 7 (Colab) and 8.
        """
        bundle = _widget_view_bundle(self.widget)
        if portable_figures_active() and self.figure is not None:
            bundle["text/html"] = self.snapshot_html()
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if portable_figures_active():
            emit_plotlyjs()
        display(self._repr_mimebundle_(), raw=True)
        handle_displayed = getattr(self.widget, "_handle_displayed", None)  # ipywidgets 7's on_displayed hooks
        if callable(handle_displayed):
            handle_displayed()


use_portable_figures()


def frames_figure(
    frames: list[tuple[str, list[go.BaseTraceType], str]],
    base_layout: dict,
    slider_prefix: str,
    active: int = 0,
) -> go.Figure:
    """A static figure with one frame per ``(label, traces, title)`` and a slider to step through them.

    The figure opens at frame ``active`` (e.g. the explorer's default value). Works without any
    widget manager (plain plotly.js).
    """
    if not frames:
        raise ValueError("frames_figure needs at least one frame")
    if isinstance(active, bool) or not isinstance(active, int) or not 0 <= active < len(frames):
        raise ValueError(f"active must be a frame index in [0, {len(frames) - 1}], got {active!r}")
    _, first_traces, first_title = frames[active]
    fig = go.Figure(data=first_traces, layout=base_layout)
    fig.update_layout(title=first_title)
    fig.frames = [go.Frame(data=traces, name=label, layout=dict(title=title)) for label, traces, title in frames]
    steps = [
        dict(
            method="animate",
            label=label,
            args=[[label], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))],
        )
        for label, _, _ in frames
    ]
    fig.update_layout(
        sliders=[dict(active=active, currentvalue=dict(prefix=slider_prefix), steps=steps, pad=dict(t=40))]
    )
    return fig
