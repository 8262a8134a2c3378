"""Notebook 04's checks: the from-scratch answers pass, plausible wrong answers fail naming the mistake.

The "solution" classes below are what the notebook writes from scratch (not the package's code), so a
pass here means two independent implementations agree given the same weights.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from cltoolkit import checks
from cltoolkit.checks import hypernet as hn_checks
from cltoolkit.hypernet import HyperNetwork, TargetMLP, lookahead_delta, select_by_entropy

# ----------------------------------------------------------------------------------------------
# The notebook's from-scratch answers
# ----------------------------------------------------------------------------------------------


def _trunk(widths):
    return nn.Sequential(*[m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), nn.ReLU())])


class TinyHyperNet(nn.Module):
    def __init__(self, target_shapes, num_tasks, emb_dim=4, hidden=(16,)):
        super().__init__()
        self.target_shapes = [tuple(s) for s in target_shapes]
        self.embeddings = nn.Parameter(torch.randn(num_tasks, emb_dim))
        self.trunk = _trunk([emb_dim, *hidden])
        self.heads = nn.ModuleList(nn.Linear(([emb_dim, *hidden])[-1], math.prod(s)) for s in self.target_shapes)

    def forward(self, embedding):
        features = self.trunk(embedding)
        return [head(features).reshape(s) for head, s in zip(self.heads, self.target_shapes)]


class TinyChunkedHyperNet(nn.Module):
    def __init__(self, target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim):
        super().__init__()
        self.target_shapes = [tuple(s) for s in target_shapes]
        self.numel = sum(math.prod(s) for s in self.target_shapes)
        self.embeddings = nn.Parameter(torch.randn(num_tasks, emb_dim))
        self.chunk_embeddings = nn.Parameter(torch.randn(-(-self.numel // chunk_size), chunk_emb_dim))
        self.trunk = _trunk([emb_dim + chunk_emb_dim, *hidden])
        self.head = nn.Linear(([emb_dim + chunk_emb_dim, *hidden])[-1], chunk_size)
        self.swap = self.cut_front = False

    def rows(self, embedding):
        e = embedding.expand(len(self.chunk_embeddings), -1)
        return torch.cat([self.chunk_embeddings, e] if self.swap else [e, self.chunk_embeddings], dim=1)

    def forward(self, embedding):
        flat = self.head(self.trunk(self.rows(embedding))).flatten()
        flat = flat[-self.numel :] if self.cut_front else flat[: self.numel]
        return [
            p.reshape(s) for p, s in zip(flat.split([math.prod(s) for s in self.target_shapes]), self.target_shapes)
        ]


def regularizer(generate, old_embeddings, targets, beta):
    generated = torch.stack([torch.cat([w.flatten() for w in generate(e.detach())]) for e in old_embeddings])
    return beta * (generated - targets).pow(2).sum() / len(targets)


def adam_lookahead(optimizer, grads):
    delta = {}
    for group in optimizer.param_groups:
        (b1, b2), lr, eps = group["betas"], group["lr"], group["eps"]
        for p in (p for p in group["params"] if p in grads):
            g, state = grads[p], optimizer.state.get(p, {})
            m = b1 * state["exp_avg"] + (1 - b1) * g if state else (1 - b1) * g
            v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g if state else (1 - b2) * g * g
            t = float(state.get("step", 0)) + 1
            delta[p] = -lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
    return delta


def compression_ratio(target_numel, num_tasks, emb_dim, hidden, chunk_size=None, chunk_emb_dim=None):
    chunk_dim = (chunk_emb_dim or emb_dim) if chunk_size else 0
    widths = [emb_dim + chunk_dim, *hidden]
    n = num_tasks * emb_dim + sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    if chunk_size:
        n += (widths[-1] + 1) * chunk_size + math.ceil(target_numel / chunk_size) * chunk_dim
    else:
        n += (widths[-1] + 1) * target_numel
    return n / target_numel


def test_the_from_scratch_answers_pass():
    assert checks.check_tiny_hypernet(TinyHyperNet) is True
    assert checks.check_chunked_hypernet(TinyChunkedHyperNet) is True
    assert checks.check_regularizer(regularizer) is True
    assert checks.check_adam_lookahead(adam_lookahead) is True
    assert checks.check_compression_prediction(compression_ratio) is True


def test_the_package_references_pass():
    assert checks.check_tiny_hypernet(hn_checks.PackageTinyHyperNet) is True
    assert checks.check_chunked_hypernet(hn_checks.PackageChunkedHyperNet) is True
    assert checks.check_regularizer(hn_checks.reference_regularizer) is True
    assert checks.check_adam_lookahead(lookahead_delta) is True
    assert checks.check_compression_prediction(hn_checks.reference_compression_ratio) is True
    assert checks.check_entropy_task_inference(select_by_entropy) is True


def test_reference_ratio_is_the_built_networks_ratio():
    for args in [(141, 3, 2, (10, 10), None, None), (6_360, 3, 16, (10, 10), 333, 8), (1_000, 4, 6, (20,), 64, None)]:
        numel, tasks, emb, hidden, chunk, chunk_dim = args
        hnet = HyperNetwork([(numel,)], tasks, emb_dim=emb, hidden=hidden, chunk_size=chunk, chunk_emb_dim=chunk_dim)
        assert hn_checks.reference_compression_ratio(*args) == pytest.approx(hnet.compression_ratio(), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Wrong answers, and the mistake each check names
# ----------------------------------------------------------------------------------------------


class NoReLU(TinyHyperNet):
    def __init__(self, *args):
        super().__init__(*args)
        self.trunk = nn.Sequential(*[m for m in self.trunk if isinstance(m, nn.Linear)])


class OneHiddenLayer(TinyHyperNet):
    def __init__(self, target_shapes, num_tasks, emb_dim, hidden):
        super().__init__(target_shapes, num_tasks, emb_dim, hidden[:1])


class EmbeddingsNotTrained(TinyHyperNet):
    def __init__(self, *args):
        super().__init__(*args)
        del self.embeddings
        self.register_buffer("embeddings", torch.zeros(args[1], args[2]))


class TransposedReshape(TinyHyperNet):
    def forward(self, embedding):
        features = self.trunk(embedding)
        return [
            h(features).reshape(s[::-1]).T if len(s) == 2 else h(features)
            for h, s in zip(self.heads, self.target_shapes)
        ]


@pytest.mark.parametrize(
    "cls, message",
    [
        (NoReLU, "Linear -> ReLU per hidden size"),
        (OneHiddenLayer, "1 nn.Linear layers, expected 2"),
        (EmbeddingsNotTrained, "no gradient reaches embeddings"),
        (TransposedReshape, "differs from cltoolkit's HyperNetwork"),
    ],
)
def test_tiny_hypernet_mistakes(cls, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_tiny_hypernet(cls)


class SwappedChunkInput(TinyChunkedHyperNet):
    def __init__(self, *args):
        super().__init__(*args)
        self.swap = True


class CutFromTheFront(TinyChunkedHyperNet):
    def __init__(self, *args):
        super().__init__(*args)
        self.cut_front = True


class FloorChunks(TinyChunkedHyperNet):
    def __init__(self, target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim):
        super().__init__(target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim)
        self.chunk_embeddings = nn.Parameter(torch.randn(self.numel // chunk_size, chunk_emb_dim))


@pytest.mark.parametrize(
    "cls, message",
    [
        (SwappedChunkInput, r"you concatenated \[c_i, e\(t\)\]"),
        (CutFromTheFront, "you kept the LAST"),
        (FloorChunks, "rounded UP"),
    ],
)
def test_chunked_hypernet_mistakes(cls, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_chunked_hypernet(cls)


def _generated(generate, old_embeddings, detach=True):
    return torch.stack(
        [torch.cat([w.flatten() for w in generate(e.detach() if detach else e)]) for e in old_embeddings]
    )


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda g, e, t, b: b * (_generated(g, e) - t).pow(2).sum(), "summed over the old tasks without dividing"),
        (lambda g, e, t, b: b * (_generated(g, e) - t).pow(2).mean(), "averaged over the weights"),
        (lambda g, e, t, b: (_generated(g, e) - t).pow(2).sum() / len(t), "beta is missing"),
        (lambda g, e, t, b: b * (_generated(g, e) - t).norm(dim=1).sum() / len(t), "the norm is not squared"),
        (lambda g, e, t, b: b * (_generated(g, e, False) - t).pow(2).sum() / len(t), "old embeddings"),
        (lambda g, e, t, b: regularizer(g, e, t, b).detach().item(), "scalar tensor"),
        (lambda g, e, t, b: regularizer(g, e, t, b).detach(), "no gradient reaches the hypernetwork"),
    ],
)
def test_regularizer_mistakes(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_regularizer(fn)


def _no_bias_correction(optimizer, grads):
    out = {}
    for group in optimizer.param_groups:
        (b1, b2), lr, eps = group["betas"], group["lr"], group["eps"]
        for p in (p for p in group["params"] if p in grads):
            g, state = grads[p], optimizer.state.get(p, {})
            m = b1 * state["exp_avg"] + (1 - b1) * g if state else (1 - b1) * g
            v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g if state else (1 - b2) * g * g
            out[p] = -lr * m / (v.sqrt() + eps)
    return out


def _old_step_count(optimizer, grads):
    out = {}
    for group in optimizer.param_groups:
        (b1, b2), lr, eps = group["betas"], group["lr"], group["eps"]
        for p in (p for p in group["params"] if p in grads):
            g, state = grads[p], optimizer.state.get(p, {})
            m = b1 * state["exp_avg"] + (1 - b1) * g if state else (1 - b1) * g
            v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g if state else (1 - b2) * g * g
            t = float(state.get("step", 0))
            out[p] = -lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
    return out


def _in_place_state(optimizer, grads):
    for group in optimizer.param_groups:
        b1, _ = group["betas"]
        for p in (p for p in group["params"] if p in grads):
            if optimizer.state.get(p):
                optimizer.state[p]["exp_avg"].mul_(b1).add_((1 - b1) * grads[p])
    return adam_lookahead(optimizer, grads)


def _takes_the_step(optimizer, grads):
    before = {p: p.detach().clone() for p in grads}
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = grads.get(p)
    optimizer.step()
    return {p: p.detach() - before[p] for p in grads}


def _sgd(optimizer, grads):
    return {p: -group["lr"] * grads[p] for group in optimizer.param_groups for p in group["params"] if p in grads}


def _every_parameter(optimizer, grads):
    out = adam_lookahead(optimizer, grads)
    for group in optimizer.param_groups:
        for p in group["params"]:
            out.setdefault(p, torch.zeros_like(p))
    return out


@pytest.mark.parametrize(
    "fn, message",
    [
        (_no_bias_correction, "bias correction is missing"),
        (lambda o, g: {p: -d for p, d in adam_lookahead(o, g).items()}, "the sign"),
        (_old_step_count, "inf/NaN: the step count t starts at 1"),
        (_in_place_state, "changed the optimizer's state"),
        (_takes_the_step, "changed the parameters"),
        (_sgd, "plain SGD's step"),
        (_every_parameter, "parameters without a gradient"),
        (lambda o, g: list(adam_lookahead(o, g).values()), "return a dict"),
    ],
)
def test_lookahead_mistakes(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_adam_lookahead(fn)


def test_lookahead_names_the_step_count_once_adam_has_state():
    """With state, t instead of t + 1 is finite but wrong: the hint names the step count."""
    params, opt, grads = hn_checks._adam_case(seed=1, lr=0.01, betas=(0.9, 0.999), eps=1e-8, steps=3)
    p = next(iter(grads))
    wrong = _old_step_count(opt, grads)[p]
    assert "the step count" in hn_checks._lookahead_hint(
        wrong, hn_checks._real_step(params, opt, grads)[p], p, opt, grads[p]
    )


def _ratio_with(**drop):
    return lambda *args: hn_checks._count(*args, **drop) / args[0]


@pytest.mark.parametrize(
    "fn, message",
    [
        (_ratio_with(chunk_embeddings=True), "the chunk embeddings are missing"),
        (_ratio_with(task_embeddings=True), "the task embeddings are missing"),
        (_ratio_with(biases=True), "the biases are missing"),
        (_ratio_with(floor=True), "K is rounded down"),
        (_ratio_with(trunk_input=True), r"the trunk's input is \[e\(t\), c_i\]"),
        (_ratio_with(head_per_chunk=True), "ONE head shared by all chunks"),
        (_ratio_with(chunk_dim_is_emb_dim=True), "chunk_emb_dim numbers each"),
        (lambda *args: 1 / compression_ratio(*args), "upside down"),
        (lambda *args: 1.0, "count every parameter"),
    ],
)
def test_compression_prediction_mistakes(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_compression_prediction(fn)


@pytest.mark.parametrize(
    "fn, message",
    [
        (hn_checks.predictive_argmax, "largest logit"),
        (lambda logits: hn_checks._entropy(logits).argmax(0), "HIGHEST entropy"),
        (lambda logits: hn_checks._entropy(logits).argmin(1), "shape"),
    ],
)
def test_entropy_mistakes(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_entropy_task_inference(fn)


def test_load_package_weights_names_what_is_missing():
    hnet = HyperNetwork(TargetMLP(4, (5,), 3).target_shapes, 2, emb_dim=2, hidden=(8,))
    with pytest.raises(AssertionError, match="no attribute `embeddings`"):
        hn_checks.load_package_weights(nn.Module(), hnet)
    mine = TinyHyperNet(hnet.target_shapes, 3, 2, (8,))
    with pytest.raises(AssertionError, match=r"`embeddings` has shape \(3, 2\), expected \(2, 2\)"):
        hn_checks.load_package_weights(mine, hnet)


def test_the_notebooks_lookahead_regulariser_equals_the_package():
    """The regulariser at Θ_h + ΔΘ_h, built from scratch, equals HyperNetwork.output_regularizer(delta=...)."""
    torch.manual_seed(0)
    target = TargetMLP(1, (10, 10), 1)
    hnet = HyperNetwork(target.target_shapes, 3, emb_dim=2, hidden=(10, 10))
    tiny = hn_checks.load_package_weights(TinyHyperNet(target.target_shapes, 3, 2, (10, 10)), hnet)
    stored = hnet.store_targets([0, 1])
    with torch.no_grad():
        for model in (hnet, tiny):
            for p in model.heads.parameters():
                p.add_(0.01)
    x, y = torch.randn(16, 1), torch.randn(16, 1)
    results = []
    for model, weights_of in ((hnet, lambda: hnet(2)), (tiny, lambda: tiny(tiny.embeddings[2]))):
        shared = [(n, p) for n, p in model.named_parameters() if "embeddings" not in n or "chunk" in n]
        optimizer = torch.optim.Adam([p for _, p in shared], lr=0.01)
        loss = torch.nn.functional.mse_loss(target(x, weights_of()), y)
        grads = torch.autograd.grad(loss, [p for _, p in shared], allow_unused=True)
        step = adam_lookahead(optimizer, {p: g for (_, p), g in zip(shared, grads) if g is not None})
        delta = {n: step[p] for n, p in shared if p in step}
        if model is hnet:
            results.append(hnet.output_regularizer(stored, 0.5, delta=delta))
        else:
            shifted = {n: p + delta[n] for n, p in shared if n in delta}
            generate = lambda e, s=shifted: torch.func.functional_call(tiny, s, (e,))  # noqa: E731
            results.append(regularizer(generate, tiny.embeddings[:2], torch.stack([stored[0], stored[1]]), 0.5))
    assert torch.allclose(results[0], results[1], rtol=1e-5), results
    assert results[0] > 0
    # and the look-ahead changes the value (a no-op look-ahead would not)
    assert not torch.allclose(results[0], hnet.output_regularizer(stored, 0.5), rtol=1e-4)


def test_checks_leave_the_learners_objects_usable():
    """A check must not keep the learner's class from being used afterwards (no global state changed)."""
    before = torch.get_rng_state()
    checks.check_tiny_hypernet(TinyHyperNet)
    torch.set_rng_state(before)
    tiny = TinyHyperNet([(3, 2), (3,)], 2, 2, (4,))
    assert [tuple(w.shape) for w in tiny(tiny.embeddings[0])] == [(3, 2), (3,)]
    copy.deepcopy(tiny)
