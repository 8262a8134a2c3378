"""The checks of notebooks 00/01 accept the package's own functions and catch plausible mistakes with a hint."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cltoolkit import checks, metrics
from cltoolkit.baselines import OnlineEWC
from cltoolkit.data import Stream, Task, permuted_stream
from cltoolkit.data.streams import apply_permutation

# ----------------------------------------------------------------------------------------------
# The reference implementations pass
# ----------------------------------------------------------------------------------------------


def reference_penalty(model, fisher, anchor, lam):
    ewc = OnlineEWC(lam=lam)
    ewc.fisher, ewc.anchor = fisher, anchor
    return ewc.penalty(model)


def reference_fisher(model, x, y, task):
    return OnlineEWC().fisher_diagonal(model, x, y, task, device="cpu")


def loop_fisher(model, x, y, task):
    """A from-scratch Fisher, one example at a time, as the notebook writes it."""
    model.eval()
    params = dict(model.named_parameters())
    sums = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in range(len(x)):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1], task), y[i : i + 1]).backward()
        for n, p in params.items():
            if p.grad is not None:
                sums[n] += p.grad.detach() ** 2
    model.zero_grad()
    return {n: s / len(x) for n, s in sums.items()}


def loop_online_fisher(fishers, gamma):
    """The recurrence F <- gamma F + F_t written out, as the notebook's solution does."""
    running = {}
    for fisher in fishers:
        for name, f in fisher.items():
            running[name] = gamma * running[name] + f if name in running else f.clone()
    return running


def vectorised_si_importance(path, grads, xi):
    """SI's importance written from the formula, independently of SynapticIntelligence's hooks."""
    omega = -(grads * (path[1:] - path[:-1])).sum(0)
    return (omega / ((path[-1] - path[0]) ** 2 + xi)).clamp_min(0)


@pytest.mark.parametrize(
    "check, fn",
    [
        (checks.check_average_accuracy, metrics.average_accuracy),
        (checks.check_backward_transfer, metrics.backward_transfer),
        (checks.check_forgetting, metrics.forgetting),
        (checks.check_permutation_stream, lambda source, n, seed: permuted_stream(source, n, seed=seed)),
        (checks.check_ewc_penalty, reference_penalty),
        (checks.check_fisher_diagonal, reference_fisher),
        (checks.check_fisher_diagonal, loop_fisher),
        (checks.check_online_fisher, checks.core.reference_online_fisher),
        (checks.check_online_fisher, loop_online_fisher),
        (checks.check_si_importance, checks.core.reference_si_importance),
        (checks.check_si_importance, vectorised_si_importance),
    ],
    ids=[
        "acc",
        "bwt",
        "forgetting",
        "permuted",
        "ewc_penalty",
        "fisher",
        "fisher_loop",
        "online_fisher",
        "online_fisher_loop",
        "si",
        "si_vectorised",
    ],
)
def test_reference_passes_and_prints_a_confirmation(check, fn, capsys):
    assert check(fn) is True
    out = capsys.readouterr().out
    assert out.startswith("✓") and "cases" in out


def test_metric_checks_accept_plain_numpy_solutions(capsys):
    checks.check_average_accuracy(lambda R: R[-1].mean())
    checks.check_backward_transfer(
        lambda R: 0.0 if len(R) == 1 else np.mean([R[-1, j] - R[j, j] for j in range(len(R) - 1)])
    )
    checks.check_forgetting(
        lambda R: 0.0 if len(R) == 1 else np.mean([R[:-1, j].max() - R[-1, j] for j in range(len(R) - 1)])
    )
    assert capsys.readouterr().out.count("✓") == 3


def test_check_functions_are_reexported():
    for name in checks.core.__all__:
        exported = getattr(checks, name)
        assert getattr(exported, "__wrapped_check__", exported) is getattr(checks.core, name)


# ----------------------------------------------------------------------------------------------
# Wrong metrics fail with a hint that names the mistake and the input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda R: np.mean(np.diag(R)), "mean of the diagonal"),
        (lambda R: np.mean(R[:, -1]), "last COLUMN"),
        (lambda R: np.mean(R), "whole matrix"),
    ],
)
def test_average_accuracy_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_average_accuracy(wrong)
    assert "disagrees with cltoolkit on" in str(info.value)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda R: np.mean([R[j, j] - R[-1, j] for j in range(len(R) - 1)]) if len(R) > 1 else 0.0, "sign"),
        (lambda R: np.mean([R[-1, j] - R[j, j] for j in range(len(R))]), "OLD tasks"),
        (lambda R: np.mean([R[-1, j] - R[j, j] for j in range(len(R) - 1)]), "single task"),
    ],
    ids=["sign", "all-tasks", "nan-for-T=1"],
)
@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
def test_backward_transfer_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_backward_transfer(wrong)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (metrics.forgetting_since_learned, "drop since each task was learned"),
        (metrics.forgetting_after_learned, "only over rows i >= j"),
        (lambda R: np.mean([R[:, j].max() - R[-1, j] for j in range(len(R) - 1)]) if len(R) > 1 else 0.0, "last row"),
    ],
    ids=["since-learned", "after-learned", "max-includes-last-row"],
)
def test_forgetting_mistakes_name_the_other_definitions(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_forgetting(wrong)
    message = str(info.value)
    assert "disagrees with cltoolkit on" in message and "expected" in message
    if "learned" in hint:  # the first matrix that tells these apart is the hand-made one of notebook 00
        assert "forgetting definitions disagree" in message


def test_metric_check_reports_exceptions_with_the_input():
    def broken(R):
        return R[2, 2]

    with pytest.raises(AssertionError, match=r"(?s)raised IndexError.*T=1"):
        checks.check_average_accuracy(lambda R: broken(R) if len(R) < 2 else R[-1].mean())


def test_metric_check_rejects_mutating_the_input():
    def mutating(R):
        R[-1] = 0
        return 0.0

    with pytest.raises(AssertionError, match="changed the matrix"):
        checks.check_average_accuracy(mutating)


# ----------------------------------------------------------------------------------------------
# Wrong permuted-stream builders
# ----------------------------------------------------------------------------------------------


def _stream_from_perms(source, perms, seed, scenario="domain"):
    tasks = [
        Task(
            f"perm{t}",
            apply_permutation(source.x_train, p),
            source.y_train.clone(),
            apply_permutation(source.x_test, p),
            source.y_test.clone(),
            num_outputs=source.num_classes,
        )
        for t, p in enumerate(perms)
    ]
    return Stream("permuted", source.name, tasks, scenario=scenario, seed=seed)


def fresh_generator_per_task(source, num_tasks, seed):
    n = source.x_train[0].numel()
    perms = [torch.arange(n)] + [
        torch.randperm(n, generator=torch.Generator().manual_seed(seed)) for _ in range(num_tasks - 1)
    ]
    return _stream_from_perms(source, perms, seed)


def global_rng_builder(source, num_tasks, seed):
    n = source.x_train[0].numel()
    return _stream_from_perms(source, [torch.arange(n)] + [torch.randperm(n) for _ in range(num_tasks - 1)], seed)


def per_image_permutation(source, num_tasks, seed):
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for t in range(num_tasks):
        x = source.x_train.clone()
        if t > 0:
            flat = x.reshape(len(x), -1)
            for i in range(len(x)):
                flat[i] = flat[i, torch.randperm(flat.shape[1], generator=g)]
        tasks.append(Task(f"p{t}", x, source.y_train, source.x_test, source.y_test, source.num_classes))
    return Stream("permuted", source.name, tasks, scenario="domain", seed=seed)


def no_identity_first(source, num_tasks, seed):
    g = torch.Generator().manual_seed(seed)
    n = source.x_train[0].numel()
    return _stream_from_perms(source, [torch.randperm(n, generator=g) for _ in range(num_tasks)], seed)


def task_scenario(source, num_tasks, seed):
    return _stream_from_perms(source, [torch.arange(source.x_train[0].numel())] * num_tasks, seed, scenario="task")


def noisy_not_permuted(source, num_tasks, seed):
    stream = permuted_stream(source, num_tasks, seed=seed)
    stream.tasks[0].x_train = stream.tasks[0].x_train * 0.5
    return stream


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (fresh_generator_per_task, "use the same permutation"),
        (global_rng_builder, "different images"),
        (per_image_permutation, "ONE permutation per task"),
        (no_identity_first, "task 0"),
        (task_scenario, "domain-incremental"),
        (noisy_not_permuted, "not a rearrangement"),
        (lambda source, n, seed: [source] * n, "return a cltoolkit.data.Stream"),
    ],
    ids=["same-perm", "global-rng", "per-image", "no-identity", "scenario", "values-changed", "not-a-stream"],
)
def test_permutation_stream_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_permutation_stream(wrong)


# ----------------------------------------------------------------------------------------------
# Wrong EWC penalties and Fisher diagonals
# ----------------------------------------------------------------------------------------------


def penalty_without_half(model, fisher, anchor, lam):
    params = dict(model.named_parameters())
    return lam * sum(((fisher[n] * (params[n] - anchor[n]) ** 2).sum() for n in fisher), torch.zeros(()))


def penalty_as_float(model, fisher, anchor, lam):
    return reference_penalty(model, fisher, anchor, lam).item()


def penalty_detached(model, fisher, anchor, lam):
    return reference_penalty(model, fisher, anchor, lam).detach()


def penalty_all_params(model, fisher, anchor, lam):
    params = dict(model.named_parameters())
    return lam / 2 * sum((fisher[n] * (p - anchor[n]) ** 2).sum() for n, p in params.items())


def penalty_fisher_squared(model, fisher, anchor, lam):
    params = dict(model.named_parameters())
    return lam / 2 * sum(((fisher[n] * (params[n] - anchor[n])) ** 2).sum() for n in fisher)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (penalty_without_half, "lam / 2"),
        (penalty_as_float, "return a torch scalar tensor"),
        (penalty_detached, "not differentiable"),
        (penalty_all_params, "KeyError"),
        (penalty_fisher_squared, "expected .*, got"),
    ],
    ids=["no-half", "float", "detached", "all-params", "fisher-squared"],
)
def test_ewc_penalty_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_ewc_penalty(wrong)
    assert "on a " in str(info.value) or "on the " in str(info.value)


def fisher_of_mean_gradient(model, x, y, task):
    model.eval()
    model.zero_grad()
    F.cross_entropy(model(x, task), y).backward()
    out = {n: p.grad.detach() ** 2 if p.grad is not None else torch.zeros_like(p) for n, p in model.named_parameters()}
    model.zero_grad()
    return out


def fisher_summed(model, x, y, task):
    return {n: f * len(x) for n, f in reference_fisher(model, x, y, task).items()}


def fisher_in_train_mode(model, x, y, task):
    model.train()
    params = dict(model.named_parameters())
    sums = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in range(len(x)):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1], task), y[i : i + 1]).backward()
        for n, p in params.items():
            if p.grad is not None:
                sums[n] += p.grad.detach() ** 2
    return {n: s / len(x) for n, s in sums.items()}


def fisher_sampled_labels(model, x, y, task):
    """The 'true' Fisher with labels drawn from the model: a different quantity than the kit's empirical Fisher."""
    with torch.no_grad():
        sampled = torch.distributions.Categorical(logits=model(x, task)).sample()
    return reference_fisher(model, x, sampled, task)


def fisher_missing_heads(model, x, y, task):
    return {n: f for n, f in reference_fisher(model, x, y, task).items() if n.startswith("body.")}


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (fisher_of_mean_gradient, "squared the gradient of the mean loss"),
        (fisher_summed, "divide by N"),
        (fisher_in_train_mode, "eval mode"),
        (fisher_sampled_labels, "TRUE label"),
        (fisher_missing_heads, "no entry for"),
    ],
    ids=["mean-gradient", "summed", "train-mode", "sampled-labels", "missing-heads"],
)
def test_fisher_diagonal_mistakes(wrong, hint):
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=hint):
        checks.check_fisher_diagonal(wrong)


def test_fisher_check_does_not_leak_state_between_calls():
    model_cases = checks.core._fisher_cases()
    again = checks.core._fisher_cases()
    for (_, a, xa, ya, _), (_, b, xb, yb, _) in zip(model_cases, again):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        sa, sb = a.state_dict(), copy.deepcopy(b.state_dict())
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------------------------
# Predictions (notebooks 00 and 01): right answers pass, each wrong one is named with its reason
# ----------------------------------------------------------------------------------------------


def test_prediction_matrices_have_the_answers_the_notebook_teaches():
    # computed from the metrics, not stored: A makes the three definitions agree, B singles out Chaudhry
    assert checks.core.largest_forgetting_definition(checks.core.PREDICTION_MATRICES["A"]) == "all equal"
    assert checks.core.largest_forgetting_definition(checks.core.PREDICTION_MATRICES["B"]) == "chaudhry"
    # task 0 improves after it was learned, nothing scores high before training: Chaudhry = after-learned
    with pytest.raises(ValueError, match="chaudhry and after_learned tie for the largest"):
        checks.core.largest_forgetting_definition([[0.8, 0.1, 0.1], [0.9, 0.8, 0.1], [0.7, 0.6, 0.9]])


def test_forgetting_prediction_accepts_spellings(capsys):
    assert checks.check_forgetting_prediction(lambda: {"A": "All equal", "B": "Chaudhry"}) is True
    assert checks.check_forgetting_prediction(lambda: {"A": "all_equal", "B": "chaudhry"}) is True
    assert "2 matrices" in capsys.readouterr().out
    R = [[0.9, 0.1, 0.1], [0.5, 0.8, 0.1], [0.7, 0.6, 0.9]]  # each task at its best right after learning: all agree
    assert checks.core.largest_forgetting_definition(R) == "all equal"
    assert checks.check_forgetting_prediction(lambda: {"X": " All-Equal "}, matrices={"X": R}) is True


def test_forgetting_prediction_on_other_matrices():
    R = [[0.8, 0.6, 0.3], [0.9, 0.5, 0.4], [0.7, 0.45, 0.85]]  # notebook 00's disagreement example
    assert checks.check_forgetting_prediction(lambda: {"X": "chaudhry"}, matrices={"X": R}) is True
    with pytest.raises(AssertionError, match="scored higher BEFORE it was trained"):
        checks.check_forgetting_prediction(lambda: {"X": "after_learned"}, matrices={"X": R})


@pytest.mark.parametrize(
    "answer, hint",
    [
        ({"A": "chaudhry", "B": "chaudhry"}, "matrix A: .*at its best right after it was learned"),
        ({"A": "all equal", "B": "after_learned"}, "matrix B: .*task 1 scored higher BEFORE it was trained"),
        ({"A": "all equal", "B": "all equal"}, "matrix B: .*'chaudhry' gives the largest"),
        ({"A": "all equal"}, "no prediction for matrix B"),
        ({"A": "all equal", "B": "the first one"}, "not one of the choices"),
        (["all equal", "chaudhry"], "return a dict"),
    ],
    ids=["A-not-equal", "B-after", "B-equal", "missing-B", "bad-choice", "list"],
)
def test_forgetting_prediction_mistakes(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_forgetting_prediction(lambda: answer)


def test_lambda_prediction(capsys):
    right = {"forgetting": "falls", "plasticity": "falls", "ACC": "peaks in between"}
    assert checks.check_lambda_prediction(lambda: right) is True
    assert checks.check_lambda_prediction(lambda: {**right, "ACC": "peaks"}) is True
    assert checks.check_lambda_prediction(lambda: {**right, "ACC": "Peaks_in_between"}) is True
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize(
    "change, hint",
    [
        ({"forgetting": "rises"}, "forgetting: you predicted 'rises'.*stiffness of the springs"),
        ({"plasticity": "rises"}, "plasticity: .*new tasks are learned worse"),
        ({"plasticity": "no change"}, "plasticity: you predicted 'no change'"),
        ({"ACC": "rises"}, "ACC: .*needs both"),
        ({"ACC": "up"}, "not one of the choices"),
    ],
    ids=["forgetting-rises", "plasticity-rises", "plasticity-flat", "acc-rises", "bad-choice"],
)
def test_lambda_prediction_mistakes(change, hint):
    right = {"forgetting": "falls", "plasticity": "falls", "ACC": "peaks in between"}
    with pytest.raises(AssertionError, match=hint):
        checks.check_lambda_prediction(lambda: {**right, **change})
    with pytest.raises(AssertionError, match="no prediction for 'plasticity'"):
        checks.check_lambda_prediction(lambda: {"forgetting": "falls"})


# ----------------------------------------------------------------------------------------------
# Wrong online Fishers and SI importances
# ----------------------------------------------------------------------------------------------


def online_fisher_gamma_on_new(fishers, gamma):
    running = {}
    for fisher in fishers:
        for name, f in fisher.items():
            running[name] = running[name] + gamma * f if name in running else f.clone()
    return running


def online_fisher_mean(fishers, gamma):
    running = {}
    for fisher in fishers:
        for name, f in fisher.items():
            running[name] = (running[name] + f) / 2 if name in running else f.clone()
    return running


def online_fisher_sum(fishers, gamma):
    return loop_online_fisher(fishers, 1.0)


def online_fisher_last(fishers, gamma):
    return {name: f.clone() for name, f in fishers[-1].items()}


def online_fisher_first_names_only(fishers, gamma):
    running = {name: f.clone() for name, f in fishers[0].items()}
    for fisher in fishers[1:]:
        for name in running:
            running[name] = gamma * running[name] + fisher[name]
    return running


def online_fisher_in_place(fishers, gamma):
    running = fishers[0]
    for fisher in fishers[1:]:
        for name, f in fisher.items():
            if name in running:
                running[name].mul_(gamma).add_(f)
            else:
                running[name] = f
    return running


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (online_fisher_gamma_on_new, "gamma multiplies the OLD running Fisher"),
        (online_fisher_mean, "averaged old and new"),
        (online_fisher_sum, "plain sum"),
        (online_fisher_last, "last task's Fisher alone"),
        (online_fisher_first_names_only, "no entry for \\['heads.1.weight'\\]"),
        (online_fisher_in_place, "changed the Fishers it was given"),
        (lambda fishers, gamma: [fishers[-1]], "return a dict"),
    ],
    ids=["gamma-on-new", "mean", "sum", "last", "new-names", "in-place", "list"],
)
def test_online_fisher_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_online_fisher(wrong)
    assert " on " in str(info.value)


def _omega(path, grads):
    return -(grads * (path[1:] - path[:-1])).sum(0)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda p, g, xi: _omega(p, g) / ((p[-1] - p[0]) ** 2 + xi), "clamp at 0"),
        (lambda p, g, xi: (-_omega(p, g) / ((p[-1] - p[0]) ** 2 + xi)).clamp_min(0), "the sign"),
        (
            lambda p, g, xi: (_omega(p, g) / (((p[1:] - p[:-1]) ** 2).sum(0) + xi)).clamp_min(0),
            "square of the TOTAL move",
        ),
        (lambda p, g, xi: (_omega(p, g) / ((p[-1] - p[0]).abs() + xi)).clamp_min(0), "square the total move"),
        (lambda p, g, xi: (_omega(p, g) / (p[-1] - p[0]) ** 2).clamp_min(0), "damping xi"),
        (lambda p, g, xi: _omega(p, g).clamp_min(0), "normalise omega"),
        (lambda p, g, xi: (_omega(p, g) / ((p[-1] - p[0]) ** 2 + xi)).clamp_min(0).sum(), "shape"),
        (lambda p, g, xi: g.mul_(2).sum(0), "changed `path` or `grads`"),
        (lambda p, g, xi: [0.0] * p.shape[1], "return a tensor"),
    ],
    ids=["no-clamp", "sign", "sum-of-squares", "abs", "no-xi", "no-normalise", "summed", "in-place", "list"],
)
def test_si_importance_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_si_importance(wrong)
    assert " on " in str(info.value)
