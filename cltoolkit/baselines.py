"""Baselines every method is compared with: fine-tuning, online EWC, SI and joint training.

- **fine-tuning**: train on each task in turn with plain SGD/Adam; forgets.
- **online EWC** (Kirkpatrick et al. 2017; online form of Schwarz et al. 2018):
  after each task, estimate the diagonal Fisher information F of the weights
  on that task's data and add ``lambda/2 * sum F (theta - theta*)^2`` to later
  losses. Online: ``F <- gamma * F + F_new`` and ``theta* <- theta``.
- **SI** (Zenke et al. 2017): while training, accumulate each weight's
  contribution to the drop in the *task* loss, ``w += -g * delta_theta`` where ``g``
  is the gradient of the task loss alone (not of loss + SI penalty, as in Zenke et
  al.'s reference code) and ``delta_theta`` the step actually taken; after a task,
  ``Omega <- max(0, Omega + w / (Delta^2 + xi))`` (the clamp on the cumulative
  Omega) and add ``c * sum Omega (theta - theta*)^2``.
- **joint**: after task i, train on the union of tasks 0..i (an upper bound that
  stores all data).

All of them fill the same accuracy matrix through :func:`run_baseline`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import by_scale, get_device, get_scale, progress_enabled, seed_everything
from .data.streams import Stream
from .errors import ConfigError
from .metrics import AccuracyMatrix, summarize
from .nets import MultiHeadNet, build_net, count_parameters
from .train import batches, evaluate, make_optimizer, train_epochs
from .validate import Checked, Float, Int, IntTuple, OneOf, check_overrides, check_seed, checked

MAX_EPOCHS = 10_000
MAX_WIDTH = 100_000

BASELINES = ("finetune", "ewc", "si", "joint")


@dataclass
class BaselineConfig(Checked):
    """Hyperparameters shared by the baselines (``ewc_*`` / ``si_*`` only matter for those).

    Every field is checked on construction (finite floats in range, positive sizes); see
    :mod:`cltoolkit.validate`.
    """

    arch: str = checked("mlp", OneOf("mlp", "cnn"))
    hidden: tuple[int, ...] = checked((256, 256), IntTuple(1, MAX_WIDTH))
    channels: tuple[int, ...] = checked((32, 64), IntTuple(1, MAX_WIDTH))
    epochs: int = checked(10, Int(1, MAX_EPOCHS))
    batch_size: int = checked(32, Int(1, 1_000_000))
    lr: float = checked(1e-3, Float(0, 10, low_open=True))
    optimizer: str = checked("adam", OneOf("adam", "sgd"))
    ewc_lambda: float = checked(1000.0, Float(0, 1e12))
    ewc_gamma: float = checked(1.0, Float(0, 1))
    fisher_samples: int = checked(500, Int(1, 10_000_000))
    si_c: float = checked(10.0, Float(0, 1e12))
    si_xi: float = checked(0.1, Float(0, 1e12, low_open=True))
    max_train: int | None = checked(None, Int(1, optional=True))
    max_test: int | None = checked(None, Int(1, optional=True))


def default_config(scale: str | None = None, **overrides) -> BaselineConfig:
    """The configuration for a scale: ``smoke`` (5 epochs on 200 examples per task), ``default``, ``paper``."""
    scale = get_scale(scale)
    base = by_scale(
        scale,
        smoke=dict(epochs=5, max_train=200, max_test=200),
        default=dict(epochs=10),
        paper=dict(hidden=(400, 400), epochs=5, batch_size=128, ewc_lambda=5000.0),
    )
    check_overrides(BaselineConfig, overrides)
    base.update(overrides)
    return BaselineConfig(**base)


# ----------------------------------------------------------------------------------------------
# Regularisers
# ----------------------------------------------------------------------------------------------


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


class OnlineEWC:
    """Online EWC: a quadratic penalty weighted by the (decayed, summed) diagonal Fisher.

    The Fisher is the *empirical* Fisher: the mean squared per-example gradient
    of the log-likelihood of the true label, computed with ``torch.func``.
    """

    def __init__(self, lam: float = 1000.0, gamma: float = 1.0, samples: int = 500):
        self.lam = Float(0)("lambda", lam)
        self.gamma = Float(0, 1)("gamma", gamma)
        self.samples = Int(1)("samples", samples)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self, model: nn.Module) -> torch.Tensor:
        if not self.fisher:
            return torch.zeros((), device=next(model.parameters()).device)
        total = 0.0
        for name, p in _params(model).items():
            if name in self.fisher:
                total = total + (self.fisher[name] * (p - self.anchor[name]) ** 2).sum()
        return 0.5 * self.lam * total

    def fisher_diagonal(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: int, device) -> dict:
        """Mean over examples of the squared gradient of ``log p(y | x)`` for each parameter."""
        from torch.func import functional_call, grad, vmap

        params = {n: p.detach() for n, p in _params(model).items()}
        buffers = {n: b.detach() for n, b in model.named_buffers()}

        def nll(p, xi, yi):
            out = functional_call(model, (p, buffers), (xi.unsqueeze(0), task))
            return F.cross_entropy(out, yi.unsqueeze(0))

        was_training = model.training
        model.eval()
        per_example = vmap(grad(nll), in_dims=(None, 0, 0))
        sums = {n: torch.zeros_like(p) for n, p in params.items()}
        for xb, yb in batches(x, y, 128, shuffle=False):
            grads = per_example(params, xb.to(device), yb.to(device))
            for n in sums:
                sums[n] += (grads[n] ** 2).sum(0)
        model.train(was_training)
        return {n: s / len(x) for n, s in sums.items()}

    def consolidate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: int, device) -> None:
        n = min(self.samples, len(x))
        new = self.fisher_diagonal(model, x[:n], y[:n], task, device)
        for name, f in new.items():
            self.fisher[name] = self.gamma * self.fisher[name] + f if name in self.fisher else f
            self.anchor[name] = _params(model)[name].detach().clone()


class SynapticIntelligence:
    """SI: per-weight importance from the path integral of the gradient during training."""

    def __init__(self, c: float = 1.0, xi: float = 0.1):
        self.c = Float(0)("c", c)
        self.xi = Float(0, low_open=True)("xi", xi)
        self.omega: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}
        self._start: dict[str, torch.Tensor] = {}
        self._w: dict[str, torch.Tensor] = {}
        self._grad: dict[str, torch.Tensor] = {}
        self._before: dict[str, torch.Tensor] = {}

    def begin_task(self, model: nn.Module) -> None:
        self._start = {n: p.detach().clone() for n, p in _params(model).items()}
        self._w = {n: torch.zeros_like(p) for n, p in _params(model).items()}

    def before_step(self, model: nn.Module) -> None:
        """Remember the task-loss gradient and the weights before the optimiser step.

        ``p.grad`` holds the gradient of task loss + penalty; the path integral wants the task
        loss alone, so the penalty's gradient ``2 c Omega (theta - theta*)`` is taken off again
        (exact, and cheaper than a second backward pass).
        """
        self._grad = {}
        for n, p in _params(model).items():
            if p.grad is None:
                continue
            g = p.grad.detach().clone()
            if n in self.omega:
                g -= 2.0 * self.c * self.omega[n] * (p.detach() - self.anchor[n])
            self._grad[n] = g
        self._before = {n: p.detach().clone() for n, p in _params(model).items()}

    def after_step(self, model: nn.Module) -> None:
        for n, p in _params(model).items():
            if n in self._grad:
                self._w[n] -= self._grad[n] * (p.detach() - self._before[n])

    def penalty(self, model: nn.Module) -> torch.Tensor:
        if not self.omega:
            return torch.zeros((), device=next(model.parameters()).device)
        total = 0.0
        for name, p in _params(model).items():
            if name in self.omega:
                total = total + (self.omega[name] * (p - self.anchor[name]) ** 2).sum()
        return self.c * total

    def consolidate(self, model: nn.Module) -> None:
        for n, p in _params(model).items():
            delta = p.detach() - self._start[n]
            contribution = self._w[n] / (delta**2 + self.xi)
            self.omega[n] = (self.omega.get(n, torch.zeros_like(p)) + contribution).clamp_min(0)
            self.anchor[n] = p.detach().clone()


# ----------------------------------------------------------------------------------------------
# Runners
# ----------------------------------------------------------------------------------------------


@dataclass
class ContinualResult:
    """What a continual-learning run returns: the accuracy matrix and bookkeeping."""

    method: str
    stream_kind: str
    dataset: str
    task_names: list[str]
    acc_matrix: np.ndarray
    seconds: float
    params: int
    bytes_per_task: int
    config: dict = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)

    def summary(self) -> dict:
        return summarize(self.acc_matrix)

    def to_dict(self) -> dict:
        out = {
            "method": self.method,
            "dataset": self.dataset,
            "stream": self.stream_kind,
            "tasks": list(self.task_names),
            "seconds": round(self.seconds, 3),
            "acc_matrix": [[float(v) for v in row] for row in self.acc_matrix],
            "params": int(self.params),
            "bytes_per_task": int(self.bytes_per_task),
            "config": self.config,
        }
        out.update(self.summary())
        return out


def _task_batches(stream: Stream, upto: int, batch_size: int, generator):
    """For joint training: per step, one batch from each task 0..upto (shorter tasks cycle)."""
    iters = [list(batches(t.x_train, t.y_train, batch_size, generator=generator)) for t in stream.tasks[: upto + 1]]
    steps = max(len(b) for b in iters)
    for s in range(steps):
        yield [(t, b[s % len(b)]) for t, b in enumerate(iters)]


def _train_joint(model, stream, upto, cfg, device, generator, show, desc):
    opt = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr)
    model.to(device).train()
    steps = max(-(-len(t.x_train) // cfg.batch_size) for t in stream.tasks[: upto + 1])
    bar = tqdm(total=cfg.epochs * steps, desc=desc, disable=not show, leave=False)
    for _ in range(cfg.epochs):
        for group in _task_batches(stream, upto, cfg.batch_size, generator):
            loss = sum(F.cross_entropy(model(xb.to(device), t), yb.to(device)) for t, (xb, yb) in group) / len(group)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
    bar.close()


def run_baseline(
    method: str,
    stream: Stream,
    config: BaselineConfig | None = None,
    scale: str | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool | None = None,
    model: MultiHeadNet | None = None,
) -> ContinualResult:
    """Learn ``stream`` task by task with ``method`` and fill the accuracy matrix.

    After training task i the model is evaluated on every task j (also j > i),
    so ``acc_matrix`` is complete. Returns a :class:`ContinualResult` whose
    ``model`` is the final network.
    """
    method = str(method).lower()
    if method not in BASELINES:
        raise ConfigError(f"unknown baseline {method!r}; choose one of: {', '.join(BASELINES)}")
    if stream.num_tasks < 1:
        raise ConfigError("the stream has no tasks")
    cfg = (config or default_config(scale)).validate()
    seed = check_seed(seed)
    device = get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    if cfg.max_train or cfg.max_test:
        stream = stream.subsample(cfg.max_train, cfg.max_test, seed=seed)
    start = time.perf_counter()
    generator = seed_everything(seed)
    if model is None:
        model = build_net(
            cfg.arch,
            stream.image_shape,
            stream.head_sizes,
            shared_head=stream.scenario == "domain",
            hidden=cfg.hidden,
            channels=cfg.channels,
        )
    model.to(device)
    reg = None
    if method == "ewc":
        reg = OnlineEWC(cfg.ewc_lambda, cfg.ewc_gamma, cfg.fisher_samples)
    elif method == "si":
        reg = SynapticIntelligence(cfg.si_c, cfg.si_xi)
    acc = AccuracyMatrix(stream.names)
    outer = tqdm(stream.tasks, desc=method, disable=not show)
    for i, task in enumerate(outer):
        desc = f"task {i + 1}/{stream.num_tasks} ({task.name})"
        if method == "joint":
            _train_joint(model, stream, i, cfg, device, generator, show, desc)
        else:
            if isinstance(reg, SynapticIntelligence):
                reg.begin_task(model)
            opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg.optimizer, cfg.lr)
            train_epochs(
                model,
                task.x_train,
                task.y_train,
                task=i,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                optimizer=opt,
                penalty=reg.penalty if reg is not None else None,
                before_step=reg.before_step if isinstance(reg, SynapticIntelligence) else None,
                after_step=reg.after_step if isinstance(reg, SynapticIntelligence) else None,
                device=device,
                generator=generator,
                progress=show,
                desc=desc,
            )
            if isinstance(reg, OnlineEWC):
                reg.consolidate(model, task.x_train, task.y_train, i, device)
            elif isinstance(reg, SynapticIntelligence):
                reg.consolidate(model)
        for j, other in enumerate(stream.tasks):
            acc.record(i, j, evaluate(model, other.x_test, other.y_test, j, device=device))
        outer.set_postfix(acc=f"{np.mean(acc.row(i)[: i + 1]):.3f}")
    seconds = time.perf_counter() - start
    return ContinualResult(
        method=method,
        stream_kind=stream.kind,
        dataset=stream.source_name,
        task_names=stream.names,
        acc_matrix=acc.values,
        seconds=seconds,
        params=count_parameters(model),
        bytes_per_task=_bytes_per_task(method, model, stream),
        config=asdict(cfg),
        model=model,
    )


def _bytes_per_task(method: str, model: MultiHeadNet, stream: Stream) -> int:
    """Extra storage to add one task: a new head (task-incremental), or the task's data for joint."""
    if method == "joint":
        task = stream.tasks[-1]
        return int(task.x_train.numel() * task.x_train.element_size() + task.y_train.numel() * 8)
    if model.shared_head:
        return 0
    return int(count_parameters(model.heads[-1]) * 4)
