"""Maximum Roaming (Pascal et al., AAAI 2021): roaming parameter partitions for multi-task learning.

Notebook 03's method, in the order of METHODS.md §2. A shared conv net learns T tasks at once; task
``t`` uses only a subset of each layer's filters (output channels). The subsets start as a random
partition with sharing ratio p, then *roam*: every Δ training iterations each task swaps one active
filter for one it has never used, until every task has visited every filter.

Symbols: S (filters of a layer) = ``num_units``; T = ``num_tasks``; p = ``sharing_ratio``; the
partition matrix M in {0,1}^(S×T) = :attr:`RoamingPartition.mask`; A_t(c) = ``mask[:, t]`` after c
updates; B_t(c) = ``visited[:, t]``; r(c) = :attr:`RoamingPartition.progress`.

Top to bottom: one layer's partition (initial cover, roaming update, cosine selection,
:class:`RoamingPartition`); channel masks and per-task BN; the masked networks (:class:`RoamingCNN`,
:class:`RoamingResNet18`); one partition per masked layer (:class:`NetworkPartitions`); the multi-task
loss. The digits / CelebA experiments (configs, training loop, runners) are in
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

# The partition of one layer --------------------------------------------------------------------------


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

    As in the authors' code: shuffle the units, cut them into T disjoint blocks (the *cover*), then
    top every task up with units drawn uniformly from the others until it owns ⌈p·S⌉.
    """
    k = _validate(num_units, num_tasks, sharing_ratio)
    mask = np.zeros((num_units, num_tasks), dtype=bool)
    for t, block in enumerate(np.array_split(rng.permutation(num_units), num_tasks)):
        mask[block, t] = True
    for t in range(num_tasks):
        free = np.flatnonzero(~mask[:, t])
        mask[rng.choice(free, size=k - int(mask[:, t].sum()), replace=False), t] = True
    return mask


def roaming_update(
    mask: np.ndarray, visited: np.ndarray, rng: np.random.Generator | None = None, similarity: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One roaming update of every task (Definition 1); returns new ``(mask, visited)`` arrays (S, T).

    For each task t in order: i+ from the never-visited units (``~visited[:, t]``), i− from the active
    ones (``mask[:, t]``), both uniformly with ``rng`` (or, given ``similarity`` (S, S), by
    :func:`cosine_choice`); then ``mask[i+, t] = 1``, ``mask[i−, t] = 0``, ``visited[i+, t] = 1``.
    A task that has visited every unit is left as it is.
    """
    mask, visited = mask.copy(), visited.copy()
    for t in range(mask.shape[1]):
        unvisited = np.flatnonzero(~visited[:, t])
        if len(unvisited) == 0:
            continue
        if similarity is None:
            i_plus, i_minus = rng.choice(unvisited), rng.choice(np.flatnonzero(mask[:, t]))
        else:
            i_plus, i_minus = cosine_choice(similarity, mask[:, t], visited[:, t])
        mask[i_plus, t], mask[i_minus, t], visited[i_plus, t] = True, False, True
    return mask, visited


def filter_similarity(filters: torch.Tensor | np.ndarray) -> np.ndarray:
    """Cosine similarity between filters: ``filters`` (S, ...) is flattened per filter to (S, fan_in) -> (S, S)."""
    w = torch.as_tensor(filters).detach().float().cpu()
    w = w.reshape(w.shape[0], -1)  # one row per output filter (the authors' code flattened the wrong axis)
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (w @ w.T).numpy()


def cosine_choice(similarity: np.ndarray, active: np.ndarray, visited: np.ndarray) -> tuple[int, int]:
    """The deterministic variant's swap for one task: ``(i_plus, i_minus)``.

    ``similarity`` (S, S) from :func:`filter_similarity`; ``active`` = A_t and ``visited`` = B_t as
    (S,) bools. i+ is the never-visited filter with the *lowest* mean similarity to the active filters
    (the most novel); i− the active filter with the *highest* mean similarity to the other active
    filters (the most redundant). Ties go to the lowest index.
    """
    candidates = np.flatnonzero(~np.asarray(visited, dtype=bool))
    members = np.flatnonzero(np.asarray(active, dtype=bool))
    if len(candidates) == 0 or len(members) == 0:
        raise ValueError("cosine_choice needs at least one never-visited and one active unit")
    i_plus = int(candidates[np.argmin(similarity[:, members].mean(axis=1)[candidates])])
    if len(members) == 1:
        return i_plus, int(members[0])
    sub = similarity[np.ix_(members, members)]
    to_others = (sub.sum(axis=1) - np.diag(sub)) / (len(members) - 1)
    return i_plus, int(members[np.argmax(to_others)])


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class RoamingPartition:
    """The roaming partition of one layer: S units (filters) shared by T tasks.

    ``RoamingPartition(num_units, num_tasks, p, seed=0, selection="random")``

    - ``mask`` (S, T) bool, read-only: ``mask[s, t]`` says task t uses unit s now (A_t(c));
    - ``visited`` (S, T) bool, read-only: the units task t has ever used (B_t(c));
    - ``step()``: one roaming update for every task; a no-op returning False once ``done``;
    - ``progress``: r(c) = (|B_t(c)| − ⌈p·S⌉) / (S − ⌈p·S⌉) in [0, 1] (1 when ⌈p·S⌉ = S);
    - ``done``: every task has visited every unit, after exactly ``total_steps`` = S − ⌈p·S⌉
      updates (the paper's (1 − p)·S, rounded down);
    - ``history``: the masks after 0, 1, ..., c updates, for replaying; :meth:`visited_at` gives B(c).

    Each task starts with ⌈p·S⌉ units and every unit is owned (:func:`initial_partition`); roaming
    moves each task independently, so later a unit can be unused for a while. Bad input raises
    :class:`~cltoolkit.errors.ConfigError`: p outside [0, 1]; ⌈p·S⌉ = 0; T·⌈p·S⌉ < S (no cover);
    T > S. ``selection="cosine"`` is the deterministic variant: ``step(filters)``, ``filters`` (S, ...).
    """

    def __init__(self, num_units: int, num_tasks: int, p: float, seed: int = 0, selection: str = "random"):
        if selection not in SELECTIONS:
            raise ConfigError(f"unknown selection {selection!r}; choose one of: {', '.join(SELECTIONS)}")
        self.num_units, self.num_tasks, self.sharing_ratio = int(num_units), int(num_tasks), float(p)
        self.seed, self.selection = seed, selection
        self._rng = np.random.default_rng(seed)
        self._mask = initial_partition(self.num_units, self.num_tasks, self.sharing_ratio, self._rng)
        self._visited = self._mask.copy()
        self.units_per_task = int(self._mask[:, 0].sum())
        self.steps = 0
        self.history: list[np.ndarray] = [self._mask.copy()]

    mask = property(lambda self: _read_only(self._mask), doc="(S, T) bool: the current partition A(c).")
    visited = property(lambda self: _read_only(self._visited), doc="(S, T) bool: the visited sets B(c).")

    @property
    def total_steps(self) -> int:
        """Updates until every task has visited every unit: S − ⌈p·S⌉."""
        return self.num_units - self.units_per_task

    @property
    def done(self) -> bool:
        return bool(self._visited.all())

    @property
    def progress(self) -> float:
        """r(c) in [0, 1] (the same for every task: each visits one new unit per update)."""
        return self.progress_at(self.steps)

    def progress_at(self, c: int) -> float:
        """r(c) after ``c`` updates."""
        return 1.0 if self.total_steps == 0 else min(c, self.total_steps) / self.total_steps

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
        similarity = None
        if self.selection != "random":
            if filters is None:
                raise ConfigError("selection='cosine' needs the layer's filters: call step(filters) with (S, ...)")
            if len(filters) != self.num_units:
                raise ConfigError(f"expected filters for {self.num_units} units, got {len(filters)}")
            similarity = filter_similarity(filters)
        self._mask, self._visited = roaming_update(self._mask, self._visited, self._rng, similarity)
        self.steps += 1
        self.history.append(self._mask.copy())
        return True

    def __repr__(self) -> str:
        return (
            f"RoamingPartition(num_units={self.num_units}, num_tasks={self.num_tasks}, p={self.sharing_ratio}, "
            f"selection={self.selection!r}, steps={self.steps}/{self.total_steps}, progress={self.progress:.2f})"
        )


# Per-task batch norm and channel masks ---------------------------------------------------------------


class TaskBatchNorm2d(nn.Module):
    """Batch norm with shared affine parameters and one set of running statistics per task.

    Why: a layer's input distribution depends on the task's masks upstream, so standard BN's one set
    of running statistics is a mixture of the tasks' and eval-mode outputs drift away from what
    training saw (on the digits it costs most of the F-score). Slot T holds the statistics of
    unmasked passes (``task=None``, full sharing).
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
        mean, var = self.running_mean[slot], self.running_var[slot]  # views: batch_norm updates them in place
        return F.batch_norm(x, mean, var, self.weight, self.bias, self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[0]}, tasks={self.running_mean.shape[0] - 1}"


class PartitionedConv(nn.Module):
    """conv (no bias) -> per-task BN -> ⊙ m_t: a layer whose output channels a :class:`RoamingPartition` splits.

    (batch, in_channels, H, W) -> (batch, out_channels, H / stride, W / stride), ``padding = kernel // 2``.
    ``mask`` (out_channels, T) is a float buffer written by :class:`NetworkPartitions`; the owning network
    sets ``task`` before each forward pass (``None``: no mask, the shared BN statistics).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, num_tasks: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = TaskBatchNorm2d(out_channels, num_tasks)
        self.register_buffer("mask", torch.ones(out_channels, num_tasks))
        self.task: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        return out if self.task is None else out * self.mask[:, self.task].view(1, -1, 1, 1)


# The masked networks ---------------------------------------------------------------------------------


class TaskMaskedNet(nn.Module):
    """Base class: a body built from :class:`PartitionedConv` layers, and one linear head per task.

    ``forward(x, task)``: (batch, C, H, W) -> (batch, head_sizes[task]) with task ``task``'s channel
    masks and BN statistics. ``forward_shared(x)`` runs the body once without masks and returns every
    head's output (full sharing, one pass); with ``fully_shared=True`` (p = 1) ``forward`` skips the
    masks too. Subclasses build ``self.body`` and ``self.masked_layers`` (name -> PartitionedConv).
    """

    body: nn.Module
    masked_layers: dict[str, PartitionedConv]
    fully_shared: bool = False

    def _make_heads(self, feature_dim: int, head_sizes: Sequence[int]) -> None:
        if not head_sizes:
            raise ConfigError("a multi-task network needs at least one head")
        self.head_sizes = [int(h) for h in head_sizes]
        self.num_tasks, self.feature_dim = len(self.head_sizes), feature_dim
        self.heads = nn.ModuleList(nn.Linear(feature_dim, h) for h in self.head_sizes)

    def features(self, x: torch.Tensor, task: int | None) -> torch.Tensor:
        """(batch, C, H, W) -> (batch, feature_dim) through the body with ``task``'s masks (None: unmasked)."""
        modules = [m for m in self.body.modules() if isinstance(m, (PartitionedConv, TaskBatchNorm2d))]
        for module in modules:
            module.task = task
        try:
            return self.body(x)
        finally:
            for module in modules:
                module.task = None

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        if not 0 <= task < self.num_tasks:
            raise ConfigError(f"task {task} out of range: this network has {self.num_tasks} tasks")
        return self.heads[task](self.features(x, None if self.fully_shared else task))

    def forward_shared(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.features(x, None)
        return [head(z) for head in self.heads]


class RoamingCNN(TaskMaskedNet):
    """``conv3x3 -> BN -> ⊙ m_t -> ReLU -> maxpool`` blocks, global average pooling, a head per task.

    For 8x8 digits with e.g. ``channels=(16, 32)``; every conv's output channels are partitioned.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], head_sizes: Sequence[int]):
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ConfigError(f"channel sizes must be positive integers, got {list(channels)}")
        widths = [in_channels] + [int(c) for c in channels]
        self.masked_layers = {
            f"conv{d + 1}": PartitionedConv(widths[d], widths[d + 1], 3, 1, len(head_sizes))
            for d in range(len(channels))
        }
        layers = [m for conv in self.masked_layers.values() for m in (conv, nn.ReLU(), nn.MaxPool2d(2))]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self._make_heads(widths[-1], head_sizes)


class _MaskedBasicBlock(nn.Module):
    """ResNet basic block: conv-BN-⊙m-ReLU, conv-BN-⊙m, + shortcut (1x1 conv-BN when the shape changes), ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, num_tasks: int):
        super().__init__()
        self.conv1 = PartitionedConv(in_ch, out_ch, 3, stride, num_tasks)
        self.conv2 = PartitionedConv(out_ch, out_ch, 3, 1, num_tasks)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), TaskBatchNorm2d(out_ch, num_tasks)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


class RoamingResNet18(TaskMaskedNet):
    """ResNet-18 (widths 64-128-256-512, two basic blocks each) with every block conv masked per task.

    The paper's network for CelebA at 64x64. The stem is a 3x3 conv (stride 1) with BN, mask and
    ReLU, then 2x2 max pooling, which suits small images.
    """

    def __init__(self, in_channels: int, head_sizes: Sequence[int], widths: Sequence[int] = (64, 128, 256, 512)):
        super().__init__()
        num_tasks = len(head_sizes)
        self.masked_layers = {"stem": PartitionedConv(in_channels, widths[0], 3, 1, num_tasks)}
        blocks, width = [self.masked_layers["stem"], nn.ReLU(), nn.MaxPool2d(2)], widths[0]
        for stage, w in enumerate(widths):
            for b in range(2):
                block = _MaskedBasicBlock(width, w, 2 if (b == 0 and stage > 0) else 1, num_tasks)
                blocks.append(block)
                self.masked_layers[f"layer{stage + 1}.{b}.conv1"] = block.conv1
                self.masked_layers[f"layer{stage + 1}.{b}.conv2"] = block.conv2
                width = w
        self.body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self._make_heads(width, head_sizes)


# One partition per masked layer ----------------------------------------------------------------------


class NetworkPartitions:
    """A :class:`RoamingPartition` for every masked layer of ``net``, kept in sync with its masks.

    ``step()`` updates every layer (layer d with its own random stream, seed ``seed + d``) and writes
    the new masks into the network; layers that are done are left alone. ``done`` when all are.
    """

    def __init__(self, net: TaskMaskedNet, sharing_ratio: float, seed: int = 0, selection: str = "random"):
        self.net, self.sharing_ratio, self.selection = net, float(sharing_ratio), selection
        self.layers = {
            name: RoamingPartition(
                layer.conv.out_channels, net.num_tasks, sharing_ratio, seed=seed + d, selection=selection
            )
            for d, (name, layer) in enumerate(net.masked_layers.items())
        }
        self.updates = 0
        self.apply()

    def apply(self) -> None:
        """Copy every partition's mask into its layer's ``mask`` buffer."""
        for name, part in self.layers.items():
            self.net.masked_layers[name].mask.copy_(torch.from_numpy(part.mask.astype(np.float32)))

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
        """One roaming update of every layer that is not done; returns whether anything changed."""
        changed = False
        for name, part in self.layers.items():
            changed |= part.step(self.net.masked_layers[name].conv.weight if self.selection == "cosine" else None)
        if changed:
            self.updates += 1
            self.apply()
        return changed

    def extra_bytes_per_task(self) -> int:
        """One column of every partition matrix, packed at one bit per filter."""
        return math.ceil(sum(part.num_units for part in self.layers.values()) / 8)


# The multi-task loss ---------------------------------------------------------------------------------


def multitask_loss(net: TaskMaskedNet, x: torch.Tensor, y: torch.Tensor, groups: Sequence[Sequence[int]]):
    """Sum over tasks of the mean BCE of each task's attributes; one masked forward pass per task.

    ``x`` (batch, C, H, W); ``y`` (batch, A) of 0/1; task t predicts ``y[:, groups[t]]``.
    Returns ``(total, [per-task losses])``.
    """
    losses = [F.binary_cross_entropy_with_logits(net(x, t), y[:, list(group)]) for t, group in enumerate(groups)]
    return sum(losses), losses
