"""Continual learning with task-conditioned hypernetworks (von Oswald et al., ICLR 2020).

A hypernetwork ``h(e, Θ_h)`` outputs *all* weights of a target network. Each task ``t`` has a learned embedding
``e(t)``; the target network for task ``t`` runs with the weights ``h(e(t), Θ_h)`` and owns no weights itself. To keep
old tasks, the hypernetwork is asked to keep producing the same weights for the old embeddings (the *output
regulariser*), with targets stored before each task::

    L = L_task(h(e(T), Θ_h), data_T)
        + β / (T − 1) · Σ_{t<T} ‖ h(e(t), Θ_h*) − h(e(t), Θ_h + ΔΘ_h) ‖²

``Θ_h*`` is the hypernetwork before task ``T`` (its outputs are stored once as targets), ``ΔΘ_h`` an optional
look-ahead (the step the optimiser would take on ``L_task`` alone, detached). Old embeddings stay fixed. Names (paper
symbol → here): ``e(t)`` → ``task_embeddings[t]``, chunk embeddings ``c_i`` → ``chunk_embeddings``, ``Θ_trgt`` → the
list of generated tensors with ``target_shapes``, β → ``beta``, ΔΘ_h → ``delta``.

Without the task identity (CL2/CL3), :func:`infer_tasks` generates the weights of every learned task and picks, per
input, the task whose softmax output has the lowest entropy (HNET+ENT). Experiments (digit streams, configs, the toy
regression): :mod:`cltoolkit.experiments.hypernet`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from .config import check_fits_in_memory
from .errors import ConfigError
from .validate import Float, Int, IntTuple, OneOf

# --- Target networks: no weights of their own, ``forward(x, weights)`` ------------------------

_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU}  # target and hypernetwork


class TargetNetwork:
    """A network that runs with weights it is given (``torch.func.functional_call``).

    What a hypernetwork needs from it: ``target_shapes`` (its weight tensors' shapes, in order);
    ``forward(x, weights)``: ``x`` (batch, ...) and tensors with ``target_shapes`` → (batch, out);
    ``forward_batched(x, weights)``: each tensor with a leading P (P weight sets, e.g. points of an embedding grid) →
    (P, batch, out), all P networks at once with ``vmap``. ``module`` is a template on the ``meta`` device: it fixes
    the architecture, holds no memory, and its (fake) parameters are always replaced by the given weights.
    """

    def __init__(self, build_module):
        with torch.device("meta"):
            self.module: nn.Module = build_module()
        self.param_names = [name for name, _ in self.module.named_parameters()]
        self.target_shapes = [tuple(p.shape) for _, p in self.module.named_parameters()]
        if not self.target_shapes:
            raise ConfigError("a target network needs at least one weight tensor")
        self.num_weights = sum(math.prod(s) for s in self.target_shapes)  # |Θ_trgt|

    def check_weights(self, weights: Sequence[torch.Tensor], batched: bool = False) -> None:
        """ConfigError unless ``weights`` have ``target_shapes`` (after a leading P when ``batched``)."""
        shapes = [tuple(w.shape[1:] if batched else w.shape) for w in weights]
        if shapes != self.target_shapes:
            raise ConfigError(
                f"this target network needs weights of shapes {self.target_shapes}, got {shapes} "
                "(does the hypernetwork's target_shapes match the target network?)"
            )

    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """Outputs (batch, out) of the network with ``weights`` on ``x`` (batch, ...)."""
        self.check_weights(weights)
        return functional_call(self.module, dict(zip(self.param_names, weights)), (x,))

    __call__ = forward

    def forward_batched(self, x: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """Outputs (P, batch, out) for P weight sets (each tensor (P, *shape)) on the same ``x``."""
        self.check_weights(weights, batched=True)
        return vmap(lambda *ws: functional_call(self.module, dict(zip(self.param_names, ws)), (x,)))(*weights)

    def init_std(self) -> list[float]:
        """Per weight tensor, the std of PyTorch's default init U(±1/√fan_in) of its layer: 1/√(3 fan_in)."""
        stds = []
        for name in self.param_names:
            weight = self.module.get_submodule(name.rpartition(".")[0]).weight
            fan_in = math.prod(weight.shape[1:]) if weight.ndim > 1 else weight.shape[0]
            stds.append(1.0 / math.sqrt(3.0 * fan_in))
        return stds

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shapes={self.target_shapes})"


class TargetMLP(TargetNetwork):
    """Flatten, ``Linear -> activation`` per hidden size (relu; sigmoid in the paper's toy), a linear output layer."""

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, activation: str = "relu"):
        self.activation = OneOf(*_ACTIVATIONS)("activation", activation)
        self.sizes = [Int(low=1)("in_features", in_features), *IntTuple(low=1, min_len=0)("hidden", hidden)]
        self.sizes.append(Int(low=1)("out_features", out_features))

        def build():
            layers: list[nn.Module] = [nn.Flatten()]
            for a, b in zip(self.sizes[:-2], self.sizes[1:-1]):
                layers += [nn.Linear(a, b), _ACTIVATIONS[activation]()]
            return nn.Sequential(*layers, nn.Linear(self.sizes[-2], self.sizes[-1]))

        super().__init__(build)


# --- The hypernetwork: full and chunked -------------------------------------------------------


def _check_sizes(target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim) -> tuple:
    """The size arguments of :class:`HyperNetwork`, checked (ConfigError naming the bad one) and normalised."""
    if isinstance(target_shapes, (str, bytes)) or not isinstance(target_shapes, Sequence) or not target_shapes:
        raise ConfigError(f"target_shapes must be a non-empty list of shapes like [(10, 4)], got {target_shapes!r}")
    shapes = [IntTuple(low=1)(f"target_shapes[{i}]", s) for i, s in enumerate(target_shapes)]
    emb_dim, chunk_size = Int(low=1)("emb_dim", emb_dim), Int(low=1, optional=True)("chunk_size", chunk_size)
    chunk_emb_dim = (Int(low=1, optional=True)("chunk_emb_dim", chunk_emb_dim) or emb_dim) if chunk_size else None
    num_tasks, hidden = Int(low=1)("num_tasks", num_tasks), IntTuple(low=1, min_len=0)("hidden", hidden)
    return shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim


def _check_init_std(init_std, n: int) -> list[float]:
    """``init_std`` (None: 0.05; one number, or one per target tensor) as ``n`` finite positive floats."""
    if init_std is None or isinstance(init_std, numbers.Real):
        return [Float(low=0, low_open=True)("init_std", 0.05 if init_std is None else init_std)] * n
    if isinstance(init_std, (str, bytes)) or not isinstance(init_std, Sequence) or len(init_std) != n:
        raise ConfigError(f"init_std must be one number or {n} numbers (one per target tensor), got {init_std!r}")
    return [Float(low=0, low_open=True)(f"init_std[{i}]", v) for i, v in enumerate(init_std)]


def estimate_hypernet_bytes(
    target_shapes: Sequence[Sequence[int]],
    num_tasks: int,
    emb_dim: int = 16,
    hidden: Sequence[int] = (50, 50),
    chunk_size: int | None = None,
    chunk_emb_dim: int | None = None,
) -> int:
    """Bytes of the float32 parameters a :class:`HyperNetwork` with these arguments allocates, without allocating:
    task embeddings T · emb_dim, chunk embeddings K · chunk_emb_dim, (in + 1) · out per trunk and head layer."""
    sizes = _check_sizes(target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim)
    shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim = sizes
    numel = sum(math.prod(s) for s in shapes)
    widths = [emb_dim + (chunk_emb_dim or 0), *hidden, chunk_size or numel]
    chunk_embeddings = -(-numel // chunk_size) * chunk_emb_dim if chunk_size else 0
    return 4 * (num_tasks * emb_dim + chunk_embeddings + sum((a + 1) * b for a, b in zip(widths, widths[1:])))


class HyperNetwork(nn.Module):
    """``h(e, Θ_h)``: a task embedding in, every weight of a target network out.

    - **full** (``chunk_size=None``): an MLP trunk ``emb_dim -> hidden...``, then one linear head per target tensor;
    - **chunked** (``chunk_size=C``): the trunk reads ``[e(t), c_i]`` for K learned chunk embeddings ``c_i``
      (``chunk_emb_dim``), one head outputs C numbers per chunk; the K·C outputs are concatenated, cut to |Θ_trgt|
      and reshaped. K = ceil(|Θ_trgt| / C).

    Task and chunk embeddings start N(0, 1); the trunk uses ``activation`` (``relu``, ``sigmoid``, ``tanh``, ``elu``).
    ``init="rescale"``: PyTorch's default trunk init, head biases zero and head weights rescaled once so the generated
    weights start with the spread of PyTorch's default initialisation (``init_std``: one value per target tensor, or
    one for all; default 0.05). ``init="xavier"`` (the authors' toy regression): xavier-uniform for every weight matrix
    of the trunk and heads, every bias zero (``init_std`` unused).

    ``forward(task)`` with an int → list of tensors with ``target_shapes``; with an embedding (emb_dim,) → the same;
    with embeddings (P, emb_dim) → tensors with a leading P. ``flat=True`` returns (|Θ_trgt|,) / (P, |Θ_trgt|).
    """

    def __init__(
        self,
        target_shapes: Sequence[Sequence[int]],
        num_tasks: int,
        emb_dim: int = 16,
        hidden: Sequence[int] = (50, 50),
        chunk_size: int | None = None,
        chunk_emb_dim: int | None = None,
        init_std: float | Sequence[float] | None = None,
        activation: str = "relu",
        init: str = "rescale",
    ):
        super().__init__()
        self.activation = OneOf(*_ACTIVATIONS)("activation", activation)
        self.init = OneOf("rescale", "xavier")("init", init)
        sizes = _check_sizes(target_shapes, num_tasks, emb_dim, hidden, chunk_size, chunk_emb_dim)
        self.target_shapes, self.num_tasks, self.emb_dim, self.hidden, self.chunk_size, self.chunk_emb_dim = sizes
        self.chunked, self.target_numel = chunk_size is not None, sum(math.prod(s) for s in self.target_shapes)
        stds = _check_init_std(init_std, len(self.target_shapes))
        try:  # refuse sizes that cannot fit before allocating anything
            check_fits_in_memory(estimate_hypernet_bytes(*sizes), f"a hypernetwork with {self.extra_repr()}")
        except ConfigError as exc:
            raise ConfigError(f"{exc}; use a smaller emb_dim, hidden or chunk_size") from None

        self.task_embeddings = nn.ParameterList(nn.Parameter(torch.randn(self.emb_dim)) for _ in range(num_tasks))
        in_dim, self.num_chunks = self.emb_dim, 0
        if self.chunked:
            self.num_chunks = -(-self.target_numel // self.chunk_size)
            self.chunk_embeddings = nn.Parameter(torch.randn(self.num_chunks, self.chunk_emb_dim))
            in_dim += self.chunk_emb_dim
        widths, act = [in_dim, *self.hidden], _ACTIVATIONS[activation]  # the trunk: Linear -> act per hidden size
        self.trunk = nn.Sequential(*[m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), act())])
        sizes = [self.chunk_size] if self.chunked else [math.prod(s) for s in self.target_shapes]
        self.heads = nn.ModuleList(nn.Linear(widths[-1], n) for n in sizes)
        for layer in [m for m in [*self.trunk, *self.heads] if isinstance(m, nn.Linear) and init == "xavier"]:
            nn.init.xavier_uniform_(layer.weight), nn.init.zeros_(layer.bias)  # every matrix xavier, every bias 0
        if init == "rescale":
            self._rescale_heads(stds)

    @torch.no_grad()
    def _rescale_heads(self, stds: list[float]) -> None:
        """Zero the head biases and scale their weights so the generated tensors start with std ``stds``."""
        features = self.trunk(self._inputs(self.embeddings()))
        if self.chunked:  # one head for all tensors: aim for the numel-weighted RMS of the stds
            numels = [math.prod(s) for s in self.target_shapes]
            stds = [math.sqrt(sum(n * s * s for n, s in zip(numels, stds)) / sum(numels))]
        for head, want in zip(self.heads, stds):
            head.bias.zero_()
            head.weight.mul_(want / head(features).std().clamp_min(1e-8))

    def embedding(self, task_id: int) -> torch.Tensor:
        """The learned embedding e(task_id), shape (emb_dim,)."""
        if isinstance(task_id, bool) or not isinstance(task_id, numbers.Integral) or not 0 <= task_id < self.num_tasks:
            raise ConfigError(f"task id {task_id!r} out of range: use an integer in [0, {self.num_tasks - 1}]")
        return self.task_embeddings[int(task_id)]

    def embeddings(self) -> torch.Tensor:
        """All task embeddings, (num_tasks, emb_dim)."""
        return torch.stack(list(self.task_embeddings))

    def _inputs(self, emb: torch.Tensor) -> torch.Tensor:
        """Trunk inputs: (P, emb_dim), or (P, K, emb_dim + chunk_emb_dim) when chunked."""
        if not self.chunked:
            return emb
        chunks = self.chunk_embeddings.unsqueeze(0).expand(emb.shape[0], -1, -1)
        return torch.cat([emb.unsqueeze(1).expand(-1, self.num_chunks, -1), chunks], dim=2)

    def generate_flat(self, emb: torch.Tensor) -> torch.Tensor:
        """All target weights, flat: embeddings (P, emb_dim) → (P, |Θ_trgt|)."""
        if emb.ndim != 2 or emb.shape[1] != self.emb_dim or not emb.is_floating_point():
            raise ConfigError(f"embeddings must be floats (P, {self.emb_dim}), got {emb.dtype} {tuple(emb.shape)}")
        features = self.trunk(self._inputs(emb))
        if self.chunked:  # K chunks of C numbers each, concatenated and cut to |Θ_trgt|
            return self.heads[0](features).reshape(emb.shape[0], -1)[:, : self.target_numel]
        return torch.cat([head(features) for head in self.heads], dim=1)

    def split_flat(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Cut flat weights (..., |Θ_trgt|) into tensors (..., *shape) for each target shape."""
        sizes = [math.prod(s) for s in self.target_shapes]
        return [part.reshape(*flat.shape[:-1], *s) for part, s in zip(flat.split(sizes, dim=-1), self.target_shapes)]

    def forward(self, task: int | torch.Tensor, flat: bool = False) -> list[torch.Tensor] | torch.Tensor:
        """Weights for a task id or an embedding (emb_dim,) / embeddings (P, emb_dim)."""
        if not isinstance(task, torch.Tensor):
            out = self.generate_flat(self.embedding(task).unsqueeze(0))[0]
        elif task.ndim in (1, 2) and task.shape[-1] == self.emb_dim:
            out = self.generate_flat(task.reshape(-1, self.emb_dim))
            out = out[0] if task.ndim == 1 else out
        else:
            raise ConfigError(f"an embedding must be ({self.emb_dim},) or (P, {self.emb_dim}), got {tuple(task.shape)}")
        return out if flat else self.split_flat(out)

    def num_params(self) -> int:
        """|Θ_h| plus all task embeddings (chunk embeddings belong to Θ_h)."""
        return sum(p.numel() for p in self.parameters())

    def compression_ratio(self, target_numel: int | None = None) -> float:
        """(|Θ_h| + all task embeddings) / |Θ_trgt|; below 1 the hypernetwork is smaller than its target."""
        n = self.target_numel if target_numel is None else Int(low=1)("target_numel", target_numel)
        return self.num_params() / n

    def extra_repr(self) -> str:
        kind = f"chunk_size={self.chunk_size}, chunk_emb_dim={self.chunk_emb_dim}" if self.chunked else "full"
        act = "" if self.activation == "relu" else f", activation={self.activation!r}"
        return f"num_tasks={self.num_tasks}, emb_dim={self.emb_dim}, hidden={self.hidden}, {kind}{act}"

    # --- the output regulariser ---------------------------------------------------------------

    @torch.no_grad()
    def store_targets(self, tasks: Sequence[int] | None = None) -> dict[int, torch.Tensor]:
        """h(e(t), Θ_h*) for the given (default: all) tasks, detached: {t: (|Θ_trgt|,)}."""
        return {int(t): self.forward(t, flat=True).clone() for t in (range(self.num_tasks) if tasks is None else tasks)}

    def output_regularizer(
        self,
        targets: Mapping[int, torch.Tensor],
        beta: float,
        tasks: Sequence[int] | None = None,
        delta: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """β / |old| · Σ_t ‖ targets[t] − h(e(t), Θ_h + ΔΘ_h) ‖² over the old tasks.

        ``targets``: {task: flat weights (|Θ_trgt|,)} stored before the current task; ``tasks``: the old tasks to use
        (default all in ``targets``; a random subset for long sequences); ``delta``: a look-ahead {parameter name:
        step} (:func:`lookahead_delta`). Old embeddings stay fixed.
        """
        beta, ids = Float(low=0)("beta", beta), sorted(targets) if tasks is None else list(tasks)
        if beta == 0 or not ids:
            return torch.zeros((), device=self.heads[0].weight.device)
        bad = [t for t in ids if t not in targets or tuple(targets[t].shape) != (self.target_numel,)]
        if bad:
            raise ConfigError(f"no stored targets of shape ({self.target_numel},) for tasks {bad}; use store_targets()")
        emb = torch.stack([self.embedding(t).detach() for t in ids])
        if delta:  # h(e, Θ_h + ΔΘ_h) without touching Θ_h
            params = {name: p + delta[name] for name, p in self.named_parameters() if name in delta}
            generated = functional_call(self, params, (emb,), {"flat": True})
        else:
            generated = self.forward(emb, flat=True)
        wanted = torch.stack([targets[t] for t in ids]).to(generated.device)
        return beta * (generated - wanted).pow(2).sum() / len(ids)


@torch.no_grad()
def lookahead_delta(optimizer: torch.optim.Optimizer, grads: Mapping[nn.Parameter, torch.Tensor]) -> dict:
    """ΔΘ_h: the step ``optimizer`` would take for ``grads`` (without taking it), keyed by parameter object.

    Supports ``torch.optim.Adam`` without weight decay or amsgrad (what :func:`learn_task` uses).
    """
    if not isinstance(optimizer, torch.optim.Adam):
        raise ConfigError(f"look-ahead supports torch.optim.Adam only, got {type(optimizer).__name__}")
    delta = {}
    for group in optimizer.param_groups:
        if group["weight_decay"] or group["amsgrad"]:
            raise ConfigError("look-ahead supports Adam without weight decay or amsgrad only")
        (beta1, beta2), lr = group["betas"], group["lr"]
        for p in (p for p in group["params"] if p in grads):
            g, state = grads[p], optimizer.state.get(p, {})  # the state is empty before the first step
            step = float(state.get("step", 0)) + 1
            m = state["exp_avg"] * beta1 + (1 - beta1) * g if state else (1 - beta1) * g
            v = state["exp_avg_sq"] * beta2 + (1 - beta2) * g * g if state else (1 - beta2) * g * g
            delta[p] = -lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + group["eps"])
    return delta


# --- Learning one task: task loss + output regulariser ----------------------------------------


def _batch_stream(x, y, batch_size, steps, generator, full_batches=False):
    """``steps`` minibatches from reshuffled passes over the data: each pass cut on its own (its last batch may be
    short), or with ``full_batches`` the passes back to back cut into full batches (a batch may span two passes)."""
    passes = (torch.randperm(len(x), generator=generator) for _ in iter(int, 1))  # endless
    if full_batches:
        batches = torch.cat([next(passes) for _ in range(-(-steps * batch_size // len(x)))]).split(batch_size)
    for _, idx in zip(range(steps), batches if full_batches else (b for p in passes for b in p.split(batch_size))):
        yield x[idx], y[idx]


def learn_task(
    hnet: HyperNetwork,
    target: TargetNetwork,
    task_id: int,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    beta: float = 0.0,
    targets: Mapping[int, torch.Tensor] | None = None,
    lookahead: bool = False,
    old_tasks_per_step: int | None = None,
    loss_fn=F.cross_entropy,
    generator: torch.Generator | None = None,
    full_batches: bool = False,
    progress: bool = False,
    desc: str = "train",
) -> list[float]:
    """Train the hypernetwork on task ``task_id`` with data ``x`` (N, ...), ``y`` (N, ...); returns the task losses.

    Each step: L_task on a minibatch, plus (β > 0, old tasks in ``targets``) the output regulariser over the old tasks
    (or a random ``old_tasks_per_step`` of them), at Θ_h + ΔΘ_h with ``lookahead``. ``full_batches``: every minibatch
    has ``batch_size`` rows (see ``_batch_stream``), as in the authors' code. Adam optimises Θ_h (trunk, heads, chunk
    embeddings) and e(task_id); old embeddings stay fixed.
    """
    steps, batch_size = Int(low=1)("steps", steps), Int(low=1)("batch_size", batch_size)
    lr, beta = Float(low=0, low_open=True)("lr", lr), Float(low=0)("beta", beta)
    old_tasks_per_step = Int(low=1, optional=True)("old_tasks_per_step", old_tasks_per_step)
    if len(x) != len(y) or len(x) == 0:
        raise ConfigError(f"x and y need the same, non-zero number of examples, got {len(x)} and {len(y)}")
    device, targets = hnet.heads[0].weight.device, dict(targets or {})
    old = sorted(t for t in targets if t != task_id) if beta > 0 else []
    shared = [(name, p) for name, p in hnet.named_parameters() if not name.startswith("task_embeddings.")]
    # fused: one kernel updates every parameter (Adam's pass over the heads' hidden · |Θ_trgt| numbers dominates)
    optimizer = torch.optim.Adam([p for _, p in shared] + [hnet.embedding(task_id)], lr=lr, fused=True)
    if old:  # old embeddings and targets stay fixed within the task: stack them once (and check the targets)
        hnet.output_regularizer(targets, beta, tasks=old)
        old_emb, wanted = torch.stack([hnet.embedding(t).detach() for t in old]), torch.stack([targets[t] for t in old])
        rows, wanted = torch.arange(len(old)), wanted.to(device)
    losses, batches = [], _batch_stream(x, y, batch_size, steps, generator, full_batches)
    for xb, yb in tqdm(batches, total=steps, desc=desc, disable=not progress, leave=False):
        if old and old_tasks_per_step is not None and old_tasks_per_step < len(old):
            rows = torch.randperm(len(old), generator=generator)[:old_tasks_per_step]
        emb = hnet.embedding(task_id).unsqueeze(0)  # without look-ahead: current and old tasks in one pass
        flat = hnet.generate_flat(torch.cat([emb, old_emb[rows]]) if old and not lookahead else emb)
        loss = loss_fn(target(xb.to(device), hnet.split_flat(flat[0])), yb.to(device))
        total = loss + beta * (flat[1:] - wanted[rows]).pow(2).sum() / len(rows) if len(flat) > 1 else loss
        if old and lookahead:  # the old tasks at Θ_h + ΔΘ_h: a second pass
            grads = torch.autograd.grad(loss, [p for _, p in shared], retain_graph=True, allow_unused=True)
            step = lookahead_delta(optimizer, {p: g for (_, p), g in zip(shared, grads) if g is not None})
            delta = {name: step[p].detach() for name, p in shared if p in step}
            total = loss + hnet.output_regularizer(targets, beta, tasks=[old[int(r)] for r in rows], delta=delta)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# --- Task inference by predictive entropy (HNET+ENT) ------------------------------------------


def predictive_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` along the last dimension: (..., C) → (...)."""
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def select_by_entropy(logits_per_task: torch.Tensor) -> torch.Tensor:
    """Per input, the task whose output is most confident: logits (T, N, C) → task ids (N,)."""
    if logits_per_task.ndim != 3:
        raise ConfigError(f"expected logits of shape (tasks, N, classes), got {tuple(logits_per_task.shape)}")
    return predictive_entropy(logits_per_task).argmin(dim=0)


@torch.no_grad()
def infer_tasks(
    hnet: HyperNetwork,
    target: TargetNetwork,
    x: torch.Tensor,
    tasks: Sequence[int] | None = None,
    batch_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """HNET+ENT: generate every candidate task's weights, keep the lowest-entropy output per input.

    Returns ``(task_ids (N,), logits (N, C))``: the inferred task of each input and its generated network's outputs.
    """
    tasks = list(range(hnet.num_tasks)) if tasks is None else list(tasks)
    batch_size = Int(low=1)("batch_size", batch_size)
    if not tasks:
        raise ConfigError("infer_tasks needs at least one candidate task")
    device = hnet.heads[0].weight.device
    weights = hnet.split_flat(hnet.generate_flat(torch.stack([hnet.embedding(t) for t in tasks])))
    ids, outs = [], []
    for i in range(0, len(x), batch_size):
        logits = target.forward_batched(x[i : i + batch_size].to(device), weights)  # (T, n, C)
        pick = select_by_entropy(logits)
        outs.append(logits[pick, torch.arange(len(pick), device=device)].cpu())
        ids.append(torch.tensor(tasks)[pick.cpu()])
    return torch.cat(ids), torch.cat(outs)
