"""Notebook 02's experiments with Piggyback (the method itself is :mod:`cltoolkit.piggyback`).

- which digits make which task: :func:`make_tasks` pretrains a backbone on a *base task* (digits 0-4, playing
  ImageNet's role) and then learns new tasks of growing domain shift (:data:`TRANSFER_TASKS`);
- the configuration per scale: :class:`PiggybackConfig`, :func:`default_config`;
- training: :func:`pretrain_backbone`, :func:`train_piggyback_task`, :func:`run_piggyback` (the accuracy matrix),
  and the paper's two baselines, :func:`run_classifier_only` and :func:`run_finetune_each`;
- :func:`prepare` (the new tasks and a fixed pretrained backbone: the digits CNN, or at paper scale an ImageNet
  ResNet from torchvision, :func:`resnet_backbone`), :func:`run_experiment` (what notebook 02 and
  ``python -m cltoolkit run piggyback`` both call) and :func:`run_from_args`;
- mask-bank files (:func:`save_bank` / :func:`load_bank`, checked before anything is added) and plain-cost
  inference with the masks multiplied in once (:func:`plain_layer`, :func:`apply_masks`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import by_scale, get_device, get_scale, progress_enabled, seed_everything
from ..data.sources import Source, load_source
from ..data.streams import Task, apply_permutation, permutations, rotate
from ..errors import CheckpointMismatchError, ConfigError
from ..metrics import AccuracyMatrix, summarize
from ..nets import MultiHeadNet, SmallCNN, count_parameters
from ..piggyback import (
    DEFAULT_INIT,
    DEFAULT_THRESHOLD,
    PiggybackNet,
    check_init,
    mask_sparsity,
    overall_sparsity,
)
from ..train import atomic_torch_save, batches, evaluate, make_optimizer, predict, train_epochs
from ..validate import Bool, Checked, Float, Int, IntTuple, OneOf, check_overrides, checked

# ----------------------------------------------------------------------------------------------
# Backbones and tasks for the digits experiment
# ----------------------------------------------------------------------------------------------


def digits_backbone(in_channels: int = 1, channels: Sequence[int] = (32, 64, 64), hidden: int = 128):
    """The kit's small CNN (conv-BN-ReLU-pool blocks, global pooling) plus a hidden linear layer.

    Returns ``(backbone, feature_dim)``; images (batch, C, H, W) -> features (batch, hidden).
    Four maskable layers at the default sizes (three convs and one linear).
    """
    body = nn.Sequential(SmallCNN(in_channels, channels), nn.Linear(int(channels[-1]), hidden), nn.ReLU())
    return body, hidden


def invert(x: torch.Tensor) -> torch.Tensor:
    """Photographic negative of images in [0, 1]."""
    return 1.0 - x


def _subset(source: Source, classes: Sequence[int], name: str, transform=None, info=None) -> Task:
    parts = {}
    for split in ("train", "test"):
        x, y = getattr(source, f"x_{split}"), getattr(source, f"y_{split}")
        keep = torch.zeros_like(y, dtype=torch.bool)
        new_y = torch.zeros_like(y)
        for k, c in enumerate(classes):
            keep |= y == c
            new_y[y == c] = k
        xs = x[keep]
        parts[split] = (transform(xs) if transform is not None else xs, new_y[keep])
    return Task(
        name,
        parts["train"][0],
        parts["train"][1],
        parts["test"][0],
        parts["test"][1],
        num_outputs=len(classes),
        classes=list(classes),
        info=dict(info or {}),
    )


TRANSFER_TASKS = ("new classes", "rotated 90", "inverted", "permuted")


def make_tasks(source: Source, kind: str = "split", num_tasks: int | None = None, seed: int = 0):
    """The base task (to pretrain the backbone) and the new tasks Piggyback learns: ``(base, [tasks])``.

    The base task is always the first half of the classes on the original images (digits 0-4): it
    plays ImageNet's role. The new tasks, each with its own head, depend on ``kind``:

    - ``split`` (default): four transfer tasks of growing domain shift: the *other* classes
      (digits 5-9), then all classes rotated by 90 degrees, inverted (1 - x), and with a fixed
      pixel permutation. ``num_tasks`` (1..4) keeps the first ones.
    - ``rotated``: ``num_tasks`` (default 4) copies of all classes rotated by 0, 45, 90, ... degrees.
    - ``permuted``: ``num_tasks`` (default 4) copies of all classes under fixed pixel permutations.
    """
    kind = str(kind).lower()
    if source.attribute_names is not None:
        raise ConfigError(f"piggyback needs a dataset with classes; {source.name!r} has attributes")
    half = source.num_classes // 2
    base = _subset(source, range(half), f"base {0}-{half - 1}" if half > 1 else "base")
    everything = list(range(source.num_classes))
    pixels = source.image_shape[1] * source.image_shape[2]
    if kind == "split":
        n = len(TRANSFER_TASKS) if num_tasks is None else num_tasks
        if not isinstance(n, int) or not 1 <= n <= len(TRANSFER_TASKS):
            raise ConfigError(f"the piggyback 'split' design has 1 to {len(TRANSFER_TASKS)} new tasks, got {n!r}")
        perm = permutations(2, pixels, seed=seed)[1]
        tasks = [
            _subset(source, range(half, source.num_classes), f"classes {half}-{source.num_classes - 1}"),
            _subset(source, everything, "rotated 90", lambda x: rotate(x, 90.0), {"angle": 90.0}),
            _subset(source, everything, "inverted", invert),
            _subset(source, everything, "permuted", lambda x: apply_permutation(x, perm), {"permutation": perm}),
        ]
        return base, tasks[:n]
    n = 4 if num_tasks is None else num_tasks
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"number of tasks must be a positive integer, got {n!r}")
    if kind == "rotated":
        angles = [i * 180.0 / n for i in range(n)]
        return base, [
            _subset(source, everything, f"rot{a:g}", lambda x, a=a: rotate(x, a), {"angle": a}) for a in angles
        ]
    if kind == "permuted":
        perms = permutations(n, pixels, seed=seed, first_identity=False)
        return base, [
            _subset(source, everything, f"perm{t}", lambda x, p=p: apply_permutation(x, p)) for t, p in enumerate(perms)
        ]
    raise ConfigError(f"piggyback supports streams split, rotated and permuted, got {kind!r}")


def _limit(task: Task, max_train: int | None, max_test: int | None, seed: int) -> Task:
    return task.subsample(max_train, max_test, torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# Configuration per scale
# ----------------------------------------------------------------------------------------------

_LR = Float(low=0, low_open=True, high=1.0)


@dataclass
class PiggybackConfig(Checked):
    """Hyperparameters of the experiment (``base_*``: pretraining the backbone on the base task).

    ``lr_decay_every`` / ``lr_decay_factor``: the authors' step schedule, every learning rate (masks, heads, BN,
    fine-tuning) multiplied by the factor every so many epochs (:func:`lr_stages`); at paper scale 0.1 every 15
    of 30 epochs, at smoke and default scale off (a few epochs on a few hundred digits). Checked on construction
    (also through ``dataclasses.replace``): every number finite and in range, ``init > threshold``.
    """

    channels: tuple[int, ...] = checked((32, 64, 64), IntTuple(low=1, high=4096))
    hidden: int = checked(128, Int(low=1, high=65_536))
    base_epochs: int = checked(15, Int(low=1, high=10_000))
    base_lr: float = checked(1e-3, _LR)
    epochs: int = checked(10, Int(low=1, high=10_000))
    batch_size: int = checked(32, Int(low=1, high=65_536))
    mask_lr: float = checked(3e-4, _LR)  # paper: 1e-4 for 30 epochs on big data; a few epochs on 600 digits need more
    head_lr: float = checked(1e-3, _LR)
    finetune_lr: float = checked(1e-3, _LR)
    threshold: float = checked(DEFAULT_THRESHOLD, Float(low=0, high=1.0))
    init: float = checked(DEFAULT_INIT, Float(low=0, low_open=True, high=1.0))
    init_mode: str = checked("constant", OneOf("constant", "random"))
    ternary: bool = checked(False, Bool())
    task_bn: bool = checked(False, Bool())
    max_train: int | None = checked(None, Int(low=1, optional=True))
    max_test: int | None = checked(None, Int(low=1, optional=True))
    lr_decay_every: int | None = checked(None, Int(low=1, high=10_000, optional=True))  # None: a constant lr
    lr_decay_factor: float = checked(0.1, Float(low=0, low_open=True, high=1.0))

    def validate(self) -> PiggybackConfig:
        super().validate()
        check_init(self.init, self.threshold)
        return self


def default_config(scale: str | None = None, **overrides) -> PiggybackConfig:
    """The configuration for a scale; ``smoke`` trains a few epochs on at most 300 examples per task.

    Unknown keyword overrides are refused (a typo must not pass silently).
    """
    check_overrides(PiggybackConfig, overrides)
    base = by_scale(
        scale,
        smoke=dict(base_epochs=4, epochs=3, max_train=300, max_test=300),
        default=dict(),
        paper=dict(epochs=30, batch_size=32, mask_lr=1e-4, head_lr=1e-4, lr_decay_every=15, lr_decay_factor=0.1),
    )
    return PiggybackConfig(**{**base, **overrides})


# ----------------------------------------------------------------------------------------------
# Training: Piggyback and its two baselines
# ----------------------------------------------------------------------------------------------


def lr_stages(cfg: PiggybackConfig) -> list[tuple[int, float]]:
    """The step schedule as ``[(epochs, lr factor), ...]``: one stage per ``lr_decay_every`` epochs, the k-th
    with factor ``lr_decay_factor ** k`` (paper scale: ``[(15, 1.0), (15, 0.1)]``); ``[(epochs, 1.0)]`` when off."""
    every = cfg.lr_decay_every or cfg.epochs
    starts = range(0, cfg.epochs, every)
    return [(min(every, cfg.epochs - start), cfg.lr_decay_factor**k) for k, start in enumerate(starts)]


def train_in_stages(model: nn.Module, data: Task, cfg: PiggybackConfig, optimizer, **kwargs) -> list[float]:
    """:func:`~cltoolkit.train.train_epochs` on ``data``'s training set for ``cfg.epochs``, the learning rate of
    every parameter group of ``optimizer`` following :func:`lr_stages` (a StepLR by epoch). Returns epoch losses."""
    base = [group["lr"] for group in optimizer.param_groups]
    losses = []
    for epochs, factor in lr_stages(cfg):
        for group, lr in zip(optimizer.param_groups, base):
            group["lr"] = lr * factor
        losses += train_epochs(
            model, data.x_train, data.y_train, epochs=epochs, batch_size=cfg.batch_size, optimizer=optimizer, **kwargs
        )
    return losses


def pretrain_backbone(base: Task, cfg: PiggybackConfig, device="cpu", seed: int = 0, progress: bool | None = None):
    """Train the digits backbone (plus a throw-away head) on the base task: ``(backbone, feature_dim, accuracy)``."""
    generator = seed_everything(seed)
    body, dim = digits_backbone(base.x_train.shape[1], cfg.channels, cfg.hidden)
    net = MultiHeadNet(body, dim, [base.num_outputs])
    train_epochs(
        net,
        base.x_train,
        base.y_train,
        epochs=cfg.base_epochs,
        batch_size=cfg.batch_size,
        lr=cfg.base_lr,
        device=device,
        generator=generator,
        progress=progress,
        desc="base task",
    )
    acc = evaluate(net, base.x_test, base.y_test, device=device)
    return net.body.cpu().eval(), dim, acc


def _fresh_head(dim: int, outputs: int, seed: int) -> nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(dim, outputs)


def train_piggyback_task(
    net: PiggybackNet,
    task: Task,
    cfg: PiggybackConfig,
    device="cpu",
    generator: torch.Generator | None = None,
    head: nn.Linear | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Add ``task`` to ``net``, train it with Adam, then store it. Returns the loss of each epoch.

    The mask scores learn with ``mask_lr``, the head with ``head_lr`` and, with ``task_bn``, the task's BN copy
    with ``mask_lr``, as the authors do; all follow the step schedule of :func:`lr_stages`.
    """
    net.add_task(task.name, task.num_outputs, head=head, generator=generator)
    net.to(device)
    groups = net.trainable_parameters()
    params = [{"params": groups["scores"], "lr": cfg.mask_lr}, {"params": groups["head"], "lr": cfg.head_lr}]
    if groups["bn"]:
        params.append({"params": groups["bn"], "lr": cfg.mask_lr})
    opt = torch.optim.Adam(params)
    kwargs = dict(task=task.name, device=device, generator=generator, progress=progress, desc=f"piggyback {task.name}")
    losses = train_in_stages(net, task, cfg, opt, **kwargs)
    net.finish_task()
    return losses


@dataclass
class PiggybackResult:
    """What :func:`run_piggyback` returns: the network with its mask bank and the measurements."""

    task_names: list[str]
    acc_matrix: np.ndarray
    sparsity: dict[str, dict[str, float]]
    overall_sparsity: dict[str, float]
    scores: dict[str, dict[str, torch.Tensor]]
    bytes_per_task: int
    seconds: float
    net: PiggybackNet = field(repr=False)
    logits_when_learned: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    test_inputs: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def unchanged_since_learned(self) -> dict[str, bool]:
        """``{task: True}`` if the test logits now are bit-identical to those right after learning the task."""
        device = next(iter(self.net.body.buffers())).device
        return {
            name: torch.equal(predict(self.net, self.test_inputs[name], name, device=device), logits)
            for name, logits in self.logits_when_learned.items()
        }

    @property
    def accuracies(self) -> dict[str, float]:
        """Final accuracy on each task (the last row of the accuracy matrix)."""
        return dict(zip(self.task_names, map(float, self.acc_matrix[-1])))


def run_piggyback(
    tasks: Sequence[Task],
    backbone: nn.Module,
    feature_dim: int,
    cfg: PiggybackConfig | None = None,
    device="cpu",
    seed: int = 0,
    progress: bool | None = None,
) -> PiggybackResult:
    """Learn ``tasks`` one after another with Piggyback over the fixed ``backbone``; fill the accuracy matrix.

    ``R[i, j]`` for ``j > i`` is the accuracy of task j's untrained head on the backbone (what the
    network for task j is before learning it: the backbone does not change, so it is the same for all i).
    """
    cfg = cfg or PiggybackConfig()
    device = get_device(device)
    start = time.perf_counter()
    generator = seed_everything(seed)
    net = PiggybackNet(backbone, feature_dim, cfg.threshold, cfg.init, cfg.init_mode, cfg.ternary, cfg.task_bn)
    heads = [_fresh_head(feature_dim, t.num_outputs, seed * 1000 + j) for j, t in enumerate(tasks)]
    plain = copy.deepcopy(backbone).to(device).eval()
    before = []
    with torch.no_grad():
        for head, t in zip(heads, tasks):
            logits = head.to(device)(
                torch.cat([plain(t.x_test[k : k + 512].to(device)) for k in range(0, len(t.x_test), 512)])
            )
            before.append(float((logits.argmax(1).cpu() == t.y_test).float().mean()))
    acc = AccuracyMatrix([t.name for t in tasks])
    scores, logits = {}, {}
    for i, task in enumerate(tasks):
        train_piggyback_task(net, task, cfg, device, generator, head=copy.deepcopy(heads[i]), progress=progress)
        scores[task.name] = current_scores(net)
        logits[task.name] = predict(net, task.x_test, task.name, device=device)
        for j, other in enumerate(tasks):
            value = evaluate(net, other.x_test, other.y_test, other.name, device) if j <= i else before[j]
            acc.record(i, j, value)
    names = [t.name for t in tasks]
    result = PiggybackResult(
        task_names=names,
        acc_matrix=acc.values,
        sparsity={n: mask_sparsity(net.masks(n)) for n in names},
        overall_sparsity={n: overall_sparsity(net.masks(n)) for n in names},
        scores=scores,
        bytes_per_task=net.bytes_per_task(),
        seconds=time.perf_counter() - start,
        net=net,
        logits_when_learned=logits,
        test_inputs={t.name: t.x_test for t in tasks},
    )
    return result


def run_classifier_only(
    tasks: Sequence[Task],
    backbone: nn.Module,
    feature_dim: int,
    cfg: PiggybackConfig | None = None,
    device="cpu",
    seed: int = 0,
) -> dict[str, float]:
    """Baseline: frozen backbone, only a new head per task. Returns ``{task: test accuracy}``."""
    cfg = cfg or PiggybackConfig()
    device = get_device(device)
    generator = seed_everything(seed)
    frozen = copy.deepcopy(backbone).to(device).eval()
    out = {}
    for j, task in enumerate(tasks):
        head = _fresh_head(feature_dim, task.num_outputs, seed * 1000 + j).to(device)
        with torch.no_grad():
            f_train = predict(_Features(frozen), task.x_train, device=device)
            f_test = predict(_Features(frozen), task.x_test, device=device)
        opt = make_optimizer(head.parameters(), "adam", cfg.head_lr)
        for epochs, factor in lr_stages(cfg):
            opt.param_groups[0]["lr"] = cfg.head_lr * factor
            for _ in range(epochs):
                for fb, yb in batches(f_train, task.y_train, cfg.batch_size, generator=generator):
                    loss = F.cross_entropy(head(fb.to(device)), yb.to(device))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        with torch.no_grad():
            out[task.name] = float((head(f_test.to(device)).argmax(1).cpu() == task.y_test).float().mean())
    return out


class _Features(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor, task=None) -> torch.Tensor:
        return self.body(x)


def run_finetune_each(
    tasks: Sequence[Task],
    backbone: nn.Module,
    feature_dim: int,
    cfg: PiggybackConfig | None = None,
    device="cpu",
    seed: int = 0,
    progress: bool | None = None,
) -> dict[str, float]:
    """Baseline "individual networks": a full copy of the backbone fine-tuned per task. ``{task: accuracy}``."""
    cfg = cfg or PiggybackConfig()
    device = get_device(device)
    generator = seed_everything(seed)
    out = {}
    for j, task in enumerate(tasks):
        net = MultiHeadNet(copy.deepcopy(backbone), feature_dim, [task.num_outputs])
        net.heads[0] = _fresh_head(feature_dim, task.num_outputs, seed * 1000 + j)
        for p in net.parameters():
            p.requires_grad_(True)
        opt = make_optimizer(list(net.to(device).parameters()), "adam", cfg.finetune_lr)
        train_in_stages(
            net, task, cfg, opt, device=device, generator=generator, progress=progress, desc=f"fine-tune {task.name}"
        )
        out[task.name] = evaluate(net, task.x_test, task.y_test, device=device)
    return out


@dataclass
class Experiment:
    """Everything :func:`run_experiment` measured."""

    dataset: str
    kind: str
    base: Task | None = field(repr=False)  # None for an ImageNet backbone
    tasks: list[Task] = field(repr=False)
    backbone: nn.Module = field(repr=False)
    feature_dim: int
    base_accuracy: float | None
    piggyback: PiggybackResult = field(repr=False)
    classifier_only: dict[str, float] | None
    finetune: dict[str, float] | None
    config: dict
    seconds: float
    base_name: str = ""

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def finetune_bytes_per_task(self) -> int:
        """A fine-tuned fp32 copy of the backbone plus its head."""
        head = 4 * (self.feature_dim + 1) * self.tasks[-1].num_outputs
        return 4 * sum(t.numel() for t in self.backbone.state_dict().values() if t.dtype.is_floating_point) + head

    def to_dict(self) -> dict:
        """The CLI's JSON (the `run` contract in the README) plus the baselines' accuracies."""
        pb = self.piggyback
        out = {
            "tasks": pb.task_names,
            "acc_matrix": [[float(v) for v in row] for row in pb.acc_matrix],
            **summarize(pb.acc_matrix),
            "bytes_per_task": int(pb.bytes_per_task),
            "params": int(count_parameters(self.backbone) + count_parameters(pb.net.heads)),
            "sparsity": {t: {k: round(v, 6) for k, v in s.items()} for t, s in pb.sparsity.items()},
            "overall_sparsity": {t: round(v, 6) for t, v in pb.overall_sparsity.items()},
            "base_task": self.base_name or self.base.name,
            "base_accuracy": self.base_accuracy,
            "finetune_bytes_per_task": self.finetune_bytes_per_task(),
            "seconds": round(self.seconds, 3),
            "config": self.config,
        }
        if self.classifier_only is not None:
            out["classifier_only_acc"] = self.classifier_only
        if self.finetune is not None:
            out["finetune_acc"] = self.finetune
        return out


@dataclass
class Setup:
    """What an experiment starts from (:func:`prepare`): the new tasks and the fixed, pretrained backbone."""

    dataset: str
    kind: str
    base: Task | None = field(repr=False)  # the digits backbone's base task; None for an ImageNet backbone
    tasks: list[Task] = field(repr=False)
    backbone: nn.Module = field(repr=False)
    feature_dim: int
    base_accuracy: float | None  # the backbone's test accuracy on its base task (None: ImageNet, not measured)
    base_name: str


def prepare(
    dataset: str | Source = "digits",
    kind: str = "split",
    num_tasks: int | None = None,
    config: PiggybackConfig | None = None,
    scale: str | None = None,
    device=None,
    seed: int = 0,
    progress: bool | None = None,
    data_root=None,
    backbone: str = "digits",
) -> Setup:
    """The new tasks of ``dataset`` (:func:`make_tasks`, at most ``max_train``/``max_test`` examples) and a backbone.

    ``backbone="digits"``: the kit's CNN, pretrained here on the base task (the first half of the classes).
    A torchvision name (``"resnet18"``, ...): its ImageNet weights from the torch hub cache
    (:func:`resnet_backbone`), the base task is ImageNet and the tasks' images get 3 channels, as
    ``python -m cltoolkit run piggyback --scale paper`` does.
    """
    scale = get_scale(scale)
    cfg = config or default_config(scale)
    device = get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    source = dataset if isinstance(dataset, Source) else load_source(dataset, root=data_root)
    base, tasks = make_tasks(source, kind, num_tasks, seed)
    if backbone != "digits":
        tasks = [as_rgb(_limit(t, cfg.max_train, cfg.max_test, seed)) for t in tasks]
        net, dim = resnet_backbone(backbone, pretrained=True)
        return Setup(source.name, kind, None, tasks, net, dim, None, f"ImageNet ({backbone})")
    base = _limit(base, cfg.max_train, cfg.max_test, seed)
    tasks = [_limit(t, cfg.max_train, cfg.max_test, seed + 1 + j) for j, t in enumerate(tasks)]
    net, dim, base_acc = pretrain_backbone(base, cfg, device, seed, show)
    return Setup(source.name, kind, base, tasks, net, dim, base_acc, base.name)


def run_experiment(
    dataset: str | Source = "digits",
    kind: str = "split",
    num_tasks: int | None = None,
    config: PiggybackConfig | None = None,
    scale: str | None = None,
    device=None,
    seed: int = 0,
    baselines: bool = True,
    progress: bool | None = None,
    data_root=None,
    setup: Setup | None = None,
) -> Experiment:
    """Learn the new tasks with Piggyback over a fixed backbone, and (optionally) the paper's two baselines.

    The tasks and the backbone come from ``setup`` (:func:`prepare`, e.g. an ImageNet ResNet at paper scale);
    without it, :func:`prepare` pretrains the digits CNN on the base task of ``dataset``.
    """
    start = time.perf_counter()
    scale = get_scale(scale)
    cfg = config or default_config(scale)
    device = get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    if setup is None:
        setup = prepare(dataset, kind, num_tasks, cfg, scale, device, seed, show, data_root)
    tasks, backbone, dim = setup.tasks, setup.backbone, setup.feature_dim
    pb = run_piggyback(tasks, backbone, dim, cfg, device, seed, show)
    clf = run_classifier_only(tasks, backbone, dim, cfg, device, seed) if baselines else None
    ft = run_finetune_each(tasks, backbone, dim, cfg, device, seed, show) if baselines else None
    return Experiment(
        setup.dataset,
        setup.kind,
        setup.base,
        tasks,
        backbone,
        dim,
        setup.base_accuracy,
        pb,
        clf,
        ft,
        asdict(cfg),
        time.perf_counter() - start,
        setup.base_name,
    )


# ----------------------------------------------------------------------------------------------
# Paper scale: torchvision ResNet
# ----------------------------------------------------------------------------------------------


def resnet_backbone(name: str = "resnet18", pretrained: bool = True) -> tuple[nn.Module, int]:
    """A torchvision ResNet without its classifier: ``(backbone, feature_dim)``; 3-channel images in.

    With ``pretrained=True`` the ImageNet weights must already be in the torch hub cache (nothing is
    downloaded here); otherwise a :class:`ConfigError` says how to get them.
    """
    import torchvision

    builder = getattr(torchvision.models, name, None)
    if builder is None or not name.startswith(("resnet", "vgg")):
        raise ConfigError(f"unknown torchvision backbone {name!r}; use e.g. resnet18, resnet50 or vgg16")
    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not file.exists():
            raise ConfigError(
                f"ImageNet weights for {name} are not in the torch hub cache ({file}). On a machine with internet "
                f"run: python -c \"import torchvision; torchvision.models.{name}(weights='DEFAULT')\" (or download "
                f"{weights.url} into {file.parent}); or pass pretrained=False for a random backbone"
            )
    model = builder(weights=weights)
    if hasattr(model, "fc"):
        dim = model.fc.in_features
        model.fc = nn.Identity()
    else:
        dim = model.classifier[-1].in_features
        model.classifier[-1] = nn.Identity()
    return model.eval(), dim


def as_rgb(task: Task) -> Task:
    """Repeat a 1-channel task's images to 3 channels (for ImageNet backbones)."""
    if task.x_train.shape[1] == 3:
        return task
    return replace(
        task,
        x_train=task.x_train.expand(-1, 3, -1, -1).contiguous(),
        x_test=task.x_test.expand(-1, 3, -1, -1).contiguous(),
    )


# ----------------------------------------------------------------------------------------------
# Mask-bank files and plain-cost inference
# ----------------------------------------------------------------------------------------------

BANK_FORMAT = "cltoolkit-piggyback-bank/2"  # /2: one packed tensor per layer and task, also for ternary masks


def save_bank(net: PiggybackNet, path: str | Path) -> Path:
    """Write every stored task of ``net`` (its ``bank``: packed masks, heads, BN copies) to ``path`` atomically."""
    if not net.bank:
        raise ConfigError("the mask bank is empty: finish at least one task before saving")
    header = dict(format=BANK_FORMAT, fingerprint=net.fingerprint, ternary=net.ternary, task_bn=net.task_bn)
    return atomic_torch_save({**header, "tasks": dict(net.bank)}, Path(path))


def load_bank(net: PiggybackNet, path: str | Path) -> list[str]:
    """Add the tasks stored in ``path`` (by :func:`save_bank`, from a net on the same backbone); returns their names.

    The file is read with ``torch.load(weights_only=True)`` (tensors and plain containers only, never code), and
    it is all or nothing: the header is checked, then every task by
    :meth:`~cltoolkit.piggyback.PiggybackNet.add_stored` before any is added, so a broken file leaves ``net``
    as it was. Raises :class:`~cltoolkit.errors.CheckpointMismatchError` for a file that is not a mask bank, a
    bank made on another backbone or with other settings, or a corrupt task; ``ConfigError`` for a task name
    ``net`` already has.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise CheckpointMismatchError(f"{path} is not a readable Piggyback mask bank ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != BANK_FORMAT:
        raise CheckpointMismatchError(f"{path} is not a Piggyback mask bank (format {BANK_FORMAT} expected)")
    if payload.get("fingerprint") != net.fingerprint:
        raise CheckpointMismatchError(
            f"mask bank {path} was made for another backbone (fingerprint {payload.get('fingerprint')}, this "
            f"network's is {net.fingerprint}); masks only fit the exact weights they were learned on: load it into "
            "a PiggybackNet built from that backbone"
        )
    for key in ("ternary", "task_bn"):
        if payload.get(key) != getattr(net, key):
            raise CheckpointMismatchError(
                f"mask bank {path} has {key}={payload.get(key)!r}, this network {key}={getattr(net, key)}; "
                "build the network with the same setting"
            )
    tasks = payload.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        got = f"{type(tasks).__name__} {tasks!r}"[:60] if "tasks" in payload else "no 'tasks' entry"
        raise CheckpointMismatchError(f"mask bank {path} is corrupt: 'tasks' must be {{name: state}}, got {got}")
    try:
        return net.add_stored(tasks)
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(f"mask bank {path} is corrupt: {exc}; save it again") from None


def plain_layer(masked: nn.Module) -> nn.Module:
    """The plain ``nn.Linear`` / ``nn.Conv2d`` of a masked layer, its mask multiplied into the weight once.

    Inference then costs what the plain layer costs (``benchmarks/bench_piggyback.py`` measures it).
    """
    args = {k: getattr(masked, k) for k in masked.arg_names}
    plain = nn.utils.skip_init(masked.wraps, **args, bias=masked.bias is not None, device=masked.weight.device)
    with torch.no_grad():
        plain.weight.copy_(masked.masked_weight())
        if masked.bias is not None:
            plain.bias.copy_(masked.bias)
    return plain


def apply_masks(net: PiggybackNet, task: str) -> nn.Module:
    """A plain copy of ``net``'s body for ``task``, every mask multiplied in once: inputs -> (batch, feature_dim)."""
    net.set_task(task)
    body = copy.deepcopy(net.body)
    for name, _ in net.masked_layers():
        parent, _, child = name.rpartition(".")
        setattr(body.get_submodule(parent), child, plain_layer(body.get_submodule(name)))
    return body.eval()


def current_scores(net: PiggybackNet) -> dict[str, torch.Tensor]:
    """``{layer: real-valued scores}`` (CPU copies): keep them to ask "what if tau were different"."""
    return {name: layer.mask_scores.detach().cpu().clone() for name, layer in net.masked_layers()}


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def run_from_args(args) -> dict:
    """``python -m cltoolkit run piggyback``: the experiment of notebook 02 as a JSON-ready dict.

    At ``default``/``smoke`` scale the digits CNN is pretrained on the base task; at ``paper`` scale
    the backbone is an ImageNet ResNet-18 from the torch hub cache (the base task is ImageNet).
    """
    if args.stream == "attributes":
        raise ConfigError(
            "piggyback learns a sequence of classification tasks, not the multi-task 'attributes' set; "
            "use --stream split, rotated or permuted"
        )
    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.lr is not None:
        overrides["mask_lr"] = args.lr
    if getattr(args, "threshold", None) is not None:
        overrides["threshold"] = args.threshold
    cfg = default_config(args.scale, **overrides)
    progress = False if args.quiet else None
    if args.scale != "paper":
        exp = run_experiment(
            args.dataset,
            args.stream,
            args.tasks,
            cfg,
            args.scale,
            args.device,
            args.seed,
            baselines=True,
            progress=progress,
            data_root=args.data_root,
        )
        return exp.to_dict()
    start = time.perf_counter()
    source = load_source(args.dataset, root=args.data_root)
    _, tasks = make_tasks(source, args.stream, args.tasks, args.seed)
    tasks = [as_rgb(_limit(t, cfg.max_train, cfg.max_test, args.seed)) for t in tasks]
    backbone, dim = resnet_backbone("resnet18", pretrained=True)
    pb = run_piggyback(tasks, backbone, dim, cfg, args.device, args.seed, progress)
    return {
        "tasks": pb.task_names,
        "acc_matrix": [[float(v) for v in row] for row in pb.acc_matrix],
        **summarize(pb.acc_matrix),
        "bytes_per_task": int(pb.bytes_per_task),
        "params": int(count_parameters(backbone) + count_parameters(pb.net.heads)),
        "sparsity": pb.sparsity,
        "overall_sparsity": pb.overall_sparsity,
        "base_task": "ImageNet (resnet18)",
        "seconds": round(time.perf_counter() - start, 3),
        "config": asdict(cfg),
    }
