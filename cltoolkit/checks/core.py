"""Checks for notebooks 00 (metrics, streams) and 01 (forgetting, EWC).

Each ``check_*`` takes the learner's function, runs it on several hand-made
and random inputs next to the package's reference, prints one line such as
``✓ average_accuracy agrees with cltoolkit on 10 cases``.
On the first disagreement it raises ``AssertionError`` naming the input and,
where the mistake is a common one (a missing factor 1/2, the wrong row of the
accuracy matrix, ...), saying so.

=================================  =========================================================
check                              the learner's function
=================================  =========================================================
``check_average_accuracy``         ``fn(R) -> float``: ACC of a T x T accuracy matrix
``check_backward_transfer``        ``fn(R) -> float``: BWT
``check_forgetting``               ``fn(R) -> float``: forgetting (Chaudhry et al.)
``check_permutation_stream``       ``fn(source, num_tasks, seed) -> Stream``: permuted stream
``check_ewc_penalty``              ``fn(model, fisher, anchor, lam) -> Tensor``: EWC's penalty
``check_fisher_diagonal``          ``fn(model, x, y, task) -> dict``: empirical Fisher diagonal
``check_forgetting_prediction``    ``fn() -> {"A": choice, "B": choice}``: which forgetting
                                   definition gives the largest number on two matrices
``check_online_fisher``            ``fn(fishers, gamma) -> dict``: online EWC's running Fisher
``check_lambda_prediction``        ``fn() -> {"forgetting": .., "plasticity": .., "ACC": ..}``:
                                   how each number moves as EWC's lambda grows
``check_si_importance``            ``fn(path, grads, xi) -> Tensor``: SI's importance of one task
=================================  =========================================================

Every check returns ``True`` once the answer passes (the wrapper in :mod:`._exercise` turns a
stub into one line and ``False``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .. import metrics
from ..baselines import OnlineEWC, SynapticIntelligence
from ..data.sources import Source
from ..data.streams import apply_permutation
from ..nets import build_net

__all__ = [
    "check_average_accuracy",
    "check_backward_transfer",
    "check_ewc_penalty",
    "check_fisher_diagonal",
    "check_forgetting",
    "check_forgetting_prediction",
    "check_lambda_prediction",
    "check_online_fisher",
    "check_permutation_stream",
    "check_si_importance",
]

# ----------------------------------------------------------------------------------------------
# Accuracy-matrix metrics (notebooks 00 and 01)
# ----------------------------------------------------------------------------------------------

# The two hand-computed matrices of notebook 00: in the first the forgetting definitions agree,
# in the second they give three different numbers.
_R_SIMPLE = [[0.95, 0.10, 0.08], [0.60, 0.97, 0.12], [0.40, 0.70, 0.96]]
_R_DISAGREE = [[0.80, 0.60, 0.30], [0.90, 0.50, 0.40], [0.70, 0.45, 0.85]]


def _metric_cases() -> list[tuple[str, np.ndarray]]:
    """Named accuracy matrices: hand-made ones, edge cases and seeded random ones."""
    cases = [
        ("the 3x3 matrix of notebook 00", np.array(_R_SIMPLE)),
        ("the 3x3 matrix where the forgetting definitions disagree", np.array(_R_DISAGREE)),
        ("a single task, T=1", np.array([[0.8]])),
        ("T=2", np.array([[0.9, 0.2], [0.5, 0.85]])),
        ("perfect memory (every column constant)", np.tile([0.7, 0.8, 0.9, 0.6], (4, 1))),
    ]
    rng = np.random.default_rng(0)
    for T in (2, 3, 4, 5, 6):
        cases.append((f"random T={T} (seed 0)", np.round(rng.uniform(0.0, 1.0, size=(T, T)), 3)))
    return cases


def _fmt_matrix(R: np.ndarray) -> str:
    return "\n".join("    [" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in R)


def _call_metric(fn: Callable, R: np.ndarray, name: str, case: str) -> float:
    given = R.copy()
    try:
        value = fn(given)
    except Exception as exc:  # the learner's code failed: say on which input
        raise AssertionError(f"your {name} raised {type(exc).__name__}: {exc}\n  on {case}:\n{_fmt_matrix(R)}") from exc
    if not np.array_equal(given, R):
        raise AssertionError(f"your {name} changed the matrix it was given (on {case}); work on a copy")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"your {name} returned {value!r} on {case}; return one number (a float)") from exc


def _check_metric(
    fn: Callable,
    name: str,
    reference: Callable[[np.ndarray], float],
    mistakes: list[tuple[Callable[[np.ndarray], float], str]],
) -> None:
    """Compare ``fn`` with ``reference`` on every case; name a known mistake if ``fn`` matches one."""
    cases = _metric_cases()
    for case, R in cases:
        expected = reference(R)
        got = _call_metric(fn, R, name, case)
        if np.isclose(got, expected, rtol=0, atol=1e-9):
            continue
        hint = ""
        if np.isnan(got):
            hint = "You returned NaN. " + (
                "With a single task there are no old tasks: return 0.0 (np.mean of an empty list is NaN)."
                if len(R) == 1
                else "Look for an empty slice or a NaN in your arithmetic."
            )
        else:
            for mistake, text in mistakes:
                with np.errstate(all="ignore"):
                    try:
                        alternative = mistake(R)
                    except (ValueError, IndexError):
                        continue
                if np.isfinite(alternative) and np.isclose(got, alternative, rtol=0, atol=1e-9):
                    hint = "Hint: " + text
                    break
        raise AssertionError(
            f"your {name} disagrees with cltoolkit on {case}:\n{_fmt_matrix(R)}\n"
            f"  expected {expected:.6f}, got {got:.6f}. {hint}".rstrip()
        )
    print(f"✓ {name} agrees with cltoolkit on {len(cases)} cases")


def _old(R: np.ndarray) -> range:
    return range(len(R) - 1)


def check_average_accuracy(fn: Callable[[np.ndarray], float]) -> None:
    """Check ``fn(R) -> float`` against :func:`cltoolkit.metrics.average_accuracy`.

    ``R`` is a (T, T) float array, ``R[i, j]`` = accuracy on task j after training task i.
    """
    _check_metric(
        fn,
        "average_accuracy",
        metrics.average_accuracy,
        [
            (
                lambda R: float(np.mean(np.diag(R))),
                "that is the mean of the diagonal (accuracy right after "
                "learning each task); ACC is the mean of the LAST ROW, R[T-1, :], measured at the end.",
            ),
            (
                lambda R: float(np.mean(R[:, -1])),
                "that is the mean of the last COLUMN; rows are 'after "
                "training task i', columns 'evaluated on task j', so ACC is the mean of R[T-1, :].",
            ),
            (
                lambda R: float(np.mean(R)),
                "that is the mean of the whole matrix; ACC uses only the last row R[T-1, :].",
            ),
            (
                lambda R: float(np.mean(R[-1, :-1])),
                "you left out the last task; ACC averages over all T tasks of the last row.",
            ),
        ],
    )


def check_backward_transfer(fn: Callable[[np.ndarray], float]) -> None:
    """Check ``fn(R) -> float`` against :func:`cltoolkit.metrics.backward_transfer`.

    BWT = mean over j < T-1 of ``R[T-1, j] - R[j, j]``; 0.0 for a single task.
    """
    _check_metric(
        fn,
        "backward_transfer",
        metrics.backward_transfer,
        [
            (
                lambda R: -metrics.backward_transfer(R),
                "the sign is flipped: BWT = R[T-1, j] - R[j, j] "
                "(final minus just-learned), so forgetting makes it NEGATIVE.",
            ),
            (
                lambda R: float(np.mean([R[-1, j] - R[j, j] for j in range(len(R))])),
                "you averaged over "
                "all T tasks; BWT averages over the T-1 OLD tasks j < T-1 (the last task has nothing to lose yet).",
            ),
            (
                lambda R: metrics.backward_transfer(R.T),
                "rows and columns are swapped: R[i, j] is the accuracy on task j (column) after training task i (row).",
            ),
        ],
    )


def check_forgetting(fn: Callable[[np.ndarray], float]) -> None:
    """Check ``fn(R) -> float`` against :func:`cltoolkit.metrics.forgetting` (Chaudhry et al. 2018).

    forgetting = mean over j < T-1 of ``max_{i < T-1} R[i, j] - R[T-1, j]``; 0.0 for a single task.
    """
    _check_metric(
        fn,
        "forgetting",
        metrics.forgetting,
        [
            (
                metrics.forgetting_since_learned,
                "you computed the drop since each task was learned, "
                "R[j, j] - R[T-1, j] (that is -BWT). Chaudhry's forgetting starts from the BEST earlier "
                "accuracy: max over all rows i < T-1 of R[i, j].",
            ),
            (
                metrics.forgetting_after_learned,
                "you took the max only over rows i >= j (after the task was "
                "learned). The kit follows Chaudhry et al.: max over ALL earlier rows i < T-1, also those before "
                "task j was trained.",
            ),
            (
                lambda R: float(np.mean([R[:, j].max() - R[-1, j] for j in _old(R)])),
                "your max includes the last row; take it over the rows i < T-1 only, then subtract R[T-1, j].",
            ),
            (
                lambda R: float(np.mean([R[:-1, j].max() - R[-1, j] if len(R) > 1 else 0 for j in range(len(R))])),
                "you averaged over all T tasks; forgetting averages over the T-1 old tasks j < T-1.",
            ),
            (
                lambda R: -metrics.forgetting(R),
                "the sign is flipped: forgetting = best earlier accuracy minus "
                "final accuracy, positive when the model forgot.",
            ),
        ],
    )


# ----------------------------------------------------------------------------------------------
# Predict, then run: which forgetting definition gives the largest number (notebook 00)
# ----------------------------------------------------------------------------------------------

#: The two matrices of notebook 00's prediction exercise. In A every task is at its best right after
#: it was learned, so the three definitions agree; in B task 1 scored higher BEFORE it was trained
#: than after, which only Chaudhry's max over all earlier rows sees.
PREDICTION_MATRICES = {
    "A": [[0.90, 0.55, 0.40], [0.70, 0.93, 0.50], [0.60, 0.80, 0.95]],
    "B": [[0.85, 0.70, 0.30], [0.80, 0.60, 0.35], [0.75, 0.55, 0.90]],
}
FORGETTING_CHOICES = ("chaudhry", "since_learned", "after_learned", "all equal")


def _forgetting_definitions(R: np.ndarray) -> dict[str, float]:
    return {
        "chaudhry": metrics.forgetting(R),
        "since_learned": metrics.forgetting_since_learned(R),
        "after_learned": metrics.forgetting_after_learned(R),
    }


def largest_forgetting_definition(R) -> str:
    """The definition (one of :data:`FORGETTING_CHOICES`) that gives the largest forgetting on ``R``.

    ``"all equal"`` when the three agree; a ``ValueError`` when two tie for the largest and the
    third is smaller (no single answer, so such a matrix makes a bad question).
    """
    values = _forgetting_definitions(np.asarray(R, dtype=float))
    top = max(values.values())
    if max(values.values()) - min(values.values()) < 1e-9:
        return "all equal"
    leaders = [name for name, value in values.items() if top - value < 1e-9]
    if len(leaders) > 1:
        raise ValueError(f"{' and '.join(leaders)} tie for the largest forgetting on this matrix; pick another one")
    return leaders[0]


def _normalise_choice(answer, choices: tuple[str, ...], what: str) -> str:
    """The choice ``answer`` names, ignoring case and the difference between spaces, ``_`` and ``-``."""

    def key(text: str) -> str:
        return " ".join(str(text).strip().lower().replace("_", " ").replace("-", " ").split())

    aliases = {"equal": "all equal", "peaks": "peaks in between", "peak": "peaks in between"}
    wanted = aliases.get(key(answer), key(answer))
    for choice in choices:
        if key(choice) == wanted:
            return choice
    raise AssertionError(f"{what}: {answer!r} is not one of the choices {list(choices)}")


def check_forgetting_prediction(fn: Callable[[], dict], matrices: dict | None = None) -> None:
    """Check ``fn() -> {"A": choice, "B": choice}``: the definition with the largest forgetting on each matrix.

    A choice is one of ``"chaudhry"``, ``"since_learned"``, ``"after_learned"`` or ``"all equal"``
    (notebook 00, section 5). ``matrices`` defaults to :data:`PREDICTION_MATRICES`.
    """
    matrices = PREDICTION_MATRICES if matrices is None else matrices
    answers = fn()
    if not isinstance(answers, dict):
        raise AssertionError(
            f"return a dict with one choice per matrix, e.g. {{'A': 'chaudhry', 'B': 'all equal'}}; "
            f"got {type(answers).__name__}"
        )
    missing = [name for name in matrices if name not in answers]
    if missing:
        raise AssertionError(f"no prediction for matrix {', '.join(missing)}; give one for each of {list(matrices)}")
    for name, R in matrices.items():
        R = np.asarray(R, dtype=float)
        got = _normalise_choice(answers[name], FORGETTING_CHOICES, f"matrix {name}")
        want = largest_forgetting_definition(R)
        if got == want:
            continue
        values = _forgetting_definitions(R)
        numbers = ", ".join(f"{k} {v:.3f}" for k, v in values.items())
        T = len(R)
        before = [j for j in range(T - 1) if R[:j, j].size and R[:j, j].max() > R[j : T - 1, j].max()]
        later = [j for j in range(T - 1) if R[j + 1 : T - 1, j].size and R[j + 1 : T - 1, j].max() > R[j, j]]
        if want == "all equal":
            hint = (
                "every old task is at its best right after it was learned (R[j, j] is the largest entry of "
                "column j above the last row), so the best earlier accuracy, the best accuracy after learning "
                "and the just-learned accuracy are the same number."
            )
        elif before:
            hint = (
                f"task {before[0]} scored higher BEFORE it was trained ({R[: before[0], before[0]].max():.2f}) than "
                "at any point after; only Chaudhry's max over ALL earlier rows counts that."
            )
        elif later:
            hint = (
                f"task {later[0]} kept improving after it was learned, so the max over rows after learning "
                "exceeds R[j, j]."
            )
        else:
            hint = "compare, column by column, the max over the earlier rows with R[j, j]."
        raise AssertionError(
            f"matrix {name}: you predicted {got!r}, but {want!r} gives the largest forgetting ({numbers}). Hint: {hint}"
        )
    print(f"✓ your predictions are right on {len(matrices)} matrices")


# ----------------------------------------------------------------------------------------------
# Permuted streams (notebook 00)
# ----------------------------------------------------------------------------------------------


def _toy_source(height: int, width: int, n_train: int, n_test: int, seed: int) -> Source:
    """Random images whose pixel values are all distinct, so a permutation can be read back."""
    g = torch.Generator().manual_seed(seed)
    return Source(
        name="toy",
        x_train=torch.rand(n_train, 1, height, width, generator=g),
        y_train=torch.randint(0, 10, (n_train,), generator=g),
        x_test=torch.rand(n_test, 1, height, width, generator=g),
        y_test=torch.randint(0, 10, (n_test,), generator=g),
        num_classes=10,
        class_names=[str(i) for i in range(10)],
    )


def _read_permutation(original: torch.Tensor, permuted: torch.Tensor) -> torch.Tensor | None:
    """The pixel permutation ``perm`` with ``permuted = original.flatten()[perm]``, or None if there is none."""
    a = original.flatten()
    b = permuted.flatten()
    if a.shape != b.shape:
        return None
    match = (b[:, None] == a[None, :]).float()
    if not bool((match.sum(1) == 1).all()):
        return None
    perm = match.argmax(1)
    return perm if len(set(perm.tolist())) == len(perm) else None


def _call_builder(fn: Callable, source: Source, num_tasks: int, seed: int, case: str):
    try:
        stream = fn(source, num_tasks, seed)
    except Exception as exc:
        raise AssertionError(f"your stream builder raised {type(exc).__name__}: {exc} on {case}") from exc
    tasks = getattr(stream, "tasks", None)
    if tasks is None:
        raise AssertionError(
            f"your stream builder returned {type(stream).__name__} on {case}; return a "
            "cltoolkit.data.Stream (Stream('permuted', source.name, tasks, scenario='domain', seed=seed))"
        )
    if len(tasks) != num_tasks:
        raise AssertionError(f"asked for {num_tasks} tasks on {case}, got {len(tasks)}")
    return stream


def check_permutation_stream(fn: Callable) -> None:
    """Check a permuted-stream builder ``fn(source, num_tasks, seed) -> Stream``.

    It must behave like :func:`cltoolkit.data.permuted_stream`: one fixed pixel
    permutation per task (a bijection of the H*W pixels, the same for every
    train and test image of the task), the identity for task 0, labels
    unchanged, a shared head (``scenario == "domain"``, ``num_outputs`` = the
    source's classes), and the same stream again for the same seed, another one
    for another seed. The exact random draws may differ from the package's.
    """
    settings = [(4, 4, 1, 0), (4, 4, 3, 0), (3, 5, 4, 7), (6, 6, 5, 123)]
    for height, width, num_tasks, seed in settings:
        case = f"a toy source of {height}x{width} images, num_tasks={num_tasks}, seed={seed}"
        source = _toy_source(height, width, 12, 6, seed=height * 10 + width)
        stream = _call_builder(fn, source, num_tasks, seed, case)
        if getattr(stream, "scenario", None) != "domain":
            raise AssertionError(
                f"scenario is {getattr(stream, 'scenario', None)!r} on {case}; a permuted stream is "
                "domain-incremental ('domain'): all tasks share one 10-way head"
            )
        perms = []
        for t, task in enumerate(stream.tasks):
            where = f"task {t} of {case}"
            if tuple(task.x_train.shape) != tuple(source.x_train.shape) or tuple(task.x_test.shape) != tuple(
                source.x_test.shape
            ):
                raise AssertionError(
                    f"{where}: images have shape {tuple(task.x_train.shape)} / {tuple(task.x_test.shape)}, expected "
                    f"{tuple(source.x_train.shape)} / {tuple(source.x_test.shape)} (N, C, H, W), as in the source"
                )
            if not (torch.equal(task.y_train, source.y_train) and torch.equal(task.y_test, source.y_test)):
                raise AssertionError(f"{where}: the labels changed; permuting pixels keeps every label")
            if task.num_outputs != source.num_classes:
                raise AssertionError(
                    f"{where}: num_outputs is {task.num_outputs}, expected {source.num_classes} (the shared head)"
                )
            perm = _read_permutation(source.x_train[0], task.x_train[0])
            if perm is None:
                raise AssertionError(
                    f"{where}: the first training image is not a rearrangement of the original pixels; "
                    "each task must permute pixels (a bijection), not change their values"
                )
            for split in ("train", "test"):
                expected = apply_permutation(getattr(source, f"x_{split}"), perm)
                if not torch.equal(getattr(task, f"x_{split}"), expected):
                    raise AssertionError(
                        f"{where}: not every {split} image uses the permutation of the first training image. "
                        "Draw ONE permutation per task and apply it to all its images, train and test"
                    )
            perms.append(perm)
        if not torch.equal(perms[0], torch.arange(height * width)):
            raise AssertionError(
                f"task 0 of {case} is permuted; by convention (cltoolkit.data.permuted_stream) task 0 shows the "
                "original images and tasks 1.. get random permutations"
            )
        for a in range(num_tasks):
            for b in range(a + 1, num_tasks):
                if torch.equal(perms[a], perms[b]):
                    raise AssertionError(
                        f"tasks {a} and {b} of {case} use the same permutation; draw a new one for every task "
                        "from one generator (not a fresh generator with the same seed per task)"
                    )
        again = _call_builder(fn, source, num_tasks, seed, case + " (second call)")
        for t in range(num_tasks):
            if not torch.equal(again.tasks[t].x_train, stream.tasks[t].x_train):
                raise AssertionError(
                    f"two calls with seed={seed} gave different images for task {t} ({case}); seed a "
                    "torch.Generator with `seed` and draw the permutations from it"
                )
        if num_tasks > 1:
            other = _call_builder(fn, source, num_tasks, seed + 1, case.replace(f"seed={seed}", f"seed={seed + 1}"))
            if torch.equal(other.tasks[1].x_train, stream.tasks[1].x_train):
                raise AssertionError(
                    f"seeds {seed} and {seed + 1} gave the same permutation for task 1 ({case}); "
                    "the permutations must be drawn from the seed"
                )
    print(
        f"✓ your permuted stream builder behaves like cltoolkit.data.permuted_stream on {len(settings)} cases "
        "(one bijective pixel permutation per task, identity first, labels kept, deterministic in the seed)"
    )


# ----------------------------------------------------------------------------------------------
# EWC (notebook 01)
# ----------------------------------------------------------------------------------------------


def _tiny_net(shared_head: bool, seed: int, arch: str = "mlp") -> nn.Module:
    torch.manual_seed(seed)
    if arch == "cnn":
        net = build_net("cnn", (1, 8, 8), [3, 3], shared_head=shared_head, channels=(4, 6))
        # give BatchNorm non-trivial running statistics, as after training
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.5, 0.5)
                    module.running_var.uniform_(0.5, 2.0)
        return net
    return build_net("mlp", (1, 2, 3), [3, 3], shared_head=shared_head, hidden=(5, 4))


def _named_trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _ewc_cases() -> list[tuple[str, nn.Module, dict, dict, float]]:
    cases = []
    for k, lam in enumerate([1.0, 1000.0, 0.0, 3.5]):
        model = _tiny_net(shared_head=k % 2 == 0, seed=k)
        g = torch.Generator().manual_seed(100 + k)
        params = _named_trainable(model)
        fisher = {n: torch.rand(p.shape, generator=g) for n, p in params.items()}
        anchor = {n: p.detach() + 0.3 * torch.randn(p.shape, generator=g) for n, p in params.items()}
        cases.append((f"a tiny MLP with random Fisher and anchor, lam={lam:g}", model, fisher, anchor, lam))
    model = _tiny_net(shared_head=False, seed=7)
    params = _named_trainable(model)
    g = torch.Generator().manual_seed(7)
    body_only = [n for n in params if n.startswith("body.")]
    cases.append(
        (
            "a Fisher for the body only (heads added later are not protected), lam=10",
            model,
            {n: torch.rand(params[n].shape, generator=g) for n in body_only},
            {n: params[n].detach() - 0.2 for n in body_only},
            10.0,
        )
    )
    cases.append(
        (
            "the weights sitting exactly at the anchor (penalty 0), lam=100",
            model,
            {n: torch.rand(p.shape, generator=g) for n, p in params.items()},
            {n: p.detach().clone() for n, p in params.items()},
            100.0,
        )
    )
    return cases


def check_ewc_penalty(fn: Callable[[nn.Module, dict, dict, float], torch.Tensor]) -> None:
    """Check ``fn(model, fisher, anchor, lam) -> Tensor`` against :meth:`cltoolkit.baselines.OnlineEWC.penalty`.

    ``fisher`` and ``anchor`` map parameter names (as in ``model.named_parameters()``)
    to tensors of the parameters' shapes; only the names in ``fisher`` are
    penalised. Expected: the scalar ``lam / 2 * sum_i F_i (theta_i - theta*_i)^2``,
    differentiable with respect to the model's parameters (same value and same
    gradients as the package).
    """
    cases = _ewc_cases()
    for case, model, fisher, anchor, lam in cases:
        reference = OnlineEWC(lam=lam)
        reference.fisher, reference.anchor = fisher, anchor
        expected = reference.penalty(model)
        fisher_in = {n: f.clone() for n, f in fisher.items()}
        anchor_in = {n: a.clone() for n, a in anchor.items()}
        try:
            got = fn(model, fisher_in, anchor_in, lam)
        except Exception as exc:
            raise AssertionError(f"your ewc_penalty raised {type(exc).__name__}: {exc} on {case}") from exc
        if not torch.is_tensor(got):
            raise AssertionError(
                f"your ewc_penalty returned {type(got).__name__} on {case}; return a torch scalar tensor "
                "(no .item(), no float()) so that loss.backward() can differentiate it"
            )
        if got.numel() != 1:
            raise AssertionError(f"your ewc_penalty returned a tensor of shape {tuple(got.shape)} on {case}; sum it")
        value, target = float(got.detach()), float(expected.detach())
        if not np.isfinite(value):
            raise AssertionError(f"your ewc_penalty returned {value} on {case}")
        if not np.isclose(value, target, rtol=1e-4, atol=1e-6):
            hint = ""
            if target != 0 and np.isclose(value, 2 * target, rtol=1e-4):
                hint = " Hint: twice the expected value: the penalty is lam / 2 * sum F (theta - theta*)^2."
            elif lam != 0 and target != 0 and np.isclose(value, target / lam, rtol=1e-4):
                hint = " Hint: you forgot to multiply by lam."
            elif lam != 0 and target != 0 and np.isclose(value, 2 * target / lam, rtol=1e-4):
                hint = " Hint: you left out lam / 2."
            elif case.startswith("a Fisher for the body only"):
                hint = " Hint: sum only over the names in `fisher`."
            raise AssertionError(
                f"your ewc_penalty disagrees with cltoolkit on {case}: expected {target:.6g}, got {value:.6g}.{hint}"
            )
        if target != 0:
            if not got.requires_grad:
                raise AssertionError(
                    f"your ewc_penalty is not differentiable on {case} (requires_grad is False): compute it from "
                    "the live parameters of `model`, not from detached copies or .item()"
                )
            params = list(_named_trainable(model).items())
            g_ref = torch.autograd.grad(expected, [p for _, p in params], allow_unused=True)
            g_got = torch.autograd.grad(got, [p for _, p in params], allow_unused=True)
            for (name, p), a, b in zip(params, g_ref, g_got):
                a = torch.zeros_like(p) if a is None else a
                b = torch.zeros_like(p) if b is None else b
                if not torch.allclose(a, b, rtol=1e-4, atol=1e-6):
                    raise AssertionError(
                        f"your ewc_penalty has the right value but the wrong gradient for {name!r} on {case}; "
                        "d/dtheta of lam/2 F (theta - theta*)^2 is lam F (theta - theta*): do not detach parameters"
                    )
        for n in fisher:
            if not (torch.equal(fisher_in[n], fisher[n]) and torch.equal(anchor_in[n], anchor[n])):
                raise AssertionError(
                    f"your ewc_penalty modified fisher or anchor ({n!r}) on {case}; leave them as given"
                )
    print(f"✓ ewc_penalty agrees with cltoolkit (OnlineEWC.penalty), value and gradient, on {len(cases)} cases")


def _fisher_cases() -> list[tuple[str, nn.Module, torch.Tensor, torch.Tensor, int]]:
    cases = []
    specs = [
        ("a tiny MLP with a shared head, 20 examples", True, 20, 0, "mlp"),
        ("a tiny MLP with one head per task, task=1, 7 examples", False, 7, 1, "mlp"),
        ("a single example", True, 1, 0, "mlp"),
        ("a tiny CNN with BatchNorm (use eval mode), task=0, 9 examples", False, 9, 0, "cnn"),
    ]
    for k, (case, shared, n, task, arch) in enumerate(specs):
        model = _tiny_net(shared_head=shared, seed=20 + k, arch=arch)
        shape = (1, 8, 8) if arch == "cnn" else (1, 2, 3)
        g = torch.Generator().manual_seed(40 + k)
        x = torch.rand((n, *shape), generator=g)
        y = torch.randint(0, 3, (n,), generator=g)
        cases.append((case, model, x, y, task))
    return cases


def check_fisher_diagonal(fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, int], dict]) -> None:
    """Check ``fn(model, x, y, task) -> {name: Tensor}`` against :meth:`OnlineEWC.fisher_diagonal`.

    ``model(x, task)`` gives logits (N, classes); ``x`` (N, C, H, W), ``y`` (N,) true labels.
    Expected: for every trainable parameter, the *empirical* Fisher diagonal
    ``mean_n (d log p(y_n | x_n) / d theta)^2`` (per-example gradients, squared,
    then averaged; the model in eval mode), a tensor of the parameter's shape.
    """
    cases = _fisher_cases()
    for case, model, x, y, task in cases:
        expected = OnlineEWC().fisher_diagonal(model, x, y, task, device="cpu")
        before = copy.deepcopy(model.state_dict())
        try:
            got = fn(model, x.clone(), y.clone(), task)
        except Exception as exc:
            raise AssertionError(f"your fisher_diagonal raised {type(exc).__name__}: {exc} on {case}") from exc
        after = model.state_dict()
        if any(not torch.equal(before[k], after[k]) for k in before):
            raise AssertionError(
                f"your fisher_diagonal changed the model's weights or BatchNorm statistics on {case}; "
                "it must only measure (no optimiser steps; eval mode so BatchNorm does not update)"
            )
        if not isinstance(got, dict):
            raise AssertionError(f"your fisher_diagonal returned {type(got).__name__}; return a dict name -> tensor")
        missing = [n for n in expected if n not in got]
        if missing:
            raise AssertionError(
                f"your fisher_diagonal has no entry for {missing} on {case}; give one tensor per trainable "
                "parameter, named as in model.named_parameters() (zeros for parameters the task does not use)"
            )
        for name, ref in expected.items():
            value = torch.as_tensor(got[name]).detach().float()
            if tuple(value.shape) != tuple(ref.shape):
                raise AssertionError(
                    f"{name!r}: shape {tuple(value.shape)}, expected {tuple(ref.shape)} (the parameter's shape) "
                    f"on {case}"
                )
            if not torch.isfinite(value).all():
                raise AssertionError(f"{name!r} has NaN or inf entries on {case}")
            scale = float(ref.abs().max()) + 1e-12
            if torch.allclose(value, ref, rtol=1e-3, atol=1e-5 * scale):
                continue
            hint = _fisher_hint(model, x, y, task, name, value, ref)
            raise AssertionError(
                f"your fisher_diagonal disagrees with cltoolkit for parameter {name!r} on {case}: largest "
                f"difference {float((value - ref).abs().max()):.3g} (entries up to {scale:.3g}).{hint}"
            )
    print(f"✓ fisher_diagonal agrees with cltoolkit (OnlineEWC.fisher_diagonal) on {len(cases)} cases")


def _fisher_hint(model, x, y, task, name, value, ref) -> str:
    """Name the common mistake ``value`` matches, if any."""
    n = len(x)
    if n > 1 and torch.allclose(value, n * ref, rtol=1e-3, atol=1e-8):
        return " Hint: you summed over examples; the Fisher is their MEAN (divide by N)."
    if torch.allclose(value, ref.sqrt(), rtol=1e-3, atol=1e-8) and not torch.allclose(ref, ref.sqrt()):
        return " Hint: square the per-example gradients."
    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x, task), y).backward()
    batch_grad = dict(model.named_parameters())[name].grad
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if batch_grad is not None and torch.allclose(value, batch_grad**2, rtol=1e-3, atol=1e-8):
        return (
            " Hint: you squared the gradient of the mean loss over the batch. The empirical Fisher squares "
            "each example's gradient first, then averages: mean_n (d log p(y_n|x_n)/d theta)^2."
        )
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        return " Hint: call model.eval() first so BatchNorm uses its running statistics (as in the package)."
    return (
        " Hint: use the gradient of log p(y|x) at the TRUE label of each example (the empirical Fisher), "
        "with the head of `task`, in eval mode."
    )


# ----------------------------------------------------------------------------------------------
# Online EWC's running Fisher, the lambda prediction and SI's importance (notebook 01)
# ----------------------------------------------------------------------------------------------


class _GivenFisher(OnlineEWC):
    """OnlineEWC whose per-task Fisher is handed in (so consolidate's recurrence can be compared alone)."""

    def __init__(self, gamma: float, fishers: list[dict]):
        super().__init__(gamma=gamma)
        self._queue = [{n: f.clone() for n, f in fisher.items()} for fisher in fishers]

    def fisher_diagonal(self, model, x, y, task, device):  # the next given Fisher, whatever the data
        return self._queue.pop(0)


def reference_online_fisher(fishers: list[dict], gamma: float) -> dict:
    """The running Fisher :class:`OnlineEWC` holds after consolidating the tasks whose Fishers are ``fishers``."""
    names = sorted({n for fisher in fishers for n in fisher})
    model = nn.Module()
    for k, name in enumerate(names):
        shape = next(fisher[name].shape for fisher in fishers if name in fisher)
        model.register_parameter(f"p{k}", nn.Parameter(torch.zeros(shape)))
    rename = {name: f"p{k}" for k, name in enumerate(names)}
    back = {v: k for k, v in rename.items()}
    reg = _GivenFisher(gamma, [{rename[n]: f for n, f in fisher.items()} for fisher in fishers])
    dummy = torch.zeros(1)
    for task in range(len(fishers)):
        reg.consolidate(model, dummy, dummy, task, "cpu")
    return {back[n]: f for n, f in reg.fisher.items()}


def _online_fisher_cases() -> list[tuple[str, list[dict], float]]:
    g = torch.Generator().manual_seed(5)
    shapes = {"body.layers.1.weight": (5, 6), "body.layers.1.bias": (5,), "heads.0.weight": (3, 5)}

    def draw():
        return {n: torch.rand(s, generator=g) for n, s in shapes.items()}

    one_weight = [{"w": torch.tensor([0.4])}, {"w": torch.tensor([0.1])}, {"w": torch.tensor([0.2])}]
    later_head = [draw(), {**draw(), "heads.1.weight": torch.rand(3, 5, generator=g)}]
    return [
        ("one weight with Fishers 0.4, 0.1, 0.2 over three tasks, gamma=0.5", one_weight, 0.5),
        ("three tasks, gamma=1 (plain sum)", [draw(), draw(), draw()], 1.0),
        ("three tasks, gamma=0.5", [draw(), draw(), draw()], 0.5),
        ("four tasks, gamma=0.9", [draw(), draw(), draw(), draw()], 0.9),
        ("two tasks, gamma=0 (only the last task counts)", [draw(), draw()], 0.0),
        ("a single task, gamma=0.5", [draw()], 0.5),
        ("a head that appears with task 1 ('heads.1.weight'), gamma=0.7", later_head, 0.7),
    ]


def check_online_fisher(fn: Callable[[list, float], dict]) -> None:
    """Check ``fn(fishers, gamma) -> {name: Tensor}`` against :meth:`OnlineEWC.consolidate`'s recurrence.

    ``fishers`` is a list with one dict per task (task 0 first), mapping parameter names to that
    task's Fisher diagonal. Expected: the running Fisher after the last task, with
    ``F <- gamma * F + F_t`` for the names seen before and ``F <- F_t`` for a name seen first in task t.
    """
    cases = _online_fisher_cases()
    for case, fishers, gamma in cases:
        expected = reference_online_fisher(fishers, gamma)
        given = [{n: f.clone() for n, f in fisher.items()} for fisher in fishers]
        try:
            got = fn(given, gamma)
        except Exception as exc:
            raise AssertionError(f"your online_fisher raised {type(exc).__name__}: {exc} on {case}") from exc
        if any(not torch.equal(a[n], b[n]) for a, b in zip(given, fishers) for n in b):
            raise AssertionError(f"your online_fisher changed the Fishers it was given (on {case}); work on copies")
        if not isinstance(got, dict):
            raise AssertionError(
                f"your online_fisher returned {type(got).__name__} on {case}; return a dict name -> tensor"
            )
        missing = sorted(set(expected) - set(got))
        if missing:
            raise AssertionError(
                f"your online_fisher has no entry for {missing} on {case}; a name first seen in a later task "
                "starts its running Fisher there (F <- F_t)"
            )
        for name, ref in expected.items():
            value = torch.as_tensor(got[name]).detach().float()
            if tuple(value.shape) != tuple(ref.shape) or not torch.allclose(value, ref, rtol=1e-5, atol=1e-7):
                hint = _online_fisher_hint(fishers, gamma, name, value)
                shown = f"{float(value.flatten()[0]):.4f}" if value.numel() else "nothing"
                raise AssertionError(
                    f"your online_fisher disagrees with OnlineEWC for {name!r} on {case}: first entry expected "
                    f"{float(ref.flatten()[0]):.4f}, got {shown}.{hint}"
                )
    print(f"✓ online_fisher agrees with OnlineEWC.consolidate on {len(cases)} cases")


def _online_fisher_hint(fishers: list[dict], gamma: float, name: str, value: torch.Tensor) -> str:
    present = [fisher[name] for fisher in fishers if name in fisher]
    alternatives = []
    running = None
    for f in present:  # gamma on the new Fisher instead of the old one
        running = f.clone() if running is None else running + gamma * f
    alternatives.append(
        (running, " Hint: gamma multiplies the OLD running Fisher, not the new one: F <- gamma F + F_t.")
    )
    running = None
    for f in present:  # the mean of old and new
        running = f.clone() if running is None else (running + f) / 2
    alternatives.append((running, " Hint: you averaged old and new; online EWC adds them: F <- gamma F + F_t."))
    total = sum(present[1:], present[0].clone())
    alternatives.append((total, " Hint: that is the plain sum (gamma = 1); decay the old Fisher by gamma first."))
    alternatives.append((present[-1], " Hint: that is the last task's Fisher alone; keep the decayed old one too."))
    for alternative, hint in alternatives:
        if alternative.shape == value.shape and torch.allclose(value, alternative, rtol=1e-5, atol=1e-7):
            return hint
    return " Hint: after each task t, F <- gamma * F + F_t (F <- F_t for the first task, or a name seen first)."


LAMBDA_CHOICES = ("rises", "falls", "peaks in between", "no change")

#: What happens as EWC's lambda goes from 0 (fine-tuning) to a very large value, and why.
_LAMBDA_ANSWERS = {
    "forgetting": (
        "falls",
        "lambda is the stiffness of the springs that hold each weight near its anchor: the stiffer they are, "
        "the less the weights old tasks rely on can move, so old tasks lose less.",
    ),
    "plasticity": (
        "falls",
        "plasticity is the accuracy on each task right after learning it; with stiff springs the weights that "
        "mattered for ANY earlier task cannot move to fit the new one, so new tasks are learned worse.",
    ),
    "ACC": (
        "peaks in between",
        "ACC (the final row) needs both: at lambda = 0 old tasks are forgotten, at a huge lambda new tasks are "
        "not learned, so the best ACC is at a middle lambda.",
    ),
}


def check_lambda_prediction(fn: Callable[[], dict]) -> None:
    """Check ``fn() -> {"forgetting": c, "plasticity": c, "ACC": c}``: how each moves as EWC's lambda grows.

    Each choice is one of ``"rises"``, ``"falls"``, ``"peaks in between"``, ``"no change"``, for
    lambda swept from 0 (fine-tuning) to a value far above the package's default (notebook 01,
    section 5; the sweep after the prediction measures it).
    """
    answers = fn()
    if not isinstance(answers, dict):
        raise AssertionError(
            "return a dict {'forgetting': choice, 'plasticity': choice, 'ACC': choice} with choices from "
            f"{list(LAMBDA_CHOICES)}; got {type(answers).__name__}"
        )
    for key, (want, why) in _LAMBDA_ANSWERS.items():
        if key not in answers:
            raise AssertionError(f"no prediction for {key!r}; give one for each of {list(_LAMBDA_ANSWERS)}")
        got = _normalise_choice(answers[key], LAMBDA_CHOICES, key)
        if got != want:
            raise AssertionError(f"{key}: you predicted {got!r}; expected {want!r}. Hint: {why}")
    print(f"✓ your predictions for {', '.join(_LAMBDA_ANSWERS)} are right; the sweep below measures them")


def reference_si_importance(path: torch.Tensor, grads: torch.Tensor, xi: float) -> torch.Tensor:
    """SI's importance after one task, from :class:`SynapticIntelligence` driven along a given path.

    ``path`` (steps + 1, n): the weights before the first step and after each step; ``grads``
    (steps, n): the task-loss gradient before each step. Returns Omega (n,), starting from Omega = 0.
    """
    holder = nn.Module()
    holder.weight = nn.Parameter(path[0].clone().float())
    si = SynapticIntelligence(c=1.0, xi=xi)
    si.begin_task(holder)
    for step in range(len(grads)):
        with torch.no_grad():
            holder.weight.copy_(path[step])
        holder.weight.grad = grads[step].clone().float()
        si.before_step(holder)
        with torch.no_grad():
            holder.weight.copy_(path[step + 1])
        si.after_step(holder)
    si.consolidate(holder)
    return si.omega["weight"].detach()


def _si_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    g = torch.Generator().manual_seed(11)
    cases = []
    # gradient descent on a quadratic with curvatures a: the path goes downhill
    a = torch.tensor([4.0, 1.0, 0.25, 0.0])
    theta = [torch.tensor([1.0, -1.0, 1.0, 0.5])]
    grads = []
    for _ in range(20):
        grads.append(a * theta[-1])
        theta.append(theta[-1] - 0.1 * grads[-1])
    cases.append(
        (
            "gradient descent on 0.5 * sum a_k theta_k^2, a = (4, 1, 0.25, 0), xi=0.1",
            torch.stack(theta),
            torch.stack(grads),
            0.1,
        )
    )
    # a random walk with random gradients: some omegas are negative and must be clamped to 0
    steps = torch.randn(15, 6, generator=g) * 0.1
    path = torch.cat([torch.zeros(1, 6), steps.cumsum(0)])
    cases.append(("a random walk with random gradients, xi=0.1", path, torch.randn(15, 6, generator=g), 0.1))
    # out and back: the weight ends where it started (total move 0) but went downhill both ways
    path = torch.tensor([[0.0], [0.5], [1.0], [0.5], [0.0]])
    grads = torch.tensor([[-1.0], [-1.0], [1.0], [1.0]])
    cases.append(("a weight that moves out and back (total move 0), xi=0.01", path, grads, 0.01))
    # no movement at all
    cases.append(("weights that never move, xi=0.1", torch.ones(4, 3), torch.randn(3, 3, generator=g), 0.1))
    # SGD-like steps whose gradients point roughly against the steps, with another damping
    steps = torch.randn(30, 10, generator=g) * 0.05
    path = torch.cat([torch.zeros(1, 10), steps.cumsum(0)]) + torch.randn(1, 10, generator=g)
    grads = -steps / 0.05 + 0.3 * torch.randn(30, 10, generator=g)
    cases.append(("SGD-like steps with noisy gradients, xi=1.0", path, grads, 1.0))
    return cases


def check_si_importance(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """Check ``fn(path, grads, xi) -> Tensor (n,)`` against :class:`cltoolkit.baselines.SynapticIntelligence`.

    ``path`` (steps + 1, n): the weights before the first step and after every step; ``grads``
    (steps, n): the task-loss gradient before each step. Expected: SI's importance after this one
    task, starting from 0: ``max(0, omega / (Delta^2 + xi))`` with the path integral
    ``omega = -sum_s grads[s] * (path[s+1] - path[s])`` and the total move ``Delta = path[-1] - path[0]``.
    """
    cases = _si_cases()
    for case, path, grads, xi in cases:
        expected = reference_si_importance(path, grads, xi)
        p_in, g_in = path.clone(), grads.clone()
        try:
            got = fn(p_in, g_in, xi)
        except Exception as exc:
            raise AssertionError(f"your si_importance raised {type(exc).__name__}: {exc} on {case}") from exc
        if not (torch.equal(p_in, path) and torch.equal(g_in, grads)):
            raise AssertionError(f"your si_importance changed `path` or `grads` on {case}; leave them as given")
        if not torch.is_tensor(got):
            raise AssertionError(f"your si_importance returned {type(got).__name__} on {case}; return a tensor (n,)")
        got = got.detach().float()
        if tuple(got.shape) != tuple(expected.shape):
            raise AssertionError(
                f"your si_importance returned shape {tuple(got.shape)} on {case}; expected {tuple(expected.shape)}, "
                "one importance per weight (sum over the steps, axis 0)"
            )
        if not torch.isfinite(got).all():
            raise AssertionError(
                f"your si_importance returned inf or NaN on {case}. Hint: the damping xi keeps the division "
                "finite when a weight ends where it started: omega / (Delta^2 + xi)."
            )
        if torch.allclose(got, expected, rtol=1e-4, atol=1e-6):
            continue
        raise AssertionError(
            f"your si_importance disagrees with SynapticIntelligence on {case}: expected "
            f"{[round(v, 4) for v in expected.tolist()]}, got {[round(v, 4) for v in got.tolist()]}."
            + _si_hint(path, grads, xi, got)
        )
    print(f"✓ si_importance agrees with cltoolkit's SynapticIntelligence on {len(cases)} cases")


def _si_hint(path: torch.Tensor, grads: torch.Tensor, xi: float, got: torch.Tensor) -> str:
    moves = path[1:] - path[:-1]
    omega = -(grads * moves).sum(0)
    delta = path[-1] - path[0]
    alternatives = [
        (
            (omega / (delta**2 + xi)),
            " Hint: clamp at 0 (Zenke et al.): a weight whose steps went against the "
            "gradient overall gets no importance, not a negative one.",
        ),
        (
            (-omega / (delta**2 + xi)).clamp_min(0),
            " Hint: the sign: omega = -sum g * dtheta is positive when the steps went downhill (the loss fell).",
        ),
        (
            (omega / ((moves**2).sum(0) + xi)).clamp_min(0),
            " Hint: divide by the square of the TOTAL move "
            "(path[-1] - path[0])^2, not by the sum of the squared steps.",
        ),
        ((omega / (delta.abs() + xi)).clamp_min(0), " Hint: square the total move: Delta^2 + xi."),
        ((omega / delta**2).clamp_min(0), " Hint: add the damping xi to Delta^2."),
        (omega.clamp_min(0), " Hint: normalise omega by Delta^2 + xi."),
    ]
    for alternative, hint in alternatives:
        if torch.isfinite(alternative).all() and torch.allclose(got, alternative.float(), rtol=1e-4, atol=1e-6):
            return hint
    return (
        " Hint: omega = -sum_s grads[s] * (path[s+1] - path[s]); Omega = max(0, omega / ((path[-1] - path[0])^2 + xi))."
    )
