"""``compare``: every sequential method on one stream (notebook 05 and ``python -m cltoolkit compare``), at smoke."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cltoolkit import cli
from cltoolkit.checks import comparison
from cltoolkit.checks._exercise import exercise_check
from cltoolkit.errors import ConfigError
from cltoolkit.experiments import compare as cmp
from cltoolkit.hypernet import select_by_entropy
from cltoolkit.metrics import summarize

FIELDS = ("avg_acc", "avg_acc_std", "bwt", "forgetting", "bytes_per_task", "needs_task_id", "seconds")


def small(**overrides) -> cmp.CompareConfig:
    """Smaller than smoke: 2 epochs, 80 training examples per task (the protocol is the same)."""
    return cmp.compare_config("smoke", **{"epochs": 2, "max_train": 80, "max_test": 80, **overrides})


@pytest.fixture(scope="module")
def split_run():
    methods = [m for m in cmp.METHODS if m != "piggyback"]
    return cmp.compare("split", [0, 1], methods, "smoke", progress=False, config=small(), device="cpu")


def test_cli_writes_the_contract_json(tmp_path, capsys):
    out = tmp_path / "compare.json"
    argv = ["compare", "--stream", "permuted", "--seeds", "0,1,2", "--scale", "smoke", "--quiet", "--json", str(out)]
    argv += ["--methods", "finetune", "joint,hypernet_ent"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "fine-tuning" in printed and "hypernetwork + entropy" in printed and "±" in printed
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["stream"] == "permuted" and data["scale"] == "smoke" and data["seeds"] == [0, 1, 2]
    assert list(data["methods"]) == ["finetune", "joint", "hypernet_ent"]
    for name, entry in data["methods"].items():
        missing = [f for f in FIELDS if f not in entry]
        assert not missing, f"{name} lacks {missing}"
        assert 0.0 <= entry["avg_acc"] <= 1.0 and entry["avg_acc_std"] >= 0.0 and entry["seconds"] > 0
        assert len(entry["acc_matrices"]) == 3
        per_seed = [summarize(np.array(m))["avg_acc"] for m in entry["acc_matrices"]]
        assert entry["avg_acc"] == pytest.approx(np.mean(per_seed))
        assert entry["avg_acc_std"] == pytest.approx(np.std(per_seed, ddof=1))
    # permuted digits share one head: only the methods that pick something by task id need it
    assert data["methods"]["finetune"]["needs_task_id"] is False
    assert data["methods"]["hypernet_ent"]["needs_task_id"] is False
    assert data["methods"]["joint"]["bytes_per_task"] > 10_000  # it keeps every task's data
    assert data["methods"]["hypernet_ent"]["bytes_per_task"] == 4 * 16  # one 16-d float embedding


def test_every_method_sees_the_same_stream(split_run):
    names = list(split_run.methods)
    assert names == ["finetune", "ewc", "si", "joint", "hypernet", "hypernet_ent"]
    assert split_run.task_names == ["0/1", "2/3", "4/5", "6/7", "8/9"]
    for name, summary in split_run.methods.items():
        assert len(summary.runs) == 2, name
        for R in summary.acc_matrices:
            assert R.shape == (5, 5) and not np.isnan(R).any(), name
    # split digits: one head per task, so the baselines need the task id; entropy inference does not
    needs = {name: s.needs_task_id for name, s in split_run.methods.items()}
    assert needs == {"finetune": True, "ewc": True, "si": True, "joint": True, "hypernet": True, "hypernet_ent": False}


def test_piggyback_backbone_is_fine_tuning_after_task_0_and_old_tasks_never_change():
    run = cmp.compare("permuted", [0, 1], ["finetune", "piggyback"], "smoke", progress=False, config=small())
    for ft, pb in zip(run.methods["finetune"].runs, run.methods["piggyback"].runs):
        # the backbone is fine-tuning's network after the first task: the same accuracy on it, bit for bit
        assert pb.acc_matrix[0, 0] == ft.acc_matrix[0, 0]
        # task 0 is the backbone itself, and every task keeps exactly the accuracy it had when learned
        for j in range(3):
            assert np.all(pb.acc_matrix[j:, j] == pb.acc_matrix[j, j]), pb.acc_matrix
        assert summarize(pb.acc_matrix)["bwt"] == 0.0
    summary = run.summary("piggyback")
    assert summary["needs_task_id"] is True
    # a packed mask bit per backbone weight (64*256 + 256*256) plus a 10-way head of 256 inputs, in float32
    assert summary["bytes_per_task"] == (64 * 256 + 256 * 256) // 8 + 4 * (256 * 10 + 10)


def test_seeds_give_different_runs_and_the_same_seed_the_same(split_run):
    a, b = split_run.methods["finetune"].acc_matrices
    assert not np.array_equal(a, b), "seeds 0 and 1 gave identical fine-tuning runs"
    again = cmp.compare("split", [0], ["finetune"], "smoke", progress=False, config=small(), use_cache=False)
    np.testing.assert_array_equal(again.methods["finetune"].acc_matrices[0], a)


def test_entropy_inference_is_scored_in_class_space(split_run):
    for given, inferred in zip(split_run.methods["hypernet"].runs, split_run.methods["hypernet_ent"].runs):
        # after task 0 there is one candidate: inferring the task cannot go wrong
        assert inferred.acc_matrix[0, 0] == pytest.approx(given.acc_matrix[0, 0])
        # digits 2..9 were never learned after task 0: a {0, 1} network cannot name them
        assert np.all(inferred.acc_matrix[0, 1:] == 0.0)
        assert inferred.seconds > given.seconds  # the same training, plus inference
        assert inferred.bytes_per_task == given.bytes_per_task


def test_a_second_run_reads_the_cache_and_a_changed_config_does_not():
    first = cmp.compare("split", [3], ["finetune", "hypernet"], "smoke", progress=False, config=small())
    second = cmp.compare("split", [3], ["finetune", "hypernet"], "smoke", progress=False, config=small())
    assert [r.cached for s in first.methods.values() for r in s.runs] == [False, False]
    assert [r.cached for s in second.methods.values() for r in s.runs] == [True, True]
    for name in first.methods:
        np.testing.assert_array_equal(first.methods[name].acc_matrix, second.methods[name].acc_matrix)
        assert first.methods[name].runs[0].seconds == second.methods[name].runs[0].seconds
    other = cmp.compare("split", [3], ["finetune"], "smoke", progress=False, config=small(epochs=3))
    assert not other.methods["finetune"].runs[0].cached


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(methods=["finetune", "dropout"]), "unknown method 'dropout'"),  # hostile
        (dict(methods=[]), "non-empty list"),  # hostile
        (dict(methods="finetune"), "non-empty list"),  # hostile
        (dict(methods=["ewc", "ewc"]), "twice"),  # hostile
        (dict(seeds=[]), "non-empty list"),  # hostile
        (dict(seeds="012"), "non-empty list"),  # hostile
        (dict(seeds=[0, -1]), "each seed must be an integer in [0, 2**64 - 1]"),  # hostile
        (dict(seeds=[0, 1.5]), "each seed must be an integer"),  # hostile
        (dict(seeds=[2, 2]), "repeat"),  # hostile
        (dict(stream_kind="rotated"), "unknown stream 'rotated'"),  # hostile
        (dict(scale="huge"), "unknown scale 'huge'"),  # hostile
    ],
)
def test_bad_input_is_refused_before_any_training(kwargs, message):
    args = dict(stream_kind="split", seeds=[0], methods=["finetune"], scale="smoke", progress=False)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("*", r"\*")):
        cmp.compare(**args)


def test_bad_config_is_refused():
    with pytest.raises(ConfigError, match="epochs must be >= 1"):  # hostile
        cmp.compare_config("smoke", epochs=0)
    with pytest.raises(ConfigError, match="unknown CompareConfig field"):  # hostile
        cmp.compare_config("smoke", epoch=3)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["compare", "--methods", "finetune", "dropout"], "unknown method 'dropout'"),
        (["compare", "--methods", "finetune,,ewc"], "unknown method ''"),
        (["compare", "--seeds", "0,0"], "--seeds: expected distinct seeds"),
        (["compare", "--seeds", "0,x"], "--seeds: expected comma-separated seeds"),
        (["compare", "--seeds", ""], "--seeds: expected comma-separated seeds"),
        (["compare", "--seeds", "-1"], "--seeds: expected comma-separated seeds"),
        (["compare", "--stream", "attributes"], "unknown stream 'attributes' for compare"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, expected, tmp_path, capsys):
    out = tmp_path / "r.json"
    try:
        code = cli.main([*argv, "--json", str(out), "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and expected in err[0], (code, err)
    assert not out.exists()


# ----------------------------------------------------------------------------------------------
# notebook 05's exercise checks (cltoolkit/checks/comparison.py): the solution passes, each mistake is named
# ----------------------------------------------------------------------------------------------


def _acc(R):
    return float(np.mean(np.asarray(R)[-1]))


@pytest.mark.parametrize(
    "check, solution",
    [
        (comparison.check_mean_and_spread, comparison.reference_mean_and_spread),
        (comparison.check_difference_and_se, comparison.reference_difference_and_se),
        (comparison.check_classes_by_entropy, comparison.reference_classes_by_entropy),
    ],
)
def test_checks_pass_the_solution_and_report_a_stub(check, solution, capsys):
    assert exercise_check(check)(solution) is True
    assert exercise_check(check)(*[_stub]) is False
    assert capsys.readouterr().out.splitlines()[-1].startswith("Not done yet")


def _stub(*args):
    raise NotImplementedError()


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda ms: (float(np.mean([np.mean(np.diag(R)) for R in ms])), 0.0), "averaged the diagonal"),
        (lambda ms: (float(np.mean([np.mean(R) for R in ms])), 0.0), "averaged the whole matrix"),
        (lambda ms: (float(np.mean([_acc(R) for R in ms])), float(np.std([_acc(R) for R in ms]))), "ddof=0"),
        (lambda ms: (float(np.mean([_acc(R) for R in ms])), float(np.var([_acc(R) for R in ms], ddof=1))), "variance"),
        (lambda ms: (float(np.mean([_acc(R) for R in ms])), float(np.std([_acc(R) for R in ms], ddof=1))), "one value"),
        (lambda ms: float(np.mean([_acc(R) for R in ms])), "a pair of numbers"),
    ],
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # np.std(ddof=1) of one value, on purpose
def test_mean_and_spread_names_the_mistake(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        comparison.check_mean_and_spread(answer)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda a, b: (np.mean(b) - np.mean(a), 0.0), "a minus b"),
        (lambda a, b: (np.mean(a) - np.mean(b), np.sqrt(np.var(a) / len(a) + np.var(b) / len(b))), "ddof=0"),
        (lambda a, b: (np.mean(a) - np.mean(b), np.std(a, ddof=1) + np.std(b, ddof=1)), "variances add"),
        (lambda a, b: (np.mean(a) - np.mean(b), np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b)), "root"),
        (lambda a, b: (np.mean(a) - np.mean(b), np.sqrt(np.var(a, ddof=1) + np.var(b, ddof=1))), "divided by"),
    ],
)
def test_difference_and_se_names_the_mistake(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        comparison.check_difference_and_se(answer)


def _pick(logits, task):
    return logits[task, torch.arange(logits.shape[1])].argmax(-1)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda lg, cl: _pick(lg, select_by_entropy(lg)), "indices within a task"),
        (
            lambda lg, cl: cl[lg.max(-1).values.argmax(0), _pick(lg, lg.max(-1).values.argmax(0))],
            "largest logit",
        ),
        (lambda lg, cl: cl[lg.softmax(-1).max(-1).values.argmin(0), 0], "expected"),  # least sure task, output 0
    ],
)
def test_classes_by_entropy_names_the_mistake(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        comparison.check_classes_by_entropy(answer)


def test_classes_by_entropy_names_the_highest_entropy_mistake():
    def highest(lg, cl):
        task = torch.distributions.Categorical(logits=lg).entropy().argmax(0)
        return cl[task, _pick(lg, task)]

    with pytest.raises(AssertionError, match="HIGHEST entropy"):
        comparison.check_classes_by_entropy(highest)
