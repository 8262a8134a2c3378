"""Maximum Roaming (Pascal et al., AAAI 2021): roaming parameter partitions for multi-task learning.

Notebook 03's method, in the order of METHODS.md §2. A shared conv net learns T
tasks at once; task ``t`` only uses a subset of each layer's filters (output
channels). The subsets start as a random partition with sharing ratio ``p`` and
then *roam*: every Δ training iterations each task swaps one active filter for
one it has never used, until every task has visited every filter.

Symbols and their names here: ``S`` (filters of a layer) = ``num_units``;
``T`` = ``num_tasks``; ``p`` = ``sharing_ratio``; the partition matrix ``M`` in
{0,1}^(S×T) = :attr:`RoamingPartition.mask`; ``A_t(c)`` = ``mask[:, t]`` after
``c`` updates; ``B_t(c)`` = ``visited[:, t]``; ``r(c)`` = :attr:`RoamingPartition.progress`.

Top to bottom: one layer's partition (:func:`initial_partition`,
:func:`roaming_update`, :func:`cosine_choice`, :class:`RoamingPartition`);
networks whose conv outputs are masked per task (:class:`ChannelMask`,
:class:`TaskBatchNorm2d`, :class:`RoamingCNN`, :class:`RoamingResNet18`); one
partition per masked layer (:class:`NetworkPartitions`); the multi-task loss.
The digits / CelebA experiments, configs and runners are in
:mod:`cltoolkit.experiments.roaming`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

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
        mean, var = self.running_mean[slot], self.running_var[slot]
        return F.batch_norm(x, mean, var, self.weight, self.bias, self.training, self.momentum, self.eps)

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
    fully_shared: bool = False

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
# The multi-task loss
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
