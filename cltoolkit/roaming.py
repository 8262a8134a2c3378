"""Maximum Roaming (Pascal et al., AAAI 2021): roaming parameter partitions for multi-task learning.

Notebook 03's method. A shared conv net learns T tasks at once; task ``t`` only
uses a subset of each layer's filters (output channels). The subsets start as
a random partition with sharing ratio ``p`` and then *roam*: every
``update_interval`` (Δ) training iterations each task swaps one active filter
for one it has never used, until every task has visited every filter.

Symbols (METHODS.md §2) and their names here:

- ``S`` (filters of a layer) = ``num_units``; ``T`` = ``num_tasks``; ``p`` = ``sharing_ratio``;
- the partition matrix ``M`` in {0,1}^(S×T) = :attr:`RoamingPartition.mask`;
- ``A_t(c)`` = ``mask[:, t]`` after ``c`` updates; ``B_t(c)`` = ``visited[:, t]``;
- ``r(c)`` = :attr:`RoamingPartition.progress`.

Pieces, top to bottom: the partition (:func:`initial_partition`,
:func:`roaming_update`, :func:`cosine_choice`, :class:`RoamingPartition`),
networks whose conv outputs are masked per task (:class:`ChannelMask`,
:class:`RoamingCNN`, :class:`RoamingResNet18`), one partition per masked layer
(:class:`NetworkPartitions`), the multi-task training loop
(:func:`train_multitask`), evaluation with per-attribute F-scores
(:func:`evaluate_multitask`), and the experiment runners used by the notebook
and the CLI (:func:`run_roaming`, :func:`run_single_task`, :func:`run_from_args`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import by_scale, get_scale, progress_enabled, seed_everything
from .data.attributes import AttributeTasks
from .errors import ConfigError
from .metrics import f1_scores
from .nets import count_parameters
from .train import batches, make_optimizer

SELECTIONS = ("random", "cosine")

# ----------------------------------------------------------------------------------------------
# The partition of one layer
# ----------------------------------------------------------------------------------------------


def units_per_task(num_units: int, sharing_ratio: float) -> int:
    """⌈p·S⌉: how many units each task owns (a tiny tolerance keeps 0.3·10 from rounding up to 4)."""
    return math.ceil(round(sharing_ratio * num_units, 9))


def _validate(num_units: int, num_tasks: int, sharing_ratio: float) -> int:
    for name, value in (("num_units", num_units), ("num_tasks", num_tasks)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    try:
        p = float(sharing_ratio)
    except (TypeError, ValueError):
        raise ConfigError(f"sharing_ratio must be a number in [0, 1], got {sharing_ratio!r}") from None
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ConfigError(f"sharing_ratio must be in [0, 1], got {sharing_ratio}")
    if num_tasks > num_units:
        raise ConfigError(
            f"{num_tasks} tasks need at least {num_tasks} units for the initial disjoint cover "
            f"(one unit of its own per task), but the layer has {num_units}; use a wider layer or fewer tasks"
        )
    k = units_per_task(num_units, p)
    if k < 1:
        raise ConfigError(
            f"sharing_ratio {p} gives each task ceil({p}*{num_units}) = 0 of {num_units} units; use p > 0"
        )
    if k * num_tasks < num_units:
        smallest = math.ceil(num_units / num_tasks) / num_units
        raise ConfigError(
            f"sharing_ratio {p} is too small to cover all {num_units} units with {num_tasks} tasks "
            f"({num_tasks} x {k} units < {num_units}); use p >= {smallest:.4g}"
        )
    return k


def initial_partition(num_units: int, num_tasks: int, sharing_ratio: float, rng: np.random.Generator) -> np.ndarray:
    """A random partition matrix (S, T) of bools: each task owns ⌈p·S⌉ units, every unit is owned.

    As in the authors' code: shuffle the units, cut them into T disjoint blocks
    of nearly equal size (the *cover*), then top every task up with units drawn
    uniformly from the others until it owns ⌈p·S⌉. Raises :class:`ConfigError`
    when that is impossible (see :class:`RoamingPartition`).
    """
    k = _validate(num_units, num_tasks, sharing_ratio)
    mask = np.zeros((num_units, num_tasks), dtype=bool)
    order = rng.permutation(num_units)
    for t, block in enumerate(np.array_split(order, num_tasks)):
        mask[block, t] = True
    for t in range(num_tasks):
        free = np.flatnonzero(~mask[:, t])
        extra = rng.choice(free, size=k - int(mask[:, t].sum()), replace=False)
        mask[extra, t] = True
    return mask


def roaming_update(mask: np.ndarray, visited: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random roaming update of every task (Definition 1); returns new ``(mask, visited)`` arrays.

    For each task ``t`` in order: i+ uniform from the never-visited units
    (``~visited[:, t]``), i− uniform from the active ones (``mask[:, t]``);
    then ``mask[i+, t] = 1``, ``mask[i−, t] = 0``, ``visited[i+, t] = 1``.
    A task that has visited every unit is left as it is.
    """
    mask, visited = mask.copy(), visited.copy()
    for t in range(mask.shape[1]):
        unvisited = np.flatnonzero(~visited[:, t])
        if len(unvisited) == 0:
            continue
        i_plus = rng.choice(unvisited)
        i_minus = rng.choice(np.flatnonzero(mask[:, t]))
        mask[i_plus, t] = True
        mask[i_minus, t] = False
        visited[i_plus, t] = True
    return mask, visited


def filter_similarity(filters: torch.Tensor | np.ndarray) -> np.ndarray:
    """Cosine similarity between filters: ``filters`` (S, ...) is flattened per filter to (S, fan_in) -> (S, S)."""
    w = torch.as_tensor(filters).detach().float().cpu()
    w = w.reshape(w.shape[0], -1)  # one row per output filter (the authors' code flattened the wrong axis)
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (w @ w.T).numpy()


def cosine_choice(similarity: np.ndarray, active: np.ndarray, visited: np.ndarray) -> tuple[int, int]:
    """The deterministic variant's swap for one task: ``(i_plus, i_minus)``.

    ``similarity`` (S, S) from :func:`filter_similarity`; ``active`` = A_t and
    ``visited`` = B_t as (S,) bools. i+ is the never-visited filter with the
    *lowest* mean cosine similarity to the active filters (the most novel one);
    i− is the active filter with the *highest* mean similarity to the other
    active filters (the most redundant one). Ties go to the lowest index.
    """
    active = np.asarray(active, dtype=bool)
    visited = np.asarray(visited, dtype=bool)
    candidates = np.flatnonzero(~visited)
    members = np.flatnonzero(active)
    if len(candidates) == 0 or len(members) == 0:
        raise ValueError("cosine_choice needs at least one never-visited and one active unit")
    to_active = similarity[:, members].mean(axis=1)
    i_plus = int(candidates[np.argmin(to_active[candidates])])
    if len(members) == 1:
        return i_plus, int(members[0])
    sub = similarity[np.ix_(members, members)]
    to_others = (sub.sum(axis=1) - np.diag(sub)) / (len(members) - 1)
    i_minus = int(members[np.argmax(to_others)])
    return i_plus, i_minus


class RoamingPartition:
    """The roaming partition of one layer: S units (filters) shared by T tasks.

    ``RoamingPartition(num_units, num_tasks, p, seed=0, selection="random")``

    - ``mask`` (S, T) bool: ``mask[s, t]`` says task ``t`` uses unit ``s`` now (A_t(c));
    - ``visited`` (S, T) bool: units task ``t`` has ever used (B_t(c));
    - ``step()``: one roaming update for every task;
    - ``progress``: r(c) = (|B_t(c)| − ⌈p·S⌉) / (S − ⌈p·S⌉) in [0, 1] (1 when p·S rounds up to S);
    - ``done``: every task has visited every unit; reached after exactly
      ``total_steps`` = S − ⌈p·S⌉ updates (the paper's (1 − p)·S, rounded down);
    - ``history``: the mask after 0, 1, ..., c updates (copies), for replaying;
      :meth:`visited_at` gives B(c).

    Initialisation (:func:`initial_partition`): each task owns ⌈p·S⌉ units and
    every unit is owned by at least one task. Bad input raises
    :class:`~cltoolkit.errors.ConfigError`: p outside [0, 1]; p with ⌈p·S⌉ = 0
    (p = 0); T·⌈p·S⌉ < S (no cover possible); T > S (the cover gives every task
    a unit of its own). Coverage holds at initialisation; roaming moves each
    task independently, so later a unit can be left unused for a while.

    Calling ``step()`` when ``done`` is a documented no-op: it returns False
    and records nothing. ``selection="cosine"`` is the deterministic variant
    and needs the layer's filters: ``step(filters)`` with ``filters`` (S, ...).
    """

    def __init__(self, num_units: int, num_tasks: int, p: float, seed: int = 0, selection: str = "random"):
        if selection not in SELECTIONS:
            raise ConfigError(f"unknown selection {selection!r}; choose one of: {', '.join(SELECTIONS)}")
        self.num_units = int(num_units)
        self.num_tasks = int(num_tasks)
        self.sharing_ratio = float(p)
        self.seed = seed
        self.selection = selection
        self._rng = np.random.default_rng(seed)
        self._mask = initial_partition(self.num_units, self.num_tasks, self.sharing_ratio, self._rng)
        self._visited = self._mask.copy()
        self.units_per_task = int(self._mask[:, 0].sum())
        self.steps = 0
        self.history: list[np.ndarray] = [self._mask.copy()]

    @property
    def p(self) -> float:
        return self.sharing_ratio

    @property
    def mask(self) -> np.ndarray:
        """(S, T) bool, read-only view of the current partition A(c)."""
        view = self._mask.view()
        view.flags.writeable = False
        return view

    @property
    def visited(self) -> np.ndarray:
        """(S, T) bool, read-only view of the visited sets B(c)."""
        view = self._visited.view()
        view.flags.writeable = False
        return view

    @property
    def total_steps(self) -> int:
        """Updates until every task has visited every unit: S − ⌈p·S⌉."""
        return self.num_units - self.units_per_task

    @property
    def done(self) -> bool:
        return bool(self._visited.all())

    @property
    def progress(self) -> float:
        """r(c) in [0, 1] (the same for every task, since each visits one new unit per update)."""
        return self.progress_at(self.steps)

    def progress_at(self, c: int) -> float:
        """r(c) after ``c`` updates."""
        if self.total_steps == 0:
            return 1.0
        return min(c, self.total_steps) / self.total_steps

    def visited_at(self, c: int) -> np.ndarray:
        """B(c): (S, T) bool, the union of the masks after 0..c updates."""
        if not 0 <= c < len(self.history):
            raise ValueError(f"update step {c} out of range: the history has steps 0..{len(self.history) - 1}")
        return np.logical_or.reduce(self.history[: c + 1], axis=0)

    def step(self, filters: torch.Tensor | np.ndarray | None = None) -> bool:
        """One roaming update for every task; returns False (and changes nothing) once ``done``.

        ``filters`` (S, ...): the layer's weights, needed for ``selection="cosine"``.
        """
        if self.done:
            return False
        if self.selection == "random":
            self._mask, self._visited = roaming_update(self._mask, self._visited, self._rng)
        else:
            if filters is None:
                raise ConfigError("selection='cosine' needs the layer's filters: call step(filters) with (S, ...)")
            if len(filters) != self.num_units:
                raise ConfigError(f"expected filters for {self.num_units} units, got {len(filters)}")
            similarity = filter_similarity(filters)
            for t in range(self.num_tasks):
                i_plus, i_minus = cosine_choice(similarity, self._mask[:, t], self._visited[:, t])
                self._mask[i_plus, t] = True
                self._mask[i_minus, t] = False
                self._visited[i_plus, t] = True
        self.steps += 1
        self.history.append(self._mask.copy())
        return True

    def __repr__(self) -> str:
        return (
            f"RoamingPartition(num_units={self.num_units}, num_tasks={self.num_tasks}, p={self.sharing_ratio}, "
            f"selection={self.selection!r}, steps={self.steps}/{self.total_steps}, progress={self.progress:.2f})"
        )


# ----------------------------------------------------------------------------------------------
# Networks with per-task channel masks
# ----------------------------------------------------------------------------------------------


class ChannelMask(nn.Module):
    """Multiply output channel ``s`` by ``mask[s, task]``; ``task=None`` lets everything through.

    ``mask`` is a (channels, tasks) float buffer, written by :class:`NetworkPartitions`.
    The owning network sets ``task`` before each forward pass.
    """

    def __init__(self, num_channels: int, num_tasks: int):
        super().__init__()
        self.register_buffer("mask", torch.ones(num_channels, num_tasks))
        self.task: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.task is None:
            return x
        return x * self.mask[:, self.task].view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.mask.shape[0]}, tasks={self.mask.shape[1]}"


class TaskBatchNorm2d(nn.Module):
    """Batch norm with shared affine parameters and one set of running statistics per task.

    Why: a layer's input distribution depends on the task's masks upstream, so
    one shared set of running statistics (standard BN) is a mixture of the
    tasks' distributions and eval-mode outputs drift away from what training
    saw (on the digits it costs most of the F-score). Slot ``T`` holds the
    statistics of unmasked passes (``task=None``, full sharing).
    """

    def __init__(self, num_channels: int, num_tasks: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.register_buffer("running_mean", torch.zeros(num_tasks + 1, num_channels))
        self.register_buffer("running_var", torch.ones(num_tasks + 1, num_channels))
        self.momentum, self.eps = momentum, eps
        self.task: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slot = self.running_mean.shape[0] - 1 if self.task is None else self.task
        return F.batch_norm(
            x,
            self.running_mean[slot],
            self.running_var[slot],
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[0]}, tasks={self.running_mean.shape[0] - 1}"


class TaskMaskedNet(nn.Module):
    """Base class: a body with :class:`ChannelMask` layers after some convs, and one linear head per task.

    ``forward(x, task)`` (batch, C, H, W) -> (batch, head_sizes[task]) uses task
    ``task``'s channel masks and BN statistics; ``forward_shared(x)`` runs the body
    once without masks and returns every head's output (full sharing, one pass).
    With ``fully_shared=True`` (p = 1) ``forward`` also skips the masks.
    Subclasses define ``self.body`` and ``self.masked_layers`` (name -> (conv, mask)).
    """

    body: nn.Module
    masked_layers: dict[str, tuple[nn.Conv2d, ChannelMask]]

    def _make_heads(self, feature_dim: int, head_sizes: Sequence[int]) -> None:
        if not head_sizes:
            raise ConfigError("a multi-task network needs at least one head")
        self.head_sizes = [int(h) for h in head_sizes]
        self.num_tasks = len(self.head_sizes)
        self.feature_dim = feature_dim
        self.heads = nn.ModuleList(nn.Linear(feature_dim, h) for h in self.head_sizes)

    def _set_task(self, task: int | None) -> None:
        for module in self.body.modules():
            if isinstance(module, (ChannelMask, TaskBatchNorm2d)):
                module.task = task

    def features(self, x: torch.Tensor, task: int | None) -> torch.Tensor:
        self._set_task(task)
        try:
            return self.body(x)
        finally:
            self._set_task(None)

    fully_shared: bool = False

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        if not 0 <= task < self.num_tasks:
            raise ConfigError(f"task {task} out of range: this network has {self.num_tasks} tasks")
        return self.heads[task](self.features(x, None if self.fully_shared else task))

    def forward_shared(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.features(x, None)
        return [head(z) for head in self.heads]

    def layer_widths(self) -> dict[str, int]:
        return {name: conv.out_channels for name, (conv, _) in self.masked_layers.items()}


class RoamingCNN(TaskMaskedNet):
    """``conv3x3 -> BN -> ⊙ mask_t -> ReLU -> maxpool`` blocks, global average pooling, a head per task.

    For 8x8 digits with ``channels=(32, 64)``; every conv's output channels are partitioned.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], head_sizes: Sequence[int]):
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ConfigError(f"channel sizes must be positive integers, got {list(channels)}")
        num_tasks = len(head_sizes)
        layers: list[nn.Module] = []
        self.masked_layers = {}
        width = in_channels
        for d, c in enumerate(channels):
            conv = nn.Conv2d(width, int(c), kernel_size=3, padding=1, bias=False)
            mask = ChannelMask(int(c), num_tasks)
            layers += [conv, TaskBatchNorm2d(int(c), num_tasks), mask, nn.ReLU(), nn.MaxPool2d(2)]
            self.masked_layers[f"conv{d + 1}"] = (conv, mask)
            width = int(c)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self._make_heads(width, head_sizes)


class _MaskedBasicBlock(nn.Module):
    """ResNet basic block with masks: conv-BN-⊙m-ReLU, conv-BN-⊙m, + shortcut, ReLU (shortcut not masked)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, num_tasks: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = TaskBatchNorm2d(out_ch, num_tasks)
        self.mask1 = ChannelMask(out_ch, num_tasks)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = TaskBatchNorm2d(out_ch, num_tasks)
        self.mask2 = ChannelMask(out_ch, num_tasks)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), TaskBatchNorm2d(out_ch, num_tasks)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.mask1(self.bn1(self.conv1(x))))
        out = self.mask2(self.bn2(self.conv2(out)))
        return F.relu(out + self.shortcut(x))


class RoamingResNet18(TaskMaskedNet):
    """ResNet-18 (widths 64-128-256-512, two basic blocks each) with every block conv masked per task.

    The paper's network for CelebA at 64x64. The stem is a 3x3 conv (stride 1)
    with BN, mask and ReLU, then 2x2 max pooling, which suits small images.
    """

    def __init__(self, in_channels: int, head_sizes: Sequence[int], widths: Sequence[int] = (64, 128, 256, 512)):
        super().__init__()
        num_tasks = len(head_sizes)
        stem_conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        stem_mask = ChannelMask(widths[0], num_tasks)
        stem_bn = TaskBatchNorm2d(widths[0], num_tasks)
        blocks: list[nn.Module] = [stem_conv, stem_bn, stem_mask, nn.ReLU(), nn.MaxPool2d(2)]
        self.masked_layers = {"stem": (stem_conv, stem_mask)}
        width = widths[0]
        for stage, w in enumerate(widths):
            for b in range(2):
                block = _MaskedBasicBlock(width, w, 2 if (b == 0 and stage > 0) else 1, num_tasks)
                blocks.append(block)
                self.masked_layers[f"layer{stage + 1}.{b}.conv1"] = (block.conv1, block.mask1)
                self.masked_layers[f"layer{stage + 1}.{b}.conv2"] = (block.conv2, block.mask2)
                width = w
        blocks += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*blocks)
        self._make_heads(width, head_sizes)


def build_roaming_net(arch: str, image_shape: Sequence[int], head_sizes: Sequence[int], channels=(32, 64)):
    """``cnn`` (:class:`RoamingCNN`) or ``resnet18`` (:class:`RoamingResNet18`) for images (C, H, W)."""
    if arch == "cnn":
        return RoamingCNN(image_shape[0], channels, head_sizes)
    if arch == "resnet18":
        return RoamingResNet18(image_shape[0], head_sizes)
    raise ConfigError(f"unknown architecture {arch!r}; choose cnn or resnet18")


# ----------------------------------------------------------------------------------------------
# One partition per masked layer
# ----------------------------------------------------------------------------------------------


class NetworkPartitions:
    """A :class:`RoamingPartition` for every masked layer of ``net``, kept in sync with its masks.

    ``step()`` updates every layer (each with its own random stream) and
    writes the new masks into the network; layers that are done are left alone.
    ``done`` is True when every layer is done. Layer ``d`` uses seed ``seed + d``.
    """

    def __init__(self, net: TaskMaskedNet, sharing_ratio: float, seed: int = 0, selection: str = "random"):
        self.net = net
        self.sharing_ratio = float(sharing_ratio)
        self.selection = selection
        self.layers = {
            name: RoamingPartition(conv.out_channels, net.num_tasks, sharing_ratio, seed=seed + d, selection=selection)
            for d, (name, (conv, _)) in enumerate(net.masked_layers.items())
        }
        self.updates = 0
        self.apply()

    def apply(self) -> None:
        """Copy every partition's mask into its :class:`ChannelMask` buffer."""
        for name, part in self.layers.items():
            buffer = self.net.masked_layers[name][1].mask
            buffer.copy_(torch.from_numpy(part.mask.astype(np.float32)))

    @property
    def done(self) -> bool:
        return all(part.done for part in self.layers.values())

    @property
    def progress(self) -> float:
        """Mean r(c) over layers (layers of different widths finish at different times)."""
        return float(np.mean([part.progress for part in self.layers.values()]))

    @property
    def total_steps(self) -> int:
        return max(part.total_steps for part in self.layers.values())

    def step(self) -> bool:
        changed = False
        for name, part in self.layers.items():
            filters = self.net.masked_layers[name][0].weight if self.selection == "cosine" else None
            changed |= part.step(filters)
        if changed:
            self.updates += 1
            self.apply()
        return changed

    def extra_bytes_per_task(self) -> int:
        """One column of every partition matrix, packed at one bit per filter."""
        return math.ceil(sum(part.num_units for part in self.layers.values()) / 8)


# ----------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------


def multitask_loss(net: TaskMaskedNet, x: torch.Tensor, y: torch.Tensor, groups: Sequence[Sequence[int]]):
    """Sum over tasks of the mean BCE of each task's attributes; one masked forward pass per task.

    ``x`` (batch, C, H, W); ``y`` (batch, A) of 0/1. Returns ``(total, [per-task losses])``.
    """
    losses = [F.binary_cross_entropy_with_logits(net(x, t), y[:, list(group)]) for t, group in enumerate(groups)]
    return sum(losses), losses


def shared_loss(net: TaskMaskedNet, x: torch.Tensor, y: torch.Tensor, groups: Sequence[Sequence[int]]):
    """The same loss for full sharing: one unmasked pass of the body, every head on its output."""
    losses = [
        F.binary_cross_entropy_with_logits(out, y[:, list(group)]) for out, group in zip(net.forward_shared(x), groups)
    ]
    return sum(losses), losses


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
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    desc: str = "multi-task",
) -> TrainLog:
    """Train all tasks together; roam the partitions every ``update_interval`` iterations until done.

    Each iteration: one batch, one masked forward pass per task, the sum of the
    per-task BCE losses, one optimiser step (Adam). ``partitions=None`` means
    full sharing and uses a single unmasked pass. ``roaming=False`` keeps the
    initial partitions fixed ("task routing"). No update happens after the last
    iteration (the new masks would never be trained).
    """
    if update_interval is None or int(update_interval) < 1:
        raise ConfigError(f"update_interval must be a positive number of iterations, got {update_interval!r}")
    device = torch.device(device)
    net.to(device).train()
    opt = make_optimizer(net.parameters(), "adam", lr)
    show = progress_enabled() if progress is None else progress
    steps_per_epoch = -(-len(data.x_train) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not show, leave=False)
    loss_fn = shared_loss if partitions is None else multitask_loss
    epoch_losses, update_iterations = [], []
    iteration, finished_at = 0, None
    last_iteration = epochs * steps_per_epoch  # no roaming after the last step: nothing would learn the new masks
    for _ in range(epochs):
        total, count = 0.0, 0
        for xb, yb in batches(data.x_train, data.y_train, batch_size, shuffle=True, generator=generator):
            xb, yb = xb.to(device), yb.to(device)
            loss, _ = loss_fn(net, xb, yb, data.groups)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            iteration += 1
            total += loss.item() * len(xb)
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


# ----------------------------------------------------------------------------------------------
# Experiments: configuration, runners, CLI
# ----------------------------------------------------------------------------------------------


@dataclass
class RoamingConfig:
    """Everything a Maximum Roaming run needs.

    ``sharing_ratio`` p; ``update_interval`` Δ in training iterations;
    ``roaming=False`` gives fixed partitions; ``sharing_ratio=1`` full sharing.
    ``max_train`` / ``max_test`` subsample the data (None: all of it).
    """

    arch: str = "cnn"
    channels: tuple[int, ...] = (16, 32)
    sharing_ratio: float = 0.5
    update_interval: int = 5
    selection: str = "random"
    roaming: bool = True
    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    max_train: int | None = None
    max_test: int | None = None

    def validate(self) -> RoamingConfig:
        if not 0.0 <= float(self.sharing_ratio) <= 1.0:
            raise ConfigError(f"sharing_ratio must be in [0, 1], got {self.sharing_ratio}")
        if isinstance(self.update_interval, bool) or not isinstance(self.update_interval, int):
            raise ConfigError(f"update_interval must be a positive integer, got {self.update_interval!r}")
        if self.update_interval < 1:
            raise ConfigError(f"update_interval must be >= 1 training iteration, got {self.update_interval}")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"unknown selection {self.selection!r}; choose one of: {', '.join(SELECTIONS)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        return self


def default_config(scale: str | None = None, dataset: str = "digits", **overrides) -> RoamingConfig:
    """The configuration for a scale and dataset; ``overrides`` replace single fields.

    digits: smoke 3 epochs on 320 examples with channels (8, 16), Δ = 1; default
    15 epochs on all 1,258 with channels (16, 32), Δ = 5 iterations (20 per epoch).
    celeba (paper): ResNet-18, batch 256, Adam 1e-4, 40 epochs, p = 0.8,
    Δ = 0.1 epoch (set from the training-set size in :func:`run_from_args`).
    """
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
    return replace(RoamingConfig(**base), **overrides).validate()


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


def _subsample(data: AttributeTasks, max_train: int | None, max_test: int | None, seed: int) -> AttributeTasks:
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
) -> RoamingResult:
    """Train one multi-task network on ``data`` and score it on the test split.

    ``config.sharing_ratio == 1`` is full sharing (one pass, no masks);
    ``config.roaming=False`` fixed partitions; otherwise Maximum Roaming.
    """
    config = (config or default_config()).validate()
    data = _subsample(data, config.max_train, config.max_test, seed)
    start = time.perf_counter()
    generator = seed_everything(seed)
    image_shape = tuple(data.x_train.shape[1:])
    net = build_roaming_net(config.arch, image_shape, data.head_sizes, config.channels)
    full = float(config.sharing_ratio) >= 1.0
    net.fully_shared = full
    partitions = None if full else NetworkPartitions(net, config.sharing_ratio, seed=seed, selection=config.selection)
    if label is None:
        label = "full sharing" if full else ("roaming" if config.roaming else "fixed partitions")
    log = train_multitask(
        net,
        data,
        partitions,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        update_interval=config.update_interval,
        roaming=config.roaming,
        device=device,
        generator=generator,
        progress=progress,
        desc=label,
    )
    scores = evaluate_multitask(net, data, device)
    extra = _head_bytes(net) + (partitions.extra_bytes_per_task() if partitions is not None else 0)
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
    data = _subsample(data, config.max_train, config.max_test, seed)
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
        bytes_per_task = max(bytes_per_task, 4 * one.params)  # a new task needs a whole network
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


def load_attribute_tasks(dataset: str = "digits", root=None, scale: str | None = None) -> AttributeTasks:
    """The multi-task attribute set for ``dataset`` (digits, or CelebA from ``root`` at 64x64)."""
    from .data import attribute_tasks, load_source

    if dataset == "celeba":
        max_images = by_scale(scale, smoke=512, default=8000, paper=None)
        source = load_source("celeba", root, image_size=64, max_images=max_images)
    else:
        source = load_source(dataset, root)
    return attribute_tasks(source)


def run_from_args(args) -> dict:
    """The CLI's ``run roaming``: build the config from ``args`` (None = default for the scale) and run it."""
    if args.stream != "attributes":
        raise ConfigError(
            f"roaming is multi-task learning on attribute groups; use --stream attributes, not {args.stream!r}"
        )
    if args.dataset not in ("digits", "celeba"):
        raise ConfigError(f"roaming needs a multi-attribute dataset: digits or celeba, not {args.dataset!r}")
    overrides = {}
    if getattr(args, "epochs", None) is not None:
        overrides["epochs"] = args.epochs
    if getattr(args, "lr", None) is not None:
        overrides["lr"] = args.lr
    if getattr(args, "sharing_ratio", None) is not None:
        overrides["sharing_ratio"] = args.sharing_ratio
    if getattr(args, "update_interval", None) is not None:
        overrides["update_interval"] = args.update_interval
    if getattr(args, "selection", None) is not None:
        overrides["selection"] = args.selection
    if getattr(args, "no_roaming", None):
        overrides["roaming"] = False
    config = default_config(args.scale, args.dataset, **overrides)
    data = load_attribute_tasks(args.dataset, args.data_root, args.scale)
    if args.tasks is not None:
        if args.tasks > data.num_tasks:
            raise ConfigError(f"--tasks {args.tasks}: the {args.dataset} attribute set has {data.num_tasks} tasks")
        data = replace(data, groups=data.groups[: args.tasks], task_names=data.task_names[: args.tasks])
    if args.dataset == "celeba" and args.scale == "paper" and getattr(args, "update_interval", None) is None:
        steps_per_epoch = -(-len(data.x_train) // config.batch_size)
        config = replace(config, update_interval=max(1, round(0.1 * steps_per_epoch)))  # Δ = 0.1 epoch
    result = run_roaming(
        data, config, seed=args.seed, device=args.device, progress=False if getattr(args, "quiet", False) else None
    )
    return result.to_dict()
