"""Checks for notebook 04 (task-conditioned hypernetworks).

The from-scratch objects are compared with :mod:`cltoolkit.hypernet` the way two independent
implementations are: the package's weights are copied into the learner's module
(:func:`load_package_weights`) and both must then generate the same target weights.

==================================  ================================================================
check                               the learner's code
==================================  ================================================================
``check_tiny_hypernet``             ``cls(target_shapes, num_tasks, emb_dim, hidden)``: a full
                                    hypernetwork from scratch (``embeddings``, ``trunk``, ``heads``)
``check_chunked_hypernet``          ``cls(target_shapes, num_tasks, emb_dim, hidden, chunk_size,
                                    chunk_emb_dim)``: a chunked one (``chunk_embeddings``, ``head``)
``check_functional_forward``        ``fn(x, weights) -> logits`` for a ReLU MLP given its weights
``check_regularizer``               ``fn(generate, old_embeddings, targets, beta) -> scalar``: the
                                    output regulariser against any generator (exercise)
``check_adam_lookahead``            ``fn(optimizer, grads) -> {param: step}``: the step Adam would
                                    take, without taking it (ΔΘ_h; exercise)
``check_compression_prediction``    ``fn(target_numel, num_tasks, emb_dim, hidden, chunk_size,
                                    chunk_emb_dim) -> float``: the ratio from the sizes (exercise)
``check_entropy_task_inference``    ``fn(logits (T, N, C)) -> task ids (N,)`` (exercise)
``check_full_hypernet``             ``fn(hnet, embedding)``: a generator written on a package
                                    ``HyperNetwork``'s own trunk and heads (earlier edition)
``check_output_regularizer``        ``fn(hnet, targets, beta)`` on a package ``HyperNetwork``
                                    (earlier edition)
``check_compression_ratio``         ``fn(hnet) -> float`` on a built hypernetwork (earlier edition)
==================================  ================================================================

Reference answers the notebook falls back on while an exercise is not done yet:
:func:`reference_regularizer`, :func:`reference_lookahead` (the package's ``lookahead_delta``),
:func:`reference_compression_ratio` and the package's :func:`~cltoolkit.hypernet.select_by_entropy`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..hypernet import HyperNetwork, TargetMLP, estimate_hypernet_bytes, lookahead_delta, select_by_entropy

__all__ = [
    "check_adam_lookahead",
    "check_chunked_hypernet",
    "check_compression_prediction",
    "check_compression_ratio",
    "check_entropy_task_inference",
    "check_full_hypernet",
    "check_functional_forward",
    "check_output_regularizer",
    "check_regularizer",
    "check_tiny_hypernet",
    "PackageChunkedHyperNet",
    "PackageTinyHyperNet",
    "load_package_weights",
    "reference_compression_ratio",
    "reference_lookahead",
    "reference_regularizer",
]


# ----------------------------------------------------------------------------------------------
# Copying the package's weights into a from-scratch module
# ----------------------------------------------------------------------------------------------


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _copy_into(name: str, mine: torch.Tensor, theirs: torch.Tensor) -> None:
    if tuple(mine.shape) != tuple(theirs.shape):
        raise AssertionError(f"`{name}` has shape {tuple(mine.shape)}, expected {tuple(theirs.shape)}")
    mine.copy_(theirs)


@torch.no_grad()
def load_package_weights(mine: nn.Module, hnet: HyperNetwork) -> nn.Module:
    """Copy every parameter of the package's ``hnet`` into the learner's from-scratch module ``mine``.

    ``mine`` needs ``embeddings`` (num_tasks, emb_dim), a ``trunk`` whose ``nn.Linear`` layers come in
    the package's order, and ``heads`` (one ``nn.Linear`` per target tensor; full) or ``head`` and
    ``chunk_embeddings`` (num_chunks, chunk_emb_dim) (chunked). AssertionError naming what is missing
    or has the wrong shape. Returns ``mine``.
    """
    for attr in ("embeddings", "trunk"):
        if not hasattr(mine, attr):
            raise AssertionError(f"your hypernetwork has no attribute `{attr}` (see the class in the notebook)")
    _copy_into("embeddings", mine.embeddings, hnet.embeddings())
    layers, package_layers = _linears(mine.trunk), _linears(hnet.trunk)
    if len(layers) != len(package_layers):
        raise AssertionError(
            f"your trunk has {len(layers)} nn.Linear layers, expected {len(package_layers)} (one per hidden size "
            f"{hnet.hidden})"
        )
    if hnet.chunked:
        for attr in ("chunk_embeddings", "head"):
            if not hasattr(mine, attr):
                raise AssertionError(f"your chunked hypernetwork has no attribute `{attr}`")
        if tuple(mine.chunk_embeddings.shape) != tuple(hnet.chunk_embeddings.shape):
            k = hnet.num_chunks
            raise AssertionError(
                f"`chunk_embeddings` has shape {tuple(mine.chunk_embeddings.shape)}, expected "
                f"{tuple(hnet.chunk_embeddings.shape)}: K = ceil({hnet.target_numel} / {hnet.chunk_size}) = {k} "
                "chunks (rounded UP, so that the last, partly used chunk exists)"
            )
        mine.chunk_embeddings.copy_(hnet.chunk_embeddings)
        pairs = [*zip(layers, package_layers), (mine.head, hnet.heads[0])]
    else:
        if not hasattr(mine, "heads") or len(mine.heads) != len(hnet.heads):
            got = len(mine.heads) if hasattr(mine, "heads") else "no"
            raise AssertionError(
                f"your hypernetwork has {got} heads, expected {len(hnet.heads)} (one per target tensor)"
            )
        pairs = [*zip(layers, package_layers), *zip(mine.heads, hnet.heads)]
    for k, (a, b) in enumerate(pairs):
        _copy_into(f"linear layer {k} (trunk layers first, then the head(s)) .weight", a.weight, b.weight)
        _copy_into(f"linear layer {k} .bias", a.bias, b.bias)
    return mine


class PackageTinyHyperNet(nn.Module):
    """The package's full :class:`HyperNetwork` behind the from-scratch interface (``embeddings``, ``trunk``,
    ``heads``; ``forward(embedding)``): the reference answer :func:`check_tiny_hypernet` accepts."""

    def __init__(self, target_shapes, num_tasks: int, emb_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.hnet = HyperNetwork(target_shapes, num_tasks, emb_dim=emb_dim, hidden=hidden)
        self.embeddings = nn.Parameter(self.hnet.embeddings().detach().clone())
        self.trunk, self.heads = self.hnet.trunk, self.hnet.heads

    def forward(self, embedding: torch.Tensor) -> list[torch.Tensor]:
        return self.hnet(embedding)


class PackageChunkedHyperNet(PackageTinyHyperNet):
    """The package's chunked :class:`HyperNetwork` behind the from-scratch interface (``chunk_embeddings``,
    ``head``): the reference answer :func:`check_chunked_hypernet` accepts."""

    def __init__(self, target_shapes, num_tasks, emb_dim, hidden, chunk_size: int, chunk_emb_dim: int):
        nn.Module.__init__(self)
        self.hnet = HyperNetwork(
            target_shapes, num_tasks, emb_dim=emb_dim, hidden=hidden, chunk_size=chunk_size, chunk_emb_dim=chunk_emb_dim
        )
        self.embeddings = nn.Parameter(self.hnet.embeddings().detach().clone())
        self.trunk, self.head, self.chunk_embeddings = self.hnet.trunk, self.hnet.heads[0], self.hnet.chunk_embeddings


def _build(cls, what: str, args: tuple, case: str):
    try:
        return cls(*args)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(f"{case}: {what}{args} raised {type(exc).__name__}: {exc}") from exc


def _generate(mine: nn.Module, emb: torch.Tensor, case: str) -> list[torch.Tensor]:
    out = mine(emb)
    if isinstance(out, torch.Tensor) or not hasattr(out, "__len__"):
        raise AssertionError(f"{case}: forward should return a list of tensors (one per target shape), got {type(out)}")
    return list(out)


def _compare_generated(got, expected, case: str, hint: str) -> None:
    if len(got) != len(expected):
        raise AssertionError(f"{case}: {len(got)} tensors, expected {len(expected)} (one per target shape)")
    for k, (g, e) in enumerate(zip(got, expected)):
        if tuple(g.shape) != tuple(e.shape):
            raise AssertionError(
                f"{case}: tensor {k} has shape {tuple(g.shape)}, expected {tuple(e.shape)}. Hint: reshape each part "
                "to its target shape"
            )
        if not torch.allclose(g, e, atol=1e-5, rtol=1e-4):
            raise AssertionError(
                f"{case}: tensor {k} differs from cltoolkit's HyperNetwork with the same weights (max error "
                f"{(g - e).abs().max():.2e}). Hint: {hint}"
            )


# ----------------------------------------------------------------------------------------------
# From-scratch hypernetworks (full and chunked)
# ----------------------------------------------------------------------------------------------

_FULL_CASES = [
    ("a 4-5-3 target, 3 tasks, emb_dim 2, hidden (8,)", [(5, 4), (5,), (3, 5), (3,)], 3, 2, (8,)),
    ("a 6-7-4-2 target, 2 tasks, emb_dim 3, hidden (5, 6)", [(7, 6), (7,), (4, 7), (4,), (2, 4), (2,)], 2, 3, (5, 6)),
    (
        "the toy target 1-10-10-1, 3 tasks, emb_dim 2, hidden (10, 10)",
        TargetMLP(1, (10, 10), 1).target_shapes,
        3,
        2,
        (10, 10),
    ),
]


def check_tiny_hypernet(cls: Callable) -> None:
    """``cls(target_shapes, num_tasks, emb_dim, hidden)``: a full hypernetwork written from scratch.

    For each case the package's :class:`HyperNetwork` of the same sizes is built, its weights are
    copied into yours (:func:`load_package_weights`), and both generate weights for every task
    embedding and a random one; they must agree. Then a gradient must reach the embedding.
    """
    n = 0
    for case, shapes, num_tasks, emb_dim, hidden in _FULL_CASES:
        torch.manual_seed(n)
        hnet = HyperNetwork(shapes, num_tasks, emb_dim=emb_dim, hidden=hidden)
        mine = _build(cls, "TinyHyperNet", (shapes, num_tasks, emb_dim, hidden), case)
        load_package_weights(mine, hnet)
        for emb in [*hnet.embeddings().detach(), torch.randn(emb_dim)]:
            with torch.no_grad():
                got = _generate(mine, emb, case)
            _compare_generated(
                got,
                hnet(emb),
                case,
                "features = trunk(e) with Linear -> ReLU per hidden size; tensor k = heads[k](features), reshaped",
            )
            n += 1
        mine.zero_grad()
        sum(w.sum() for w in _generate(mine, mine.embeddings[0], case)).backward()
        grad = mine.embeddings.grad
        if grad is None or not grad[0].any():
            raise AssertionError(
                f"{case}: no gradient reaches embeddings[0]; the embeddings must be a trainable nn.Parameter"
            )
    print(f"✓ your TinyHyperNet generates the same weights as cltoolkit's HyperNetwork in {n} cases (same weights)")


_CHUNK_CASES = [
    (
        "a 4-5-3 target (43 weights), chunks of 10 (the last chunk is cut)",
        [(5, 4), (5,), (3, 5), (3,)],
        3,
        2,
        (8,),
        10,
        3,
    ),
    ("a 4-5-3 target (43 weights), one chunk of 43", [(5, 4), (5,), (3, 5), (3,)], 2, 2, (8,), 43, 2),
    (
        "a 6-7-4-2 target (95 weights), chunks of 7, hidden (5, 6)",
        [(7, 6), (7,), (4, 7), (4,), (2, 4), (2,)],
        2,
        3,
        (5, 6),
        7,
        4,
    ),
]


def _chunk_variant(hnet: HyperNetwork, emb: torch.Tensor, swap: bool = False, cut_front: bool = False):
    """What the package would generate with [c_i, e] instead of [e, c_i], or keeping the LAST numel outputs."""
    k = hnet.num_chunks
    e = emb.unsqueeze(0).expand(k, -1)
    inputs = torch.cat([hnet.chunk_embeddings, e] if swap else [e, hnet.chunk_embeddings], dim=1)
    out = hnet.heads[0](hnet.trunk(inputs)).reshape(-1)
    out = out[-hnet.target_numel :] if cut_front else out[: hnet.target_numel]
    return hnet.split_flat(out)


def check_chunked_hypernet(cls: Callable) -> None:
    """``cls(target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim)``: chunking from scratch.

    The trunk reads ``[e(t), c_i]`` for each of the K = ceil(|Θ_trgt| / C) chunk embeddings, one
    ``head`` outputs C numbers per chunk, the K·C numbers are concatenated, cut to |Θ_trgt| and split
    into the target shapes. Compared with the package's chunked :class:`HyperNetwork` given the same weights.
    """
    n = 0
    for case, shapes, num_tasks, emb_dim, hidden, chunk, chunk_dim in _CHUNK_CASES:
        torch.manual_seed(n)
        hnet = HyperNetwork(
            shapes, num_tasks, emb_dim=emb_dim, hidden=hidden, chunk_size=chunk, chunk_emb_dim=chunk_dim
        )
        args = (shapes, num_tasks, emb_dim, hidden, chunk, chunk_dim)
        mine = _build(cls, "TinyChunkedHyperNet", args, case)
        load_package_weights(mine, hnet)
        for emb in [*hnet.embeddings().detach(), torch.randn(emb_dim)]:
            with torch.no_grad():
                got = _generate(mine, emb, case)
                expected = hnet(emb)
                hint = (
                    "row i of the trunk's input is [e(t), c_i]; head(trunk(rows)) is (K, C): flatten, keep the first "
                )
                hint += "|Θ_trgt| numbers, split them into the target shapes in order"
                if len(got) == len(expected) and all(g.shape == e.shape for g, e in zip(got, expected)):
                    for variant, text in (
                        (dict(swap=True), "you concatenated [c_i, e(t)]; the package reads [e(t), c_i]"),
                        (dict(cut_front=True), "you kept the LAST |Θ_trgt| outputs; keep the first ones"),
                    ):
                        other = _chunk_variant(hnet, emb, **variant)
                        if all(torch.allclose(g, o, atol=1e-5) for g, o in zip(got, other)) and not all(
                            torch.allclose(o, e, atol=1e-5) for o, e in zip(other, expected)
                        ):
                            hint = text
            _compare_generated(got, expected, case, hint)
            n += 1
    print(f"✓ your TinyChunkedHyperNet generates the same weights as cltoolkit's chunked HyperNetwork in {n} cases")


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
    print("✓ your functional forward matches TargetMLP (torch.func.functional_call) on 2 networks")


# ----------------------------------------------------------------------------------------------
# The output regulariser and the look-ahead
# ----------------------------------------------------------------------------------------------


def reference_regularizer(
    generate: Callable[[torch.Tensor], Sequence[torch.Tensor]],
    old_embeddings: torch.Tensor,
    targets: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """β / n_old · Σ_t ‖ flat(generate(e_t)) − targets[t] ‖² with the old embeddings held fixed.

    ``generate``: embedding (emb_dim,) → list of weight tensors (a hypernetwork, possibly at
    Θ_h + ΔΘ_h); ``old_embeddings`` (n_old, emb_dim); ``targets`` (n_old, |Θ_trgt|).
    """
    generated = torch.stack([torch.cat([w.flatten() for w in generate(e.detach())]) for e in old_embeddings])
    return beta * (generated - targets).pow(2).sum() / len(targets)


def check_regularizer(fn: Callable) -> None:
    """``fn(generate, old_embeddings, targets, beta)``: the output regulariser, compared with the package.

    Cases: package hypernetworks with 1 and 2 old tasks, right after the targets were stored (must be
    0) and after the weights moved, β 0.3 and 2; ``generate`` is a plain function (your code may only
    call it). The gradient must reach Θ_h and must not reach the old embeddings.
    """
    n = 0
    for name, hnet, _ in _hnets():
        for n_old in range(1, hnet.num_tasks):
            torch.manual_seed(n_old)
            hnet_ = copy.deepcopy(hnet)
            old = list(range(n_old))
            stored = hnet_.store_targets(old)
            targets = torch.stack([stored[t] for t in old])
            embeddings = torch.stack([hnet_.embedding(t) for t in old])  # still attached to the parameters
            generate = lambda e, h=hnet_: h(e)  # noqa: E731 (a plain function, not the module)
            case = f"{name}, {n_old} old task{'s' * (n_old > 1)}"
            zero = fn(generate, embeddings, targets, 0.3)
            if not isinstance(zero, torch.Tensor) or zero.ndim != 0:
                raise AssertionError(f"{case}: return a scalar tensor (so it can be backpropagated), got {zero!r}")
            if abs(float(zero.detach())) > 1e-8:
                raise AssertionError(
                    f"{case}: right after the targets were stored the regulariser should be 0, got {float(zero):.3g}"
                )
            with torch.no_grad():
                for p in hnet_.heads.parameters():
                    p.add_(0.05 * torch.randn_like(p))
            for beta in (0.3, 2.0):
                got = fn(generate, embeddings, targets, beta)
                expected = hnet_.output_regularizer(stored, beta)
                if not isinstance(got, torch.Tensor) or got.ndim != 0:
                    raise AssertionError(f"{case}: return a scalar tensor (so it can be backpropagated), got {got!r}")
                if torch.allclose(got.detach(), expected, rtol=1e-4):
                    n += 1
                    continue
                sq = (expected / beta * n_old).item()  # the summed squared error over old tasks
                with torch.no_grad():
                    norms = sum((hnet_(t, flat=True) - stored[t]).norm().item() for t in old)
                mistakes = {
                    "you summed over the old tasks without dividing by their number": beta * sq,
                    "you averaged over the weights (the paper sums the squares over every generated weight)": beta
                    * sq
                    / (n_old * hnet_.target_numel),
                    "beta is missing": sq / n_old,
                    "the norm is not squared (use the squared distance, summed over the weights)": beta * norms / n_old,
                }
                hint = "sum the squared differences over all generated weights, average over the old tasks, times beta"
                for text, value in mistakes.items():
                    if math.isclose(got.item(), value, rel_tol=1e-4):
                        hint = text
                raise AssertionError(
                    f"{case}, beta={beta}: got {got.item():.6g}, expected {expected.item():.6g}. Hint: {hint}"
                )
            hnet_.zero_grad()
            value = fn(generate, embeddings, targets, 1.0)
            if not value.requires_grad:
                raise AssertionError(
                    f"{case}: no gradient reaches the hypernetwork's weights: your result is detached from them "
                    "(no .detach(), .item() or torch.no_grad() on the generated weights; detach only the e_t)"
                )
            value.backward()
            if hnet_.heads[0].weight.grad is None or not hnet_.heads[0].weight.grad.any():
                raise AssertionError(
                    f"{case}: no gradient reaches the hypernetwork's weights (did you detach the output?)"
                )
            leaked = [
                t for t in old if hnet_.task_embeddings[t].grad is not None and hnet_.task_embeddings[t].grad.any()
            ]
            if leaked:
                raise AssertionError(
                    f"{case}: gradient reaches the old embeddings {leaked}; they must stay fixed (.detach() each e_t)"
                )
    print(f"✓ your regulariser matches HyperNetwork.output_regularizer in {n} cases and keeps the old e(t) fixed")


def reference_lookahead(optimizer: torch.optim.Optimizer, grads: dict) -> dict:
    """The package's :func:`~cltoolkit.hypernet.lookahead_delta`: the answer :func:`check_adam_lookahead` accepts."""
    return lookahead_delta(optimizer, grads)


def _adam_case(seed: int, lr: float, betas: tuple, eps: float, steps: int, groups: bool = False):
    """Parameters, an Adam that has taken ``steps`` steps on them, and the next gradients (some params left out)."""
    g = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.randn(4, 3, generator=g)), nn.Parameter(torch.randn(5, generator=g))]
    params.append(nn.Parameter(torch.randn(2, generator=g)))
    if groups:
        opt = torch.optim.Adam(
            [{"params": params[:2]}, {"params": params[2:], "lr": lr * 10}], lr=lr, betas=betas, eps=eps
        )
    else:
        opt = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    grads = {p: torch.randn(p.shape, generator=g) for p in params[:2]}  # the third gets no gradient
    return params, opt, grads


def _real_step(params, opt, grads) -> dict:
    """The change Adam's own ``step()`` makes, measured on a deep copy (nothing of the original changes)."""
    params_copy, opt_copy = copy.deepcopy((params, opt))
    before = [p.detach().clone() for p in params_copy]
    for p, q in zip(params, params_copy):
        q.grad = grads[p].clone() if p in grads else None
    opt_copy.step()
    return {p: q.detach() - b for p, q, b in zip(params, params_copy, before) if p in grads}


def _snapshot(params, opt):
    state = {
        id(p): {k: (v.clone() if torch.is_tensor(v) else v) for k, v in opt.state[p].items()}
        for p in params
        if p in opt.state
    }
    return [p.detach().clone() for p in params], state


def check_adam_lookahead(fn: Callable) -> None:
    """``fn(optimizer, grads) -> {param: step}``: the step ``torch.optim.Adam`` would take for ``grads``.

    ``grads`` maps some of the optimiser's parameters to gradients; the answer holds one step per
    parameter in ``grads`` (same shape), must equal what ``optimizer.step()`` would do with these
    gradients, and must change neither the parameters nor the optimiser's state. Cases: a fresh Adam
    (no state yet: the first step), Adam after 3 and 20 steps, other betas/eps, two parameter groups.
    """
    cases = [
        (
            "a fresh Adam (lr 0.01, no state yet: this is its first step)",
            dict(seed=0, lr=0.01, betas=(0.9, 0.999), eps=1e-8, steps=0),
        ),
        ("Adam after 3 steps (lr 0.01)", dict(seed=1, lr=0.01, betas=(0.9, 0.999), eps=1e-8, steps=3)),
        (
            "Adam after 20 steps, betas (0.5, 0.9), eps 1e-3, lr 0.1",
            dict(seed=2, lr=0.1, betas=(0.5, 0.9), eps=1e-3, steps=20),
        ),
        (
            "two parameter groups (lr 0.001 and 0.01), after 2 steps",
            dict(seed=3, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, steps=2, groups=True),
        ),
    ]
    for case, kwargs in cases:
        params, opt, grads = _adam_case(**kwargs)
        expected = _real_step(params, opt, grads)
        before_params, before_state = _snapshot(params, opt)
        got = fn(opt, {p: g.clone() for p, g in grads.items()})
        after_params, after_state = _snapshot(params, opt)
        if not all(torch.equal(a, b) for a, b in zip(before_params, after_params)):
            raise AssertionError(
                f"{case}: your function changed the parameters; only compute the step (no optimizer.step())"
            )
        same_state = before_state.keys() == after_state.keys() and all(
            before_state[k].keys() == after_state[k].keys()
            and all(
                torch.equal(v, after_state[k][n]) if torch.is_tensor(v) else v == after_state[k][n]
                for n, v in before_state[k].items()
            )
            for k in before_state
        )
        if not same_state:
            raise AssertionError(
                f"{case}: your function changed the optimizer's state (exp_avg, exp_avg_sq or step); compute new "
                "moments in fresh tensors (m = beta1 * state['exp_avg'] + ...), do not update them in place"
            )
        if not isinstance(got, dict):
            raise AssertionError(f"return a dict {{parameter: step}}, got {type(got).__name__}")
        extra = [tuple(p.shape) for p in got if p not in grads]
        if extra:
            raise AssertionError(f"{case}: steps for parameters without a gradient {extra}; only those in `grads`")
        for k, p in enumerate(params):
            if p not in grads:
                continue
            if p not in got:
                raise AssertionError(f"{case}: no step for parameter {k} (shape {tuple(p.shape)})")
            step, want = torch.as_tensor(got[p]).detach(), expected[p]
            if step.shape != want.shape:
                raise AssertionError(
                    f"{case}: parameter {k}: step of shape {tuple(step.shape)}, expected {tuple(want.shape)}"
                )
            if torch.allclose(step, want, rtol=1e-4, atol=1e-6):
                continue
            hint = _lookahead_hint(step, want, p, opt, grads[p])
            raise AssertionError(
                f"{case}: parameter {k}: your step differs from Adam's (max error {(step - want).abs().max():.2e}; "
                f"first entries {step.flatten()[:3].tolist()} vs {want.flatten()[:3].tolist()}). Hint: {hint}"
            )
    print(f"✓ your look-ahead equals the step torch.optim.Adam takes in {len(cases)} cases, and changes nothing")


def _lookahead_hint(step, want, p, opt, g) -> str:
    group = next(gr for gr in opt.param_groups if any(q is p for q in gr["params"]))
    (b1, b2), lr, eps = group["betas"], group["lr"], group["eps"]
    state = opt.state.get(p, {})
    m = b1 * state["exp_avg"] + (1 - b1) * g if state else (1 - b1) * g
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g if state else (1 - b2) * g * g
    t = float(state.get("step", 0)) + 1
    close = lambda a: torch.allclose(step, a, rtol=1e-4, atol=1e-6)  # noqa: E731
    if not torch.isfinite(step).all():
        return "your step has inf/NaN: the step count t starts at 1 (state['step'] + 1; 1 when there is no state yet)"
    if close(-want):
        return "the sign: Adam moves AGAINST the gradient (step = -lr * m_hat / (sqrt(v_hat) + eps))"
    if close(-lr * m / (v.sqrt() + eps)):
        return "bias correction is missing: m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)"
    if state and close(-lr * (m / (1 - b1 ** (t - 1))) / ((v / (1 - b2 ** (t - 1))).sqrt() + eps)):
        return "the step count: Adam's next step is t = state['step'] + 1 (the bias correction uses the new t)"
    if state and close(
        -lr * (state["exp_avg"] / (1 - b1 ** (t - 1))) / ((state["exp_avg_sq"] / (1 - b2 ** (t - 1))).sqrt() + eps)
    ):
        return "you used the stored moments without the new gradient: m = beta1 * exp_avg + (1 - beta1) * g (and v)"
    if close(-lr * g):
        return "that is plain SGD's step; the look-ahead is the step of the optimiser actually used (Adam)"
    return (
        "m = b1 * exp_avg + (1 - b1) * g, v = b2 * exp_avg_sq + (1 - b2) * g², t = step + 1, "
        "step = -lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)"
    )


# ----------------------------------------------------------------------------------------------
# The compression ratio, predicted from the sizes
# ----------------------------------------------------------------------------------------------


def _count(numel, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim, **drop) -> int:
    """|Θ_h| + all embeddings from the sizes, with optional mistakes switched on by ``drop``."""
    chunk_dim = (chunk_emb_dim or emb_dim) if chunk_size else 0
    if drop.get("chunk_dim_is_emb_dim") and chunk_size:
        chunk_dim = emb_dim
    bias = 0 if drop.get("biases") else 1
    in_dim = emb_dim + (0 if drop.get("trunk_input") else chunk_dim)
    widths = [in_dim, *hidden]
    trunk = sum((a + bias) * b for a, b in zip(widths, widths[1:]))
    if chunk_size:
        k = numel // chunk_size if drop.get("floor") else -(-numel // chunk_size)
        heads = (widths[-1] + bias) * chunk_size * (k if drop.get("head_per_chunk") else 1)
        chunk_embeddings = 0 if drop.get("chunk_embeddings") else k * chunk_dim
    else:
        heads, chunk_embeddings = (widths[-1] + bias) * numel, 0
    tasks = 0 if drop.get("task_embeddings") else num_tasks * emb_dim
    return tasks + chunk_embeddings + trunk + heads


def reference_compression_ratio(
    target_numel: int,
    num_tasks: int,
    emb_dim: int,
    hidden: Sequence[int],
    chunk_size: int | None = None,
    chunk_emb_dim: int | None = None,
) -> float:
    """(|Θ_h| + all embeddings) / |Θ_trgt| from the sizes alone (the package's parameter count, nothing allocated)."""
    n_params = estimate_hypernet_bytes([(target_numel,)], num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim) // 4
    return n_params / target_numel


_RATIO_MISTAKES = [
    (
        dict(chunk_embeddings=True),
        "the chunk embeddings are missing: K = ceil(|Θ_trgt| / C) of them, chunk_emb_dim each",
    ),
    (dict(task_embeddings=True), "the task embeddings are missing: num_tasks × emb_dim numbers, stored too"),
    (dict(biases=True), "the biases are missing: a Linear(a, b) has (a + 1) * b parameters"),
    (dict(floor=True), "K is rounded down: K = ceil(|Θ_trgt| / C) chunks, the last one partly used"),
    (dict(trunk_input=True), "the trunk's input is [e(t), c_i]: emb_dim + chunk_emb_dim numbers, not emb_dim"),
    (dict(head_per_chunk=True), "there is ONE head shared by all chunks, not one per chunk"),
    (dict(chunk_dim_is_emb_dim=True), "the chunk embeddings have chunk_emb_dim numbers each (not emb_dim)"),
]

_RATIO_CASES = [
    ("the toy regression (full, 141 target weights)", (141, 3, 2, (10, 10), None, None)),
    ("a 64-100-100-10 target, full, trunk (50, 50)", (17_610, 5, 16, (50, 50), None, None)),
    ("a 64-100-100-10 target, chunks of 1000, trunk (10, 10)", (17_610, 5, 16, (10, 10), 1000, 16)),
    ("a 64-50-50-10 target, chunks of 333 (not a divisor), chunk_emb_dim 8", (6_360, 3, 16, (10, 10), 333, 8)),
    ("chunk_emb_dim None (defaults to emb_dim), one hidden layer", (1_000, 4, 6, (20,), 64, None)),
    ("PermutedMNIST-10's 784-1000-1000-10 target, chunks of 78 000", (1_796_010, 10, 96, (10, 10), 78_000, 96)),
    ("no hidden layer at all, chunks of 100", (2_500, 2, 4, (), 100, 4)),
]


def check_compression_prediction(fn: Callable) -> None:
    """``fn(target_numel, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim) -> float``: the ratio from sizes.

    (|Θ_h| + all embeddings) / |Θ_trgt|, counted from the sizes before anything is built: task
    embeddings, the trunk's Linear layers (input emb_dim, plus chunk_emb_dim when chunked), the heads
    (one per tensor when full: together (h + 1)·|Θ_trgt|; one shared head of C outputs when chunked)
    and K = ceil(|Θ_trgt| / C) chunk embeddings. ``chunk_size=None`` is a full hypernetwork,
    ``chunk_emb_dim=None`` means emb_dim. Compared with the package's count in 7 cases.
    """
    for case, args in _RATIO_CASES:
        expected = reference_compression_ratio(*args)
        try:
            got = float(fn(*args))
        except NotImplementedError:
            raise
        except Exception as exc:
            raise AssertionError(
                f"{case}: your function raised {type(exc).__name__}: {exc} for arguments {args}"
            ) from exc
        if math.isclose(got, expected, rel_tol=1e-9):
            continue
        hint = "count every parameter: embeddings, every Linear's weight and bias, then divide by |Θ_trgt|"
        if math.isclose(got, 1 / expected, rel_tol=1e-9):
            hint = "the ratio is upside down: (hypernetwork parameters + embeddings) / target weights"
        for drop, text in _RATIO_MISTAKES:
            value = _count(*args, **drop) / args[0]
            if math.isclose(got, value, rel_tol=1e-9) and not math.isclose(value, expected, rel_tol=1e-9):
                hint = text
                break
        raise AssertionError(f"{case}, arguments {args}: got {got:.6g}, expected {expected:.6g}. Hint: {hint}")
    print(
        f"✓ your compression ratio equals the package's parameter count in {len(_RATIO_CASES)} cases (full and chunked)"
    )


# ----------------------------------------------------------------------------------------------
# Task inference by entropy
# ----------------------------------------------------------------------------------------------


def check_entropy_task_inference(fn: Callable) -> None:
    """``fn(logits)``: per input, the task (first axis) whose softmax output has the lowest entropy."""
    g = torch.Generator().manual_seed(0)
    cases = [
        ("a hand-made case", torch.tensor([[[4.0, 0.0], [0.1, 0.0]], [[0.2, 0.0], [0.0, -6.0]]]), [0, 1]),
        ("random logits, 3 tasks x 20 inputs x 10 classes", torch.randn(3, 20, 10, generator=g) * 3, None),
        ("a confident wrong class still counts as confident", torch.tensor([[[0.0, 9.0]], [[1.0, 0.0]]]), [0]),
        (
            "the largest logit is not the most confident output (entropy needs the whole softmax)",
            torch.tensor([[[5.0, 4.9, -9.0]], [[3.0, -9.0, -9.0]]]),
            [1],
        ),
    ]
    for name, logits, want in cases:
        got = torch.as_tensor(fn(logits.clone()))
        expected = select_by_entropy(logits)
        assert got.shape == expected.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        hint = (
            "entropy = -sum p log p of softmax(logits) over classes; take the argmin over the task axis (lowest "
            "entropy = most confident)"
        )
        if torch.equal(got.long(), predictive_argmax(logits)):
            hint = "you picked the task with the largest logit; the entropy looks at the whole softmax distribution"
        elif torch.equal(got.long(), _entropy(logits).argmax(0)):
            hint = "you picked the HIGHEST entropy; the most confident network has the lowest"
        assert torch.equal(got.long(), expected), (
            f"{name}: got {got.tolist()[:8]}, expected {expected.tolist()[:8]}. Hint: {hint}"
        )
        if want is not None:
            assert got.tolist() == want
    print(f"✓ your task inference picks the lowest-entropy task in {len(cases)} cases")


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def predictive_argmax(logits: torch.Tensor) -> torch.Tensor:
    """The task whose largest logit is largest (a plausible wrong answer): (T, N, C) → (N,)."""
    return logits.max(-1).values.argmax(0)


# ----------------------------------------------------------------------------------------------
# Earlier edition of the notebook (kept: a lecturer may still hand these out)
# ----------------------------------------------------------------------------------------------


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
            _compare_generated(got, expected, name, "features = trunk(e); tensor k = heads[k](features)")
    print("✓ your generator agrees with cltoolkit.hypernet.HyperNetwork on 4 cases")


def check_output_regularizer(fn: Callable) -> None:
    """``fn(hnet, targets, beta)``: β / |old| · Σ_t ‖h(e(t)) − targets[t]‖² on a package ``HyperNetwork``."""
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
    print("✓ your regulariser matches HyperNetwork.output_regularizer (and keeps e(t) fixed)")


def check_compression_ratio(fn: Callable) -> None:
    """``fn(hnet)``: (|Θ_h| + all embeddings) / |Θ_trgt| of a built hypernetwork."""
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
    print(f"✓ your compression ratio is right on {len(cases)} hypernetworks (full and chunked)")
