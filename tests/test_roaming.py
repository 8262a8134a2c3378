"""Maximum Roaming: partition invariants (property-based), networks, training, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
from cli_args import cli_args
from hypothesis import given, settings
from hypothesis import strategies as st

from cltoolkit import roaming
from cltoolkit.data import attribute_tasks, load_digits
from cltoolkit.errors import ConfigError
from cltoolkit.experiments import roaming as experiment
from cltoolkit.roaming import (
    NetworkPartitions,
    RoamingCNN,
    RoamingPartition,
    RoamingResNet18,
    cosine_choice,
    filter_similarity,
    initial_partition,
    roaming_update,
    units_per_task,
)


@st.composite
def layouts(draw):
    """(S, T, p, seed) with a feasible partition: T * ceil(p S) >= S; T > S too (then any p > 0 works)."""
    num_units = draw(st.integers(1, 64))
    num_tasks = draw(st.one_of(st.integers(1, min(num_units, 10)), st.integers(num_units + 1, num_units + 12)))
    smallest = math.ceil(num_units / num_tasks) / num_units
    p = draw(st.floats(smallest, 1.0, allow_nan=False))
    seed = draw(st.integers(0, 2**31 - 1))
    return num_units, num_tasks, p, seed


@settings(max_examples=80, deadline=None)
@given(layouts())
def test_initialisation_covers_every_unit_and_gives_each_task_ceil_pS(layout):
    S, T, p, seed = layout
    part = RoamingPartition(S, T, p, seed=seed)
    k = units_per_task(S, p)
    assert part.mask.shape == (S, T) and part.mask.dtype == bool
    assert (part.mask.sum(axis=0) == k).all(), "every task owns ceil(p*S) units"
    assert part.mask.any(axis=1).all(), "every unit is used by at least one task"
    assert (part.visited == part.mask).all()
    assert part.progress == (1.0 if k == S else 0.0)


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_lemma1_invariants_hold_at_every_step(layout):
    S, T, p, seed = layout
    part = RoamingPartition(S, T, p, seed=seed)
    k = part.units_per_task
    assert part.total_steps == S - k
    for c in range(1, part.total_steps + 1):
        before_mask, before_visited = part.mask.copy(), part.visited.copy()
        assert not part.done
        assert part.step() is True
        assert (part.mask.sum(axis=0) == k).all(), "constant number of active units per task"
        assert (part.visited.sum(axis=0) == k + c).all(), "B_t grows by exactly one unit per update"
        added = part.mask & ~before_mask
        removed = before_mask & ~part.mask
        assert (added.sum(axis=0) == 1).all() and (removed.sum(axis=0) == 1).all()
        assert not (added & before_visited).any(), "i+ never comes from the visited set"
        assert (part.visited == (before_visited | part.mask)).all()
        assert part.progress == pytest.approx(c / part.total_steps)
    assert part.done and part.visited.all(), "everything visited after S - ceil(p S) updates"
    assert part.steps == S - k
    assert len(part.history) == part.steps + 1
    assert (part.visited_at(part.steps) == part.visited).all()


@settings(max_examples=40, deadline=None)
@given(layouts())
def test_same_seed_same_partitions(layout):
    S, T, p, seed = layout
    a, b = RoamingPartition(S, T, p, seed=seed), RoamingPartition(S, T, p, seed=seed)
    for _ in range(min(5, a.total_steps)):
        a.step()
        b.step()
    assert all((x == y).all() for x, y in zip(a.history, b.history))


@settings(max_examples=40, deadline=None)
@given(layouts())
def test_cosine_selection_keeps_the_invariants(layout):
    S, T, p, seed = layout
    filters = torch.randn(S, 3, 3, 3, generator=torch.Generator().manual_seed(seed % 1000))
    part = RoamingPartition(S, T, p, seed=seed, selection="cosine")
    k = part.units_per_task
    while part.step(filters):
        assert (part.mask.sum(axis=0) == k).all()
    assert part.done and part.steps == S - k


def test_step_after_done_is_a_no_op():
    part = RoamingPartition(8, 2, 0.5, seed=1)
    while part.step():
        pass
    mask, steps = part.mask.copy(), part.steps
    assert part.step() is False
    assert (part.mask == mask).all() and part.steps == steps == 4 and len(part.history) == 5


def test_full_sharing_is_done_from_the_start():
    part = RoamingPartition(10, 3, 1.0)
    assert part.mask.all() and part.done and part.progress == 1.0 and part.step() is False


def test_mask_is_read_only():
    part = RoamingPartition(6, 2, 0.5)
    with pytest.raises(ValueError):
        part.mask[0, 0] = False


@pytest.mark.parametrize(
    "args, words",
    [
        ((10, 2, 1.5), r"sharing_ratio must be in \[0, 1\]"),
        ((10, 2, -0.1), r"sharing_ratio must be in \[0, 1\]"),
        ((10, 2, 0.0), "too small to cover all 10 units with 2 tasks .*use p >= 0.5"),
        ((10, 2, 0.3), "too small to cover"),
        ((3, 5, 0.0), "too small to cover all 3 units with 5 tasks .*use p >= 0.3333"),
        ((0, 2, 0.5), "num_units must be >= 1, got 0"),
    ],
)
def test_bad_partitions_are_refused_with_a_reason(args, words):
    with pytest.raises(ConfigError, match=words):
        RoamingPartition(*args)


# Hostile input to the Python API: each call raises the kit's ConfigError naming the value, never a raw
# TypeError, and nothing is silently truncated (10.7 units do not become 10).
_rng = np.random.default_rng


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: RoamingPartition("ten", 3, 0.5), "num_units must be an integer, got 'ten'"),
        (lambda: RoamingPartition(10, 3, "half"), "sharing_ratio must be a number, got 'half'"),
        (lambda: RoamingPartition(10.7, 3, 0.5), "num_units must be an integer, got 10.7"),
        (lambda: RoamingPartition(10, 3.2, 0.5), "num_tasks must be an integer, got 3.2"),
        (lambda: RoamingPartition(True, 1, 0.5), "num_units must be an integer, got True"),
        (lambda: RoamingPartition(10, 3, float("nan")), "sharing_ratio must be a finite number, got nan"),
        (lambda: RoamingPartition(10, 3, 0.5, seed=-1), "seed must be >= 0, got -1"),
        (lambda: RoamingPartition(10, 3, 0.5, seed="x"), "seed must be an integer, got 'x'"),
        (lambda: RoamingPartition(10, 3, 0.5, selection=None), "unknown selection None"),
        (lambda: RoamingPartition(100_000, 1000, 0.5), "GiB of mask history"),
        (lambda: initial_partition(10, 3, 0.5, rng=0), "rng must be a numpy Generator .*got 0"),
        (lambda: roaming_update(np.ones((4, 2)), np.ones((4, 2)), _rng(0)), "must be \\(S, T\\) bools"),
        (lambda: roaming_update(np.ones((4, 2), bool), np.ones((3, 2), bool), _rng(0)), "got \\(4, 2\\), \\(3, 2\\)"),
        (lambda: roaming_update(np.ones((4, 2), bool), np.ones((4, 2), bool)), "need rng .* got None"),
        (lambda: roaming_update(np.ones((4, 2), bool), np.ones((4, 2), bool), similarity=np.eye(3)), "\\(3, 3\\)"),
        (lambda: filter_similarity(torch.tensor([[1.0, float("nan")]])), "finite numbers"),
        (lambda: cosine_choice(np.eye(3), np.ones(4, bool), np.ones(4, bool)), "need similarity \\(S, S\\)"),
        (lambda: units_per_task(10, 1.5), "sharing_ratio must be in \\[0, 1\\], got 1.5"),
        (lambda: RoamingCNN(1, (3.7, 2), [2]), r"channels\[0\] must be an integer, got 3.7"),
        (lambda: RoamingCNN(1, (8, 16), [2.5, 1]), r"head_sizes\[0\] must be an integer, got 2.5"),
        (lambda: RoamingCNN(1, "16", [2]), "channels must be a sequence of integers"),
        (lambda: RoamingCNN(1, (8,), []), "head_sizes needs at least 1 entries"),
        (lambda: RoamingResNet18(3, [2], widths=(64, -1)), r"widths\[1\] must be >= 1, got -1"),
        (lambda: NetworkPartitions(torch.nn.Linear(2, 2), 0.5), "net must be a TaskMaskedNet .* got Linear"),
        (lambda: NetworkPartitions(RoamingCNN(1, (4,), [1]), 0.5, seed=2**64), "seed must be an integer in"),
        (lambda: NetworkPartitions(RoamingCNN(1, (4,), [1]), float("inf")), "sharing_ratio must be a finite number"),
    ],
)
def test_hostile_api_input_is_refused_naming_the_value(call, words):
    with pytest.raises(ConfigError, match=words):
        call()


def test_hostile_calls_on_a_built_partition_and_network():
    part = RoamingPartition(8, 2, 0.5, selection="cosine")
    with pytest.raises(ConfigError, match="need filters .* S = 8, got \\(7, 3\\)"):
        part.step(torch.randn(7, 3))
    with pytest.raises(ConfigError, match="update step c .* must be <= 0, got 3"):
        part.visited_at(3)
    with pytest.raises(ConfigError, match="update step c must be an integer, got 1.5"):
        part.progress_at(1.5)
    assert part.steps == 0 and len(part.history) == 1, "a refused step changes nothing"
    net = RoamingCNN(1, (4, 8), [2, 3])
    x = torch.randn(2, 1, 8, 8)
    for task in (2, -1, 1.0, "0", True):
        with pytest.raises(ConfigError, match="task must be an integer in \\[0, 1\\]"):
            net(x, task)
    with pytest.raises(ConfigError, match="need y \\(batch, A\\) and 2 groups"):
        roaming.multitask_loss(net, x, torch.zeros(3, 5), [[0, 1], [2, 3, 4]])


def test_bad_selection_and_missing_filters():
    with pytest.raises(ConfigError, match="unknown selection"):
        RoamingPartition(8, 2, 0.5, selection="greedy")
    with pytest.raises(ConfigError, match="needs the layer's filters"):
        RoamingPartition(8, 2, 0.5, selection="cosine").step()


def test_more_tasks_than_units_start_like_the_authors_eye():
    """T > S: the first S tasks get one unit each from the cover, the others only random units (eye(T, S))."""
    part = RoamingPartition(3, 7, 0.34, seed=0)  # ceil(0.34 * 3) = 2 units per task
    assert part.mask.shape == (3, 7) and (part.mask.sum(0) == 2).all() and part.mask.any(1).all()
    while part.step():
        assert (part.mask.sum(0) == 2).all()
    assert part.steps == 1 and part.visited.all()
    net = RoamingCNN(1, (2, 4), [1] * 6)  # 6 tasks on a 2-filter layer
    parts = NetworkPartitions(net, 0.5, seed=0)
    assert parts.layers["conv1"].mask.shape == (2, 6) and net(torch.randn(2, 1, 8, 8), 5).shape == (2, 1)


def test_units_per_task_is_robust_to_float_rounding():
    assert units_per_task(10, 0.3) == 3  # 0.3 * 10 = 3.0000000000000004
    assert units_per_task(10, 0.31) == 4


def test_roaming_update_draws_uniformly():
    # one task, 4 units, units 0,1 active: i+ is 2 or 3 and i- is 0 or 1, each about half the time
    mask = np.array([[True], [True], [False], [False]])
    rng = np.random.default_rng(0)
    plus, minus = np.zeros(4), np.zeros(4)
    for _ in range(2000):
        new, _ = roaming_update(mask, mask.copy(), rng)
        plus += (new & ~mask)[:, 0]
        minus += (mask & ~new)[:, 0]
    assert plus[:2].sum() == 0 and minus[2:].sum() == 0
    assert abs(plus[2] / 2000 - 0.5) < 0.05 and abs(minus[0] / 2000 - 0.5) < 0.05


def test_initial_partition_uses_the_generator():
    a = initial_partition(20, 4, 0.4, np.random.default_rng(3))
    b = initial_partition(20, 4, 0.4, np.random.default_rng(3))
    assert (a == b).all()


def test_cosine_choice_picks_novel_and_redundant_filters():
    # filters 0,1 are (nearly) the same direction, 2 is orthogonal to them, 3 is the same as 0
    filters = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.01], [0.5, 0.5]])
    sim = filter_similarity(filters)
    active = np.array([True, True, False, False, True])
    visited = active.copy()
    i_plus, i_minus = cosine_choice(sim, active, visited)
    assert i_plus == 2, "the never-visited filter least similar to the active ones"
    assert i_minus in (0, 1), "an active filter that duplicates another"
    # filters are flattened per output filter: (S, C, k, k) rows, not columns
    conv = torch.randn(6, 3, 3, 3)
    assert filter_similarity(conv).shape == (6, 6)
    assert np.allclose(np.diag(filter_similarity(conv)), 1.0, atol=1e-5)


def test_masked_cnn_uses_only_the_tasks_channels():
    torch.manual_seed(0)
    net = RoamingCNN(1, (8, 16), [2, 3])
    parts = NetworkPartitions(net, 0.5, seed=0)
    x = torch.randn(4, 1, 8, 8)
    assert net(x, 0).shape == (4, 2) and net(x, 1).shape == (4, 3)
    # zeroing the weights of a channel task 0 does not use leaves task 0's output unchanged
    net.eval()
    conv2 = net.masked_layers["conv2"].conv
    unused = np.flatnonzero(~parts.layers["conv2"].mask[:, 0])
    before = net(x, 0)
    with torch.no_grad():
        conv2.weight[unused] = 0.0
    assert torch.allclose(net(x, 0), before, atol=1e-6)
    parts.step()
    expected = torch.from_numpy(parts.layers["conv1"].mask.astype(np.float32))
    assert torch.equal(net.masked_layers["conv1"].mask, expected)


def test_bytes_per_task_counts_head_per_task_bn_statistics_and_mask_bits():
    net = RoamingCNN(1, (16, 32), [2, 2, 2, 3])  # the digits network at default scale
    parts = NetworkPartitions(net, 0.5, seed=0)
    head = 4 * (32 * 3 + 3)  # the largest head, float32
    masks = math.ceil((16 + 32) / 8)  # one column of each partition, one bit per filter
    bn_stats = 4 * 2 * (16 + 32)  # running mean and variance of every per-task BN, float32
    assert head + masks == 402 and bn_stats == 384
    assert parts.bytes_per_task() == 402 + 384
    # the per-task statistics are real storage: a new task gets its own slot of them
    assert net.masked_layers["conv2"].bn.running_mean.shape == (4 + 1, 32)


def test_cosine_abs_treats_a_negated_filter_as_redundant():
    filters = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.3, 0.3, 0.9]])
    active, visited = np.array([True, True, False, False]), np.array([True, True, False, False])
    plain, absolute = filter_similarity(filters), filter_similarity(filters, absolute=True)
    assert plain[0, 2] == pytest.approx(-1.0) and absolute[0, 2] == pytest.approx(1.0)
    assert cosine_choice(plain, active, visited)[0] == 2, "cos: -f0 looks most novel"
    assert cosine_choice(absolute, active, visited)[0] == 3, "|cos|: -f0 duplicates f0, so filter 3 is chosen"
    part = RoamingPartition(4, 2, 0.5, seed=0, selection="cosine_abs")
    while part.step(filters):
        assert (part.mask.sum(0) == 2).all()
    assert part.done and part.steps == 2


@pytest.mark.parametrize("per_task, steps", [(False, 1), (True, 4)])
def test_one_adam_step_per_task_or_one_on_the_sum(per_task, steps):
    torch.manual_seed(0)
    net = RoamingCNN(1, (4, 8), [2, 2, 2, 3])
    NetworkPartitions(net, 0.5, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 2, (6, 9)).float()
    groups = [[0, 1], [2, 3], [4, 5], [6, 7, 8]]
    expected, _ = roaming.multitask_loss(net, x, y, groups)
    loss = experiment.multitask_step(net, opt, x, y, groups, per_task)
    assert opt.state[net.masked_layers["conv1"].conv.weight]["step"] == steps
    assert opt.state[net.heads[3].weight]["step"] == 1, "a head is stepped once, by its own task"
    if per_task:  # task t's loss is taken after the steps of tasks before it
        assert loss != pytest.approx(expected.item(), abs=1e-9)
    else:
        assert loss == pytest.approx(expected.item())


def test_full_sharing_one_pass_equals_per_task_passes():
    torch.manual_seed(0)
    net = RoamingCNN(1, (8, 16), [2, 3]).eval()
    x = torch.randn(5, 1, 8, 8)
    z = net.features(x, None)
    shared = [head(z) for head in net.heads]
    for t in range(2):
        assert torch.allclose(shared[t], net(x, t), atol=1e-6)


def test_resnet18_masks_every_conv_including_the_shortcuts():
    net = RoamingResNet18(3, [2, 1, 4])
    shortcuts = [name for name in net.masked_layers if name.endswith("shortcut")]
    assert shortcuts == ["layer2.0.shortcut", "layer3.0.shortcut", "layer4.0.shortcut"]
    assert len(net.masked_layers) == 1 + 16 + 3
    parts = NetworkPartitions(net, 0.8, seed=0)
    assert parts.layers["layer4.1.conv2"].num_units == 512 and parts.layers["layer3.0.shortcut"].num_units == 256
    assert net.masked_layers["layer2.0.shortcut"].conv.kernel_size == (1, 1)
    out = net(torch.randn(2, 3, 16, 16), 2)
    assert out.shape == (2, 4)


def test_masked_shortcut_filters_a_task_does_not_use_do_not_reach_it():
    torch.manual_seed(0)
    net = RoamingResNet18(3, [2, 3], widths=(4, 8)).eval()
    parts = NetworkPartitions(net, 0.5, seed=1)
    shortcut = net.masked_layers["layer2.0.shortcut"]
    x = torch.randn(2, 3, 8, 8)
    before = [net(x, t) for t in range(2)]
    unused = np.flatnonzero(~parts.layers["layer2.0.shortcut"].mask[:, 0])
    with torch.no_grad():
        shortcut.conv.weight[unused] = 100.0
    assert torch.allclose(net(x, 0), before[0], atol=1e-6), "task 0 must not see shortcut filters it does not use"
    assert not torch.allclose(net(x, 1), before[1]), "task 1 uses some of them, so its output changes"


@pytest.fixture(scope="module")
def digits_tasks():
    return attribute_tasks(load_digits())


def test_training_roams_until_done_and_scores_f1(digits_tasks):
    cfg = experiment.default_config("smoke")
    result = experiment.run_roaming(digits_tasks, cfg, seed=0, progress=False)
    assert result.partitions.done
    assert result.log.roaming_finished_at is not None
    d = result.to_dict()
    assert set(d["per_task_f1"]) == set(digits_tasks.task_names) == set(d["per_task_acc"])
    assert 0.0 <= d["mean_f1"] <= 1.0
    assert d["mean_f1"] == pytest.approx(np.mean(list(d["per_attribute_f1"].values())))
    assert d["bytes_per_task"] > 0 and d["params"] > 0


def test_runs_are_repeatable_under_a_seed(digits_tasks):
    cfg = experiment.default_config("smoke", epochs=1)
    a = experiment.run_roaming(digits_tasks, cfg, seed=3, progress=False)
    b = experiment.run_roaming(digits_tasks, cfg, seed=3, progress=False)
    assert a.scores == b.scores


def test_fixed_partitions_do_not_roam(digits_tasks):
    cfg = experiment.default_config("smoke", epochs=1, roaming=False)
    result = experiment.run_roaming(digits_tasks, cfg, seed=0, progress=False)
    assert result.log.update_iterations == [] and all(p.steps == 0 for p in result.partitions.layers.values())


def test_step_per_task_trains_through_the_config(digits_tasks):
    for sharing_ratio in (0.5, 1.0):
        cfg = experiment.default_config("smoke", epochs=1, step_per_task=True, sharing_ratio=sharing_ratio)
        result = experiment.run_roaming(digits_tasks, cfg, seed=0, progress=False)
        assert result.config["step_per_task"] is True and 0.0 <= result.mean_f1 <= 1.0


def test_single_task_baseline(digits_tasks):
    cfg = experiment.default_config("smoke", epochs=1)
    result = experiment.run_single_task(digits_tasks, cfg, seed=0, progress=False)
    assert set(result.scores["per_task_f1"]) == set(digits_tasks.task_names)


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(update_interval=0), "update_interval must be >= 1"),
        (dict(update_interval=-3), "update_interval must be >= 1"),
        (dict(sharing_ratio=2.0), "sharing_ratio must be in"),
        (dict(selection="best"), "unknown selection"),
        (dict(sharing_ratio=0.0), r"sharing_ratio must be in \(0, 1\]"),
        (dict(sharing_ratio=float("nan")), "sharing_ratio must be a finite number, got nan"),
        (dict(lr=float("inf")), "lr must be a finite number, got inf"),
        (dict(lr=0.0), "lr must be in"),
        (dict(epochs=2.5), "epochs must be an integer, got 2.5"),
        (dict(channels=(8, 0)), r"channels\[1\] must be >= 1"),
        (dict(roaming="no"), "roaming must be True or False"),
        (dict(arch="vgg"), "unknown arch 'vgg'"),
        (dict(max_train=0), "max_train must be >= 1"),
        (dict(learning_rate=1e-3), "unknown RoamingConfig field.*learning_rate"),
    ],
)
def test_bad_configs(overrides, words):
    with pytest.raises(ConfigError, match=words):
        experiment.default_config("smoke", **overrides)


def test_config_checks_replace_too():
    cfg = experiment.default_config("smoke")
    with pytest.raises(ConfigError, match="update_interval must be >= 1"):
        replace(cfg, update_interval=0)


_args = partial(cli_args, "roaming")  # real parser defaults; keywords override


def test_run_from_args_contract():
    out = experiment.run_from_args(_args(sharing_ratio=0.6, update_interval=2, selection="cosine"))
    for key in ("tasks", "per_task_f1", "mean_f1", "per_task_acc", "bytes_per_task", "params"):
        assert key in out, key
    assert out["config"]["sharing_ratio"] == 0.6 and out["config"]["selection"] == "cosine"
    json.dumps(out)


def test_run_from_args_refuses_bad_input():
    with pytest.raises(ConfigError, match="--stream attributes"):
        experiment.run_from_args(_args(stream="split"))
    with pytest.raises(ConfigError, match="digits or celeba"):
        experiment.run_from_args(_args(dataset="mnist"))
    with pytest.raises(ConfigError, match="has 4 tasks"):
        experiment.run_from_args(_args(tasks=9))
    with pytest.raises(ConfigError, match="update_interval"):
        experiment.run_from_args(_args(update_interval=0))


def test_cli_end_to_end(tmp_path, capsys):
    from cltoolkit.cli import main

    path = tmp_path / "r.json"
    code = main(["run", "roaming", "--scale", "smoke", "--tasks", "2", "--no-roaming", "--json", str(path), "--quiet"])
    assert code == 0
    out = json.loads(path.read_text())
    assert out["tasks"] == ["parity", "magnitude"] and out["method"] == "roaming"
    assert "F-score" in capsys.readouterr().out
    try:  # argparse may refuse it (SystemExit) or the config may (return code): either way exit status 2
        code = main(["run", "roaming", "--scale", "smoke", "--sharing-ratio", "1.5"])
    except SystemExit as stop:
        code = stop.code
    assert code == 2


def test_paper_scale_on_fake_celeba(tmp_path, monkeypatch):
    """The paper's setup (ResNet-18 at 64x64, 8 groups, p=0.8, Δ = 0.1 epoch) through the real CelebA loader."""
    from fake_datasets import publish_md5s, write_fake_celeba

    write_fake_celeba(tmp_path, n_images=15, size=(40, 32))
    publish_md5s(monkeypatch, "celeba", tmp_path)
    out = experiment.run_from_args(_args(dataset="celeba", scale="paper", epochs=1, data_root=str(tmp_path)))
    assert len(out["tasks"]) == 8 and len(out["per_task_f1"]) == 8
    assert out["config"]["arch"] == "resnet18" and out["config"]["sharing_ratio"] == 0.8
    assert out["config"]["update_interval"] == 1
    assert len(out["per_attribute_f1"]) == 40


def test_roaming_widgets_follow_the_history():
    from cltoolkit.widgets import roaming_explorer, roaming_figure, roaming_static_figure
    from cltoolkit.widgets.roaming import partition_states

    part = RoamingPartition(12, 3, 0.5, seed=0)
    while part.step():
        pass
    states = partition_states(part, 2)
    assert ((states == 2) == part.history[2]).all()
    assert ((states >= 1) == part.visited_at(2)).all()
    fig = roaming_figure({"conv": part}, "conv", 2, ["a", "b", "c"])
    assert "update c = 2 of 6" in fig.layout.title.text
    static = roaming_static_figure(part, max_frames=4)
    assert len(static.frames) == 4 and static.layout.sliders
    explorer = roaming_explorer({"conv": part})
    before = explorer.figure.data[0].z.copy()
    explorer.controls[1].value = 3
    assert explorer.redraws == 2 and (explorer.figure.data[0].z != before).any()
    with pytest.raises(ValueError, match="unknown layer"):
        roaming_figure({"conv": part}, "fc")
