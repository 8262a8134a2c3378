"""Notebook 00's explorer: look at the examples of each task of a stream."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..data.streams import Stream
from ._common import Explorer, frames_figure


def _examples(stream: Stream, task: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = stream.tasks[task]
    # the same positions in every task, so a permuted/rotated stream shows the same digits transformed
    idx = torch.linspace(0, len(t.x_test) - 1, n).long()
    return t.x_test[idx], t.y_test[idx]


def _task_title(stream: Stream, task: int) -> str:
    t = stream.tasks[task]
    classes = "labels " + ", ".join(str(c) for c in t.classes) if t.classes else ""
    return f"Task {task}: {t.name} ({len(t.x_train)} train / {len(t.x_test)} test; {classes})"


def _traces(stream: Stream, task: int, n: int) -> list[go.Heatmap]:
    x, y = _examples(stream, task, n)
    t = stream.tasks[task]
    traces = []
    for k in range(n):
        img = x[k].mean(0).numpy()
        label = t.classes[int(y[k])] if t.classes else int(y[k])
        traces.append(
            go.Heatmap(
                z=img[::-1],
                colorscale="gray_r",
                zmin=0,
                zmax=1,
                showscale=False,
                hovertemplate=f"label {label}<br>pixel (%{{x}}, %{{y}}) = %{{z:.2f}}<extra></extra>",
                xaxis=f"x{k + 1}" if k else "x",
                yaxis=f"y{k + 1}" if k else "y",
            )
        )
    return traces


def _layout(n: int) -> dict:
    base = make_subplots(rows=1, cols=n, horizontal_spacing=0.01)
    base.update_xaxes(showticklabels=False)
    base.update_yaxes(showticklabels=False)
    for k in range(n):
        base.layout[f"yaxis{k + 1 if k else ''}"].scaleanchor = f"x{k + 1 if k else ''}"
    base.update_layout(height=240, width=110 * n + 60, margin=dict(l=10, r=10, t=60, b=10), plot_bgcolor="white")
    return base.layout.to_plotly_json()


def stream_figure(stream: Stream, task: int = 0, n_examples: int = 8) -> go.Figure:
    """A plotly figure with ``n_examples`` test images of one task of ``stream``."""
    if not 0 <= task < stream.num_tasks:
        raise ValueError(f"task {task} out of range: the stream has {stream.num_tasks} tasks")
    fig = go.Figure(data=_traces(stream, task, n_examples), layout=_layout(n_examples))
    fig.update_layout(title=_task_title(stream, task))
    return fig


def stream_static_figure(stream: Stream, n_examples: int = 8) -> go.Figure:
    """Every task of ``stream`` as a frame of one figure, with a slider (no widget manager needed)."""
    frames = [(str(t), _traces(stream, t, n_examples), _task_title(stream, t)) for t in range(stream.num_tasks)]
    layout = _layout(n_examples)
    layout["height"] = 360  # room for the slider below the images
    return frames_figure(frames, layout, slider_prefix="task ")


def stream_explorer(stream: Stream, n_examples: int = 8) -> Explorer:
    """A slider over the tasks of ``stream`` showing ``n_examples`` test images of the chosen task.

    The same test examples are shown for every task, so a permuted or rotated
    stream shows the same digits transformed.
    """
    import ipywidgets as W

    slider = W.IntSlider(value=0, min=0, max=stream.num_tasks - 1, description="task", continuous_update=False)
    return Explorer([slider], lambda: stream_figure(stream, slider.value, n_examples))
