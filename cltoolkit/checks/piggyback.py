"""Checks for notebook 02 (Piggyback).

=================================  ==================================================================
check                              the learner's code
=================================  ==================================================================
``check_binarize``                 ``fn(scores, threshold) -> mask`` with a straight-through gradient
``check_ternarize``                ``fn(scores, threshold) -> mask`` in {-1, 0, 1}, identity gradient
``check_masked_layers``            classes ``Linear(layer)`` / ``Conv(layer)`` with ``.mask_scores``
``check_pack_mask``                ``fn(bool_tensor) -> uint8 tensor`` of ceil(n / 8) bytes
``check_sparsity_at_threshold``    ``fn(scores_dict, threshold) -> {layer: fraction of zeros}``
``check_masked_weight``            ``fn(weight, scores, threshold) -> W * 1[s > tau]``, d/dscores = g * W
``check_piggyback_training``       ``Net(backbone, feature_dim, head, tau, init)`` and ``train(net, task, cfg, seed,
                                   device)``: the same masks and logits as the package after training
``check_sparsest_layer``           ``fn() -> layer name``: a prediction, compared with trained masks
``check_tau_shift_prediction``     ``fn() -> "sparser" | "denser" | "about the same"``
``check_larger_tau``               ``fn() -> {task: {"sparsity", "accuracy"}}`` at tau 2e-2, init 2.5e-2
=================================  ==================================================================
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from ..data.streams import Task
from ..experiments.piggyback import PiggybackConfig, train_piggyback_task
from ..piggyback import (
    DEFAULT_THRESHOLD,
    Binarize,
    BinaryMaskedWeight,
    MaskedConv2d,
    MaskedLinear,
    PiggybackNet,
    Ternarize,
    pack_mask,
    sparsity_at_threshold,
)
from ..train import predict

__all__ = [
    "check_binarize",
    "check_larger_tau",
    "check_masked_layers",
    "check_masked_weight",
    "check_pack_mask",
    "check_piggyback_training",
    "check_sparsest_layer",
    "check_sparsity_at_threshold",
    "check_tau_shift_prediction",
    "check_ternarize",
    "ReferencePiggyback",
    "reference_train",
    "sparsest_layer",
    "TAU_SHIFT_CHOICES",
]


def _score_cases() -> list[tuple[str, torch.Tensor, float]]:
    g = torch.Generator().manual_seed(0)
    return [
        ("scores exactly at the threshold", torch.tensor([5e-3, 5e-3 + 1e-6, 5e-3 - 1e-6, 0.0]), 5e-3),
        ("negative and positive scores", torch.tensor([-1.0, -1e-3, 0.0, 2e-3, 1.0]), 1e-3),
        ("a random 4 x 6 matrix", torch.randn(4, 6, generator=g) * 1e-2, 5e-3),
        ("a random conv kernel", torch.randn(3, 2, 3, 3, generator=g) * 1e-2, 0.0),
    ]


def _check_threshold_fn(fn: Callable, reference, what: str, rule: str) -> None:
    for name, scores, tau in _score_cases():
        mine = scores.clone().requires_grad_(True)
        ref = scores.clone().requires_grad_(True)
        out = fn(mine, tau)
        expected = reference.apply(ref, tau)
        assert isinstance(out, torch.Tensor), f"{what} should return a tensor, got {type(out).__name__}"
        assert out.shape == expected.shape, f"{what}: shape {tuple(out.shape)} for input {tuple(scores.shape)}"
        if not torch.equal(out.float(), expected):
            raise AssertionError(
                f"{what} on {name} (threshold {tau}): got {out.flatten()[:6].tolist()}, expected "
                f"{expected.flatten()[:6].tolist()}. Rule: {rule}"
            )
        upstream = torch.randn(scores.shape, generator=torch.Generator().manual_seed(1))
        if out.requires_grad:
            (out * upstream).sum().backward()
        assert mine.grad is not None, (
            f"{what}: no gradient reaches the scores. A comparison has zero gradient: wrap it in a "
            "torch.autograd.Function whose backward returns the incoming gradient unchanged"
        )
        if not torch.allclose(mine.grad, upstream):
            raise AssertionError(
                f"{what} on {name}: the gradient w.r.t. the scores should equal the gradient w.r.t. the mask "
                "(straight-through); got something else (clipped, or multiplied by the mask?)"
            )
    print(f"✓ {what} agrees with cltoolkit.piggyback on {len(_score_cases())} cases (values and gradients)")


def check_binarize(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(scores, threshold)``: 1 where ``scores > threshold`` else 0; gradient passes straight through."""
    _check_threshold_fn(fn, Binarize, "binarize", "1 where score > threshold (strictly), else 0")


def check_ternarize(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(scores, threshold)``: -1 if ``s < 0``, 0 if ``0 <= s <= threshold``, +1 otherwise; identity gradient."""
    _check_threshold_fn(fn, Ternarize, "ternarize", "-1 if s < 0, 0 if 0 <= s <= threshold, +1 if s > threshold")


def check_masked_layers(
    linear_cls: Callable[[nn.Linear], nn.Module], conv_cls: Callable[[nn.Conv2d], nn.Module], threshold: float = 5e-3
) -> None:
    """The learner's masked layers (built from an ``nn.Linear`` / ``nn.Conv2d``, with ``.mask_scores``)
    against :class:`MaskedLinear` / :class:`MaskedConv2d`: equal output at init, then equal output and
    equal score gradients after the scores are set to random values."""
    torch.manual_seed(0)
    cases = [
        ("Linear(6, 4)", nn.Linear(6, 4), MaskedLinear, linear_cls, torch.randn(5, 6)),
        ("Linear(3, 2, bias=False)", nn.Linear(3, 2, bias=False), MaskedLinear, linear_cls, torch.randn(4, 3)),
        ("Conv2d(2, 3, 3, padding=1)", nn.Conv2d(2, 3, 3, padding=1), MaskedConv2d, conv_cls, torch.randn(2, 2, 6, 6)),
        ("Conv2d(3, 4, 3, stride=2)", nn.Conv2d(3, 4, 3, stride=2), MaskedConv2d, conv_cls, torch.randn(2, 3, 7, 7)),
    ]
    for name, layer, ref_cls, cls, x in cases:
        mine, ref = cls(layer), ref_cls.from_layer(layer, threshold=threshold)
        assert hasattr(mine, "mask_scores"), f"your layer for {name} has no attribute mask_scores"
        assert torch.allclose(mine(x), layer(x), atol=1e-6), (
            f"{name}: at initialisation your masked layer should give exactly the wrapped layer's output "
            "(scores start above the threshold, so the mask is all ones)"
        )
        trainable = [p for p in mine.parameters() if p.requires_grad]
        assert len(trainable) == 1 and trainable[0] is mine.mask_scores, (
            f"{name}: only mask_scores may be trainable; keep the backbone weight and bias fixed (buffers)"
        )
        scores = torch.randn(ref.mask_scores.shape, generator=torch.Generator().manual_seed(2)) * 1e-2
        with torch.no_grad():
            mine.mask_scores.copy_(scores)
            ref.mask_scores.copy_(scores)
        out, expected = mine(x), ref(x)
        if not torch.allclose(out, expected, atol=1e-5):
            raise AssertionError(f"{name}: with random scores your output differs from W * mask (bias not masked)")
        out.square().sum().backward()
        expected.square().sum().backward()
        if not torch.allclose(mine.mask_scores.grad, ref.mask_scores.grad, atol=1e-5):
            raise AssertionError(f"{name}: the score gradients differ; expected dL/dscores = dL/dW~ * W")
    print(f"✓ masked layers agree with cltoolkit.piggyback on {len(cases)} layers (outputs and score gradients)")


def check_pack_mask(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(mask)``: a bool tensor -> uint8 tensor of ceil(n / 8) bytes, first element in the top bit."""
    g = torch.Generator().manual_seed(0)
    shapes = [(8,), (1,), (13,), (3, 5), (2, 3, 3, 3), (100,)]
    for shape in shapes:
        mask = torch.rand(shape, generator=g) > 0.5
        out = fn(mask)
        n = math.prod(shape)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.uint8, "return a torch.uint8 tensor"
        assert out.shape == (math.ceil(n / 8),), (
            f"a mask of {n} elements needs ceil({n}/8) = {math.ceil(n / 8)} bytes, got shape {tuple(out.shape)}; "
            "pad the last byte with zeros"
        )
        expected = pack_mask(mask)
        if not torch.equal(out, expected):
            raise AssertionError(
                f"mask of shape {shape}: got bytes {out[:4].tolist()}, expected {expected[:4].tolist()}. "
                "Flatten, pad to a multiple of 8, and put the first element of each group in the top bit (128)"
            )
    print(f"✓ pack_mask agrees with cltoolkit.piggyback on {len(shapes)} shapes (also not multiples of 8)")


def check_sparsity_at_threshold(fn: Callable[[dict, float], dict]) -> None:
    """``fn(scores, threshold)``: ``{layer: fraction of zeros}`` of the binary mask those scores give."""
    g = torch.Generator().manual_seed(0)
    scores = {
        "conv1": torch.tensor([0.0, 0.004, 0.005, 0.006]),
        "conv2": torch.randn(8, 4, 3, 3, generator=g) * 1e-2,
        "fc": torch.full((10, 5), 1e-2),
    }
    for tau in (0.0, 5e-3, 1e-2, 0.02):
        out = fn(scores, tau)
        expected = sparsity_at_threshold(scores, tau)
        assert isinstance(out, dict) and set(out) == set(expected), f"return {{layer: fraction}} for {list(scores)}"
        for layer, value in expected.items():
            if abs(float(out[layer]) - value) > 1e-6:
                raise AssertionError(
                    f"threshold {tau}, layer {layer}: got {float(out[layer]):.4f}, expected {value:.4f} "
                    "(a weight is zeroed when its score is <= the threshold)"
                )
    print("✓ sparsity_at_threshold agrees with cltoolkit.piggyback on 4 thresholds")


# -- exercise 1: the masked weight and its gradient, derived by hand -----------------------------


def _masked_weight_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    g = torch.Generator().manual_seed(3)
    tau = DEFAULT_THRESHOLD
    return [
        (
            "scores at the threshold, negative weights",
            torch.tensor([[2.0, -1.0, 3.0, -0.5]]),
            torch.tensor([[tau, tau + 1e-6, tau - 1e-6, 1.0]]),
            tau,
        ),
        ("a random 4 x 6 weight", torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g) * 1e-2, tau),
        ("every score below the threshold", torch.randn(5, generator=g), torch.zeros(5), tau),
        (
            "a conv kernel (3, 2, 3, 3), threshold 0",
            torch.randn(3, 2, 3, 3, generator=g),
            torch.randn(3, 2, 3, 3, generator=g) * 1e-2,
            0.0,
        ),
    ]


def check_masked_weight(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(weight, scores, threshold)``: ``W * 1[scores > threshold]``, with ``dL/dscores = dL/dW~ * W``.

    Compared with :class:`~cltoolkit.piggyback.BinaryMaskedWeight` on four cases: values, and the
    gradient that reaches the scores for a random upstream gradient ``dL/dW~``.
    """
    cases = _masked_weight_cases()
    for name, weight, scores, tau in cases:
        original = weight.clone()
        mine = scores.clone().requires_grad_(True)
        out = fn(weight, mine, tau)
        expected = BinaryMaskedWeight.apply(original, scores, tau)
        mask = (scores > tau).to(weight.dtype)
        assert isinstance(out, torch.Tensor), f"return a tensor (W times the mask), got {type(out).__name__}"
        assert torch.equal(weight, original), f"{name}: your forward changed the weight in place; W must stay fixed"
        assert out.shape == weight.shape, f"{name}: output shape {tuple(out.shape)}, expected {tuple(weight.shape)}"
        if not torch.equal(out.detach().float(), expected):
            if torch.equal(out.detach().float(), original * (scores >= tau).float()):
                hint = "a weight is on only when its score is strictly greater than the threshold (>, not >=)"
            elif torch.equal(out.detach().float(), mask):
                hint = "you returned the mask m; the layer needs the masked weight W * m"
            else:
                hint = "the forward pass is W * 1[scores > threshold]"
            raise AssertionError(
                f"masked weight on {name}: got {out.detach().flatten()[:4].tolist()}, expected "
                f"{expected.flatten()[:4].tolist()}. Hint: {hint}"
            )
        upstream = torch.randn(weight.shape, generator=torch.Generator().manual_seed(4))
        if out.requires_grad:
            (out * upstream).sum().backward()
        if mine.grad is None:
            raise AssertionError(
                f"masked weight on {name}: no gradient reaches the scores. Thresholding has zero gradient almost "
                "everywhere: write a torch.autograd.Function whose backward returns dL/dscores yourself"
            )
        want = upstream * original
        if not torch.allclose(mine.grad, want, atol=1e-6):
            wrong = {
                "upstream": (
                    "you returned dL/dW~ itself; the chain rule through W~ = W * m multiplies it by W",
                    upstream,
                ),
                "masked": (
                    "you multiplied by the mask: a weight that is off would get no gradient and could never turn "
                    "back on. The straight-through estimator takes dm/dscores = 1 everywhere",
                    upstream * original * mask,
                ),
                "mask only": ("dL/dscores = dL/dW~ * W: multiply by W, not by the mask", upstream * mask),
                "sign": ("the sign is flipped: dL/dscores = + dL/dW~ * W", -want),
            }
            hint = next((h for h, g in wrong.values() if torch.allclose(mine.grad, g, atol=1e-6)), None)
            raise AssertionError(
                f"masked weight on {name}: dL/dscores is {mine.grad.flatten()[:4].tolist()}, expected "
                f"{want.flatten()[:4].tolist()} (= dL/dW~ * W). Hint: "
                + (hint or "with W~ = W * m and dm/dscores := 1, dL/dscores = dL/dW~ * W, elementwise")
            )
    print(
        f"✓ your masked weight agrees with cltoolkit.piggyback.BinaryMaskedWeight on {len(cases)} cases "
        "(values, and dL/dscores = dL/dW~ * W)"
    )


# -- the learner's Piggyback, trained, against the package's -------------------------------------


def _training_cases():
    """(name, backbone, feature_dim, task, config, head, seed): small backbones with frozen statistics."""
    g = torch.Generator().manual_seed(5)

    def task(name, shape, classes, n_train, n_test):
        x, xt = torch.rand((n_train, *shape), generator=g), torch.rand((n_test, *shape), generator=g)
        y, yt = torch.randint(classes, (n_train,), generator=g), torch.randint(classes, (n_test,), generator=g)
        return Task(name, x, y, xt, yt, num_outputs=classes)

    def head(dim, classes):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(6)
            return nn.Linear(dim, classes)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        conv_bn = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 6),
            nn.ReLU(),
        )
        with torch.no_grad():  # "pretrained" statistics, so that a BN left in training mode changes them
            conv_bn[1].running_mean.uniform_(-0.5, 0.5)
            conv_bn[1].running_var.uniform_(0.5, 1.5)
            conv_bn[1].weight.uniform_(0.5, 1.5)
        mlp = nn.Sequential(nn.Flatten(), nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 5), nn.ReLU())
        strided = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(27, 4))
    return [
        (
            "a conv-BN-ReLU-pool backbone with a linear layer, 2 epochs of batch 8",
            conv_bn.eval(),
            6,
            task("conv task", (1, 8, 8), 3, 42, 20),
            PiggybackConfig(epochs=2, batch_size=8, mask_lr=1e-3, head_lr=1e-2),
            head(6, 3),
            0,
        ),
        (
            "an MLP backbone with a step schedule (every lr x0.5 after each epoch), seed 3",
            mlp.eval(),
            5,
            task("mlp task", (1, 4, 4), 4, 37, 15),
            PiggybackConfig(epochs=3, batch_size=16, mask_lr=2e-3, head_lr=5e-3, lr_decay_every=1, lr_decay_factor=0.5),
            head(5, 4),
            3,
        ),
        (
            "a strided conv with a bias, threshold 7e-3 and init 9e-3",
            strided.eval(),
            4,
            task("strided task", (1, 8, 8), 2, 30, 12),
            PiggybackConfig(epochs=2, batch_size=10, mask_lr=1e-3, head_lr=1e-2, threshold=7e-3, init=9e-3),
            head(4, 2),
            1,
        ),
    ]


def _bn_state(module: nn.Module) -> list[torch.Tensor]:
    return [
        t.detach().clone()
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for t in (m.running_mean, m.running_var, m.weight, m.bias)
        if t is not None
    ]


def check_piggyback_training(
    net_cls: Callable[[nn.Module, int, nn.Linear, float, float], nn.Module],
    train_fn: Callable[..., list[float] | None],
) -> None:
    """The learner's Piggyback against the package's, trained the same way on three small cases.

    ``net_cls(backbone, feature_dim, head, threshold, init)``: a network in which every ``nn.Conv2d`` and
    ``nn.Linear`` of (a copy of) ``backbone`` is masked (a module with a ``mask_scores`` parameter that starts
    at ``init`` and is thresholded at ``threshold``), BatchNorm is frozen, and ``head`` follows; ``model(x)``
    gives logits. ``train_fn(model, task, cfg, seed, device)`` trains the scores (Adam, ``cfg.mask_lr``) and
    the head (``cfg.head_lr``) on ``task`` for ``cfg.epochs``: batches in the order of ``torch.randperm(n,
    generator)`` drawn once per epoch from ``torch.Generator().manual_seed(seed)``, every learning rate times
    ``cfg.lr_decay_factor`` every ``cfg.lr_decay_every`` epochs; it may return the mean loss of each epoch.
    The package: :class:`~cltoolkit.piggyback.PiggybackNet` trained by
    :func:`cltoolkit.experiments.piggyback.train_piggyback_task`. Masks and test logits must agree.
    """
    exact = True
    cases = _training_cases()
    for name, backbone, dim, task, cfg, head, seed in cases:
        before = copy.deepcopy(backbone.state_dict())
        bn_before = _bn_state(backbone)
        net = PiggybackNet(backbone, dim, cfg.threshold, cfg.init)  # a deep copy: built before yours touches anything
        with torch.no_grad():
            start_logits = head(backbone(task.x_test))
        mine = net_cls(backbone, dim, copy.deepcopy(head), cfg.threshold, cfg.init)
        after = backbone.state_dict()
        if set(after) != set(before) or any(not torch.equal(after[k], v) for k, v in before.items()):
            raise AssertionError(
                f"{name}: your network changed the backbone it was given (its layers or weights); deep-copy it "
                "(copy.deepcopy) before replacing its layers: every task shares the same backbone"
            )
        layers = [m for _, m in mine.named_modules() if isinstance(getattr(m, "mask_scores", None), torch.Tensor)]
        if len(layers) != len(net.layer_names):
            raise AssertionError(
                f"{name}: your network has {len(layers)} layers with mask_scores, the backbone has "
                f"{len(net.layer_names)} nn.Conv2d / nn.Linear layers. Mask every one of them (recursively, "
                "through nn.Sequential and submodules), and not the head"
            )
        if not all((m.mask_scores > cfg.threshold).all() for m in layers):
            raise AssertionError(
                f"{name}: before training some masks have zeros; the scores must start at cfg.init "
                f"({cfg.init:g}), above cfg.threshold ({cfg.threshold:g}), so the network starts as the backbone"
            )
        mine.eval()
        with torch.no_grad():
            gap = float((mine(task.x_test) - start_logits).abs().max())
        if gap > 1e-5 * (1.0 + float(start_logits.abs().max())):
            raise AssertionError(
                f"{name}: before training your network's logits differ from head(backbone(x)) by {gap:.2g}; with all "
                "masks one it must compute exactly the backbone (BN with its running statistics) and then the head"
            )
        losses = train_fn(mine, task, cfg, seed, "cpu")
        generator = torch.Generator().manual_seed(seed)
        reference = train_piggyback_task(net, task, cfg, "cpu", generator, head=copy.deepcopy(head), progress=False)
        changed = [k for k, v in backbone.state_dict().items() if not torch.equal(v, before[k])]
        if changed:
            raise AssertionError(
                f"{name}: training changed the backbone you were given ({changed[:3]}); deep-copy it "
                "(copy.deepcopy) before replacing its layers: every task shares the same backbone"
            )
        bn_after = _bn_state(mine)
        if len(bn_after) == len(bn_before) and not all(torch.equal(a, b) for a, b in zip(bn_after, bn_before)):
            raise AssertionError(
                f"{name}: BatchNorm's statistics or affine parameters changed during training. Piggyback keeps "
                "BN frozen: keep it in eval mode (e.g. override train() to call self.body.eval()) and give the "
                "optimiser only the mask scores and the head"
            )
        if losses is not None and len(losses) and len(losses) == len(reference):
            if abs(float(losses[0]) - reference[0]) > 1e-5 * max(1.0, abs(reference[0])):
                raise AssertionError(
                    f"{name}: mean loss of the first epoch {float(losses[0]):.6f}, the package's {reference[0]:.6f}. "
                    "The first epoch already differs: the batches (torch.randperm(n, generator) once per epoch, "
                    "generator = torch.Generator().manual_seed(seed), batches of cfg.batch_size in that order), the "
                    "learning rates (Adam: cfg.mask_lr for the scores, cfg.head_lr for the head) or the loss (the "
                    "batch mean of F.cross_entropy, averaged over the epoch's examples)"
                )
        for k, ((layer_name, _), layer) in enumerate(zip(net.masked_layers(), layers)):
            want = net.masks(task.name)[layer_name]
            got = (layer.mask_scores.detach() > cfg.threshold).cpu()
            agree = float((got == want).float().mean())
            exact &= agree == 1.0
            if agree < 0.999:
                raise AssertionError(
                    f"{name}: after training, the mask of layer {k} ({layer_name}) differs from the package's on "
                    f"{1 - agree:.1%} of its weights. Check Adam's two groups (cfg.mask_lr for the scores, "
                    "cfg.head_lr for the head), the strict threshold cfg.threshold, the gradient dL/dW~ * W, and "
                    "the step schedule (every lr times cfg.lr_decay_factor every cfg.lr_decay_every epochs)"
                )
        was_training = mine.training
        mine.eval()
        with torch.no_grad():
            logits = mine(task.x_test)
        mine.train(was_training)
        expected = predict(net, task.x_test, task.name)
        assert isinstance(logits, torch.Tensor) and logits.shape == expected.shape, (
            f"{name}: model(x) should give logits of shape {tuple(expected.shape)}, got "
            f"{getattr(logits, 'shape', type(logits).__name__)}"
        )
        gap = float((logits.cpu() - expected).abs().max())
        exact &= gap == 0.0
        if gap > 1e-4 * (1.0 + float(expected.abs().max())):
            raise AssertionError(
                f"{name}: the masks agree but the test logits differ by up to {gap:.2g}. Check the head (start from "
                "the given one, train it with cfg.head_lr) and that the bias is not masked"
            )
    how = "bit-identical" if exact else "equal within float rounding"
    print(
        f"✓ your Piggyback trains like cltoolkit's on {len(cases)} small cases: masks and test logits {how} "
        "(BN frozen, backbone untouched)"
    )


class ReferencePiggyback(nn.Module):
    """The package's answer to :func:`check_piggyback_training`: a :class:`PiggybackNet` holding one task."""

    def __init__(self, backbone: nn.Module, feature_dim: int, head: nn.Linear, threshold: float, init: float):
        super().__init__()
        self.net = PiggybackNet(backbone, feature_dim, threshold, init)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.net.active_task is None:  # before training: the masked backbone (all ones), then the head
            return self.head(self.net.body(x))
        return self.net(x)


def reference_train(model: ReferencePiggyback, task: Task, cfg: PiggybackConfig, seed: int, device="cpu"):
    """Train ``model`` (a :class:`ReferencePiggyback`) with the package's loop; the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    return train_piggyback_task(model.net, task, cfg, device, generator, head=model.head, progress=False)


# -- predict, then run -------------------------------------------------------------------------


def _layer_means(sparsity: dict[str, dict[str, float]]) -> dict[str, float]:
    if not isinstance(sparsity, dict) or not sparsity or not all(isinstance(s, dict) for s in sparsity.values()):
        raise AssertionError("pass the trained sparsity as {task: {layer: fraction of zeros}} (res.sparsity)")
    layers = list(next(iter(sparsity.values())))
    return {layer: float(sum(s[layer] for s in sparsity.values()) / len(sparsity)) for layer in layers}


def sparsest_layer(sparsity: dict[str, dict[str, float]]) -> str:
    """The layer with the largest fraction of mask zeros, averaged over tasks: ``{task: {layer: f}}`` -> name."""
    means = _layer_means(sparsity)
    return max(means, key=means.get)


def check_sparsest_layer(fn: Callable[[], str], sparsity: dict[str, dict[str, float]], tie: float = 0.01) -> None:
    """``fn()``: the name of the layer you predict to be the sparsest (most mask zeros, averaged over tasks).

    Compared with ``sparsity`` (``{task: {layer: fraction of zeros}}``, from the trained masks); a layer within
    ``tie`` of the sparsest also counts.
    """
    answer = fn()
    means = _layer_means(sparsity)
    table = ", ".join(f"{layer} {value:.3f}" for layer, value in means.items())
    if not isinstance(answer, str) or answer not in means:
        raise AssertionError(f"{answer!r} is not a layer of this backbone; choose one of {list(means)}")
    best = max(means, key=means.get)
    if means[answer] >= means[best] - tie:
        print(f"✓ {answer} is the sparsest layer (mean fraction of zeros per layer: {table})")
        return
    layers = list(means)
    if answer == layers[0]:
        hint = (
            "the first layer has the fewest weights, and every later layer is built on its features: switching "
            "them off costs most, so the first layer keeps the most"
        )
    elif answer == layers[-1]:
        hint = (
            "the paper's VGG-16 gets sparser with depth; this backbone is only four layers deep, and its sparsest "
            "layer is not the last"
        )
    else:
        hint = "compare the layers' sizes and positions with the table"
    raise AssertionError(
        f"you predicted {answer} (mean sparsity {means[answer]:.3f}); the sparsest is {best} ({means[best]:.3f}). "
        f"Measured: {table}. Hint: {hint}"
    )


TAU_SHIFT_CHOICES = ("sparser", "denser", "about the same")


def check_tau_shift_prediction(fn: Callable[[], str]) -> None:
    """``fn()``: how the trained masks change when tau and the initial score are raised by the same amount
    (tau 5e-3 -> 2e-2, init 1e-2 -> 2.5e-2): one of :data:`TAU_SHIFT_CHOICES`."""
    answer = fn()
    key = " ".join(str(answer).strip().lower().replace("_", " ").split())
    if key not in TAU_SHIFT_CHOICES:
        raise AssertionError(f"{answer!r} is not one of the choices {list(TAU_SHIFT_CHOICES)}")
    if key != "about the same":
        raise AssertionError(
            f"you predicted {key!r}; expected 'about the same'. Hint: a weight switches off when its score falls "
            "below tau, i.e. by init - tau, which is 5e-3 in both runs. Does Adam's step depend on the score's "
            "value, or only on its gradient? And does the straight-through gradient dL/dW~ * W depend on the score?"
        )
    print(
        "✓ about the same: Adam's step depends only on the gradients, and the straight-through gradient dL/dW~ * W "
        "not on the score's value, so every score moves as before, shifted by 1.5e-2; only init - tau counts"
    )


def check_larger_tau(
    fn: Callable[[], dict],
    reference: dict[str, dict[str, float]],
    sparsity_tol: float = 0.02,
    accuracy_tol: float = 0.03,
) -> None:
    """``fn() -> {task: {"sparsity": s, "accuracy": a}}``: your run with tau = 2e-2 and init = 2.5e-2.

    ``reference``: the same numbers at the defaults (tau 5e-3, init 1e-2), same tasks, order and seed. The
    answer's range is checked: with the gap init - tau unchanged, sparsity within ``sparsity_tol`` and
    accuracy within ``accuracy_tol`` of the reference, and the sign of any larger change is explained.
    """
    result = fn()
    if not isinstance(result, dict) or not result:
        raise AssertionError("return {task name: {'sparsity': fraction of zeros, 'accuracy': test accuracy}}")
    unknown = sorted(set(result) - set(reference))
    if unknown:
        raise AssertionError(f"tasks {unknown} are not in the reference run; train {sorted(reference)}")
    lines = []
    for task, values in result.items():
        try:
            s, a = float(values["sparsity"]), float(values["accuracy"])
        except (TypeError, KeyError, ValueError):
            raise AssertionError(f"{task}: give {{'sparsity': float, 'accuracy': float}}, got {values!r}") from None
        if not (0.0 <= s <= 1.0 and 0.0 <= a <= 1.0):
            raise AssertionError(f"{task}: sparsity {s} and accuracy {a} must be fractions in [0, 1]")
        ref_s, ref_a = float(reference[task]["sparsity"]), float(reference[task]["accuracy"])
        ds, da = s - ref_s, a - ref_a
        if s == 0.0 and ref_s > 0.0:
            raise AssertionError(
                f"{task}: no weight was switched off (sparsity 0). The scores never fell below tau: is init - tau "
                "5e-3 as in the exercise (init 2.5e-2 for tau 2e-2)? A wider gap needs more steps than training has"
            )
        if ds > sparsity_tol:
            raise AssertionError(
                f"{task}: sparsity {s:.3f}, {ds:+.3f} against the defaults. The scores started closer to tau than "
                "5e-3 (init - tau smaller): that is section 5's experiment, not this one. Use init = tau + 5e-3"
            )
        if ds < -sparsity_tol:
            raise AssertionError(
                f"{task}: sparsity {s:.3f}, {ds:+.3f} against the defaults. Your gap init - tau is wider than 5e-3, "
                "so fewer scores fall below tau. Use init = tau + 5e-3"
            )
        if abs(da) > accuracy_tol:
            raise AssertionError(
                f"{task}: accuracy {a:.3f}, {da:+.3f} against the defaults, though the masks are as sparse. Train "
                "the same tasks, in the same order, with the same seed and config as the reference run"
            )
        lines.append(f"{task}: sparsity {ds:+.4f}, accuracy {da:+.4f}")
    print("✓ with init - tau unchanged the masks stay as they were (" + "; ".join(lines) + ")")
