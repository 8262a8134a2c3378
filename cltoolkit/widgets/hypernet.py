"""Notebook 04's explorer: the task-embedding landscape of a hypernetwork with 2-D embeddings.

Every point of a grid over the embedding plane is an embedding; the
hypernetwork turns it into target weights, and the point is coloured by how
well those weights do on a chosen task's test data (accuracy or loss). The
learned embeddings are marked. Choose the task and the point in the sequence
(the hypernetwork after task k) to watch old tasks keep their high-accuracy
region while new ones are added.

The grid goes through the hypernetwork in batches (:func:`landscape_grid`:
one generation call and one vmapped target forward per batch of points); grids
are computed on demand and cached. The explorer takes what
:func:`cltoolkit.experiments.hypernet.train_hypernet` returns (trained with
``emb_dim=2, keep_snapshots=True``) and the stream it learned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..hypernet import HyperNetwork, TargetNetwork
from ..validate import Float, Int, OneOf
from ._common import Explorer, frames_figure

if TYPE_CHECKING:
    from ..experiments.hypernet import HypernetResult

# one colour per task, the same in every figure of notebook 04 (plotly's default sequence)
TASK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def task_color(task: int) -> str:
    """The colour of task ``task`` in notebook 04's figures."""
    return TASK_COLORS[task % len(TASK_COLORS)]


@torch.no_grad()
def landscape_grid(
    hnet: HyperNetwork,
    target: TargetNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    extent: tuple[float, float, float, float],
    resolution: int = 25,
    metric: str = "accuracy",
    points_per_batch: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate the target network at every point of a grid over a 2-D embedding plane.

    ``extent`` = (x_min, x_max, y_min, y_max); ``metric``: ``accuracy`` or
    ``loss`` (cross-entropy) on ``(x, y)``. Grid points go through the
    hypernetwork in batches of ``points_per_batch`` (one generation call and
    one vmapped target forward per batch, no Python loop over points).
    Returns ``(xs (R,), ys (R,), values (R, R))`` with ``values[i, j]`` at
    ``(xs[j], ys[i])``.
    """
    if hnet.emb_dim != 2:
        raise ConfigError(f"the embedding landscape needs 2-D task embeddings, this hypernetwork has {hnet.emb_dim}")
    metric = OneOf("accuracy", "loss")("metric", metric)
    resolution = Int(low=1, high=1000)("resolution", resolution)
    points_per_batch = Int(low=1)("points_per_batch", points_per_batch)
    if not isinstance(extent, (tuple, list)) or len(extent) != 4:
        raise ConfigError(f"extent must be (x_min, x_max, y_min, y_max), got {extent!r}")
    x0, x1, y0, y1 = (Float()(f"extent[{i}]", v) for i, v in enumerate(extent))
    device = hnet.heads[0].weight.device
    xs = torch.linspace(x0, x1, resolution)
    ys = torch.linspace(y0, y1, resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(device)
    x, y = x.to(device), y.to(device)
    values = []
    for i in range(0, len(points), points_per_batch):
        weights = hnet.split_flat(hnet.generate_flat(points[i : i + points_per_batch]))
        logits = target.forward_batched(x, weights)  # (P, N, C)
        if metric == "accuracy":
            values.append((logits.argmax(-1) == y).float().mean(1))
        else:
            values.append(F.cross_entropy(logits.permute(0, 2, 1), y.expand(len(logits), -1), reduction="none").mean(1))
    grid = torch.cat(values).reshape(resolution, resolution).cpu().numpy()
    return xs.numpy(), ys.numpy(), grid


class EmbeddingLandscape:
    """Lazily computed landscape grids of a run with 2-D embeddings (a ``HypernetResult`` with snapshots).

    ``grid(after, task, metric)`` → ``(xs, ys, values)``; ``embeddings(after)``
    → (num_tasks, 2) learned embeddings after task ``after``. The extent covers
    every learned embedding of every snapshot, with a margin.
    """

    def __init__(
        self,
        result: HypernetResult,
        stream,
        resolution: int = 25,
        max_examples: int = 200,
        margin: float = 1.5,
        extent: tuple[float, float, float, float] | None = None,
    ):
        if result.hnet.emb_dim != 2:
            raise ConfigError(
                f"the embedding landscape needs 2-D task embeddings (emb_dim=2), got emb_dim={result.hnet.emb_dim}"
            )
        if not result.snapshots:
            raise ConfigError("the result has no snapshots: train with keep_snapshots=True")
        if len(stream.tasks) != len(result.task_names):
            raise ConfigError(f"the stream has {len(stream.tasks)} tasks, the result {len(result.task_names)}")
        self.result = result
        self.stream = stream
        self.resolution = Int(low=1, high=1000)("resolution", resolution)
        max_examples, margin = Int(low=1)("max_examples", max_examples), Float(low=0)("margin", margin)
        self.task_names = list(result.task_names)
        self.num_tasks = len(self.task_names)
        self._hnets = {}
        self._cache: dict[tuple[int, int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._data = [(t.x_test[:max_examples], t.y_test[:max_examples]) for t in stream.tasks]
        all_emb = np.concatenate([self.embeddings(k) for k in range(self.num_tasks)])
        if extent is None:
            lo, hi = all_emb.min(0) - margin, all_emb.max(0) + margin
            extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        self.extent = extent

    def hnet(self, after: int):
        if not 0 <= after < self.num_tasks:
            raise ConfigError(f"after must be in [0, {self.num_tasks - 1}], got {after}")
        if after not in self._hnets:
            self._hnets[after] = self.result.hnet_after(after).cpu().eval()
        return self._hnets[after]

    def embeddings(self, after: int) -> np.ndarray:
        state = self.result.snapshots[after]
        return np.stack([state[f"task_embeddings.{t}"].numpy() for t in range(self.num_tasks)])

    def grid(self, after: int, task: int, metric: str = "accuracy"):
        if not 0 <= task < self.num_tasks:
            raise ConfigError(f"task must be in [0, {self.num_tasks - 1}], got {task}")
        key = (after, task, metric)
        if key not in self._cache:
            x, y = self._data[task]
            self._cache[key] = landscape_grid(
                self.hnet(after), self.result.target, x, y, self.extent, self.resolution, metric=metric
            )
        return self._cache[key]


def _traces(land: EmbeddingLandscape, after: int, task: int, metric: str) -> list:
    xs, ys, values = land.grid(after, task, metric)
    emb = land.embeddings(after)
    is_acc = metric == "accuracy"
    traces = [
        go.Heatmap(
            x=xs,
            y=ys,
            z=values,
            colorscale="Viridis" if is_acc else "Viridis_r",
            zmin=0.0 if is_acc else None,
            zmax=1.0 if is_acc else None,
            colorbar=dict(title="accuracy" if is_acc else "loss (nats)"),
            hovertemplate="e = (%{x:.2f}, %{y:.2f})<br>" + metric + " %{z:.3f}<extra></extra>",
        )
    ]
    for t in range(land.num_tasks):
        learned = t <= after
        traces.append(
            go.Scatter(
                x=[emb[t, 0]],
                y=[emb[t, 1]],
                mode="markers+text",
                text=[f"e({t})" + ("" if learned else " (not yet trained)")],
                textposition="top center",
                textfont=dict(color="white"),
                marker=dict(
                    size=14 if t == task else 10,
                    color=task_color(t),
                    symbol="star" if t == task else ("circle" if learned else "circle-open"),
                    line=dict(color="white", width=1.5),
                ),
                name=f"task {t}: {land.task_names[t]}",
                showlegend=True,
            )
        )
    return traces


def _title(land: EmbeddingLandscape, after: int, task: int, metric: str) -> str:
    return (
        f"Task {task} ({land.task_names[task]}): test {metric} of the weights generated at each embedding, "
        f"after learning task {after}"
    )


def _layout(land: EmbeddingLandscape) -> dict:
    return dict(
        xaxis=dict(title="embedding dimension 1", range=list(land.extent[:2])),
        yaxis=dict(title="embedding dimension 2", range=list(land.extent[2:]), scaleanchor="x"),
        width=760,
        height=600,
        legend=dict(x=1.18, y=1.0),
        margin=dict(l=60, r=20, t=70, b=60),
        template=pio.templates["plotly"],
    )


def embedding_landscape_figure(land: EmbeddingLandscape, after: int, task: int, metric: str = "accuracy") -> go.Figure:
    """One landscape: after task ``after``, coloured by task ``task``'s test ``metric``."""
    fig = go.Figure(data=_traces(land, after, task, metric), layout=_layout(land))
    fig.update_layout(title=dict(text=_title(land, after, task, metric), font=dict(size=13)))
    return fig


def embedding_landscape_static_figure(
    land: EmbeddingLandscape, task: int | None = None, metric: str = "accuracy"
) -> go.Figure:
    """Every landscape as a frame of one figure with a slider (no widget manager needed).

    ``task=None``: one frame per (after k, task j ≤ k); otherwise the frames
    step through "after task k" for that task.
    """
    pairs = [(k, j) for k in range(land.num_tasks) for j in range(k + 1)] if task is None else None
    if pairs is None:
        pairs = [(k, task) for k in range(land.num_tasks)]
    frames = [(f"after {k}, task {j}", _traces(land, k, j, metric), _title(land, k, j, metric)) for k, j in pairs]
    return frames_figure(frames, _layout(land), slider_prefix="")


def embedding_landscape_explorer(
    result: HypernetResult | EmbeddingLandscape,
    stream=None,
    resolution: int = 25,
    max_examples: int = 200,
) -> Explorer:
    """Controls: the task whose test data colours the plane, "after task k", accuracy or loss.

    ``result`` is a :class:`~cltoolkit.experiments.hypernet.HypernetResult` trained with
    ``emb_dim=2`` and ``keep_snapshots=True`` (with its ``stream``), or a
    ready :class:`EmbeddingLandscape`.
    """
    import ipywidgets as W

    land = (
        result
        if isinstance(result, EmbeddingLandscape)
        else EmbeddingLandscape(result, stream, resolution=resolution, max_examples=max_examples)
    )
    options = [(f"{t}: {name}", t) for t, name in enumerate(land.task_names)]
    task = W.Dropdown(options=options, value=0, description="task")
    after = W.IntSlider(
        value=land.num_tasks - 1, min=0, max=land.num_tasks - 1, description="after task", continuous_update=False
    )
    metric = W.ToggleButtons(options=["accuracy", "loss"], value="accuracy", description="colour")
    explorer = Explorer(
        [task, after, metric], lambda: embedding_landscape_figure(land, after.value, task.value, metric.value)
    )
    explorer.landscape = land
    return explorer
