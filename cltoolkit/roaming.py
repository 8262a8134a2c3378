"""Maximum Roaming (Pascal et al., AAAI 2021): roaming parameter partitions for multi-task learning.

Notebook 03's method, as in docs/methods.md. One conv net learns T tasks at once; task t uses
only a subset of each layer's filters. The subsets start as a random partition with sharing ratio p,
then *roam*: every Δ iterations each task swaps one active filter for one it has never used, until
every task has visited every filter. Symbols: S (filters of a layer) = ``num_units``, T = ``num_tasks``,
p = ``sharing_ratio``, M in {0,1}^(S×T) = :attr:`RoamingPartition.mask`, A_t(c) = ``mask[:, t]`` after c
updates, B_t(c) = ``visited[:, t]``, r(c) = :attr:`RoamingPartition.progress`. The experiments (configs,
training loop, runners) are in :mod:`cltoolkit.experiments.roaming`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .validate import Bool, Float, Int, IntTuple, OneOf, check_seed

SELECTIONS = ("random", "cosine", "cosine_abs")
MAX_HISTORY_BYTES = 2**30  # a partition keeps its (S, T) mask after every update, for replaying
_RATIO, _GENERATOR = Float(low=0, high=1), np.random.Generator
_width, _WIDTHS = Int(low=1, high=65_536), IntTuple(low=1, high=65_536)  # channels, heads, tasks of a network

# The partition of one layer --------------------------------------------------------------------------


def units_per_task(num_units: int, sharing_ratio: float) -> int:
    """⌈p·S⌉: how many units each task owns (a tiny tolerance keeps 0.3·10 from rounding up to 4)."""
    return math.ceil(round(_RATIO("sharing_ratio", sharing_ratio) * Int(low=0)("num_units", num_units), 9))


def check_layout(num_units: int, num_tasks: int, sharing_ratio: float) -> tuple[int, int, float, int]:
    """``(S, T, p, ⌈p·S⌉)`` checked: S, T integers >= 1 (not floats), p finite in [0, 1], T·⌈p·S⌉ >= S (a cover)."""
    S, T = Int(low=1)("num_units", num_units), Int(low=1)("num_tasks", num_tasks)
    p, k = _RATIO("sharing_ratio", sharing_ratio), units_per_task(S, sharing_ratio)
    if k * T < S:  # also p = 0
        raise ConfigError(
            f"sharing_ratio {p} is too small to cover all {S} units with {T} tasks "
            f"({T} x {k} units < {S}); use p >= {math.ceil(S / T) / S:.4g}"
        )
    if (S - k + 1) * S * T > MAX_HISTORY_BYTES:
        gib = (S - k + 1) * S * T / 2**30
        raise ConfigError(f"{S} units x {T} tasks keep {gib:.1f} GiB of mask history (limit 1 GiB); use fewer")
    return S, T, p, k


def initial_partition(num_units: int, num_tasks: int, sharing_ratio: float, rng: np.random.Generator) -> np.ndarray:
    """A random partition matrix (S, T) of bools: each task owns ⌈p·S⌉ units, every unit is owned.

    As in the authors' code: shuffle the units, cut them into T disjoint blocks (the *cover*), then
    top every task up with units drawn uniformly from the others until it owns ⌈p·S⌉. With T > S the
    blocks of tasks S+1..T are empty, so those start with random units only (the authors' ``eye(T, S)``).
    """
    num_units, num_tasks, _, k = check_layout(num_units, num_tasks, sharing_ratio)
    if not isinstance(rng, _GENERATOR):
        raise ConfigError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {rng!r}")
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
    mask, visited = np.array(mask), np.array(visited)  # copies
    if mask.ndim != 2 or mask.dtype != bool or visited.dtype != bool or mask.shape != visited.shape:
        raise ConfigError(f"mask and visited must be (S, T) bools of one shape, got {mask.shape}, {visited.shape}")
    if not (isinstance(rng, _GENERATOR) if similarity is None else np.shape(similarity) == (len(mask),) * 2):
        raise ConfigError(f"need rng (a np.random.Generator) or similarity (S, S), got {rng!r}, {np.shape(similarity)}")
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


def filter_similarity(filters: torch.Tensor | np.ndarray, absolute: bool = False) -> np.ndarray:
    """Cosine similarity between filters (S, ...), flattened per filter to (S, fan_in) -> (S, S).

    ``absolute=True`` gives |cos| as the authors' code does: a filter and its negative count as the same.
    """
    w = torch.as_tensor(filters).detach().float().cpu()
    if w.ndim < 1 or w.numel() == 0 or not torch.isfinite(w).all():
        raise ConfigError(f"filters must be a non-empty (S, ...) array of finite numbers, got shape {tuple(w.shape)}")
    w = w.reshape(w.shape[0], -1)  # one row per output filter (the authors' code flattened the wrong axis)
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (w @ w.T).abs().numpy() if Bool()("absolute", absolute) else (w @ w.T).numpy()


def cosine_choice(similarity: np.ndarray, active: np.ndarray, visited: np.ndarray) -> tuple[int, int]:
    """The deterministic variant's swap for one task: ``(i_plus, i_minus)``.

    ``similarity`` (S, S) from :func:`filter_similarity`; ``active`` = A_t and ``visited`` = B_t as
    (S,) bools. i+ is the never-visited filter with the *lowest* mean similarity to the active filters
    (the most novel); i− the active filter with the *highest* mean similarity to the other active
    filters (the most redundant). Ties go to the lowest index.
    """
    active, visited = np.asarray(active, dtype=bool), np.asarray(visited, dtype=bool)
    if active.ndim != 1 or active.shape != visited.shape or np.shape(similarity) != (len(active),) * 2:
        raise ConfigError(f"need similarity (S, S), active, visited (S,); got {np.shape(similarity)}, {active.shape}")
    candidates, members = np.flatnonzero(~visited), np.flatnonzero(active)
    if len(candidates) == 0 or len(members) == 0:
        raise ConfigError("cosine_choice needs at least one never-visited and one active unit")
    i_plus = int(candidates[np.argmin(similarity[:, members].mean(axis=1)[candidates])])
    sub = similarity[np.ix_(members, members)]
    to_others = (sub.sum(axis=1) - np.diag(sub)) / max(len(members) - 1, 1)  # one member: it is i−
    return i_plus, int(members[np.argmax(to_others)])


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

    Every unit is owned at the start (:func:`initial_partition`), later one can be unused for a while.
    ``selection="cosine"`` or ``"cosine_abs"`` (|cos|): the deterministic variant, ``step(filters)``.
    """

    def __init__(self, num_units: int, num_tasks: int, p: float, seed: int = 0, selection: str = "random"):
        self.num_units, self.num_tasks, self.sharing_ratio, _ = check_layout(num_units, num_tasks, p)
        self.seed, self.selection = Int(low=0)("seed", seed), OneOf(*SELECTIONS)("selection", selection)
        self._rng = np.random.default_rng(self.seed)
        mask = initial_partition(self.num_units, self.num_tasks, self.sharing_ratio, self._rng)
        self.units_per_task, self.steps = int(mask[:, 0].sum()), 0
        self.history: list[np.ndarray] = []
        self._set(mask, mask.copy())

    def _set(self, mask: np.ndarray, visited: np.ndarray) -> None:
        mask.flags.writeable = visited.flags.writeable = False  # read-only, so history can share them
        self.mask, self.visited = mask, visited
        self.history.append(mask)

    @property
    def total_steps(self) -> int:
        """Updates until every task has visited every unit: S − ⌈p·S⌉."""
        return self.num_units - self.units_per_task

    @property
    def done(self) -> bool:
        return bool(self.visited.all())

    @property
    def progress(self) -> float:
        """r(c) in [0, 1] (the same for every task: each visits one new unit per update)."""
        return self.progress_at(self.steps)

    def progress_at(self, c: int) -> float:
        """r(c) after ``c`` updates."""
        c = Int(low=0)("update step c", c)
        return 1.0 if self.total_steps == 0 else min(c, self.total_steps) / self.total_steps

    def visited_at(self, c: int) -> np.ndarray:
        """B(c): (S, T) bool, the union of the masks after 0..c updates."""
        c = Int(low=0, high=len(self.history) - 1)("update step c (steps made so far)", c)
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
                raise ConfigError(f"selection={self.selection!r} needs the layer's filters: call step(filters)")
            if tuple(np.shape(filters)[:1]) != (self.num_units,):
                raise ConfigError(f"need filters (S, ...) with S = {self.num_units}, got {tuple(np.shape(filters))}")
            similarity = filter_similarity(filters, absolute=self.selection == "cosine_abs")
        self._set(*roaming_update(self.mask, self.visited, self._rng, similarity))
        self.steps += 1
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
        num_channels, num_tasks = _width("num_channels", num_channels), _width("num_tasks", num_tasks)
        self.momentum, self.eps = _RATIO("momentum", momentum), Float(low=0, low_open=True)("eps", eps)
        self.weight, self.bias = nn.Parameter(torch.ones(num_channels)), nn.Parameter(torch.zeros(num_channels))
        self.register_buffer("running_mean", torch.zeros(num_tasks + 1, num_channels))
        self.register_buffer("running_var", torch.ones(num_tasks + 1, num_channels))
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
        in_channels, out_channels = _width("in_channels", in_channels), _width("out_channels", out_channels)
        kernel_size, stride = Int(1, 64)("kernel_size", kernel_size), Int(1, 64)("stride", stride)
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
    masks and BN statistics; ``features(x, None)`` runs the body without masks (full sharing, and
    ``forward`` with ``fully_shared=True``). Subclasses build ``body`` and ``masked_layers`` (name -> layer).
    """

    body: nn.Module
    masked_layers: dict[str, PartitionedConv]
    fully_shared: bool = False

    def _make_heads(self, feature_dim: int, head_sizes: Sequence[int]) -> None:
        self.head_sizes = list(_WIDTHS("head_sizes", head_sizes))
        self.num_tasks, self.feature_dim = len(self.head_sizes), feature_dim
        self.heads = nn.ModuleList(nn.Linear(feature_dim, h) for h in self.head_sizes)

    def features(self, x: torch.Tensor, task: int | None) -> torch.Tensor:
        """(batch, C, H, W) -> (batch, feature_dim) through the body with ``task``'s masks (None: unmasked)."""
        for module in self.body.modules():
            if isinstance(module, (PartitionedConv, TaskBatchNorm2d)):
                module.task = task  # every pass sets it first, so none can leak into the next
        return self.body(x)

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        if isinstance(task, bool) or not isinstance(task, numbers.Integral) or not 0 <= task < self.num_tasks:
            raise ConfigError(f"task must be an integer in [0, {self.num_tasks - 1}] (one per head), got {task!r}")
        return self.heads[task](self.features(x, None if self.fully_shared else task))


class RoamingCNN(TaskMaskedNet):
    """``conv3x3 -> BN -> ⊙ m_t -> ReLU -> maxpool`` blocks, global average pooling, a head per task.

    For 8x8 digits with e.g. ``channels=(16, 32)``; every conv's output channels are partitioned.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], head_sizes: Sequence[int]):
        super().__init__()
        widths = [_width("in_channels", in_channels), *_WIDTHS("channels", channels)]
        head_sizes = _WIDTHS("head_sizes", head_sizes)
        self.masked_layers = {
            f"conv{d + 1}": PartitionedConv(widths[d], widths[d + 1], 3, 1, len(head_sizes))
            for d in range(len(channels))
        }
        layers = [m for conv in self.masked_layers.values() for m in (conv, nn.ReLU(), nn.MaxPool2d(2))]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self._make_heads(widths[-1], head_sizes)


class _MaskedBasicBlock(nn.Module):
    """ResNet basic block: conv-BN-⊙m-ReLU, conv-BN-⊙m, + shortcut, ReLU.

    When the shape changes the shortcut is a 1x1 conv-BN-⊙m, partitioned like the others (as the authors do).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, num_tasks: int):
        super().__init__()
        self.conv1 = PartitionedConv(in_ch, out_ch, 3, stride, num_tasks)
        self.conv2 = PartitionedConv(out_ch, out_ch, 3, 1, num_tasks)
        reshape = stride != 1 or in_ch != out_ch
        self.shortcut = PartitionedConv(in_ch, out_ch, 1, stride, num_tasks) if reshape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


class RoamingResNet18(TaskMaskedNet):
    """ResNet-18 (widths 64-128-256-512, two basic blocks each) with every conv masked per task.

    The paper's network for CelebA at 64x64. The stem is a 3x3 conv (stride 1) with BN, mask and
    ReLU, then 2x2 max pooling, which suits small images.
    """

    def __init__(self, in_channels: int, head_sizes: Sequence[int], widths: Sequence[int] = (64, 128, 256, 512)):
        super().__init__()
        widths, num_tasks = _WIDTHS("widths", widths), len(_WIDTHS("head_sizes", head_sizes))
        self.masked_layers = {"stem": PartitionedConv(in_channels, widths[0], 3, 1, num_tasks)}
        blocks, width = [self.masked_layers["stem"], nn.ReLU(), nn.MaxPool2d(2)], widths[0]
        for stage, w in enumerate(widths):
            for b in range(2):
                block = _MaskedBasicBlock(width, w, 2 if (b == 0 and stage > 0) else 1, num_tasks)
                blocks.append(block)
                for part in ("conv1", "conv2", "shortcut"):
                    if isinstance(getattr(block, part), PartitionedConv):
                        self.masked_layers[f"layer{stage + 1}.{b}.{part}"] = getattr(block, part)
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
        if not isinstance(net, TaskMaskedNet):
            raise ConfigError(f"net must be a TaskMaskedNet (RoamingCNN, RoamingResNet18), got {type(net).__name__}")
        seed, selection = check_seed(seed), OneOf(*SELECTIONS)("selection", selection)
        self.net, self.sharing_ratio, self.selection = net, _RATIO("sharing_ratio", sharing_ratio), selection
        self.layers = {
            name: RoamingPartition(m.conv.out_channels, net.num_tasks, sharing_ratio, seed + d, selection)
            for d, (name, m) in enumerate(net.masked_layers.items())
        }
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
            changed |= part.step(self.net.masked_layers[name].conv.weight if self.selection != "random" else None)
        if changed:
            self.apply()
        return changed

    def bytes_per_task(self) -> int:
        """Storage one more task adds: its head and BN running means and variances (float32), and one
        column of every partition matrix (one bit per filter)."""
        head = 4 * max(sum(p.numel() for p in head.parameters()) for head in self.net.heads)
        stats = 4 * 2 * sum(m.weight.numel() for m in self.net.modules() if isinstance(m, TaskBatchNorm2d))
        return head + stats + math.ceil(sum(part.num_units for part in self.layers.values()) / 8)


# The multi-task loss ---------------------------------------------------------------------------------


def multitask_loss(net: TaskMaskedNet, x: torch.Tensor, y: torch.Tensor, groups: Sequence[Sequence[int]]):
    """Sum over tasks of the mean BCE of each task's attributes; one masked forward pass per task.

    ``x`` (batch, C, H, W); ``y`` (batch, A) of 0/1; task t predicts ``y[:, groups[t]]``.
    Returns ``(total, [per-task losses])``.
    """
    if y.dim() != 2 or len(y) != len(x) or len(groups) != net.num_tasks:
        raise ConfigError(f"need y (batch, A) and {net.num_tasks} groups, got {tuple(y.shape)}, {len(groups)} groups")
    losses = [F.binary_cross_entropy_with_logits(net(x, t), y[:, list(group)]) for t, group in enumerate(groups)]
    return sum(losses), losses
