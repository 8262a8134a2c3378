"""Checks for notebook 05 (every method on one stream).

==============================  ===================================================================
check                           the learner's function
==============================  ===================================================================
``check_mean_and_spread``       ``fn(matrices) -> (mean ACC, sample std of ACC)`` over seeds, from
                                a list of (T, T) accuracy matrices (one per seed)
``check_difference_and_se``     ``fn(a, b) -> (mean(a) - mean(b), standard error of that difference)``
                                for two methods' per-seed scores (Welch: sqrt(s_a²/n_a + s_b²/n_b))
``check_classes_by_entropy``    ``fn(logits (T, N, C), classes (T, C)) -> predicted classes (N,)``:
                                pick each input's task by lowest entropy, answer in class space
==============================  ===================================================================

Each compares the learner's answer with the reference below (``reference_*``, the definitions
:mod:`cltoolkit.experiments.compare` uses) on hand-made and random cases, raises ``AssertionError``
naming the case and the likely mistake, and prints one line when everything agrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..hypernet import select_by_entropy

__all__ = ["check_classes_by_entropy", "check_difference_and_se", "check_mean_and_spread"]


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------


def _sample_std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def reference_mean_and_spread(matrices: Sequence[np.ndarray]) -> tuple[float, float]:
    """ACC (mean of the last row) of each seed's matrix; their mean and sample standard deviation (0 for one)."""
    accs = [float(np.mean(np.asarray(R, dtype=float)[-1])) for R in matrices]
    return float(np.mean(accs)), _sample_std(accs)


def reference_difference_and_se(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """``mean(a) - mean(b)`` and its standard error ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` (sample variances)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    var_a = a.var(ddof=1) if len(a) > 1 else 0.0
    var_b = b.var(ddof=1) if len(b) > 1 else 0.0
    return float(a.mean() - b.mean()), float(math.sqrt(var_a / len(a) + var_b / len(b)))


def reference_classes_by_entropy(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """For each input, the task with the least uncertain output (lowest entropy), and that output's class."""
    task = select_by_entropy(logits)  # (N,)
    inputs = torch.arange(logits.shape[1])
    return classes[task, logits[task, inputs].argmax(-1)]


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------


def _pair(out, what: str) -> tuple[float, float]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise AssertionError(f"{what} should return a pair of numbers, got {type(out).__name__} {out!r}"[:200])
    try:
        return float(out[0]), float(out[1])
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should return two numbers, got {out!r}"[:200]) from None


def _matrix_cases() -> list[tuple[str, list[np.ndarray]]]:
    rng = np.random.default_rng(5)
    hand = [
        np.array([[0.9, 0.1], [0.6, 0.8]]),
        np.array([[0.8, 0.2], [0.7, 0.9]]),
        np.array([[1.0, 0.0], [0.5, 1.0]]),
    ]
    return [
        ("three hand-made 2x2 matrices", hand),
        ("one seed (the spread of a single value is 0)", [hand[0]]),
        ("five random 4x4 matrices", [rng.uniform(0, 1, (4, 4)) for _ in range(5)]),
        ("two random 3x3 matrices", [rng.uniform(0, 1, (3, 3)) for _ in range(2)]),
    ]


def check_mean_and_spread(fn: Callable) -> None:
    """``fn(matrices)`` -> (mean ACC over seeds, sample standard deviation of ACC over seeds)."""
    for name, matrices in _matrix_cases():
        got_mean, got_std = _pair(fn([m.copy() for m in matrices]), "mean_and_spread")
        mean, std = reference_mean_and_spread(matrices)
        accs = [float(np.mean(R[-1])) for R in matrices]
        if not math.isclose(got_mean, mean, abs_tol=1e-9):
            hint = ""
            if math.isclose(got_mean, float(np.mean([np.mean(np.diag(R)) for R in matrices])), abs_tol=1e-9):
                hint = " You averaged the diagonal (accuracy right after learning); ACC is the mean of the LAST ROW."
            elif math.isclose(got_mean, float(np.mean([np.mean(R) for R in matrices])), abs_tol=1e-9):
                hint = " You averaged the whole matrix; ACC is the mean of the last row R[T-1, :] of each seed."
            raise AssertionError(f"{name}: mean ACC {got_mean:.6f}, expected {mean:.6f} (per seed {accs}).{hint}")
        if len(matrices) == 1 and not math.isclose(got_std, 0.0, abs_tol=1e-12):
            raise AssertionError(
                f"{name}: spread {got_std!r}, expected 0.0. np.std(..., ddof=1) of one value is nan; a single seed "
                "has no spread: return 0.0 for it."
            )
        if not math.isclose(got_std, std, abs_tol=1e-9):
            hint = ""
            if len(accs) > 1 and math.isclose(got_std, float(np.std(accs)), abs_tol=1e-9):
                hint = (
                    " That is the population standard deviation (ddof=0); over a few seeds use the sample one, "
                    "np.std(values, ddof=1), which divides by n - 1."
                )
            elif len(accs) > 1 and math.isclose(got_std, float(np.var(accs, ddof=1)), abs_tol=1e-9):
                hint = " That is the variance; the spread is its square root."
            raise AssertionError(f"{name}: spread {got_std:.6f}, expected {std:.6f} (per seed {accs}).{hint}")
    print("check_mean_and_spread: mean and sample standard deviation of ACC agree on 4 cases.")


def check_difference_and_se(fn: Callable) -> None:
    """``fn(a, b)`` -> (mean(a) - mean(b), sqrt(var(a)/len(a) + var(b)/len(b))) with sample variances."""
    rng = np.random.default_rng(7)
    cases = [
        ("a = [0.95, 0.94, 0.96], b = [0.93, 0.95, 0.94]", [0.95, 0.94, 0.96], [0.93, 0.95, 0.94]),
        ("unequal sizes: 5 and 3 seeds", list(rng.uniform(0.8, 1, 5)), list(rng.uniform(0.5, 0.7, 3))),
        ("b better than a (a negative difference)", [0.5, 0.6], [0.8, 0.9, 0.85, 0.82]),
    ]
    for name, a, b in cases:
        got_diff, got_se = _pair(fn(list(a), list(b)), "difference_and_se")
        diff, se = reference_difference_and_se(a, b)
        if not math.isclose(got_diff, diff, abs_tol=1e-9):
            sign = " (the sign: a minus b)" if math.isclose(got_diff, -diff, abs_tol=1e-9) else ""
            raise AssertionError(f"{name}: difference {got_diff:.6f}, expected {diff:.6f}{sign}")
        if not math.isclose(got_se, se, rel_tol=1e-6, abs_tol=1e-12):
            a_, b_ = np.asarray(a), np.asarray(b)
            hint = ""
            if math.isclose(got_se, math.sqrt(a_.var() / len(a_) + b_.var() / len(b_)), rel_tol=1e-6):
                hint = " You used population variances (ddof=0); use the sample ones (ddof=1)."
            elif math.isclose(got_se, a_.std(ddof=1) + b_.std(ddof=1), rel_tol=1e-6):
                hint = " You added the standard deviations; variances add: sqrt(s_a²/n_a + s_b²/n_b)."
            elif math.isclose(got_se, a_.var(ddof=1) / len(a_) + b_.var(ddof=1) / len(b_), rel_tol=1e-6):
                hint = " You forgot the square root."
            elif math.isclose(got_se, math.sqrt(a_.var(ddof=1) + b_.var(ddof=1)), rel_tol=1e-6):
                hint = " Each variance is divided by its number of seeds (the variance of a mean is s²/n)."
            raise AssertionError(f"{name}: standard error {got_se:.6f}, expected {se:.6f}.{hint}")
    print("check_difference_and_se: the difference and its standard error agree on 3 cases.")


def _entropy_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    # input 0: task 1 is confident about its output 0; input 1: task 0 has the largest logit (5 vs 4.9) but is less
    # sure (two large logits), task 1 is sure: entropy and "largest logit" disagree
    hand = torch.tensor(
        [
            [[0.0, 0.1], [5.0, 4.9]],
            [[4.0, -4.0], [-4.0, 4.0]],
        ]
    )
    split_like = torch.randn(5, 40, 2, generator=g) * 3
    wide = torch.randn(3, 30, 4, generator=g) * 2
    return [
        ("two tasks, two inputs, made by hand", hand, torch.tensor([[0, 1], [2, 3]])),
        ("split digits: 5 tasks x 2 classes, 40 inputs", split_like, torch.arange(10).reshape(5, 2)),
        ("3 tasks x 4 outputs with shuffled classes", wide, torch.randperm(12, generator=g).reshape(3, 4)),
    ]


def check_classes_by_entropy(fn: Callable) -> None:
    """``fn(logits (T, N, C), classes (T, C))`` -> (N,) class ids: lowest-entropy task, its arg-max, its class."""
    for name, logits, classes in _entropy_cases():
        out = fn(logits.clone(), classes.clone())
        got = torch.as_tensor(out).reshape(-1).long()
        expected = reference_classes_by_entropy(logits, classes)
        if got.shape != expected.shape:
            raise AssertionError(
                f"{name}: {tuple(got.shape)} predictions, expected one per input {tuple(expected.shape)}"
            )
        if torch.equal(got, expected):
            continue
        inputs = torch.arange(logits.shape[1])
        hint = ""
        best = torch.distributions.Categorical(logits=logits).entropy().argmax(0)
        by_max = logits.max(-1).values.argmax(0)
        if torch.equal(got, logits[select_by_entropy(logits), inputs].argmax(-1)):
            hint = " Those are the outputs' indices within a task; map them to classes: classes[task, index]."
        elif torch.equal(got, classes[best, logits[best, inputs].argmax(-1)]):
            hint = " You picked the task with the HIGHEST entropy; the most confident output has the lowest."
        elif torch.equal(got, classes[by_max, logits[by_max, inputs].argmax(-1)]):
            hint = " You picked the task with the largest logit; pick the one whose softmax has the lowest entropy."
        wrong = int((got != expected).nonzero()[0, 0])
        raise AssertionError(
            f"{name}: input {wrong} -> class {int(got[wrong])}, expected {int(expected[wrong])}.{hint}"
        )
    print("check_classes_by_entropy: your task inference agrees with the package on 3 cases.")
