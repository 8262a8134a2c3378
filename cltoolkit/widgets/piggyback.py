"""Notebook 02's explorer: how sparse is each task's Piggyback mask, layer by layer, for a threshold tau.

Everything is computed from the real-valued mask scores kept after training
(``cltoolkit.experiments.piggyback.PiggybackResult.scores``: ``{task: {layer: scores}}``), so moving tau answers
"what would the mask look like with another threshold" without retraining.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from ..errors import ConfigError
from ..piggyback import DEFAULT_THRESHOLD, Binarize, Ternarize, overall_sparsity, sparsity_at_threshold
from ._common import Explorer, frames_figure

ALL_TASKS = "all tasks"
TASK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _check_scores(scores: dict) -> list[str]:
    if not scores or not all(isinstance(v, dict) and v for v in scores.values()):
        raise ConfigError("scores must be {task: {layer: tensor}} with at least one task and one layer")
    return list(scores)


def _overall(scores: dict[str, torch.Tensor], threshold: float, ternary: bool) -> float:
    fn = Ternarize if ternary else Binarize
    return overall_sparsity({k: fn.apply(v, threshold) for k, v in scores.items()})


def _traces(scores: dict, task: str, threshold: float, ternary: bool) -> list[go.Bar]:
    tasks = list(scores)
    chosen = tasks if task == ALL_TASKS else [task]
    traces = []
    for name in chosen:
        report = sparsity_at_threshold(scores[name], threshold, ternary)
        overall = _overall(scores[name], threshold, ternary)
        traces.append(
            go.Bar(
                x=list(report),
                y=[100 * v for v in report.values()],
                name=f"{name} (overall {100 * overall:.1f}%)",
                marker_color=TASK_COLOURS[tasks.index(name) % len(TASK_COLOURS)],
                hovertemplate=f"{name}<br>layer %{{x}}<br>%{{y:.2f}}% zeros<extra></extra>",
            )
        )
    return traces


def _title(task: str, threshold: float) -> str:
    who = "every task" if task == ALL_TASKS else f"task {task!r}"
    return f"Mask sparsity per layer for {who} at threshold tau = {threshold:.4g}"


def _layout(scores: dict) -> dict:
    return dict(
        barmode="group",
        xaxis=dict(title="masked layer (input to output)"),
        yaxis=dict(title="mask zeros (% of the layer's weights)", rangemode="tozero"),
        legend=dict(title="task"),
        height=420,
        margin=dict(l=60, r=20, t=60, b=60),
    )


def mask_sparsity_figure(
    scores: dict[str, dict[str, torch.Tensor]],
    task: str = ALL_TASKS,
    threshold: float = DEFAULT_THRESHOLD,
    ternary: bool = False,
) -> go.Figure:
    """Bars of the fraction of mask zeros per layer, for one task or ``"all tasks"``, at ``threshold``."""
    tasks = _check_scores(scores)
    if task != ALL_TASKS and task not in tasks:
        raise ConfigError(f"unknown task {task!r}; choose one of {tasks} or {ALL_TASKS!r}")
    fig = go.Figure(data=_traces(scores, task, threshold, ternary), layout=_layout(scores))
    fig.update_layout(title=_title(task, threshold))
    return fig


def mask_sparsity_static_figure(
    scores: dict[str, dict[str, torch.Tensor]],
    thresholds: Sequence[float] = (1e-3, 2.5e-3, 5e-3, 7.5e-3, 1e-2),
    ternary: bool = False,
) -> go.Figure:
    """All tasks' per-layer sparsity, one frame per threshold, with a slider (no widget manager needed)."""
    _check_scores(scores)
    frames = [(f"{t:g}", _traces(scores, ALL_TASKS, t, ternary), _title(ALL_TASKS, t)) for t in thresholds]
    # open at the explorer's default tau (at the lowest tau every bar would read 0 %)
    active = min(range(len(thresholds)), key=lambda i: abs(thresholds[i] - DEFAULT_THRESHOLD))
    fig = frames_figure(frames, _layout(scores), slider_prefix="tau = ", active=active)
    top = max(100 * v for t in thresholds for s in scores.values() for v in sparsity_at_threshold(s, t).values())
    fig.update_yaxes(range=[0, max(top * 1.1, 1.0)])
    return fig


def mask_sparsity_explorer(
    scores: dict[str, dict[str, torch.Tensor]],
    threshold: float = DEFAULT_THRESHOLD,
    ternary: bool = False,
    max_threshold: float = 2e-2,
) -> Explorer:
    """A task chooser (or all tasks side by side) and a tau slider over per-layer mask sparsity.

    ``scores``: ``{task: {layer: real-valued mask scores}}``, e.g. ``run_piggyback(...).scores``.
    Moving tau recomputes every bar from the stored scores.
    """
    import ipywidgets as W

    tasks = _check_scores(scores)
    chooser = W.Dropdown(options=[ALL_TASKS, *tasks], value=ALL_TASKS, description="task")
    tau = W.FloatSlider(
        value=threshold,
        min=0.0,
        max=max_threshold,
        step=max_threshold / 40,
        description="tau",
        readout_format=".4f",
        continuous_update=False,
    )
    return Explorer([chooser, tau], lambda: mask_sparsity_figure(scores, chooser.value, tau.value, ternary))
