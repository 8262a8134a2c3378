"""Notebook 02's exercise checks: the package's answer passes, and each likely mistake is named.

One test per wrong answer a learner might plausibly write; each asserts that the check raises
``AssertionError`` and that the message names the mistake. (Stubs, and the package's answer through
``cltoolkit.checks``, are also covered for every check in ``test_checks_both_ways.py``.)
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cltoolkit import checks
from cltoolkit.checks import piggyback as pc
from cltoolkit.piggyback import Binarize, BinaryMaskedWeight

# ----------------------------------------------------------------------------------------------
# Exercise 1: the masked weight W * 1[s > tau] and dL/ds = dL/dW~ * W
# ----------------------------------------------------------------------------------------------


def _function(forward, backward):
    """A masked-weight autograd Function from a forward ``(w, s, t) -> W~`` and a backward ``(g, w, s, t) -> ds``."""

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, weight, scores, threshold):
            ctx.save_for_backward(weight, scores)
            ctx.threshold = threshold
            return forward(weight, scores, threshold)

        @staticmethod
        def backward(ctx, grad):
            weight, scores = ctx.saved_tensors
            return None, backward(grad, weight, scores, ctx.threshold), None

    return Fn.apply


def _right_forward(w, s, t):
    return w * (s > t).to(w.dtype)


def test_masked_weight_accepts_the_package_and_a_two_step_autograd_version():
    assert checks.check_masked_weight(BinaryMaskedWeight.apply) is True
    assert checks.check_masked_weight(lambda w, s, t: w * Binarize.apply(s, t)) is True
    assert checks.check_masked_weight(_function(_right_forward, lambda g, w, s, t: g * w)) is True


@pytest.mark.parametrize(
    "forward, backward, message",
    [
        (lambda w, s, t: w * (s >= t).float(), lambda g, w, s, t: g * w, "strictly greater"),
        (lambda w, s, t: (s > t).float(), lambda g, w, s, t: g, "you returned the mask"),
        (_right_forward, lambda g, w, s, t: g, "dL/dW~ itself"),
        (_right_forward, lambda g, w, s, t: g * w * (s > t).float(), "multiplied by the mask"),
        (_right_forward, lambda g, w, s, t: g * (s > t).float(), "multiply by W, not by the mask"),
        (_right_forward, lambda g, w, s, t: -g * w, "sign is flipped"),
        (_right_forward, lambda g, w, s, t: 2 * g * w, re.escape("dL/dscores = dL/dW~ * W, elementwise")),
    ],
    ids=["greater-or-equal", "mask only", "forgot W", "masked gradient", "mask not W", "sign", "factor 2"],
)
def test_masked_weight_names_the_mistake(forward, backward, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_masked_weight(_function(forward, backward))


def test_masked_weight_without_a_backward_gets_no_gradient_hint():
    with pytest.raises(AssertionError, match="no gradient reaches the scores"):
        checks.check_masked_weight(lambda w, s, t: w * (s > t).float())


def test_masked_weight_that_changes_w_in_place_is_refused():
    def in_place(w, s, t):
        return w.mul_((s > t).float())

    with pytest.raises(AssertionError, match="in place"):
        checks.check_masked_weight(in_place)


# ----------------------------------------------------------------------------------------------
# The learner's Piggyback trained against the package's
# ----------------------------------------------------------------------------------------------


class MaskedLinear(nn.Module):
    def __init__(self, layer, threshold, init):
        super().__init__()
        self.threshold = threshold
        self.register_buffer("weight", layer.weight.detach().clone())
        self.register_buffer("bias", None if layer.bias is None else layer.bias.detach().clone())
        self.mask_scores = nn.Parameter(torch.full_like(self.weight, init))

    def masked(self):
        return BinaryMaskedWeight.apply(self.weight, self.mask_scores, self.threshold)

    def forward(self, x):
        return F.linear(x, self.masked(), self.bias)


class MaskedConv(MaskedLinear):
    def __init__(self, layer, threshold, init):
        super().__init__(layer, threshold, init)
        self.args = (layer.stride, layer.padding, layer.dilation, layer.groups)

    def forward(self, x):
        return F.conv2d(x, self.masked(), self.bias, *self.args)


def _mask_all(module, threshold, init, kinds=(nn.Conv2d, nn.Linear)):
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and nn.Conv2d in kinds:
            setattr(module, name, MaskedConv(child, threshold, init))
        elif isinstance(child, nn.Linear) and nn.Linear in kinds:
            setattr(module, name, MaskedLinear(child, threshold, init))
        else:
            _mask_all(child, threshold, init, kinds)
    return module


def make_net(copy_backbone=True, freeze_bn=True, kinds=(nn.Conv2d, nn.Linear), init_offset=0.0):
    class Net(nn.Module):
        def __init__(self, backbone, feature_dim, head, threshold, init):
            super().__init__()
            body = copy.deepcopy(backbone) if copy_backbone else backbone
            self.body = _mask_all(body, threshold, init + init_offset, kinds)
            for name, p in self.body.named_parameters():
                p.requires_grad_(name.endswith("mask_scores"))
            self.head = head

        def train(self, mode=True):
            super().train(mode)
            if freeze_bn:
                self.body.eval()
            return self

        def forward(self, x):
            return self.head(self.body(x))

    return Net


def make_train(same_lr=False, schedule=True, seed_offset=0, order_per_run=False, reduction="mean", epochs_off=0):
    def train(model, task, cfg, seed, device="cpu"):
        model.to(device).train()
        scores = [p for n, p in model.body.named_parameters() if n.endswith("mask_scores")]
        head_lr = cfg.mask_lr if same_lr else cfg.head_lr
        opt = torch.optim.Adam(
            [{"params": scores, "lr": cfg.mask_lr}, {"params": model.head.parameters(), "lr": head_lr}]
        )
        generator = torch.Generator().manual_seed(seed + seed_offset)
        x, y = task.x_train, task.y_train
        fixed_order = torch.randperm(len(x), generator=generator) if order_per_run else None
        losses = []
        for epoch in range(cfg.epochs + epochs_off):
            decay = cfg.lr_decay_factor ** (epoch // cfg.lr_decay_every) if cfg.lr_decay_every and schedule else 1.0
            opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = cfg.mask_lr * decay, head_lr * decay
            order = fixed_order if order_per_run else torch.randperm(len(x), generator=generator)
            total = 0.0
            for start in range(0, len(x), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                loss = F.cross_entropy(model(x[batch]), y[batch], reduction=reduction)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * (len(batch) if reduction == "mean" else 1)
            losses.append(total / len(x))
        return losses

    return train


def test_training_check_accepts_a_correct_learner_and_the_reference(capsys):
    assert checks.check_piggyback_training(make_net(), make_train()) is True
    assert "bit-identical" in capsys.readouterr().out
    assert checks.check_piggyback_training(pc.ReferencePiggyback, pc.reference_train) is True


def test_the_training_cases_really_train():
    """A check that cannot see training would pass a learner who trains nothing: every case must flip weights."""
    for name, backbone, dim, task, cfg, head, seed in pc._training_cases():
        model = pc.ReferencePiggyback(backbone, dim, copy.deepcopy(head), cfg.threshold, cfg.init)
        pc.reference_train(model, task, cfg, seed)
        zeros = sum(int((~m).sum()) for m in model.net.masks(task.name).values())
        assert zeros > 0, f"{name}: no weight switched off; the case cannot tell a trainer from a no-op"


@pytest.mark.parametrize(
    "net, train, message",
    [
        (make_net(kinds=(nn.Conv2d,)), make_train(), "Mask every one of them"),
        (make_net(init_offset=-0.02), make_train(), "must start at cfg.init"),
        (make_net(copy_backbone=False), make_train(), "deep-copy it"),
        (make_net(freeze_bn=False), make_train(), "BatchNorm"),
        (make_net(), make_train(seed_offset=1), "first epoch already differs"),
        (make_net(), make_train(order_per_run=True), "mask of layer"),
        (make_net(), make_train(reduction="sum"), "mask of layer"),
        (make_net(), make_train(schedule=False), "step schedule"),
        (make_net(), make_train(same_lr=True), "learning rates"),
        (make_net(), make_train(epochs_off=-1), "mask of layer"),
    ],
    ids=[
        "linear not masked",
        "scores start below tau",
        "backbone not copied",
        "BN in training mode",
        "another batch order",
        "one order for all epochs",
        "summed loss",
        "no lr schedule",
        "head at the mask lr",
        "one epoch short",
    ],
)
def test_training_check_names_the_mistake(net, train, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_piggyback_training(net, train)


def test_training_check_reports_a_stub_of_the_loop_in_one_line(capsys):
    def train(model, task, cfg, seed, device="cpu"):
        raise NotImplementedError()

    assert checks.check_piggyback_training(make_net(), train) is False
    assert capsys.readouterr().out.startswith("Not done yet")


# ----------------------------------------------------------------------------------------------
# Predict, then run: the sparsest layer; tau and init raised together
# ----------------------------------------------------------------------------------------------

SPARSITY = {
    "classes 5-9": {"0.layers.0": 0.17, "0.layers.4": 0.21, "0.layers.8": 0.17, "1": 0.19},
    "inverted": {"0.layers.0": 0.16, "0.layers.4": 0.29, "0.layers.8": 0.22, "1": 0.23},
}


def test_sparsest_layer_accepts_the_measured_one_and_ties():
    assert pc.sparsest_layer(SPARSITY) == "0.layers.4"
    assert checks.check_sparsest_layer(lambda: "0.layers.4", SPARSITY) is True
    tied = {"t": {"a": 0.300, "b": 0.295, "c": 0.1}}
    assert checks.check_sparsest_layer(lambda: "b", tied) is True  # within the 0.01 tie margin


@pytest.mark.parametrize(
    "answer, message",
    [
        ("0.layers.0", "the first layer has the fewest weights"),
        ("1", "gets sparser with depth"),
        ("0.layers.8", "sparsest is 0.layers.4"),
        ("conv2", "not a layer of this backbone"),
        (4, "not a layer of this backbone"),
    ],
)
def test_sparsest_layer_names_the_mistake(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_sparsest_layer(lambda: answer, SPARSITY)


def test_sparsest_layer_needs_the_trained_sparsity():
    with pytest.raises(AssertionError, match="res.sparsity"):
        checks.check_sparsest_layer(lambda: "1", {})


def test_tau_shift_prediction():
    assert checks.check_tau_shift_prediction(lambda: "About the same") is True
    with pytest.raises(AssertionError, match="Does Adam's step depend"):
        checks.check_tau_shift_prediction(lambda: "sparser")
    with pytest.raises(AssertionError, match="Does Adam's step depend"):
        checks.check_tau_shift_prediction(lambda: "denser")
    with pytest.raises(AssertionError, match="not one of the choices"):
        checks.check_tau_shift_prediction(lambda: "it depends")


REFERENCE = {"inverted": {"sparsity": 0.241, "accuracy": 0.978}, "permuted": {"sparsity": 0.238, "accuracy": 0.926}}


def test_larger_tau_accepts_a_run_that_matches_within_rounding():
    nearby = {"inverted": {"sparsity": 0.2394, "accuracy": 0.968}, "permuted": {"sparsity": 0.2374, "accuracy": 0.929}}
    assert checks.check_larger_tau(lambda: nearby, REFERENCE) is True
    assert checks.check_larger_tau(lambda: {"inverted": REFERENCE["inverted"]}, REFERENCE) is True


@pytest.mark.parametrize(
    "result, message",
    [
        ({"inverted": {"sparsity": 0.0, "accuracy": 0.95}}, "no weight was switched off"),
        ({"inverted": {"sparsity": 0.39, "accuracy": 0.92}}, "closer to tau"),
        ({"inverted": {"sparsity": 0.11, "accuracy": 0.95}}, "wider than 5e-3"),
        ({"inverted": {"sparsity": 0.24, "accuracy": 0.90}}, "same seed"),
        ({"inverted": {"sparsity": 24.1, "accuracy": 97.8}}, "fractions in"),
        ({"rotated 90": {"sparsity": 0.24, "accuracy": 0.97}}, "not in the reference run"),
        ({"inverted": 0.24}, "give {'sparsity'"),
        ({}, "return {task name"),
        ([0.24, 0.97], "return {task name"),
    ],
    ids=[
        "nothing off",
        "init kept",
        "gap wider",
        "other seed",
        "percent",
        "unknown task",
        "bare number",
        "empty",
        "list",
    ],
)
def test_larger_tau_names_the_mistake(result, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_larger_tau(lambda: result, REFERENCE)
