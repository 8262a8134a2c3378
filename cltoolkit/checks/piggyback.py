"""Checks for notebook 02 (Piggyback).

=================================  ==================================================================
check                              the learner's code
=================================  ==================================================================
``check_binarize``                 ``fn(scores, threshold) -> mask`` with a straight-through gradient
``check_ternarize``                ``fn(scores, threshold) -> mask`` in {-1, 0, 1}, identity gradient
``check_masked_layers``            classes ``Linear(layer)`` / ``Conv(layer)`` with ``.mask_scores``
``check_pack_mask``                ``fn(bool_tensor) -> uint8 tensor`` of ceil(n / 8) bytes
``check_sparsity_at_threshold``    ``fn(scores_dict, threshold) -> {layer: fraction of zeros}``
=================================  ==================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..piggyback import Binarize, MaskedConv2d, MaskedLinear, Ternarize, pack_mask, sparsity_at_threshold

__all__ = [
    "check_binarize",
    "check_masked_layers",
    "check_pack_mask",
    "check_sparsity_at_threshold",
    "check_ternarize",
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
