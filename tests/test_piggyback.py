import json
import math
import re
from dataclasses import replace
from functools import partial

import pytest
import torch
from cli_args import cli_args
from torch import nn

from cltoolkit.data.streams import Task
from cltoolkit.errors import CheckpointMismatchError, ConfigError
from cltoolkit.experiments.piggyback import (
    apply_masks,
    default_config,
    digits_backbone,
    load_bank,
    lr_stages,
    make_tasks,
    resnet_backbone,
    run_classifier_only,
    run_finetune_each,
    run_from_args,
    run_piggyback,
    save_bank,
    train_piggyback_task,
)
from cltoolkit.piggyback import (
    Binarize,
    MaskedConv2d,
    MaskedLinear,
    PiggybackNet,
    Ternarize,
    mask_sparsity,
    overall_sparsity,
    pack_mask,
    sparsity_at_threshold,
    unpack_mask,
)
from cltoolkit.train import atomic_torch_save


def _toy_task(name, n=64, outputs=3, seed=0, shape=(1, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g)
    y = torch.randint(0, outputs, (n,), generator=g)
    return Task(name, x, y, x[:32], y[:32], num_outputs=outputs)


def _net(**kw):
    torch.manual_seed(0)
    body, dim = digits_backbone(1, (4, 8), hidden=16)
    return PiggybackNet(body, dim, **kw), body, dim


# -- binariser -------------------------------------------------------------------------------


def test_binarize_forward_is_strictly_greater_and_backward_is_straight_through():
    scores = torch.tensor([-1.0, 0.0, 5e-3, 5.0001e-3, 1.0], requires_grad=True)
    mask = Binarize.apply(scores, 5e-3)
    assert mask.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    upstream = torch.tensor([0.1, -0.2, 0.3, -0.4, 0.5])
    mask.backward(upstream)
    assert torch.equal(scores.grad, upstream)


def test_fused_masked_weight_equals_weight_times_binarize():
    from cltoolkit.piggyback import BinaryMaskedWeight

    g = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 7, generator=g)
    raw = torch.rand(6, 7, generator=g) * 1e-2
    raw[0, :3] = torch.tensor([5e-3, 0.0, -1.0])  # exactly at the threshold, zero, negative
    s1, s2 = raw.clone().requires_grad_(True), raw.clone().requires_grad_(True)
    fused = BinaryMaskedWeight.apply(weight, s1, 5e-3)
    plain = weight * Binarize.apply(s2, 5e-3)
    assert torch.equal(fused, plain)
    upstream = torch.randn(6, 7, generator=g)
    (fused * upstream).sum().backward()
    (plain * upstream).sum().backward()
    assert torch.equal(s1.grad, s2.grad)


def test_ternarize_values_and_identity_gradient():
    scores = torch.tensor([-0.1, 0.0, 0.004, 0.006], requires_grad=True)
    m = Ternarize.apply(scores, 5e-3)
    assert m.tolist() == [-1.0, 0.0, 0.0, 1.0]
    m.sum().backward()
    assert torch.equal(scores.grad, torch.ones(4))


def test_masked_linear_gradient_is_upstream_times_weight():
    layer = nn.Linear(5, 3)
    masked = MaskedLinear.from_layer(layer)
    x = torch.randn(7, 5)
    out = masked(x)
    out.sum().backward()
    # dL/dW~ = sum_b g^T x ; dL/dm_r = dL/dW~ * W
    expected = (torch.ones(7, 3).T @ x) * layer.weight.detach()
    assert torch.allclose(masked.mask_scores.grad, expected, atol=1e-6)
    assert not any(p is layer.weight for p in masked.parameters())


# -- exact equality at initialisation --------------------------------------------------------


def test_masked_layers_equal_wrapped_layers_exactly_at_init():
    torch.manual_seed(0)
    lin = nn.Linear(10, 4)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=1, groups=1)
    x = torch.randn(6, 10)
    xi = torch.randn(2, 3, 9, 9)
    ml, mc = MaskedLinear.from_layer(lin), MaskedConv2d.from_layer(conv)
    assert torch.equal(ml(x), lin(x))
    assert torch.equal(mc(xi), conv(xi))
    assert [n for n, _ in ml.named_parameters()] == ["mask_scores"]
    assert {"weight", "bias"} <= {n for n, _ in mc.named_buffers()}
    assert torch.all(ml.mask_scores == 1e-2) and ml.threshold == 5e-3


def test_grouped_conv_without_bias_matches():
    torch.manual_seed(1)
    grouped = nn.Conv2d(4, 4, 3, groups=2, bias=False)
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(MaskedConv2d.from_layer(grouped)(x), grouped(x))


def test_piggyback_net_equals_backbone_at_init_and_to_plain_matches():
    net, body, dim = _net()
    x = torch.rand(5, 1, 8, 8)
    net.add_task("a", 3)
    body.eval()
    assert torch.equal(net.body.eval()(x), body(x))
    assert len(net.layer_names) == 3  # two convs and the hidden linear
    net.finish_task()
    plain = apply_masks(net, "a")
    assert torch.allclose(plain(x), net.body(x), atol=1e-6)


# -- bit-exact old tasks ---------------------------------------------------------------------


def test_old_task_predictions_are_bit_identical_after_new_tasks():
    net, _, _ = _net()
    cfg = default_config("smoke", epochs=2, mask_lr=1e-2)
    tasks = [_toy_task(f"t{k}", seed=k) for k in range(3)]
    train_piggyback_task(net, tasks[0], cfg)
    before = net(tasks[0].x_test, "t0").detach().clone()
    train_piggyback_task(net, tasks[1], cfg)
    train_piggyback_task(net, tasks[2], cfg)
    net.eval()
    assert torch.equal(net(tasks[0].x_test, "t0"), before)
    assert overall_sparsity(net.masks("t1")) > 0  # training did change the mask of the new tasks


def test_task_bn_keeps_a_private_copy_and_old_tasks_unchanged():
    net, body, _ = _net(task_bn=True)
    cfg = default_config("smoke", epochs=1)
    a, b = _toy_task("a", seed=1), _toy_task("b", seed=2)
    train_piggyback_task(net, a, cfg)
    net.eval()
    before = net(a.x_test, "a").detach().clone()
    train_piggyback_task(net, b, cfg)
    net.eval()
    assert torch.equal(net(a.x_test, "a"), before)
    key = "bn.0.layers.1.running_mean"
    assert not torch.equal(net.bank["a"][key], net.bank["b"][key])
    assert net.bytes_per_task("b") > 4 * (8 + 4) * 4  # includes the BN copy


def test_run_piggyback_reports_zero_forgetting():
    body, dim = digits_backbone(1, (4, 8), hidden=16)
    tasks = [_toy_task(f"t{k}", seed=k) for k in range(3)]
    result = run_piggyback(tasks, body, dim, default_config("smoke", epochs=1))
    R = result.acc_matrix
    for j in range(3):
        assert all(R[i, j] == R[j, j] for i in range(j, 3))
    assert all(result.unchanged_since_learned().values())
    assert set(result.sparsity) == {"t0", "t1", "t2"}


# -- packing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (9,), (3, 5), (2, 3, 3, 3), (17, 13)])
def test_pack_unpack_round_trip(shape):
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(shape, generator=g) > 0.5
    packed = pack_mask(mask)
    n = math.prod(shape)
    assert packed.dtype == torch.uint8 and packed.shape == (math.ceil(n / 8),)
    assert torch.equal(unpack_mask(packed, shape), mask)


def test_pack_bit_order_and_bad_input():
    assert pack_mask(torch.tensor([True, False, False, False, False, False, False, True, True])).tolist() == [129, 128]
    with pytest.raises(ConfigError, match="bool"):
        pack_mask(torch.ones(3))
    with pytest.raises(ConfigError, match="do not fit"):
        unpack_mask(torch.zeros(2, dtype=torch.uint8), (17,))


# -- bank ------------------------------------------------------------------------------------


def test_bank_save_load_gives_identical_predictions(tmp_path):
    net, body, dim = _net()
    cfg = default_config("smoke", epochs=1, mask_lr=1e-2)
    tasks = [_toy_task(f"t{k}", seed=k) for k in range(2)]
    for t in tasks:
        train_piggyback_task(net, t, cfg)
    net.eval()
    path = save_bank(net, tmp_path / "bank.pt")
    fresh = PiggybackNet(body, dim).eval()
    assert load_bank(fresh, path) == ["t0", "t1"]
    for t in tasks:
        assert torch.equal(fresh(t.x_test, t.name), net(t.x_test, t.name))
    expected = sum(math.ceil(layer.weight.numel() / 8) for _, layer in net.masked_layers()) + 4 * (16 + 1) * 3
    assert net.bytes_per_task() == expected


def test_bank_for_another_backbone_or_corrupt_is_refused(tmp_path):
    net, _, _ = _net()
    train_piggyback_task(net, _toy_task("a"), default_config("smoke", epochs=1))
    path = save_bank(net, tmp_path / "bank.pt")
    torch.manual_seed(99)
    other_body, dim = digits_backbone(1, (4, 8), hidden=16)
    with pytest.raises(CheckpointMismatchError, match="another backbone"):
        load_bank(PiggybackNet(other_body, dim), path)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointMismatchError, match="not a readable"):
        load_bank(net, broken)
    with pytest.raises(ConfigError, match="empty"):
        save_bank(_net()[0], tmp_path / "empty.pt")


# -- sparsity --------------------------------------------------------------------------------


def test_sparsity_on_a_hand_made_mask():
    masks = {"a": torch.tensor([True, False, False, True]), "b": torch.ones(2, 3, dtype=torch.bool)}
    assert mask_sparsity(masks) == {"a": 0.5, "b": 0.0}
    assert overall_sparsity(masks) == pytest.approx(2 / 10)
    scores = {"a": torch.tensor([0.0, 0.004, 0.006, 0.02])}
    assert sparsity_at_threshold(scores, 5e-3) == {"a": 0.5}
    assert sparsity_at_threshold(scores, 0.01) == {"a": 0.75}
    assert sparsity_at_threshold(scores, 0.0) == {"a": 0.25}


def test_net_sparsity_report_per_layer():
    net, _, _ = _net()
    net.add_task("a", 2)
    layer = dict(net.masked_layers())["1"]
    with torch.no_grad():
        layer.mask_scores.view(-1)[: layer.mask_scores.numel() // 4] = 0.0
    net.finish_task()
    report = mask_sparsity(net.masks("a"))
    assert report["1"] == pytest.approx(0.25)
    assert report["0.layers.0"] == 0.0
    assert 0 < overall_sparsity(net.masks("a")) < 0.25


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors():
    lin = nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="threshold must be a number"):
        MaskedLinear.from_layer(lin, threshold="0.1")
    with pytest.raises(ConfigError, match=">= 0"):
        MaskedLinear.from_layer(lin, threshold=-1e-3)
    with pytest.raises(ConfigError, match="greater than the threshold"):
        MaskedLinear.from_layer(lin, init=-1e-2)
    with pytest.raises(ConfigError, match="nn.Linear"):
        MaskedLinear.from_layer(nn.Conv2d(1, 1, 1))
    with pytest.raises(ConfigError, match="no nn.Conv2d or nn.Linear"):
        PiggybackNet(nn.Sequential(nn.ReLU(), nn.Flatten()), 4)
    net, _, _ = _net()
    net.add_task("a", 2)
    with pytest.raises(ConfigError, match="finish task"):
        net.add_task("b", 2)
    net.finish_task()
    with pytest.raises(ConfigError, match="must be a new string, got 'a'"):
        net.add_task("a", 2)
    with pytest.raises(ConfigError, match="unknown task 'zzz'"):
        net.set_task("zzz")
    with pytest.raises(ConfigError, match="init_mode"):
        PiggybackNet(nn.Linear(2, 2), 2, init_mode="gaussian")


# -- hostile input: constructors, tasks, configs (each error names the value) ------------------


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(feature_dim=-3), "feature_dim must be >= 1, got -3"),
        (dict(feature_dim="16"), "feature_dim must be an integer, got '16'"),
        (dict(feature_dim=16.0), "feature_dim must be an integer, got 16.0"),
        (dict(threshold=float("nan")), "threshold must be a finite number, got nan"),
        (dict(init=float("inf")), "init must be a finite number, got inf"),
        (dict(init_mode="gaussian"), "unknown init_mode 'gaussian'"),
        (dict(ternary="yes"), "ternary must be True or False, got 'yes'"),
    ],
)
def test_piggyback_net_refuses_bad_arguments_up_front(kwargs, pattern):
    body, _ = digits_backbone(1, (4, 8), hidden=16)
    with pytest.raises(ConfigError, match=re.escape(pattern)):
        PiggybackNet(body, **{"feature_dim": 16, **kwargs})


def test_wrong_feature_dim_is_named_at_the_first_forward():
    body, _ = digits_backbone(1, (4, 8), hidden=16)
    net = PiggybackNet(body, 7)
    net.add_task("a", 3)
    with pytest.raises(
        ConfigError, match=re.escape("feature_dim is 7, but the backbone gives features of shape (5, 16)")
    ):
        net(torch.rand(5, 1, 8, 8))


def test_a_bare_layer_is_a_backbone_with_one_masked_layer():
    torch.manual_seed(0)
    layer = nn.Linear(4, 4)
    net = PiggybackNet(layer, 4)
    assert net.layer_names == ["0"]
    net.add_task("a", 2)
    x = torch.rand(3, 4)
    assert torch.equal(net.body(x), layer(x))
    assert net(x).shape == (3, 2)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda net: net.add_task("b", 0), "num_outputs must be >= 1, got 0"),
        (lambda net: net.add_task("b", "3"), "num_outputs must be an integer, got '3'"),
        (lambda net: net.add_task(7, 3), "task name must be a new string, got 7"),
        (lambda net: net.add_task("b", 3, head=nn.Linear(5, 3)), "head must be nn.Linear(16, 3)"),
        (lambda net: net.set_task("zzz"), "unknown task 'zzz'; known tasks: 'a'"),
        (lambda net: net.add_stored({}), "add_stored takes a non-empty {name: stored state} dict, got dict {}"),
    ],
)
def test_task_calls_refuse_bad_arguments(call, pattern):
    net, _, _ = _net()
    net.add_task("a", 2)
    net.finish_task()
    with pytest.raises(ConfigError, match=re.escape(pattern)):
        call(net)
    assert net.task_names == ["a"]


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        (dict(mask_lr=float("nan")), "mask_lr must be a finite number, got nan"),
        (dict(head_lr=float("inf")), "head_lr must be a finite number, got inf"),
        (dict(base_lr=0.0), "base_lr must be in (0, 1], got 0"),
        (dict(epochs=0), "epochs must be >= 1, got 0"),
        (dict(batch_size=2.5), "batch_size must be an integer, got 2.5"),
        (dict(channels=(32, -1)), "channels[1] must be >= 1, got -1"),
        (dict(threshold=0.02), "mask score init (0.01) must be greater than the threshold (0.02)"),
        (dict(lr=1e-3), "unknown PiggybackConfig field(s) lr"),
        (dict(lr_decay_every=0), "lr_decay_every must be >= 1, got 0"),
        (dict(lr_decay_factor=1.5), "lr_decay_factor must be in (0, 1], got 1.5"),
        (dict(lr_decay_factor=float("nan")), "lr_decay_factor must be a finite number, got nan"),
    ],
)
def test_default_config_refuses_bad_or_unknown_overrides(overrides, pattern):
    with pytest.raises(ConfigError, match=re.escape(pattern)):
        default_config("smoke", **overrides)


def test_config_is_checked_through_replace_too():
    with pytest.raises(ConfigError, match="finetune_lr must be a finite number, got nan"):
        replace(default_config("smoke"), finetune_lr=float("nan"))


# -- hostile input: mask-bank files ------------------------------------------------------------


def _trained_bank(tmp_path):
    net, body, dim = _net()
    for k in range(2):
        train_piggyback_task(net, _toy_task(f"t{k}", seed=k), default_config("smoke", epochs=1))
    return net, body, dim, save_bank(net, tmp_path / "bank.pt")


def _rewrite(path, tmp_path, edit):
    payload = torch.load(path, weights_only=True)
    edit(payload)
    return atomic_torch_save(payload, tmp_path / "edited.pt")


def _unchanged(net):
    return net.task_names == [] and len(net.heads) == 0 and net.bank == {} and net.active_task is None


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda p: p.pop("tasks"), "'tasks' must be {name: state}, got no 'tasks' entry"),
        (lambda p: p.update(tasks=list(p["tasks"].values())), "'tasks' must be {name: state}, got list"),
        (
            lambda p: p["tasks"]["t1"].pop("head.bias"),
            "task 't1': missing entries ['head.bias'], unexpected entries []",
        ),
        (lambda p: p["tasks"]["t1"].update({"mask.1": torch.zeros(3, dtype=torch.uint8)}), "mask.1 is a torch.uint8"),
        (lambda p: p["tasks"]["t1"]["head.weight"].fill_(float("nan")), "task 't1': head.weight holds NaN"),
        (lambda p: p["tasks"]["t1"].update({"head.bias": "zeros"}), "head.bias is str 'zeros'"),
        (lambda p: p.update(ternary=True), "has ternary=True, this network ternary=False"),
    ],
)
def test_a_broken_bank_is_refused_and_leaves_the_network_unchanged(tmp_path, edit, pattern):
    _, body, dim, good = _trained_bank(tmp_path)
    fresh = PiggybackNet(body, dim)
    with pytest.raises(CheckpointMismatchError, match=re.escape(pattern)):
        load_bank(fresh, _rewrite(good, tmp_path, edit))
    assert _unchanged(fresh)  # nothing of the good first task was registered
    assert load_bank(fresh, good) == ["t0", "t1"]  # and the good bank still loads


def test_loading_a_bank_twice_names_the_clash_and_changes_nothing(tmp_path):
    _, body, dim, good = _trained_bank(tmp_path)
    fresh = PiggybackNet(body, dim)
    load_bank(fresh, good)
    with pytest.raises(ConfigError, match="task 't0' is already in this network"):
        load_bank(fresh, good)
    assert fresh.task_names == ["t0", "t1"] and len(fresh.heads) == 2


class _Payload:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Payload.ran = True
    return {}


def test_a_bank_file_is_never_unpickled_beyond_tensors(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "cltoolkit-piggyback-bank/2", "tasks": _Payload()}, path)
    net, _, _ = _net()
    with pytest.raises(CheckpointMismatchError, match="is not a readable Piggyback mask bank"):
        load_bank(net, path)
    assert not _Payload.ran and _unchanged(net)


def test_random_init_gives_about_half_zeros():
    net, _, _ = _net(init_mode="random")
    net.add_task("a", 2, generator=torch.Generator().manual_seed(0))
    assert 0.4 < overall_sparsity(net.masks()) < 0.6


# -- the authors' schedule: lr / 10 every 15 of 30 epochs at paper scale ------------------------


def _stages(cfg):
    stages = lr_stages(cfg)
    return [epochs for epochs, _ in stages], [factor for _, factor in stages]


def test_lr_stages_are_the_step_schedule():
    assert _stages(default_config("paper")) == ([15, 15], [1.0, pytest.approx(0.1)])
    for scale in ("smoke", "default"):  # off: one stage at the full learning rate
        cfg = default_config(scale)
        assert cfg.lr_decay_every is None and _stages(cfg) == ([cfg.epochs], [1.0])
    assert _stages(default_config("smoke", epochs=5, lr_decay_every=2, lr_decay_factor=0.5)) == (
        [2, 2, 1],
        [1.0, 0.5, 0.25],
    )
    assert _stages(default_config("smoke", epochs=3, lr_decay_every=15)) == ([3], [1.0])


def _record_train_epochs(monkeypatch):
    """Replace train_epochs in the experiment by a spy that records (epochs, lr of each parameter group)."""
    import cltoolkit.experiments.piggyback as experiment

    calls, real = [], experiment.train_epochs

    def spy(model, x, y, *, optimizer, epochs, **kwargs):
        calls.append((epochs, [group["lr"] for group in optimizer.param_groups]))
        return real(model, x, y, optimizer=optimizer, epochs=epochs, **kwargs)

    monkeypatch.setattr(experiment, "train_epochs", spy)
    return calls


def test_piggyback_training_decays_every_lr_and_trains_bn_with_the_mask_lr(monkeypatch):
    calls = _record_train_epochs(monkeypatch)
    net, _, _ = _net(task_bn=True)
    cfg = default_config("smoke", epochs=5, mask_lr=2e-3, head_lr=1e-2, lr_decay_every=2, lr_decay_factor=0.5)
    assert len(train_piggyback_task(net, _toy_task("a"), cfg)) == 5
    assert [epochs for epochs, _ in calls] == [2, 2, 1]
    for (_, lrs), factor in zip(calls, [1.0, 0.5, 0.25]):
        assert lrs == pytest.approx([2e-3 * factor, 1e-2 * factor, 2e-3 * factor])  # scores, head, BN copy


def test_schedule_off_and_a_stage_longer_than_training_give_identical_training():
    runs = []
    for every in (None, 50):
        net, _, _ = _net()
        cfg = default_config("smoke", epochs=2, lr_decay_every=every)
        losses = train_piggyback_task(net, _toy_task("a"), cfg, generator=torch.Generator().manual_seed(0))
        runs.append((losses, net.bank["a"]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_finetune_baseline_follows_the_schedule(monkeypatch):
    calls = _record_train_epochs(monkeypatch)
    body, dim = digits_backbone(1, (4, 8), hidden=16)
    cfg = default_config("smoke", epochs=3, finetune_lr=1e-2, lr_decay_every=2, lr_decay_factor=0.1)
    run_finetune_each([_toy_task("a")], body, dim, cfg)
    assert [epochs for epochs, _ in calls] == [2, 1]
    assert [lrs for _, lrs in calls] == [[1e-2], [pytest.approx(1e-3)]]


def test_classifier_only_baseline_follows_the_schedule(monkeypatch):
    import cltoolkit.experiments.piggyback as experiment

    seen, real = [], experiment.make_optimizer

    def make(*args, **kwargs):
        optimizer = real(*args, **kwargs)
        step = optimizer.step
        optimizer.step = lambda *a, **k: (seen.append(optimizer.param_groups[0]["lr"]), step(*a, **k))[1]
        return optimizer

    monkeypatch.setattr(experiment, "make_optimizer", make)
    body, dim = digits_backbone(1, (4, 8), hidden=16)
    cfg = default_config("smoke", epochs=3, head_lr=1e-2, lr_decay_every=2, lr_decay_factor=0.5)
    run_classifier_only([_toy_task("a", n=64)], body, dim, cfg)  # 64 examples, batch 32: two steps per epoch
    assert seen == pytest.approx([1e-2] * 4 + [5e-3] * 2)


# -- tasks, CLI, paper scale -----------------------------------------------------------------


def test_make_tasks_design():
    from cltoolkit.data import load_digits

    base, tasks = make_tasks(load_digits(), "split")
    assert base.num_outputs == 5 and set(base.classes) == set(range(5))
    assert [t.name for t in tasks] == ["classes 5-9", "rotated 90", "inverted", "permuted"]
    assert tasks[0].num_outputs == 5 and all(t.num_outputs == 10 for t in tasks[1:])
    assert len(make_tasks(load_digits(), "rotated", 3)[1]) == 3
    with pytest.raises(ConfigError):
        make_tasks(load_digits(), "split", 7)


_args = partial(cli_args, "piggyback", tasks=3, epochs=1)  # real parser defaults; keywords override


def test_run_from_args_contract():
    result = run_from_args(_args())
    json.dumps(result)
    for key in ("tasks", "acc_matrix", "avg_acc", "bwt", "forgetting", "bytes_per_task", "params", "sparsity"):
        assert key in result, key
    assert len(result["tasks"]) == 3 and len(result["acc_matrix"]) == 3
    assert result["forgetting"] == 0.0 and result["bwt"] == 0.0
    assert set(result["sparsity"]) == set(result["tasks"])
    assert all(0.0 <= v <= 1.0 for layers in result["sparsity"].values() for v in layers.values())
    assert result["bytes_per_task"] * 10 < result["finetune_bytes_per_task"]
    with pytest.raises(ConfigError, match="threshold"):
        run_from_args(_args(threshold=-1.0))
    with pytest.raises(ConfigError, match="attributes"):
        run_from_args(_args(stream="attributes"))


def test_cli_piggyback_runs(tmp_path):
    from cltoolkit.cli import main

    out = tmp_path / "p.json"
    code = main(
        ["run", "piggyback", "--scale", "smoke", "--tasks", "3", "--epochs", "1", "--quiet", "--json", str(out)]
    )
    assert code == 0
    assert "sparsity" in json.loads(out.read_text())


def test_resnet18_random_init_end_to_end():
    torch.manual_seed(0)
    backbone, dim = resnet_backbone("resnet18", pretrained=False)
    net = PiggybackNet(backbone, dim)
    convs = [n for n, m in backbone.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert net.layer_names == convs and any("downsample" in n for n in convs)
    x = torch.rand(2, 3, 32, 32)
    net.add_task("fake", 3)
    net.eval()
    assert torch.equal(net.body(x), backbone.eval()(x))
    assert overall_sparsity(net.masks()) == 0.0
    task = _toy_task("fake2", n=8, outputs=3, shape=(3, 32, 32))
    net.finish_task()
    train_piggyback_task(net, task, default_config("smoke", epochs=1, batch_size=4))
    assert net(task.x_test[:2], "fake2").shape == (2, 3)


def test_resnet_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match="torch hub cache"):
        resnet_backbone("resnet18", pretrained=True)
    with pytest.raises(ConfigError, match="weights='DEFAULT'"):
        run_from_args(_args(scale="paper"))


# -- widget and checks -----------------------------------------------------------------------


def _scores():
    g = torch.Generator().manual_seed(0)
    return {
        "a": {"conv": torch.rand(4, 1, 3, 3, generator=g) * 0.02, "fc": torch.rand(5, 4, generator=g) * 0.02},
        "b": {"conv": torch.rand(4, 1, 3, 3, generator=g) * 0.01, "fc": torch.rand(5, 4, generator=g) * 0.01},
    }


def test_mask_sparsity_figure_and_explorer_follow_tau():
    from cltoolkit.widgets import mask_sparsity_explorer, mask_sparsity_figure, mask_sparsity_static_figure

    scores = _scores()
    fig = mask_sparsity_figure(scores, "a", 5e-3)
    assert len(fig.data) == 1 and list(fig.data[0].x) == ["conv", "fc"]
    expected = sparsity_at_threshold(scores["a"], 5e-3)
    assert list(fig.data[0].y) == pytest.approx([100 * v for v in expected.values()])
    assert len(mask_sparsity_figure(scores).data) == 2
    static = mask_sparsity_static_figure(scores, thresholds=(1e-3, 1e-2))
    assert len(static.frames) == 2 and static.layout.sliders
    explorer = mask_sparsity_explorer(scores)
    before = [list(t.y) for t in explorer.figure.data]
    explorer.controls[1].value = 0.015
    after = [list(t.y) for t in explorer.figure.data]
    assert explorer.redraws == 2 and after != before
    assert all(b >= a for ta, tb in zip(before, after) for a, b in zip(ta, tb))
    explorer.controls[0].value = "b"
    assert len(explorer.figure.data) == 1 and "'b'" in explorer.figure.layout.title.text
    with pytest.raises(ValueError, match="unknown task"):
        mask_sparsity_figure(scores, "zzz")


def test_checks_accept_the_reference_and_reject_mistakes():
    from cltoolkit import checks

    checks.check_binarize(Binarize.apply)
    checks.check_ternarize(Ternarize.apply)
    checks.check_pack_mask(pack_mask)
    checks.check_sparsity_at_threshold(sparsity_at_threshold)
    checks.check_masked_layers(MaskedLinear.from_layer, MaskedConv2d.from_layer)
    with pytest.raises(AssertionError, match="strictly"):
        checks.check_binarize(lambda s, t: Binarize.apply(s, t) + (s == t).float())
    with pytest.raises(AssertionError, match="no gradient"):
        checks.check_binarize(lambda s, t: (s > t).float())
    with pytest.raises(AssertionError, match="pad"):
        checks.check_pack_mask(lambda m: pack_mask(m)[: m.numel() // 8])
    with pytest.raises(AssertionError, match="<= the threshold"):
        checks.check_sparsity_at_threshold(lambda s, t: {k: float((v < t).float().mean()) for k, v in s.items()})
