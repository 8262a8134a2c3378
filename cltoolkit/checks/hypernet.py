"""Checks for notebook 04 (task-conditioned hypernetworks).

=================================  ==================================================================
check                              the learner's code
=================================  ==================================================================
``check_full_hypernet``            ``fn(hnet, embedding) -> list of tensors``: the generation by hand
                                   from ``hnet.trunk`` and ``hnet.heads`` (the from-scratch agreement)
``check_functional_forward``       ``fn(x, weights) -> logits`` for a ReLU MLP given its weights
``check_output_regularizer``       ``fn(hnet, targets, beta) -> scalar`` (METHODS.md §3, no look-ahead)
``check_compression_ratio``        ``fn(hnet) -> float``
``check_entropy_task_inference``   ``fn(logits (T, N, C)) -> task ids (N,)``
=================================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..hypernet import HyperNetwork, TargetMLP, select_by_entropy

__all__ = [
    "check_compression_ratio",
    "check_entropy_task_inference",
    "check_full_hypernet",
    "check_functional_forward",
    "check_output_regularizer",
]


def _hnets() -> list[tuple[str, HyperNetwork, TargetMLP]]:
    torch.manual_seed(0)
    small = TargetMLP(4, (5,), 3)
    deep = TargetMLP(6, (7, 4), 2)
    return [
        ("a 4-5-3 target, hypernet hidden (8,)", HyperNetwork(small.target_shapes, 3, emb_dim=2, hidden=(8,)), small),
        (
            "a 6-7-4-2 target, hypernet hidden (5, 6)",
            HyperNetwork(deep.target_shapes, 2, emb_dim=3, hidden=(5, 6)),
            deep,
        ),
    ]


def _as_list(out, what: str) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor) or not hasattr(out, "__len__"):
        raise AssertionError(f"{what} should return a list of tensors (one per target shape), got {type(out).__name__}")
    return list(out)


def check_full_hypernet(fn: Callable) -> None:
    """``fn(hnet, embedding)`` computes h(e) with ``hnet.trunk`` / ``hnet.heads``; compared with ``hnet(e)``."""
    for name, hnet, _ in _hnets():
        for emb in (hnet.embedding(0).detach(), torch.randn(hnet.emb_dim)):
            with torch.no_grad():
                got = _as_list(fn(hnet, emb), "your generator")
                expected = hnet(emb)
            assert len(got) == len(expected), (
                f"{name}: {len(got)} tensors, expected {len(expected)} (one per target shape: {hnet.target_shapes})"
            )
            for k, (g, e) in enumerate(zip(got, expected)):
                assert tuple(g.shape) == tuple(e.shape), (
                    f"{name}: tensor {k} has shape {tuple(g.shape)}, expected {tuple(e.shape)}. Hint: head k outputs "
                    "prod(shape) numbers; reshape them with .reshape(shape)"
                )
                assert torch.allclose(g, e, atol=1e-5), (
                    f"{name}: tensor {k} differs from the package (max error {(g - e).abs().max():.2e}). Hint: "
                    "features = trunk(e); tensor k = heads[k](features)"
                )
    print("check_full_hypernet: your generator agrees with cltoolkit.hypernet.HyperNetwork on 4 cases.")


def check_functional_forward(fn: Callable) -> None:
    """``fn(x, weights)``: the ReLU MLP ``[W1, b1, W2, b2, ...]`` applied to flattened ``x``."""
    for name, hnet, target in _hnets():
        x = torch.randn(5, target.sizes[0])
        with torch.no_grad():
            weights = hnet(1)
            got = fn(x, weights)
            expected = target(x, weights)
        assert isinstance(got, torch.Tensor), f"your forward should return a tensor, got {type(got).__name__}"
        assert got.shape == expected.shape, f"{name}: output shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        assert torch.allclose(got, expected, atol=1e-5), (
            f"{name}: outputs differ (max error {(got - expected).abs().max():.2e}). Hint: F.linear(h, W, b) per "
            "layer, ReLU between layers but not after the last one"
        )
    print("check_functional_forward: your functional forward matches TargetMLP on 2 networks.")


def check_output_regularizer(fn: Callable) -> None:
    """``fn(hnet, targets, beta)``: β / |old| · Σ_t ‖h(e(t)) − targets[t]‖², gradients into Θ_h only."""
    for name, hnet, _ in _hnets():
        targets = hnet.store_targets(range(hnet.num_tasks - 1))
        zero = fn(hnet, targets, 0.3)
        assert abs(float(torch.as_tensor(zero).detach())) < 1e-8, (
            f"{name}: right after storing the targets the regulariser should be 0, got {float(zero):.3g}"
        )
        with torch.no_grad():
            for p in hnet.heads.parameters():
                p.add_(0.05 * torch.randn_like(p))
        for beta in (0.3, 2.0):
            got = fn(hnet, targets, beta)
            expected = hnet.output_regularizer(targets, beta)
            assert isinstance(got, torch.Tensor) and got.ndim == 0, (
                "return a scalar tensor (so it can be backpropagated)"
            )
            assert torch.allclose(got, expected, rtol=1e-4), (
                f"{name}, beta={beta}: got {got.item():.5g}, expected {expected.item():.5g}. Hint: sum the squared "
                "differences over all generated weights, average over the old tasks, multiply by beta"
            )
        hnet.zero_grad()
        fn(hnet, targets, 1.0).backward()
        assert hnet.heads[0].weight.grad is not None, f"{name}: no gradient reaches the hypernetwork's weights"
        old = [t for t in targets if hnet.task_embeddings[t].grad is not None and hnet.task_embeddings[t].grad.any()]
        assert not old, (
            f"{name}: gradient reaches the old embeddings {old}; they must stay fixed (use .detach() on e(t))"
        )
    print("check_output_regularizer: your regulariser matches HyperNetwork.output_regularizer (and keeps e(t) fixed).")


def check_compression_ratio(fn: Callable) -> None:
    """``fn(hnet)``: (|Θ_h| + all embeddings) / |Θ_trgt|."""
    cases = [("full", h) for _, h, _ in _hnets()]
    target = TargetMLP(64, (100, 100), 10)
    cases.append(("chunked", HyperNetwork(target.target_shapes, 5, emb_dim=8, hidden=(16,), chunk_size=400)))
    for name, hnet in cases:
        got = float(fn(hnet))
        expected = hnet.compression_ratio()
        assert abs(got - expected) < 1e-6 * max(1.0, expected), (
            f"{name} hypernetwork: got {got:.5g}, expected {expected:.5g}. Hint: count every parameter of the "
            "hypernetwork (trunk, heads, task and chunk embeddings) and divide by the number of target weights"
        )
    print(f"check_compression_ratio: correct on {len(cases)} hypernetworks (full and chunked).")


def check_entropy_task_inference(fn: Callable) -> None:
    """``fn(logits)``: per input, the task (first axis) whose softmax output has the lowest entropy."""
    g = torch.Generator().manual_seed(0)
    cases = [
        ("a hand-made case", torch.tensor([[[4.0, 0.0], [0.1, 0.0]], [[0.2, 0.0], [0.0, -6.0]]]), [0, 1]),
        ("random logits, 3 tasks x 20 inputs x 10 classes", torch.randn(3, 20, 10, generator=g) * 3, None),
        ("a confident wrong class still counts as confident", torch.tensor([[[0.0, 9.0]], [[1.0, 0.0]]]), [0]),
    ]
    for name, logits, want in cases:
        got = torch.as_tensor(fn(logits.clone()))
        expected = select_by_entropy(logits)
        assert got.shape == expected.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        assert torch.equal(got.long(), expected), (
            f"{name}: got {got.tolist()[:8]}, expected {expected.tolist()[:8]}. Hint: entropy = -sum p log p of "
            "softmax(logits) over classes; take the argmin over the task axis (lowest entropy = most confident)"
        )
        if want is not None:
            assert got.tolist() == want
    print("check_entropy_task_inference: your task inference picks the lowest-entropy task in 3 cases.")
