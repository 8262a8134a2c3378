"""Continual-learning metrics on the accuracy matrix, F-scores, and their plots.

The accuracy matrix ``R`` (T x T): ``R[i, j]`` is the accuracy on task ``j``
after training on task ``i`` (fractions in [0, 1]; entries not measured are
NaN). The definitions the kit uses (docs/methods.md):

- average accuracy  ACC = mean_j R[T-1, j]
- backward transfer BWT = mean_{j<T-1} (R[T-1, j] - R[j, j])
- forgetting (Chaudhry et al. 2018) = mean_{j<T-1} (max_{i<T-1} R[i, j] - R[T-1, j])

Libraries differ: some report "forgetting" as R[j, j] - R[T-1, j] (which is just
-BWT, see :func:`forgetting_since_learned`), others take the max only over rows
i >= j. Notebook 00 computes all of them on one matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ConfigError


def as_matrix(R) -> np.ndarray:
    """``R`` as a float (T, T) array; raises ``ValueError`` if it is not square and non-empty."""
    arr = np.asarray(R, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ConfigError(f"an accuracy matrix must be a non-empty square T x T array, got shape {arr.shape}")
    return arr


def average_accuracy(R) -> float:
    """ACC: mean accuracy over all tasks after the last task."""
    R = as_matrix(R)
    return float(np.mean(R[-1]))


def backward_transfer(R) -> float:
    """BWT (Lopez-Paz & Ranzato 2017): mean change on old tasks since each was learned.

    Negative means forgetting. 0.0 for a single task.
    """
    R = as_matrix(R)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([R[-1, j] - R[j, j] for j in range(T - 1)]))


def forgetting(R) -> float:
    """Forgetting (Chaudhry et al. 2018): mean drop from the best earlier accuracy on each old task.

    ``mean_{j<T-1} max_{i<T-1} R[i, j] - R[T-1, j]``; NaN entries (not measured)
    are ignored in the max. 0.0 for a single task.
    """
    R = as_matrix(R)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([np.nanmax(R[: T - 1, j]) - R[-1, j] for j in range(T - 1)]))


def forgetting_since_learned(R) -> float:
    """Drop from the accuracy right after learning each task: ``mean_{j<T-1} R[j, j] - R[T-1, j]`` (= -BWT)."""
    return -backward_transfer(R)


def forgetting_after_learned(R) -> float:
    """Chaudhry-style forgetting with the max taken only over rows ``j <= i < T-1`` (after the task was learned)."""
    R = as_matrix(R)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([np.nanmax(R[j : T - 1, j]) - R[-1, j] for j in range(T - 1)]))


def summarize(R) -> dict:
    """``{"avg_acc", "bwt", "forgetting"}`` for ``R``."""
    return {"avg_acc": average_accuracy(R), "bwt": backward_transfer(R), "forgetting": forgetting(R)}


class AccuracyMatrix:
    """Bookkeeping for R while a stream is learned: ``record(i, j, acc)`` then ``.values``."""

    def __init__(self, task_names: Sequence[str]):
        if len(task_names) == 0:
            raise ConfigError("an accuracy matrix needs at least one task")
        self.task_names = list(task_names)
        T = len(self.task_names)
        self.values = np.full((T, T), np.nan)

    def record(self, after_task: int, on_task: int, acc: float) -> None:
        if not (np.isnan(acc) or 0.0 <= acc <= 1.0):  # NaN: not measured (e.g. an empty test set)
            raise ConfigError(f"accuracy must be a fraction in [0, 1], got {acc}")
        self.values[after_task, on_task] = acc

    def row(self, after_task: int) -> np.ndarray:
        return self.values[after_task]

    @property
    def complete(self) -> bool:
        return not np.isnan(self.values).any()

    def summary(self) -> dict:
        return summarize(self.values)

    def to_list(self) -> list[list[float]]:
        return [[float(v) for v in row] for row in self.values]

    def __repr__(self) -> str:
        return f"AccuracyMatrix({self.task_names}, complete={self.complete})"


def f1_scores(pred, target) -> np.ndarray:
    """Per-attribute F-score over a whole split: ``pred``, ``target`` (N, A) of 0/1.

    Precision and recall are counted over all N examples (not averaged per
    batch). An attribute with no true and no predicted positives scores 0.0.
    """
    pred = np.asarray(pred).astype(bool)
    target = np.asarray(target).astype(bool)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ConfigError(f"pred and target must both be (N, A), got {pred.shape} and {target.shape}")
    tp = (pred & target).sum(0)
    fp = (pred & ~target).sum(0)
    fn = (~pred & target).sum(0)
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def plot_accuracy_matrix(R, task_names: Sequence[str] | None = None, ax=None, title: str = "Accuracy matrix"):
    """Heatmap of R with the values written in each cell; returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    R = as_matrix(R)
    T = len(R)
    names = list(task_names) if task_names is not None else [str(i) for i in range(T)]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.8 * T, 0.8 + 0.7 * T))
    im = ax.imshow(R, vmin=0.0, vmax=1.0, cmap="viridis")
    for i in range(T):
        for j in range(T):
            if not np.isnan(R[i, j]):
                colour = "black" if R[i, j] > 0.6 else "white"
                ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(T), names, rotation=45, ha="right")
    ax.set_yticks(range(T), names)
    ax.set_xlabel("evaluated on task j")
    ax.set_ylabel("after training task i")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="accuracy")
    return ax


def plot_task_accuracies(R, task_names: Sequence[str] | None = None, ax=None, title: str = "Accuracy on each task"):
    """One line per task j: its accuracy after each training stage i >= j; returns the Axes."""
    import matplotlib.pyplot as plt

    R = as_matrix(R)
    T = len(R)
    names = list(task_names) if task_names is not None else [str(i) for i in range(T)]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for j in range(T):
        ax.plot(range(j, T), R[j:, j], marker="o", label=names[j], color=f"C{j % 10}")
    ax.set_xticks(range(T), [f"after {n}" for n in names], rotation=45, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("training stage")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(title="task", fontsize=8)
    return ax
