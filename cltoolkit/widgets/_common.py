"""Plumbing shared by the explorers: an ipywidgets panel that redraws a plotly figure.

The explorers never use ``plotly.graph_objects.FigureWidget`` (it needs
anywidget and breaks in Colab and VS Code). Instead each control change builds
a fresh ``go.Figure`` and displays it in an ``ipywidgets.Output``; the same
figure-building function also backs a static figure with frames and a slider
for places without a widget manager (nbviewer, exported HTML).
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go


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
        bar = W.HBox(self.controls) if layout == "horizontal" else W.VBox(self.controls)
        self.widget = W.VBox([bar, self.output])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> go.Figure:
        from IPython.display import display

        self.figure = self._draw()
        self.redraws += 1
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        return self.figure

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def frames_figure(
    frames: list[tuple[str, list[go.BaseTraceType], str]], base_layout: dict, slider_prefix: str
) -> go.Figure:
    """A static figure with one frame per ``(label, traces, title)`` and a slider to step through them.

    Works without any widget manager (plain plotly.js).
    """
    if not frames:
        raise ValueError("frames_figure needs at least one frame")
    first_label, first_traces, first_title = frames[0]
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
    fig.update_layout(sliders=[dict(active=0, currentvalue=dict(prefix=slider_prefix), steps=steps, pad=dict(t=40))])
    return fig
