"""Every exercise check, both ways: a stub gets one friendly line, the solution passes.

A stub is what the student editions hold: a function (or class) whose body is
``raise NotImplementedError()``. The check must print one line, no traceback, and return False.
The solution (here: the package's own reference, which the notebooks' solutions agree with) must
pass and return True. Wrong answers, and the mistakes each check names, are tested in the
per-notebook test modules (``test_checks_core.py``, ``test_piggyback.py`` ...).

A new ``check_*`` needs its reference answer in ``SOLUTIONS`` below: the arguments (the package's
own functions, or a function written only from the package's pieces) that make it pass. The
coverage test fails, naming the check, until it has one.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from cltoolkit import checks, metrics
from cltoolkit.baselines import OnlineEWC
from cltoolkit.data import permuted_stream
from cltoolkit.hypernet import TargetMLP, select_by_entropy
from cltoolkit.piggyback import Binarize, MaskedConv2d, MaskedLinear, Ternarize, pack_mask, sparsity_at_threshold
from cltoolkit.roaming import cosine_choice, initial_partition, roaming_update, units_per_task


def stub(*args, **kwargs):
    raise NotImplementedError()


CHECKS = sorted(name for name in checks.__all__ if name.startswith("check_"))


def _n_answers(check) -> int:
    """How many learner answers a check takes (most take one; check_masked_layers takes two classes)."""
    inner = getattr(check, "__wrapped_check__", check)
    params = [
        p
        for p in inspect.signature(inner).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return max(1, len(params))


@pytest.mark.parametrize("name", CHECKS)
def test_stub_gets_one_friendly_line(name, capsys):
    check = getattr(checks, name)
    stubs = [stub] * _n_answers(check)
    assert check(*stubs) is False, f"{name} did not report the stub as not done"
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Not done yet: `stub` raises NotImplementedError"), out.out
    assert "Traceback" not in out.out + out.err


def test_a_wrong_answer_still_raises_with_a_hint():
    with pytest.raises(AssertionError, match="disagrees"):
        checks.check_average_accuracy(lambda R: float(np.asarray(R)[0].mean()))


def test_yours_or_falls_back_to_the_package(capsys):
    assert checks.yours_or(stub, metrics.average_accuracy, passed=False) is metrics.average_accuracy
    assert "using cltoolkit's version" in capsys.readouterr().out
    assert checks.yours_or(stub, metrics.average_accuracy, passed=True) is stub


# ----------------------------------------------------------------------------------------------
# The solution half: every check passes on the package's own answer
# ----------------------------------------------------------------------------------------------


def _ewc_penalty(model, fisher, anchor, lam):
    reference = OnlineEWC(lam=lam)
    reference.fisher, reference.anchor = fisher, anchor
    return reference.penalty(model)


def _roaming_progress(visited, p):
    """r(c) from B_t: the units task 0 has visited beyond the ceil(p*S) it started with, as a fraction."""
    num_units = visited.shape[0]
    start = units_per_task(num_units, p)
    return 1.0 if start == num_units else (int(visited[:, 0].sum()) - start) / (num_units - start)


def _functional_mlp(x, weights):
    """The package's TargetMLP, sized from the weights it is given, run on ``x``."""
    hidden = [int(w.shape[0]) for w in weights[0:-2:2]]
    return TargetMLP(int(weights[0].shape[1]), hidden, int(weights[-2].shape[0]))(x, weights)


SOLUTIONS = {
    "check_mean_and_spread": (checks.comparison.reference_mean_and_spread,),
    "check_difference_and_se": (checks.comparison.reference_difference_and_se,),
    "check_classes_by_entropy": (checks.comparison.reference_classes_by_entropy,),
    # notebook 00 and 01 (cltoolkit.checks.core)
    "check_average_accuracy": (metrics.average_accuracy,),
    "check_backward_transfer": (metrics.backward_transfer,),
    "check_forgetting": (metrics.forgetting,),
    "check_permutation_stream": (lambda source, n, seed: permuted_stream(source, n, seed=seed),),
    "check_forgetting_prediction": (
        lambda: {
            name: checks.core.largest_forgetting_definition(R) for name, R in checks.core.PREDICTION_MATRICES.items()
        },
    ),
    "check_ewc_penalty": (_ewc_penalty,),
    "check_fisher_diagonal": (lambda model, x, y, task: OnlineEWC().fisher_diagonal(model, x, y, task, "cpu"),),
    "check_online_fisher": (checks.core.reference_online_fisher,),
    "check_lambda_prediction": (lambda: {"forgetting": "falls", "plasticity": "falls", "ACC": "peaks in between"},),
    "check_si_importance": (checks.core.reference_si_importance,),
    # notebook 02 (cltoolkit.checks.piggyback)
    "check_binarize": (Binarize.apply,),
    "check_ternarize": (Ternarize.apply,),
    "check_masked_layers": (MaskedLinear.from_layer, MaskedConv2d.from_layer),
    "check_pack_mask": (pack_mask,),
    "check_sparsity_at_threshold": (sparsity_at_threshold,),
    "check_masked_weight": (checks.piggyback.BinaryMaskedWeight.apply,),
    "check_piggyback_training": (checks.piggyback.ReferencePiggyback, checks.piggyback.reference_train),
    "check_sparsest_layer": (
        lambda: checks.piggyback.sparsest_layer({"t": {"first": 0.1, "second": 0.3}}),
        {"t": {"first": 0.1, "second": 0.3}},
    ),
    "check_tau_shift_prediction": (lambda: "about the same",),
    "check_larger_tau": (lambda: {"t": {"sparsity": 0.2, "accuracy": 0.9}}, {"t": {"sparsity": 0.2, "accuracy": 0.9}}),
    # notebook 03 (cltoolkit.checks.roaming)
    "check_initial_partition": (initial_partition,),
    "check_roaming_update": (lambda mask, visited, rng: roaming_update(mask, visited, rng),),
    "check_roaming_progress": (_roaming_progress,),
    "check_cosine_choice": (cosine_choice,),
    "check_roaming_iterations": (lambda widths, p, interval: interval * max(S - units_per_task(S, p) for S in widths),),
    "check_visit_probability": (checks.roaming.reference_visit_probability,),
    "check_tasks_per_filter": (checks.roaming.reference_tasks_per_filter,),
    # notebook 04 (cltoolkit.checks.hypernet)
    "check_full_hypernet": (lambda hnet, embedding: hnet(embedding),),
    "check_functional_forward": (_functional_mlp,),
    "check_output_regularizer": (lambda hnet, targets, beta: hnet.output_regularizer(targets, beta),),
    "check_compression_ratio": (lambda hnet: hnet.compression_ratio(),),
    "check_entropy_task_inference": (select_by_entropy,),
    "check_tiny_hypernet": (checks.hypernet.PackageTinyHyperNet,),
    "check_chunked_hypernet": (checks.hypernet.PackageChunkedHyperNet,),
    "check_regularizer": (checks.hypernet.reference_regularizer,),
    "check_adam_lookahead": (checks.hypernet.reference_lookahead,),
    "check_compression_prediction": (checks.hypernet.reference_compression_ratio,),
}


def test_every_check_has_a_solution():
    missing = [name for name in CHECKS if name not in SOLUTIONS]
    assert not missing, (
        f"no reference answer for {missing} in tests/test_checks_both_ways.py::SOLUTIONS; add the arguments "
        "(the package's own functions) that make each pass"
    )
    stale = sorted(set(SOLUTIONS) - set(CHECKS))
    assert not stale, f"SOLUTIONS names checks that cltoolkit.checks no longer exports: {stale}"


@pytest.mark.parametrize("name", CHECKS)
def test_solution_passes(name, capsys):
    if name not in SOLUTIONS:
        pytest.fail(f"{name} has no entry in SOLUTIONS (see test_every_check_has_a_solution)")
    torch.manual_seed(0)
    check = getattr(checks, name)
    assert check(*SOLUTIONS[name]) is True, f"{name} did not return True on the package's own answer"
    out = capsys.readouterr().out
    assert "Not done yet" not in out and out.strip(), f"{name} should print a confirmation, got {out!r}"
