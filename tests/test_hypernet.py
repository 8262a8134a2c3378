"""cltoolkit.hypernet (generation, chunking, the output regulariser, task inference) and its experiments.

The experiments (configs, runners on digit streams, the toy regression, the CLI) are in
cltoolkit.experiments.hypernet; the embedding landscape in cltoolkit.widgets.hypernet.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_args import cli_args

from cltoolkit.data import load_stream
from cltoolkit.errors import ConfigError
from cltoolkit.experiments.hypernet import (
    HypernetConfig,
    TargetCNN,
    build_target,
    default_config,
    estimate_training_bytes,
    run_from_args,
    toy_config,
    toy_regression_tasks,
    train_hypernet,
    train_toy_regression,
)
from cltoolkit.hypernet import (
    HyperNetwork,
    TargetMLP,
    _batch_stream,
    estimate_hypernet_bytes,
    infer_tasks,
    learn_task,
    lookahead_delta,
    predictive_entropy,
    select_by_entropy,
)
from cltoolkit.widgets.hypernet import landscape_grid

SHAPES = [(10, 4), (10,), (3, 10), (3,)]  # 83 weights


def test_full_hypernet_generates_the_target_shapes():
    hnet = HyperNetwork(SHAPES, num_tasks=3, emb_dim=5, hidden=(7,))
    weights = hnet(1)
    assert [tuple(w.shape) for w in weights] == SHAPES
    assert hnet.target_numel == 83
    assert hnet.forward(2, flat=True).shape == (83,)
    # an arbitrary embedding, and a batch of P embeddings
    assert [tuple(w.shape) for w in hnet(torch.zeros(5))] == SHAPES
    batch = hnet(torch.randn(6, 5))
    assert [tuple(w.shape) for w in batch] == [(6, *s) for s in SHAPES]
    assert torch.allclose(batch[0][2], hnet(torch.randn(6, 5))[0][2]) is False
    # generating from the task id equals generating from that task's embedding
    for a, b in zip(hnet(1), hnet(hnet.embedding(1).detach())):
        assert torch.allclose(a, b)


def test_full_and_chunked_generate_the_same_number_of_weights():
    full = HyperNetwork(SHAPES, 2, emb_dim=4, hidden=(8,))
    chunked = HyperNetwork(SHAPES, 2, emb_dim=4, hidden=(8,), chunk_size=20, chunk_emb_dim=3)
    assert chunked.num_chunks == math.ceil(83 / 20) == 5
    assert full.forward(0, flat=True).numel() == chunked.forward(0, flat=True).numel() == 83
    assert [w.shape for w in full(1)] == [w.shape for w in chunked(1)]
    assert chunked.chunk_embeddings.shape == (5, 3)


def test_parameter_counts_and_compression_ratio_arithmetic():
    full = HyperNetwork(SHAPES, 3, emb_dim=5, hidden=(7,))
    # embeddings 3*5, trunk 5*7+7, heads 7*n+n for each tensor
    expected = 3 * 5 + (5 * 7 + 7) + sum(7 * math.prod(s) + math.prod(s) for s in SHAPES)
    assert full.num_params() == expected
    assert full.compression_ratio() == pytest.approx(expected / 83)
    assert full.compression_ratio(1000) == pytest.approx(expected / 1000)
    chunked = HyperNetwork(SHAPES, 3, emb_dim=5, hidden=(7,), chunk_size=20, chunk_emb_dim=2)
    expected_c = 3 * 5 + 5 * 2 + ((5 + 2) * 7 + 7) + (7 * 20 + 20)
    assert chunked.num_params() == expected_c
    assert chunked.compression_ratio() == pytest.approx(expected_c / 83)


def test_chunking_compresses_a_large_target():
    target = TargetMLP(64, (100, 100), 10)
    hnet = HyperNetwork(target.target_shapes, 5, emb_dim=8, hidden=(16,), chunk_size=500, chunk_emb_dim=8)
    assert hnet.compression_ratio() < 1.0
    assert HyperNetwork(target.target_shapes, 5, emb_dim=8, hidden=(16,)).compression_ratio() > 1.0


def test_target_networks_run_with_generated_weights():
    mlp = TargetMLP(16, (8,), 3)
    hnet = HyperNetwork(mlp.target_shapes, 2, emb_dim=3, hidden=(5,), init_std=mlp.init_std())
    x = torch.randn(4, 1, 4, 4)
    assert mlp(x, hnet(0)).shape == (4, 3)
    assert mlp.forward_batched(x, hnet(torch.randn(7, 3))).shape == (7, 4, 3)
    cnn = TargetCNN(1, (4, 6), 5)
    hnet = HyperNetwork(cnn.target_shapes, 2, emb_dim=3, hidden=(5,), chunk_size=50)
    assert cnn(torch.randn(2, 1, 8, 8), hnet(1)).shape == (2, 5)
    # the batched forward agrees with a loop over weight sets
    emb = torch.randn(3, 3)
    batched = cnn.forward_batched(torch.randn(2, 1, 8, 8).expand(2, 1, 8, 8), hnet(emb))
    assert batched.shape == (3, 2, 5)


def test_generated_weights_start_near_the_default_init_spread():
    target = TargetMLP(64, (100,), 10)
    hnet = HyperNetwork(target.target_shapes, 4, emb_dim=8, hidden=(20,), init_std=target.init_std())
    with torch.no_grad():
        generated = hnet(hnet.embeddings())  # every task's tensors, with a leading task dimension
    for tensor, want in zip(generated, target.init_std()):
        assert tensor.std().item() == pytest.approx(want, rel=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target_shapes=[]), "target_shapes must be a non-empty list of shapes"),
        (dict(target_shapes=[(3, 0)]), r"target_shapes\[0\]\[1\] must be >= 1, got 0"),
        (dict(target_shapes=5), "target_shapes must be a non-empty list of shapes"),
        (dict(chunk_size=0), "chunk_size must be >= 1, got 0"),
        (dict(chunk_size=-3), "chunk_size must be >= 1, got -3"),
        (dict(emb_dim=0), "emb_dim must be >= 1, got 0"),
        (dict(num_tasks=0), "num_tasks must be >= 1, got 0"),
    ],
)
def test_bad_construction_is_a_clear_error(kwargs, message):
    args = dict(target_shapes=SHAPES, num_tasks=2, emb_dim=3, hidden=(4,))
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        HyperNetwork(**args)


def test_bad_inputs_to_a_built_hypernet():
    hnet = HyperNetwork(SHAPES, 2, emb_dim=3, hidden=(4,))
    with pytest.raises(ConfigError, match="task id 2 out of range"):
        hnet(2)
    with pytest.raises(ConfigError, match="task id -1 out of range"):
        hnet(-1)
    with pytest.raises(ConfigError, match=r"an embedding must be \(3,\) or \(P, 3\), got \(4,\)"):
        hnet(torch.zeros(4))
    with pytest.raises(ConfigError, match="beta must be >= 0"):
        hnet.output_regularizer(hnet.store_targets([0]), beta=-0.1)
    target = TargetMLP(4, (10,), 3)  # shapes [(10, 4), (10,), (3, 10), (3,)] == SHAPES
    other = TargetMLP(4, (11,), 3)
    with pytest.raises(ConfigError, match=r"needs weights of shapes \[\(11, 4\)"):
        other(torch.randn(2, 4), hnet(0))
    assert target(torch.randn(2, 4), hnet(0)).shape == (2, 3)
    with pytest.raises(ConfigError, match="needs weights of shapes"):
        target(torch.randn(2, 4), hnet(0)[:2])
    with pytest.raises(ConfigError, match="beta must be >= 0"):
        default_config("smoke", beta=-1.0)
    with pytest.raises(ConfigError, match="chunk_size must be >= 1"):
        default_config("smoke", chunk_size=0)


# ----------------------------------------------------------------------------------------------
# hostile inputs to the Python API: each is refused up front with a ConfigError naming the value
# ----------------------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(init_std=NAN), "init_std must be a finite number, got nan"),
        (dict(init_std=[0.1, INF, 0.1, 0.1]), r"init_std\[1\] must be a finite number, got inf"),
        (dict(init_std=-0.1), "init_std must be > 0, got -0.1"),
        (dict(init_std=[0.1, 0.1]), "init_std must be one number or 4 numbers"),
        (dict(init_std="0.1"), "init_std must be one number or 4 numbers"),
        (dict(num_tasks=2.5), "num_tasks must be an integer, got 2.5"),
        (dict(num_tasks="3"), "num_tasks must be an integer, got '3'"),
        (dict(emb_dim=True), "emb_dim must be an integer, got True"),
        (dict(hidden=50), "hidden must be a sequence of integers like"),
        (dict(hidden=(10, -1)), r"hidden\[1\] must be >= 1, got -1"),
        (dict(chunk_size=2.0), "chunk_size must be an integer, got 2.0"),
        (dict(chunk_size=10, chunk_emb_dim=0), "chunk_emb_dim must be >= 1, got 0"),
        (dict(target_shapes=[(3, 2.5)]), r"target_shapes\[0\]\[1\] must be an integer, got 2.5"),
        (dict(target_shapes="ab"), "target_shapes must be a non-empty list of shapes"),
        (dict(target_shapes=[(3,), ()]), r"target_shapes\[1\] needs at least 1 entries"),
    ],
)
def test_hostile_hypernetwork_arguments_are_refused(kwargs, message):
    args = dict(target_shapes=SHAPES, num_tasks=2, emb_dim=3, hidden=(4,))
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        HyperNetwork(**args)


@pytest.mark.parametrize(
    "kwargs", [dict(chunk_size=10**12), dict(emb_dim=10**10), dict(hidden=(10**6, 10**6)), dict(num_tasks=10**11)]
)
def test_absurd_sizes_are_refused_before_allocating(kwargs, monkeypatch):
    import cltoolkit.config

    monkeypatch.setattr(cltoolkit.config, "available_memory", lambda: 8 * 2**30)
    args = dict(target_shapes=SHAPES, num_tasks=2, emb_dim=3, hidden=(4,))
    args.update(kwargs)
    needed = estimate_hypernet_bytes(**args)  # counted, not allocated
    assert needed > 4 * 2**30
    with pytest.raises(
        ConfigError, match=r"needs about [\d.]+ GiB of memory, more than half of the 8\.0 GiB available; use a"
    ):
        HyperNetwork(**args)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_tasks=3, emb_dim=5, hidden=(7,)),
        dict(num_tasks=3, emb_dim=5, hidden=(7, 3), chunk_size=20, chunk_emb_dim=2),
        dict(num_tasks=1, emb_dim=2, hidden=(), chunk_size=83),
        dict(num_tasks=2, emb_dim=4, hidden=()),
    ],
)
def test_estimate_hypernet_bytes_counts_exactly_what_is_allocated(kwargs):
    hnet = HyperNetwork(SHAPES, **kwargs)
    assert estimate_hypernet_bytes(SHAPES, **kwargs) == 4 * hnet.num_params()


def test_hostile_inputs_to_a_built_hypernetwork():
    hnet = HyperNetwork(SHAPES, 2, emb_dim=3, hidden=(4,))
    for bad in (1.0, True, "0", None):
        with pytest.raises(ConfigError, match=r"task id .* out of range: use an integer in \[0, 1\]"):
            hnet(bad)
    with pytest.raises(ConfigError, match="embeddings must be floats"):
        hnet(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"an embedding must be \(3,\) or \(P, 3\), got \(2, 2, 3\)"):
        hnet(torch.zeros(2, 2, 3))
    targets = hnet.store_targets([0])
    with pytest.raises(ConfigError, match="beta must be a finite number, got nan"):
        hnet.output_regularizer(targets, beta=NAN)
    with pytest.raises(ConfigError, match=r"no stored targets of shape \(83,\) for tasks \[0\]"):
        hnet.output_regularizer({0: targets[0][:10]}, beta=1.0)
    with pytest.raises(ConfigError, match=r"no stored targets .* for tasks \[1\]"):
        hnet.output_regularizer(targets, beta=1.0, tasks=[1])
    with pytest.raises(ConfigError, match="target_numel must be >= 1, got 0"):
        hnet.compression_ratio(0)
    with pytest.raises(ConfigError, match=r"task id 1\.5 out of range"):
        hnet.store_targets([1.5])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=0), "steps must be >= 1, got 0"),
        (dict(batch_size=0), "batch_size must be >= 1, got 0"),
        (dict(lr=NAN), "lr must be a finite number, got nan"),
        (dict(lr=0.0), "lr must be > 0, got 0"),
        (dict(beta=INF), "beta must be a finite number, got inf"),
        (dict(old_tasks_per_step=0), "old_tasks_per_step must be >= 1, got 0"),
        (dict(y=torch.zeros(3, dtype=torch.long)), "x and y need the same, non-zero number of examples, got 8 and 3"),
        (dict(task_id=2), r"task id 2 out of range"),
    ],
)
def test_hostile_learn_task_arguments_are_refused(kwargs, message):
    target = TargetMLP(4, (10,), 3)
    hnet = HyperNetwork(target.target_shapes, 2, emb_dim=3, hidden=(4,))
    args = dict(task_id=0, x=torch.randn(8, 4), y=torch.zeros(8, dtype=torch.long), steps=2)
    args.update(kwargs)
    before = [p.detach().clone() for p in hnet.parameters()]
    with pytest.raises(ConfigError, match=message):
        learn_task(hnet, target, **args)
    assert all(torch.equal(a, p) for a, p in zip(before, hnet.parameters())), "refused, but trained anyway"


def test_hostile_target_inference_and_landscape_arguments():
    with pytest.raises(ConfigError, match=r"hidden\[1\] must be >= 1, got 0"):
        TargetMLP(4, (10, 0), 3)
    with pytest.raises(ConfigError, match="in_features must be an integer, got 4.5"):
        TargetMLP(4.5, (10,), 3)
    with pytest.raises(ConfigError, match="unknown activation 'gelu'"):
        TargetMLP(4, (10,), 3, activation="gelu")
    with pytest.raises(ConfigError, match="channels needs at least 1 entries"):
        TargetCNN(1, (), 5)
    target = TargetMLP(4, (6,), 3)
    hnet = HyperNetwork(target.target_shapes, 2, emb_dim=2, hidden=(5,))
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with pytest.raises(ConfigError, match="batch_size must be >= 1, got 0"):
        infer_tasks(hnet, target, x, batch_size=0)
    with pytest.raises(ConfigError, match="task id 5 out of range"):
        infer_tasks(hnet, target, x, tasks=[0, 5])
    with pytest.raises(ConfigError, match="resolution must be >= 1, got 0"):
        landscape_grid(hnet, target, x, y, (-1, 1, -1, 1), resolution=0)
    with pytest.raises(ConfigError, match=r"extent\[2\] must be a finite number, got nan"):
        landscape_grid(hnet, target, x, y, (-1, 1, NAN, 1))
    with pytest.raises(ConfigError, match="unknown metric 'f1'"):
        landscape_grid(hnet, target, x, y, (-1, 1, -1, 1), metric="f1")


@pytest.mark.parametrize(
    "flags", [dict(chunk_size=1_000_000_000), dict(emb_dim=100_000_000), dict(hnet_hidden=(100_000, 100_000))]
)
def test_cli_refuses_hypernetworks_that_cannot_fit(flags, monkeypatch):
    """Issue 10 item 3: refused before anything is allocated, saying the memory needed vs available."""
    import cltoolkit.config

    monkeypatch.setattr(cltoolkit.config, "available_memory", lambda: 16 * 2**30)
    with pytest.raises(
        ConfigError,
        match=r"training a hypernetwork with .* needs about [\d.]+ GiB of memory, more than half of the "
        r"16\.0 GiB available; use a smaller chunk_size, emb_dim or hnet_hidden",
    ):
        run_from_args(_args(**flags))


def test_training_estimate_covers_the_parameters_and_grows_with_the_sizes():
    stream = load_stream("digits", "permuted", 2, seed=0)
    config = default_config("smoke")
    target = build_target(config, stream)
    params = estimate_hypernet_bytes(target.target_shapes, 2, config.emb_dim, config.hnet_hidden)
    base = estimate_training_bytes(config, target, 2)
    assert base >= 4 * params + 2 * 4 * target.num_weights
    chunked = dataclasses.replace(config, chunk_size=1)  # one chunk row through the trunk per weight
    assert estimate_training_bytes(chunked, target, 2) > 2 * 4 * target.num_weights * (config.emb_dim + 50)


def test_configs_refuse_unknown_overrides_and_bad_values():
    with pytest.raises(ConfigError, match="unknown HypernetConfig field.*betta"):
        default_config("smoke", betta=0.1)
    with pytest.raises(ConfigError, match="unknown ToyConfig field.*iters"):
        toy_config("smoke", iters=5)
    with pytest.raises(ConfigError, match="beta must be a finite number, got inf"):
        dataclasses.replace(default_config("smoke"), beta=float("inf"))
    with pytest.raises(ConfigError, match="lr must be > 0"):
        HypernetConfig(lr=-1e-3)
    with pytest.raises(ConfigError, match="noise_std must be a finite number, got nan"):
        toy_config("smoke", noise_std=float("nan"))
    with pytest.raises(ConfigError, match="unknown target 'resnet'"):
        HypernetConfig(target="resnet")
    with pytest.raises(ConfigError, match="hnet_hidden\\[1\\] must be >= 1"):
        default_config("smoke", hnet_hidden=(10, 0))
    assert toy_config("smoke").iterations == 400 and toy_config("paper").iterations == 4001
    # None means "keep the scale's value" (the CLI passes None for flags not given)
    assert default_config("paper", chunk_size=None).chunk_size == 42000


def test_toy_regression_settings_come_from_one_config():
    config = toy_config("smoke", iterations=3, hnet_hidden=(4,), emb_dim=3, n_train=20)
    result = train_toy_regression(config)
    assert result.config is config and result.hnet.hidden == (4,) and result.hnet.emb_dim == 3
    assert result.mse.shape == (3, 3) and np.isfinite(result.mse).all()
    assert train_toy_regression(config, beta=0.0).config.beta == 0.0  # keyword overrides on a given config


def test_regularizer_is_zero_after_storing_targets_and_positive_after_a_change():
    hnet = HyperNetwork(SHAPES, 3, emb_dim=3, hidden=(6,), chunk_size=30)
    targets = hnet.store_targets([0, 1])
    assert hnet.output_regularizer(targets, beta=0.5).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        hnet.heads[0].weight.add_(0.1)
    reg = hnet.output_regularizer(targets, beta=0.5)
    assert reg.item() > 0
    # it is β times the mean over old tasks of the squared distance
    manual = sum((hnet.forward(t, flat=True) - targets[t]).pow(2).sum() for t in (0, 1)) / 2 * 0.5
    assert reg.item() == pytest.approx(manual.item(), rel=1e-5)
    # a subset of old tasks, and β = 0
    assert hnet.output_regularizer(targets, beta=0.5, tasks=[1]).item() > 0
    assert hnet.output_regularizer(targets, beta=0.0).item() == 0.0
    # gradients reach Θ_h but not the (frozen) old embeddings
    reg.backward()
    assert hnet.heads[0].weight.grad is not None
    assert hnet.task_embeddings[0].grad is None


def test_lookahead_delta_matches_an_adam_step():
    hnet = HyperNetwork(SHAPES, 2, emb_dim=3, hidden=(6,))
    params = [p for n, p in hnet.named_parameters() if not n.startswith("task_embeddings")]
    opt = torch.optim.Adam(params, lr=0.01)
    for _ in range(2):
        loss = hnet.forward(0, flat=True).pow(2).sum()
        grads = torch.autograd.grad(loss, params)
        delta = lookahead_delta(opt, dict(zip(params, grads)))
        before = [p.detach().clone() for p in params]
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        for p, b in zip(params, before):
            assert torch.allclose(p.detach() - b, delta[p], atol=1e-6)
    targets = hnet.store_targets([0])
    named = {n: delta[p] for n, p in hnet.named_parameters() if p in delta}
    assert hnet.output_regularizer(targets, beta=1.0, delta=named).item() > 0


def _two_tasks():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(120, 6, generator=g)
    x1 = torch.randn(120, 6, generator=g)
    return (x0, (x0[:, 0] > 0).long()), (x1, (x1[:, 1] > 0).long())


@pytest.mark.parametrize("beta, stays", [(1.0, True), (0.0, False)])
def test_old_task_weights_stay_with_beta_and_drift_without(beta, stays):
    torch.manual_seed(0)
    target = TargetMLP(6, (16,), 2)
    hnet = HyperNetwork(target.target_shapes, 2, emb_dim=4, hidden=(16,), init_std=target.init_std())
    (x0, y0), (x1, y1) = _two_tasks()
    g = torch.Generator().manual_seed(0)
    learn_task(hnet, target, 0, x0, y0, steps=150, lr=1e-2, generator=g)
    before = hnet.forward(0, flat=True).detach().clone()
    targets = hnet.store_targets([0])
    learn_task(hnet, target, 1, x1, y1, steps=150, lr=1e-2, beta=beta, targets=targets, generator=g)
    drift = (hnet.forward(0, flat=True).detach() - before).norm() / before.norm()
    if stays:
        assert drift < 0.05, f"old-task weights drifted by {drift:.3f} with beta={beta}"
    else:
        assert drift > 0.2, f"old-task weights should drift without the regulariser, moved {drift:.3f}"


def test_old_embeddings_are_not_trained():
    target = TargetMLP(6, (8,), 2)
    hnet = HyperNetwork(target.target_shapes, 2, emb_dim=4, hidden=(8,))
    (x0, y0), (x1, y1) = _two_tasks()
    e0 = hnet.embedding(0).detach().clone()
    e1 = hnet.embedding(1).detach().clone()
    learn_task(hnet, target, 1, x1, y1, steps=20, lr=1e-2, beta=1.0, targets=hnet.store_targets([0]), lookahead=True)
    assert torch.equal(hnet.embedding(0).detach(), e0)
    assert not torch.equal(hnet.embedding(1).detach(), e1)


def test_entropy_picks_the_most_confident_task_on_a_hand_made_case():
    logits = torch.tensor(
        [
            [[5.0, 0.0, 0.0], [0.3, 0.3, 0.3]],  # task 0: confident on input 0, flat on input 1
            [[1.0, 1.0, 0.0], [0.0, 9.0, 0.0]],  # task 1: unsure on input 0, confident on input 1
        ]
    )
    assert select_by_entropy(logits).tolist() == [0, 1]
    assert predictive_entropy(torch.zeros(4)).item() == pytest.approx(math.log(4))
    with pytest.raises(ConfigError, match="tasks, N, classes"):
        select_by_entropy(torch.zeros(3, 4))


def test_infer_tasks_finds_the_task_whose_network_is_confident():
    # two tasks whose generated networks are made to be confident on different inputs
    target = TargetMLP(2, (4,), 2)
    hnet = HyperNetwork(target.target_shapes, 2, emb_dim=3, hidden=(4,))
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(200, 2, generator=g) + torch.tensor([6.0, 0.0])
    x1 = torch.randn(200, 2, generator=g) + torch.tensor([-6.0, 0.0])
    y0, y1 = (x0[:, 1] > 0).long(), (x1[:, 1] > 0).long()

    # each task: confident on its own inputs (label >= 0), maximal entropy on the other task's (label -1)
    def loss_fn(out, y):
        own = y >= 0
        return F.cross_entropy(out[own], y[own]) - predictive_entropy(out[~own]).mean()

    for t, (xa, ya, xb) in enumerate([(x0, y0, x1), (x1, y1, x0)]):
        x = torch.cat([xa, xb])
        y = torch.cat([ya, torch.full((len(xb),), -1)])
        targets = hnet.store_targets(range(t))
        learn_task(
            hnet, target, t, x, y, steps=300, batch_size=400, lr=1e-2, beta=1.0, targets=targets, loss_fn=loss_fn
        )
    ids, logits = infer_tasks(hnet, target, torch.cat([x0, x1]))
    truth = torch.cat([torch.zeros(200), torch.ones(200)]).long()
    assert (ids == truth).float().mean() > 0.95
    assert logits.shape == (400, 2)


def test_landscape_grid_is_batched_and_matches_pointwise():
    target = TargetMLP(4, (6,), 3)
    hnet = HyperNetwork(target.target_shapes, 2, emb_dim=2, hidden=(5,), init_std=target.init_std())
    x, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    xs, ys, acc = landscape_grid(hnet, target, x, y, (-1, 1, -2, 2), resolution=5, points_per_batch=7)
    assert acc.shape == (5, 5) and xs.shape == (5,) and ys[0] == -2
    point = torch.tensor([xs[3], ys[1]], dtype=torch.float32)
    expected = (target(x, hnet(point)).argmax(1) == y).float().mean().item()
    assert acc[1, 3] == pytest.approx(expected)
    _, _, loss = landscape_grid(hnet, target, x, y, (-1, 1, -2, 2), resolution=5, metric="loss")
    assert loss[1, 3] == pytest.approx(F.cross_entropy(target(x, hnet(point)), y).item(), rel=1e-4)
    with pytest.raises(ConfigError, match="2-D task embeddings"):
        landscape_grid(HyperNetwork(target.target_shapes, 2, emb_dim=3, hidden=(5,)), target, x, y, (0, 1, 0, 1))


def test_train_hypernet_on_a_small_permuted_stream_keeps_old_tasks():
    stream = load_stream("digits", "permuted", 3, seed=0)
    config = default_config("smoke", task_inference=True)
    result = train_hypernet(stream, config, progress=False, keep_snapshots=True)
    R = result.acc_matrix
    assert R.shape == (3, 3) and not np.isnan(R).any()
    assert np.diag(R).min() > 0.6
    assert result.summary()["forgetting"] < 0.05
    assert len(result.snapshots) == 3
    earlier = result.hnet_after(0)
    assert earlier.num_tasks == 3
    data = result.to_dict()
    assert data["compression_ratio"] == pytest.approx(result.hnet.compression_ratio())
    assert data["bytes_per_task"] == config.emb_dim * 4
    inference = data["task_inference"]
    assert set(inference["task_acc"]) == set(stream.names)
    assert 0 <= inference["mean_acc"] <= 1
    json.dumps(data)


def test_split_stream_with_task_inference():
    stream = load_stream("digits", "split", 2, seed=0)
    result = train_hypernet(stream, default_config("smoke", task_inference=True, epochs=3), progress=False)
    assert result.acc_matrix[-1].min() > 0.8  # task identity given: two easy binary tasks
    assert 0 <= result.inference["mean_acc"] <= 1


def test_toy_regression_tasks_follow_the_paper():
    tasks = toy_regression_tasks()
    assert [t.domain for t in tasks] == [(-4.0, -2.0), (-1.0, 1.0), (2.0, 4.0)]
    assert [len(t.x_train) for t in tasks] == [100] * 3 and [len(t.x_test) for t in tasks] == [50] * 3
    assert torch.allclose(tasks[2].y_test, (tasks[2].x_test - 3) ** 3)
    assert (tasks[0].y_train - (tasks[0].x_train + 3)).std().item() == pytest.approx(0.05, rel=0.3)


def test_toy_regression_hypernet_keeps_the_first_task_and_finetuning_forgets_it():
    kept = train_toy_regression(beta=0.05, iterations=300, scale="smoke")
    forgot = train_toy_regression(beta=0.0, iterations=300, scale="smoke")
    assert kept.mse.shape == (3, 3) and kept.mse[0, 0] < 0.01  # task 0 learned (measured 0.0015)
    # 300 steps per task is short for the later tasks; still fine-tuning's final MSE on task 0 is many times
    # the regularised one (measured 1.39 vs 0.16 at seed 0)
    assert forgot.mse[-1, 0] > 4 * kept.mse[-1, 0] and forgot.mse[-1, 0] > 0.5


def test_the_toy_uses_the_authors_four_ingredients(monkeypatch):
    """What made the toy drift (issue 9 item 1): look-ahead, xavier/zero-bias init, sigmoid trunk, full batches."""
    cfg = toy_config("paper")
    assert (cfg.beta, cfg.iterations, cfg.lookahead, cfg.full_batches) == (0.005, 4001, True, True)
    assert (cfg.hnet_activation, cfg.hnet_init) == ("sigmoid", "xavier")
    seen = {}
    import cltoolkit.experiments.hypernet as experiments

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return learn_task(*args, **kwargs)

    monkeypatch.setattr(experiments, "learn_task", spy)
    result = train_toy_regression(scale="smoke", iterations=2)
    assert seen["lookahead"] is True and seen["full_batches"] is True and seen["beta"] == 0.005
    linears = [m for m in result.hnet.trunk if isinstance(m, torch.nn.Linear)]
    assert any(isinstance(m, torch.nn.Sigmoid) for m in result.hnet.trunk)
    assert not any(isinstance(m, torch.nn.ReLU) for m in result.hnet.trunk)
    fresh = HyperNetwork(SHAPES, 2, emb_dim=3, hidden=(7, 5), init="xavier")
    for layer in [m for m in fresh.trunk if isinstance(m, torch.nn.Linear)] + list(fresh.heads):
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert torch.all(layer.bias == 0) and layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.5 * bound  # drawn over the whole xavier range, not rescaled
    assert len(linears) == 2
    rescaled = HyperNetwork(SHAPES, 2, emb_dim=3, hidden=(7, 5))  # the default keeps PyTorch's trunk init
    assert any(torch.any(m.bias != 0) for m in rescaled.trunk if isinstance(m, torch.nn.Linear))
    with pytest.raises(ConfigError, match="activation"):
        HyperNetwork(SHAPES, 2, activation="gelu")
    with pytest.raises(ConfigError, match="init"):
        HyperNetwork(SHAPES, 2, init="kaiming")


def test_learn_task_batched_step_is_the_documented_loss():
    """learn_task generates the current and old tasks' weights in one pass: same step as task loss + regulariser."""
    torch.manual_seed(0)
    target = TargetMLP(6, (5,), 3)
    hnet = HyperNetwork(target.target_shapes, 3, emb_dim=4, hidden=(8,), init_std=target.init_std())
    targets = {t: w + 0.1 for t, w in hnet.store_targets(range(2)).items()}  # the regulariser is not zero
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    manual, before = copy.deepcopy(hnet), hnet.heads[0].weight.detach().clone()
    learn_task(hnet, target, 2, x, y, steps=1, batch_size=8, lr=0.01, beta=0.5, targets=targets)
    assert not torch.allclose(hnet.heads[0].weight, before)  # one step moved the weights
    shared = [p for n, p in manual.named_parameters() if not n.startswith("task_embeddings.")]
    optimizer = torch.optim.Adam([*shared, manual.embedding(2)], lr=0.01)
    loss = F.cross_entropy(target(x, manual(2)), y) + manual.output_regularizer(targets, 0.5)
    loss.backward()
    optimizer.step()
    for (name, mine), theirs in zip(hnet.named_parameters(), manual.parameters()):
        assert torch.allclose(mine, theirs, atol=1e-6), name


def test_full_batches_always_have_batch_size_rows_and_cover_each_pass():
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    g = torch.Generator().manual_seed(0)
    full = list(_batch_stream(x, y, 4, 5, g, full_batches=True))  # 20 rows = exactly two passes over 10 points
    assert [len(b) for b, _ in full] == [4] * 5
    rows = torch.cat([b for b, _ in full])[:, 0].long()
    assert sorted(rows[:10].tolist()) == list(range(10)) and sorted(rows[10:].tolist()) == list(range(10))
    per_pass = list(_batch_stream(x, y, 4, 5, torch.Generator().manual_seed(0)))
    assert [len(b) for b, _ in per_pass] == [4, 4, 2, 4, 4]  # the default restarts each pass: a short batch


@pytest.mark.skipif(
    os.environ.get("CLTK_SLOW_TESTS") != "1",
    reason="12,000 look-ahead steps (about 1-4 min on 2 cores): set CLTK_SLOW_TESTS=1; docs/scorecard.md row 17 "
    "records the same claim over seeds 0-2",
)
def test_toy_regression_reproduces_the_paper_at_its_settings():
    """Paper Fig. 2 settings (β = 0.005, 4001 iterations): every task's final test MSE <= 0.01 (authors ≈ 0.004).

    Seed 0 here; seeds 1 and 2 also pass (0.0002 / 0.0017 / 0.0033 and 0.0011 / 0.0008 / 0.0007, see the
    docstring of train_toy_regression); some other seeds let one task drift. Slow, so it runs with
    ``CLTK_SLOW_TESTS=1 pytest tests/test_hypernet.py -k paper_at_its_settings``.
    """
    result = train_toy_regression(scale="paper", seed=0)
    assert result.mse[-1].max() <= 0.01, f"final test MSE per task {result.mse[-1]}"


_args = partial(cli_args, "hypernet", tasks=2)  # real parser defaults; keywords override


def test_run_from_args_returns_the_contract_fields():
    data = run_from_args(_args(chunk_size=300, emb_dim=4, beta=0.05, task_inference=True))
    for key in ("tasks", "acc_matrix", "avg_acc", "bwt", "forgetting", "bytes_per_task", "params", "compression_ratio"):
        assert key in data, key
    assert data["bytes_per_task"] == 16
    assert data["config"]["chunk_size"] == 300 and data["config"]["beta"] == 0.05
    assert "task_inference" in data
    json.dumps(data)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(beta=-1.0), "beta must be >= 0, got -1"),
        (dict(beta=float("nan")), "beta must be a finite number, got nan"),
        (dict(lr=float("inf")), "lr must be a finite number, got inf"),
        (dict(lr=0.0), "lr must be > 0, got 0"),
        (dict(chunk_size=0), "chunk_size must be >= 1, got 0"),
        (dict(emb_dim=0), "emb_dim must be >= 1, got 0"),
        (dict(stream="attributes"), "sequence of tasks"),
    ],
)
def test_run_from_args_rejects_bad_flags(overrides, message):
    with pytest.raises(ConfigError, match=message):
        run_from_args(_args(**overrides))


def test_cli_end_to_end(tmp_path):
    from cltoolkit.cli import main

    out = tmp_path / "r.json"
    code = main(["run", "hypernet", "--tasks", "2", "--scale", "smoke", "--quiet", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["method"] == "hypernet" and data["stream"] == "permuted"
    assert 0 < data["compression_ratio"]
    for bad in (["--beta", "-1"], ["--beta", "nan"], ["--lr", "inf"]):
        try:  # refused by the parser (SystemExit) or by the config (return value): exit status 2 either way
            code = main(["run", "hypernet", "--scale", "smoke", "--quiet", *bad])
        except SystemExit as exc:
            code = exc.code
        assert code == 2, bad


# ----------------------------------------------------------------------------------------------
# the embedding-landscape widget (cltoolkit.widgets.hypernet)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landscape_run():
    stream = load_stream("digits", "permuted", 2, seed=0).subsample(100, 60, seed=0)
    config = default_config("smoke", emb_dim=2, epochs=2, target_hidden=(16,), hnet_hidden=(8,))
    return stream, train_hypernet(stream, config, progress=False, keep_snapshots=True)


def test_landscape_explorer_redraws_when_the_task_changes(landscape_run):
    from cltoolkit.widgets import embedding_landscape_explorer

    stream, result = landscape_run
    explorer = embedding_landscape_explorer(result, stream, resolution=6)
    task, after, metric = explorer.controls
    assert explorer.figure.layout.title.text.startswith("Task 0")
    z0 = np.array(explorer.figure.data[0].z)
    task.value = 1
    assert explorer.redraws == 2 and explorer.figure.layout.title.text.startswith("Task 1")
    assert not np.allclose(np.array(explorer.figure.data[0].z), z0)
    after.value = 0
    assert "after learning task 0" in explorer.figure.layout.title.text
    metric.value = "loss"
    assert "test loss" in explorer.figure.layout.title.text
    assert len(explorer.figure.data) == 1 + stream.num_tasks  # heatmap + one marker per task


def test_landscape_static_figure_has_a_frame_per_landscape(landscape_run):
    from cltoolkit.widgets import embedding_landscape_static_figure
    from cltoolkit.widgets.hypernet import EmbeddingLandscape

    stream, result = landscape_run
    land = EmbeddingLandscape(result, stream, resolution=5)
    fig = embedding_landscape_static_figure(land)
    assert len(fig.frames) == 3  # (after 0, task 0), (after 1, task 0), (after 1, task 1)
    assert len(embedding_landscape_static_figure(land, task=0).frames) == 2
    xs, ys, acc = land.grid(1, 0)
    assert acc.shape == (5, 5) and 0 <= acc.min() <= acc.max() <= 1
    assert land.extent[0] < land.embeddings(1)[:, 0].min()


def test_landscape_needs_2d_embeddings_and_snapshots():
    from cltoolkit.widgets.hypernet import EmbeddingLandscape

    stream = load_stream("digits", "permuted", 1, seed=0).subsample(50, 20, seed=0)
    config = default_config("smoke", emb_dim=3, epochs=1, target_hidden=(8,), hnet_hidden=(4,))
    with pytest.raises(ValueError, match="2-D task embeddings"):
        EmbeddingLandscape(train_hypernet(stream, config, progress=False, keep_snapshots=True), stream)
    config = default_config("smoke", emb_dim=2, epochs=1, target_hidden=(8,), hnet_hidden=(4,))
    with pytest.raises(ValueError, match="keep_snapshots"):
        EmbeddingLandscape(train_hypernet(stream, config, progress=False), stream)


# ----------------------------------------------------------------------------------------------
# paper scale, on tiny fake MNIST files read through the real loader
# ----------------------------------------------------------------------------------------------


def test_paper_config_follows_the_authors_split_mnist_setup():
    cfg = default_config("paper")
    assert cfg.target_hidden == (400, 400) and cfg.emb_dim == 96 and cfg.chunk_emb_dim == 96
    assert cfg.hnet_hidden == (10, 10) and cfg.chunk_size == 42000 and cfg.beta == 0.01
    assert cfg.iterations == 2000 and cfg.batch_size == 128 and cfg.lr == 1e-3
    target = TargetMLP(28 * 28, cfg.target_hidden, 2)
    hnet = HyperNetwork(target.target_shapes, 5, cfg.emb_dim, cfg.hnet_hidden, cfg.chunk_size, cfg.chunk_emb_dim)
    assert hnet.num_chunks == math.ceil(target.num_weights / 42000)
    assert hnet.compression_ratio() < 1.0  # chunking makes the hypernetwork smaller than its target


@pytest.mark.parametrize("stream", ["split", "permuted"])
def test_paper_scale_runs_on_fake_mnist_through_the_real_loader(tmp_path, stream):
    from fake_datasets import write_fake_mnist

    write_fake_mnist(tmp_path, n_train=40, n_test=20)
    args = _args(dataset="mnist", stream=stream, scale="paper", tasks=2, epochs=1, data_root=str(tmp_path))
    data = run_from_args(args)
    assert data["tasks"] == (["0/1", "2/3"] if stream == "split" else ["perm0", "perm1"])
    assert len(data["acc_matrix"]) == 2
    assert data["compression_ratio"] < 1.0
    expected_hidden = [400, 400] if stream == "split" else [1000, 1000]
    assert list(data["config"]["target_hidden"]) == expected_hidden
    assert data["bytes_per_task"] == 96 * 4


def test_a_random_subset_of_old_tasks_per_step_still_protects_them():
    torch.manual_seed(0)
    target = TargetMLP(6, (16,), 2)
    hnet = HyperNetwork(target.target_shapes, 4, emb_dim=4, hidden=(16,), init_std=target.init_std())
    (x0, y0), (x1, y1) = _two_tasks()
    targets = hnet.store_targets([0, 1, 2])
    before = torch.stack([targets[t] for t in range(3)])
    g = torch.Generator().manual_seed(0)
    learn_task(
        hnet, target, 3, x1, y1, steps=150, lr=1e-2, beta=1.0, targets=targets, old_tasks_per_step=1, generator=g
    )
    after = torch.stack([hnet.forward(t, flat=True).detach() for t in range(3)])
    assert ((after - before).norm(dim=1) / before.norm(dim=1)).max() < 0.1
