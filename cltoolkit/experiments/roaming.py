"""Notebook 03's experiments: Maximum Roaming on multi-attribute tasks (digits, CelebA).

The method itself (partitions, masked networks, the multi-task loss) is :mod:`cltoolkit.roaming`.
Here: the configuration per scale and dataset (:class:`RoamingConfig`, :func:`default_config`), the
training loop that roams every Δ iterations (:func:`train_multitask`), evaluation with per-attribute
F-scores (:func:`evaluate_multitask`), the runs the notebook compares — Maximum Roaming, fixed
partitions, full sharing (:func:`run_roaming`) and single-task networks (:func:`run_single_task`),
the evidence that partitions roamed (:class:`TaskTrainingRecorder`: which tasks trained each filter), the
search for a design where roaming beats fixed partitions (:data:`DESIGNS`, :func:`run_design`; run it with
``python -m cltoolkit.experiments.roaming designs``) and the command line's way in (:func:`run_from_args`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config import by_scale, get_scale, progress_enabled, seed_everything
from ..data.attributes import AttributeTasks
from ..errors import ConfigError
from ..metrics import f1_scores
from ..nets import count_parameters
from ..roaming import (
    SELECTIONS,
    NetworkPartitions,
    PartitionedConv,
    RoamingCNN,
    RoamingResNet18,
    TaskBatchNorm2d,
    TaskMaskedNet,
    multitask_loss,
)
from ..train import batches, make_optimizer
from ..validate import Bool, Checked, Float, Int, IntTuple, OneOf, check_overrides, checked

ARCHS = ("cnn", "resnet18")

# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@dataclass
class RoamingConfig(Checked):
    """Everything a Maximum Roaming run needs; every field is checked on construction.

    ``arch`` cnn (:class:`~cltoolkit.roaming.RoamingCNN` with ``channels``) or resnet18;
    ``sharing_ratio`` p in (0, 1] (1 = full sharing, one unmasked pass); ``update_interval``
    Δ in training iterations; ``selection`` random, cosine or cosine_abs (|cos|, as the authors'
    code); ``roaming=False`` keeps the initial partitions fixed ("task routing"); Adam with ``lr``;
    ``max_train`` / ``max_test`` subsample the data (None: all of it).

    ``step_per_task``: False (the default) takes one Adam step per batch on the summed task losses;
    True takes one step per task per batch, as the authors' code does (:func:`multitask_step`).
    Measured on the digits attribute tasks at default scale (Maximum Roaming, p = 0.5, 5 seeds,
    mean F-score ± std): summed 0.9356 ± 0.0025, per task 0.9307 ± 0.0081 (and about twice the
    time); per task with lr 1e-3 0.9139 ± 0.0081. Fixed partitions (3 seeds): summed 0.9408 ± 0.0044,
    per task 0.9353 ± 0.0088. So the sum is the default here. Full sharing is the exception: per
    task 0.9552 ± 0.0003 against 0.9435 ± 0.0020 summed (3 seeds), its four steps per batch
    acting like a longer schedule.
    """

    arch: str = checked("cnn", OneOf(*ARCHS))
    channels: tuple[int, ...] = checked((16, 32), IntTuple(low=1, high=4096))
    sharing_ratio: float = checked(0.5, Float(low=0, high=1, low_open=True))
    update_interval: int = checked(5, Int(low=1, high=10**9))
    selection: str = checked("random", OneOf(*SELECTIONS))
    roaming: bool = checked(True, Bool())
    epochs: int = checked(15, Int(low=1, high=10_000))
    batch_size: int = checked(64, Int(low=1, high=1_000_000))
    lr: float = checked(3e-3, Float(low=0, high=1, low_open=True))
    step_per_task: bool = checked(False, Bool())
    max_train: int | None = checked(None, Int(low=1, optional=True))
    max_test: int | None = checked(None, Int(low=1, optional=True))


def default_config(scale: str | None = None, dataset: str = "digits", **overrides) -> RoamingConfig:
    """The configuration for a scale and dataset; ``overrides`` replace single fields (unknown names are refused).

    digits: smoke 3 epochs on 320 examples with channels (8, 16), Δ = 1; default
    15 epochs on all 1,258 with channels (16, 32), Δ = 5 iterations (20 per epoch).
    celeba (paper): ResNet-18, batch 256, Adam 1e-4, 40 epochs, p = 0.8,
    Δ = 0.1 epoch (set from the training-set size in :func:`run_from_args`).
    """
    check_overrides(RoamingConfig, overrides)
    scale = get_scale(scale)
    if dataset == "celeba":
        base = by_scale(
            scale,
            smoke=dict(arch="cnn", epochs=1, max_train=256, max_test=256, update_interval=2),
            default=dict(arch="cnn", epochs=5, max_train=5000, max_test=2000, update_interval=10),
            paper=dict(arch="resnet18", epochs=40, batch_size=256, lr=1e-4),
        )
        base.setdefault("sharing_ratio", 0.8)
    else:
        base = by_scale(
            scale,
            smoke=dict(epochs=3, max_train=320, channels=(8, 16), update_interval=1),
            default=dict(),
            paper=dict(channels=(32, 64), epochs=40),
        )
    return RoamingConfig(**{**base, **overrides})


def build_roaming_net(arch: str, image_shape: Sequence[int], head_sizes: Sequence[int], channels=(32, 64)):
    """``cnn`` (:class:`RoamingCNN`) or ``resnet18`` (:class:`RoamingResNet18`) for images (C, H, W)."""
    if arch == "cnn":
        return RoamingCNN(image_shape[0], channels, head_sizes)
    if arch == "resnet18":
        return RoamingResNet18(image_shape[0], head_sizes)
    raise ConfigError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")


# ----------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------


def shared_loss(net: TaskMaskedNet, x: torch.Tensor, y: torch.Tensor, groups: Sequence[Sequence[int]]):
    """The multi-task loss for full sharing (p = 1): one unmasked pass of the body, every head on its output."""
    z = net.features(x, None)
    losses = [F.binary_cross_entropy_with_logits(head(z), y[:, list(group)]) for head, group in zip(net.heads, groups)]
    return sum(losses), losses


def multitask_step(net: TaskMaskedNet, optimizer, x: torch.Tensor, y: torch.Tensor, groups, per_task: bool) -> float:
    """One optimisation step on a batch (shapes as in :func:`~cltoolkit.roaming.multitask_loss`); the summed loss.

    ``per_task=False``: one step on the sum of the task losses. ``per_task=True``: as the authors' code,
    one step per task in turn on that task's loss alone, so each task sees what the previous steps left.
    """
    if not per_task:
        total, _ = multitask_loss(net, x, y, groups)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return total.item()
    total = 0.0
    for t, group in enumerate(groups):
        loss = F.binary_cross_entropy_with_logits(net(x, t), y[:, list(group)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


@dataclass
class TrainLog:
    """What :func:`train_multitask` did: mean loss per epoch, the iterations at which partitions roamed."""

    epoch_losses: list[float]
    update_iterations: list[int]
    iterations: int
    roaming_finished_at: int | None


def train_multitask(
    net: TaskMaskedNet,
    data: AttributeTasks,
    partitions: NetworkPartitions | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    update_interval: int = 10,
    roaming: bool = True,
    step_per_task: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    desc: str = "multi-task",
) -> TrainLog:
    """Train all tasks together; roam the partitions every ``update_interval`` iterations until done.

    Each iteration: one batch, one masked forward pass per task and one Adam step on the sum of the
    per-task BCE losses, or with ``step_per_task`` one Adam step per task on its own loss
    (:func:`~cltoolkit.roaming.multitask_step`). ``partitions=None`` means full sharing: one unmasked
    pass (or, stepping per task, unmasked passes). ``roaming=False`` keeps the initial partitions fixed
    ("task routing"). No update happens after the last iteration (the new masks would never be trained).
    """
    if update_interval is None or int(update_interval) < 1:
        raise ConfigError(f"update_interval must be a positive number of iterations, got {update_interval!r}")
    device = torch.device(device)
    net.to(device).train()
    opt = make_optimizer(net.parameters(), "adam", lr)
    show = progress_enabled() if progress is None else progress
    steps_per_epoch = -(-len(data.x_train) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not show, leave=False)
    epoch_losses, update_iterations = [], []
    iteration, finished_at = 0, None
    last_iteration = epochs * steps_per_epoch  # no roaming after the last step: nothing would learn the new masks
    for _ in range(epochs):
        total, count = 0.0, 0
        for xb, yb in batches(data.x_train, data.y_train, batch_size, shuffle=True, generator=generator):
            xb, yb = xb.to(device), yb.to(device)
            if partitions is None and not step_per_task:
                loss, _ = shared_loss(net, xb, yb, data.groups)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss = loss.item()
            else:
                loss = multitask_step(net, opt, xb, yb, data.groups, step_per_task)
            iteration += 1
            total += loss * len(xb)
            count += len(xb)
            due = iteration % update_interval == 0 and iteration < last_iteration
            if roaming and partitions is not None and not partitions.done and due:
                partitions.step()
                update_iterations.append(iteration)
                if partitions.done:
                    finished_at = iteration
            bar.update(1)
        epoch_losses.append(total / max(count, 1))
        bar.set_postfix(loss=f"{epoch_losses[-1]:.3f}")
    bar.close()
    if partitions is not None and partitions.done and finished_at is None and update_iterations:
        finished_at = update_iterations[-1]
    return TrainLog(epoch_losses, update_iterations, iteration, finished_at)


@torch.no_grad()
def predict_attributes(
    net: TaskMaskedNet, data: AttributeTasks, x: torch.Tensor, device="cpu", batch_size: int = 512
) -> torch.Tensor:
    """Predicted 0/1 attributes (N, A): each task's head (with its masks) fills its group's columns."""
    device = torch.device(device)
    was_training = net.training
    net.to(device).eval()
    pred = torch.zeros(len(x), len(data.attribute_names))
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        for t, group in enumerate(data.groups):
            pred[start : start + len(xb), group] = (net(xb, t) > 0).float().cpu()
    net.train(was_training)
    return pred


def evaluate_multitask(net: TaskMaskedNet, data: AttributeTasks, device="cpu", split: str = "test") -> dict:
    """Per-attribute F-score and accuracy on a split, then per task (mean over its attributes).

    Returns ``per_attribute_f1``, ``per_task_f1``, ``per_task_acc`` (dicts by name)
    and ``mean_f1`` (mean over all attributes, as in the paper).
    """
    x, y = (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)
    pred = predict_attributes(net, data, x, device).numpy()
    target = y.numpy()
    f1 = f1_scores(pred, target)
    acc = (pred == target).mean(axis=0) if len(target) else np.full(target.shape[1], np.nan)
    used = sorted({a for g in data.groups for a in g})  # attributes some task predicts
    return {
        "per_attribute_f1": {data.attribute_names[a]: float(f1[a]) for a in used},
        "per_task_f1": {name: float(f1[g].mean()) for name, g in zip(data.task_names, data.groups)},
        "per_task_acc": {name: float(acc[g].mean()) for name, g in zip(data.task_names, data.groups)},
        "mean_f1": float(f1[used].mean()),
    }


class TaskTrainingRecorder:
    """Which tasks' losses reached each filter during training: the evidence that partitions roamed.

    ``with TaskTrainingRecorder(net) as recorder: train_multitask(net, ...)``. Every masked forward
    pass of task t hooks the raw conv output (batch, S, H, W) of each
    :class:`~cltoolkit.roaming.PartitionedConv`; when the backward pass brings a non-zero gradient to
    filter s, ``recorder.trained_by[layer][s, t]`` becomes True. Task t's loss sends exactly zero
    gradient to a filter outside its mask (the mask multiplies that channel by 0, and batch norm keeps
    channels apart), so with fixed partitions ``trained_by`` is the initial partition, and with Maximum
    Roaming run to the end every filter is trained by every task. Unmasked passes (``task=None``, full
    sharing) cannot be told apart by task and are not recorded.
    """

    def __init__(self, net: TaskMaskedNet):
        self.net = net
        self.trained_by = {
            name: np.zeros((layer.conv.out_channels, net.num_tasks), dtype=bool)
            for name, layer in net.masked_layers.items()
        }
        self._handles: list = []

    def _hook(self, name: str, layer: PartitionedConv):
        def forward_hook(module, inputs, output):
            task = layer.task
            if task is None or not output.requires_grad:
                return

            def record(grad):
                reached = grad.detach().abs().sum(dim=(0, 2, 3)) > 0
                self.trained_by[name][:, task] |= reached.cpu().numpy()

            output.register_hook(record)

        return forward_hook

    def __enter__(self) -> TaskTrainingRecorder:
        for name, layer in self.net.masked_layers.items():
            self._handles.append(layer.conv.register_forward_hook(self._hook(name, layer)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def tasks_per_filter(self) -> dict[str, np.ndarray]:
        """{layer: (S,) ints}: how many tasks have trained each filter so far."""
        return {name: trained.sum(axis=1) for name, trained in self.trained_by.items()}


# ----------------------------------------------------------------------------------------------
# Runs: Maximum Roaming, fixed partitions, full sharing, single-task networks
# ----------------------------------------------------------------------------------------------


@dataclass
class RoamingResult:
    """One multi-task run: scores, the partitions it used (for the widget), the trained net."""

    label: str
    config: dict
    task_names: list[str]
    scores: dict
    params: int
    bytes_per_task: int
    seconds: float
    log: TrainLog | None = None
    partitions: NetworkPartitions | None = None
    model: nn.Module | None = None
    trained_by: dict[str, np.ndarray] | None = field(default=None, repr=False)  # see TaskTrainingRecorder

    @property
    def mean_f1(self) -> float:
        return self.scores["mean_f1"]

    def to_dict(self) -> dict:
        return {
            "tasks": list(self.task_names),
            "label": self.label,
            "per_task_f1": dict(self.scores["per_task_f1"]),
            "mean_f1": float(self.scores["mean_f1"]),
            "per_task_acc": dict(self.scores["per_task_acc"]),
            "per_attribute_f1": dict(self.scores["per_attribute_f1"]),
            "params": int(self.params),
            "bytes_per_task": int(self.bytes_per_task),
            "seconds": round(self.seconds, 3),
            "roaming_updates": len(self.log.update_iterations) if self.log else 0,
            "roaming_finished_at": self.log.roaming_finished_at if self.log else None,
            "config": self.config,
        }


def subsample_tasks(data: AttributeTasks, max_train: int | None, max_test: int | None, seed: int) -> AttributeTasks:
    """A copy with at most ``max_train`` / ``max_test`` examples, drawn with a generator seeded by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    out = data
    if max_train is not None and max_train < len(data.x_train):
        idx = torch.randperm(len(data.x_train), generator=gen)[:max_train]
        out = replace(out, x_train=out.x_train[idx], y_train=out.y_train[idx])
    if max_test is not None and max_test < len(data.x_test):
        idx = torch.randperm(len(data.x_test), generator=gen)[:max_test]
        out = replace(out, x_test=out.x_test[idx], y_test=out.y_test[idx])
    return out


def _head_bytes(net: TaskMaskedNet) -> int:
    return 4 * max(count_parameters(h) for h in net.heads)


def run_roaming(
    data: AttributeTasks,
    config: RoamingConfig | None = None,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
    label: str | None = None,
    record_training: bool = False,
) -> RoamingResult:
    """Train one multi-task network on ``data`` and score it on the test split.

    ``config.sharing_ratio == 1`` is full sharing (one pass, no masks);
    ``config.roaming=False`` fixed partitions; otherwise Maximum Roaming. ``record_training``: fill
    ``result.trained_by`` ({layer: (S, T) bool}) with a :class:`TaskTrainingRecorder` (masked runs only).
    """
    config = (config or default_config()).validate()
    data = subsample_tasks(data, config.max_train, config.max_test, seed)
    start = time.perf_counter()
    generator = seed_everything(seed)
    image_shape = tuple(data.x_train.shape[1:])
    net = build_roaming_net(config.arch, image_shape, data.head_sizes, config.channels)
    full = float(config.sharing_ratio) >= 1.0
    net.fully_shared = full
    partitions = None if full else NetworkPartitions(net, config.sharing_ratio, seed=seed, selection=config.selection)
    if label is None:
        label = "full sharing" if full else ("roaming" if config.roaming else "fixed partitions")
    recorder = TaskTrainingRecorder(net) if record_training and partitions is not None else None
    with recorder or contextlib.nullcontext():
        log = train_multitask(
            net,
            data,
            partitions,
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            update_interval=config.update_interval,
            roaming=config.roaming,
            step_per_task=config.step_per_task,
            device=device,
            generator=generator,
            progress=progress,
            desc=label,
        )
    scores = evaluate_multitask(net, data, device)
    extra = _head_bytes(net) if partitions is None else partitions.bytes_per_task()
    return RoamingResult(
        label=label,
        config=asdict(config),
        task_names=list(data.task_names),
        scores=scores,
        params=count_parameters(net),
        bytes_per_task=extra,
        seconds=time.perf_counter() - start,
        log=log,
        partitions=partitions,
        model=net.cpu(),
        trained_by=None if recorder is None else recorder.trained_by,
    )


def run_single_task(
    data: AttributeTasks,
    config: RoamingConfig | None = None,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
) -> RoamingResult:
    """The single-task baseline: one full network per task (same code, one head, no masks)."""
    config = (config or default_config()).validate()
    data = subsample_tasks(data, config.max_train, config.max_test, seed)
    start = time.perf_counter()
    per_task_f1, per_task_acc, per_attribute = {}, {}, {}
    params, bytes_per_task = 0, 0
    for t, (name, group) in enumerate(zip(data.task_names, data.groups)):
        single = replace(
            data,
            y_train=data.y_train[:, group],
            y_test=data.y_test[:, group],
            attribute_names=[data.attribute_names[a] for a in group],
            groups=[list(range(len(group)))],
            task_names=[name],
        )
        one = run_roaming(
            single, replace(config, sharing_ratio=1.0), seed=seed + t, device=device, progress=progress, label=name
        )
        per_task_f1.update(one.scores["per_task_f1"])
        per_task_acc.update(one.scores["per_task_acc"])
        per_attribute.update(one.scores["per_attribute_f1"])
        params += one.params
        stats = 8 * sum(m.weight.numel() for m in one.model.modules() if isinstance(m, TaskBatchNorm2d))
        bytes_per_task = max(bytes_per_task, 4 * one.params + stats)  # a new task needs a whole network
    all_f1 = [per_attribute[n] for n in data.attribute_names]
    scores = {
        "per_attribute_f1": per_attribute,
        "per_task_f1": per_task_f1,
        "per_task_acc": per_task_acc,
        "mean_f1": float(np.mean(all_f1)),
    }
    return RoamingResult(
        label="single-task networks",
        config=asdict(config),
        task_names=list(data.task_names),
        scores=scores,
        params=params,
        bytes_per_task=bytes_per_task,
        seconds=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------------------------
# Data and the command line
# ----------------------------------------------------------------------------------------------


def load_attribute_tasks(dataset: str = "digits", root=None, scale: str | None = None) -> AttributeTasks:
    """The multi-task attribute set for ``dataset`` (digits, or CelebA from ``root`` at 64x64)."""
    from ..data import attribute_tasks, load_source

    if dataset == "celeba":
        max_images = by_scale(scale, smoke=512, default=8000, paper=None)
        source = load_source("celeba", root, image_size=64, max_images=max_images)
    else:
        source = load_source(dataset, root)
    return attribute_tasks(source)


def with_update_interval_in_epochs(config: RoamingConfig, data: AttributeTasks, epochs: float) -> RoamingConfig:
    """``config`` with Δ set to ``epochs`` of training on ``data`` (at least one iteration): the paper's
    CelebA setting is Δ = 0.1 epoch, used by the CLI and notebook 03 at paper scale."""
    epochs = Float(low=0, low_open=True)("update interval in epochs", epochs)
    steps_per_epoch = -(-len(data.x_train) // config.batch_size)
    return replace(config, update_interval=max(1, round(epochs * steps_per_epoch)))


def run_from_args(args: argparse.Namespace) -> dict:
    """The CLI's ``run roaming``: build the config from ``args`` (None = default for the scale) and run it."""
    if args.stream != "attributes":
        raise ConfigError(
            f"roaming is multi-task learning on attribute groups; use --stream attributes, not {args.stream!r}"
        )
    if args.dataset not in ("digits", "celeba"):
        raise ConfigError(f"roaming needs a multi-attribute dataset: digits or celeba, not {args.dataset!r}")
    overrides = {}
    for flag in ("epochs", "lr", "sharing_ratio", "update_interval", "selection"):
        if getattr(args, flag, None) is not None:
            overrides[flag] = getattr(args, flag)
    if getattr(args, "no_roaming", None):
        overrides["roaming"] = False
    if getattr(args, "step_per_task", None):
        overrides["step_per_task"] = True
    config = default_config(args.scale, args.dataset, **overrides)
    data = load_attribute_tasks(args.dataset, args.data_root, args.scale)
    if args.tasks is not None:
        if args.tasks > data.num_tasks:
            raise ConfigError(f"--tasks {args.tasks}: the {args.dataset} attribute set has {data.num_tasks} tasks")
        data = replace(data, groups=data.groups[: args.tasks], task_names=data.task_names[: args.tasks])
    if args.dataset == "celeba" and args.scale == "paper" and getattr(args, "update_interval", None) is None:
        config = with_update_interval_in_epochs(config, data, 0.1)  # the paper's Δ = 0.1 epoch
    result = run_roaming(
        data, config, seed=args.seed, device=args.device, progress=False if getattr(args, "quiet", False) else None
    )
    return result.to_dict()


# ----------------------------------------------------------------------------------------------
# Designs: where, if anywhere, does roaming beat fixed partitions on the digits?
# ----------------------------------------------------------------------------------------------

VARIANTS = ("fixed", "roaming", "full sharing")


@dataclass(frozen=True)
class Design:
    """A variation of the digits attribute experiment: ``overrides`` of :class:`RoamingConfig` fields
    (on top of :func:`default_config` at the scale asked for), and whether each attribute is its own task."""

    note: str
    overrides: dict = field(default_factory=dict)
    one_task_per_attribute: bool = False


DESIGNS = {
    "digits": Design("the notebook's design: 9 attributes in 4 tasks, p = 0.5, 15 epochs on 1,258 images"),
    "9 tasks": Design("each of the 9 attributes is its own task", one_task_per_attribute=True),
    "150 images": Design("150 training images, 60 epochs (180 iterations)", dict(max_train=150, epochs=60)),
    "p = 0.25": Design("sharing ratio 0.25: each task owns 4 of 16 and 8 of 32 filters", dict(sharing_ratio=0.25)),
    "60 epochs": Design(
        "60 epochs (1,200 iterations), Δ = 20: roaming until iteration 320", dict(epochs=60, update_interval=20)
    ),
    "wider and deeper": Design(
        "three convs of 32, 64, 128 filters, Δ = 2", dict(channels=(32, 64, 128), update_interval=2)
    ),
    "wider and deeper for 45 epochs": Design(
        "three convs of 32, 64, 128 filters, 45 epochs (900 iterations), Δ = 6: roaming until iteration 384",
        dict(channels=(32, 64, 128), epochs=45, update_interval=6),
    ),
    "all together": Design(
        "9 tasks, p = 0.25, 300 images, 40 epochs (200 iterations), Δ = 3",
        dict(sharing_ratio=0.25, max_train=300, epochs=40, update_interval=3),
        one_task_per_attribute=True,
    ),
}


def one_task_per_attribute(data: AttributeTasks) -> AttributeTasks:
    """The same images and attributes with every attribute a task of its own (head size 1)."""
    used = sorted({a for g in data.groups for a in g})
    return replace(data, groups=[[a] for a in used], task_names=[data.attribute_names[a] for a in used])


def run_design(
    data: AttributeTasks,
    design: str | Design,
    seeds: Sequence[int],
    *,
    scale: str | None = None,
    variants: Sequence[str] = VARIANTS,
    device: torch.device | str = "cpu",
    progress: bool | None = False,
) -> dict[str, np.ndarray]:
    """Mean F-score per seed (a (len(seeds),) array) of each variant in ``variants`` under one design.

    The variants of one seed share the initial weights, the batch order and (fixed vs roaming) the
    initial partition, so ``roaming - fixed`` can be compared seed by seed (:func:`design_summary`).
    """
    if isinstance(design, str):
        if design not in DESIGNS:
            raise ConfigError(f"unknown design {design!r}; choose one of: {', '.join(DESIGNS)}")
        design = DESIGNS[design]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ConfigError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    config = default_config(scale, **design.overrides)
    if design.one_task_per_attribute:
        data = one_task_per_attribute(data)
    per_variant = {
        "fixed": replace(config, roaming=False),
        "roaming": config,
        "full sharing": replace(config, sharing_ratio=1.0),
    }
    return {
        name: np.array(
            [run_roaming(data, per_variant[name], seed=s, device=device, progress=progress).mean_f1 for s in seeds]
        )
        for name in variants
    }


def design_summary(scores: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean and sample std of each variant, and ``roaming - fixed`` paired by seed: its mean, standard error
    (std of the per-seed differences / sqrt(n)) and the mean in standard errors (``z``; nan with one seed)."""
    out = {}
    for name, values in scores.items():
        out[f"{name} mean"] = float(np.mean(values))
        out[f"{name} std"] = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    if "fixed" in scores and "roaming" in scores:
        diff = np.asarray(scores["roaming"]) - np.asarray(scores["fixed"])
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        out["roaming - fixed"], out["se"] = float(diff.mean()), se
        out["z"] = float(diff.mean() / se) if se and np.isfinite(se) and se > 0 else float("nan")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cltoolkit.experiments.roaming designs [--seeds 0,1,2,3,4] [--scale default] [--only NAME ...]``:
    every design of :data:`DESIGNS` over the seeds, one run at a time; prints a Markdown table, ``--json`` saves it."""
    parser = argparse.ArgumentParser(prog="python -m cltoolkit.experiments.roaming", description=main.__doc__)
    parser.add_argument("what", choices=["designs"])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    parser.add_argument("--scale", default="default", choices=["smoke", "default", "paper"])
    parser.add_argument("--only", nargs="*", default=None, help=f"designs to run (default all: {', '.join(DESIGNS)})")
    parser.add_argument("--json", default=None, help="write {design: {variant: [F-score per seed]}} here")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS, help="default: all three")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    names = args.only or list(DESIGNS)
    for name in names:
        if name not in DESIGNS:
            parser.error(f"unknown design {name!r}; choose from: {', '.join(DESIGNS)}")
    data = load_attribute_tasks("digits")
    results = {}
    print("| design | fixed | roaming | full sharing | roaming − fixed (± SE, paired) | seconds |")
    print("|---|---|---|---|---|---|")
    for name in names:
        start = time.perf_counter()
        scores = run_design(data, name, seeds, scale=args.scale, variants=args.variants)
        summary = design_summary(scores)
        results[name] = {"note": DESIGNS[name].note, **{k: v.tolist() for k, v in scores.items()}}
        cells = [f"{summary[f'{v} mean']:.4f} ± {summary[f'{v} std']:.4f}" if v in scores else "–" for v in VARIANTS]
        gap = (
            f"{summary['roaming - fixed']:+.4f} ± {summary['se']:.4f} ({summary['z']:+.1f} SE)"
            if "se" in summary
            else "–"
        )
        print(f"| {name} | {' | '.join(cells)} | {gap} | {time.perf_counter() - start:.0f} |", flush=True)
        if args.json:
            payload = {"scale": args.scale, "seeds": seeds, "threads": torch.get_num_threads(), "designs": results}
            with open(args.json, "w") as f:
                json.dump(payload, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
