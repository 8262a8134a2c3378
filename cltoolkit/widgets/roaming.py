"""Notebook 03's explorer: the partition matrices of Maximum Roaming as they roam over update steps c.

Each cell (filter s, task t) of the heatmap is one of: never visited by task t,
visited before but not active now (in B_t(c) but not A_t(c)), or active now
(in A_t(c)). Beside it, the progress r(c) of the layer with the current c
marked. Everything comes from the partitions' ``history``, so it works on a
finished training run without retraining.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..roaming import NetworkPartitions, RoamingPartition
from ._common import Explorer, frames_figure

STATE_NAMES = ("never visited", "visited, inactive", "active")
STATE_COLOURS = ("#f0f0f0", "#9ecae1", "#08519c")


def _as_layers(partitions) -> dict[str, RoamingPartition]:
    if isinstance(partitions, RoamingPartition):
        return {"layer": partitions}
    if isinstance(partitions, NetworkPartitions):
        return dict(partitions.layers)
    if (
        isinstance(partitions, dict)
        and partitions
        and all(isinstance(p, RoamingPartition) for p in partitions.values())
    ):
        return dict(partitions)
    raise ValueError("partitions must be a RoamingPartition, a NetworkPartitions or {layer: RoamingPartition}")


def partition_states(part: RoamingPartition, c: int) -> np.ndarray:
    """(S, T) ints after ``c`` updates: 0 never visited, 1 visited but inactive, 2 active (c is clamped)."""
    c = min(max(int(c), 0), len(part.history) - 1)
    active = part.history[c]
    visited = part.visited_at(c)
    return visited.astype(int) + active.astype(int)


def _colourscale() -> list:
    scale = []
    for k, colour in enumerate(STATE_COLOURS):
        scale += [[k / 3, colour], [(k + 1) / 3, colour]]
    return scale


def _traces(part: RoamingPartition, c: int, task_names: list[str]) -> list:
    c = min(max(int(c), 0), len(part.history) - 1)
    states = partition_states(part, c)
    labels = np.array(STATE_NAMES, dtype=object)[states]
    heat = go.Heatmap(
        z=states,
        x=task_names,
        y=list(range(part.num_units)),
        zmin=-0.5,
        zmax=2.5,
        colorscale=_colourscale(),
        customdata=labels,
        hovertemplate="filter %{y}, task %{x}: %{customdata}<extra></extra>",
        colorbar=dict(tickvals=[0, 1, 2], ticktext=list(STATE_NAMES), x=1.02, xanchor="left", len=0.9),
        xaxis="x",
        yaxis="y",
    )
    steps = np.arange(len(part.history))
    curve = go.Scatter(
        x=steps, y=[part.progress_at(s) for s in steps], mode="lines", name="r(c)", line=dict(color="#444")
    )
    marker = go.Scatter(
        x=[c], y=[part.progress_at(c)], mode="markers", name="now", marker=dict(size=12, color="#d62728")
    )
    curve.update(xaxis="x2", yaxis="y2")
    marker.update(xaxis="x2", yaxis="y2")
    return [heat, curve, marker]


def _title(name: str, part: RoamingPartition, c: int) -> str:
    c = min(max(int(c), 0), len(part.history) - 1)
    active = int(part.history[c][:, 0].sum())
    visited = int(part.visited_at(c)[:, 0].sum())
    return (
        f"Layer {name}: update c = {c} of {part.total_steps}, r(c) = {part.progress_at(c):.2f} "
        f"(per task: {active} active, {visited} of {part.num_units} visited)"
    )


def _layout(part: RoamingPartition) -> dict:
    base = make_subplots(
        rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.15, subplot_titles=("", "progress")
    )
    base.update_xaxes(title_text="task", row=1, col=1)
    base.update_yaxes(title_text="filter (output channel)", autorange="reversed", row=1, col=1)
    base.update_xaxes(title_text="update step c", range=[-0.5, max(len(part.history) - 0.5, 1)], row=1, col=2)
    base.update_yaxes(title_text="r(c) (fraction of roaming done)", range=[-0.05, 1.05], row=1, col=2)
    base.update_layout(height=420 + 4 * min(part.num_units, 64), width=900, showlegend=False, margin=dict(t=80, r=140))
    return base.layout.to_plotly_json()


def roaming_figure(partitions, layer: str | None = None, c: int = 0, task_names=None) -> go.Figure:
    """A plotly figure of one layer's partition after ``c`` updates (heatmap) and its r(c) curve."""
    layers = _as_layers(partitions)
    name = layer if layer is not None else next(iter(layers))
    if name not in layers:
        raise ValueError(f"unknown layer {name!r}; choose one of: {', '.join(layers)}")
    part = layers[name]
    names = list(task_names) if task_names is not None else [f"task {t}" for t in range(part.num_tasks)]
    fig = go.Figure(data=_traces(part, c, names), layout=_layout(part))
    fig.update_layout(title=_title(name, part, c))
    return fig


def roaming_static_figure(partitions, layer: str | None = None, task_names=None, max_frames: int = 40) -> go.Figure:
    """All update steps of one layer as frames with a slider (no widget manager needed)."""
    layers = _as_layers(partitions)
    name = layer if layer is not None else next(iter(layers))
    if name not in layers:
        raise ValueError(f"unknown layer {name!r}; choose one of: {', '.join(layers)}")
    part = layers[name]
    names = list(task_names) if task_names is not None else [f"task {t}" for t in range(part.num_tasks)]
    steps = np.unique(np.linspace(0, len(part.history) - 1, min(max_frames, len(part.history))).round().astype(int))
    frames = [(str(c), _traces(part, c, names), _title(name, part, c)) for c in steps]
    return frames_figure(frames, _layout(part), slider_prefix="update step c = ")


def roaming_explorer(partitions, task_names=None) -> Explorer:
    """A layer menu and a slider over update steps c showing the partition matrix (filters x tasks) and r(c).

    ``partitions``: a :class:`~cltoolkit.roaming.NetworkPartitions` (e.g.
    ``run_roaming(...).partitions``), ``{layer: RoamingPartition}`` or one
    :class:`~cltoolkit.roaming.RoamingPartition`.
    """
    import ipywidgets as W

    layers = _as_layers(partitions)
    longest = max(len(p.history) for p in layers.values()) - 1
    layer = W.Dropdown(options=list(layers), value=next(iter(layers)), description="layer")
    step = W.IntSlider(value=0, min=0, max=max(longest, 0), description="update c", continuous_update=False)

    def _fit_slider(_change=None) -> None:  # the slider ends at the selected layer's last update
        step.max = max(len(layers[layer.value].history) - 1, 0)

    _fit_slider()
    layer.observe(_fit_slider, names="value")
    return Explorer([layer, step], lambda: roaming_figure(layers, layer.value, step.value, task_names))
