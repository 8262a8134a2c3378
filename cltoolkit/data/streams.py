"""Task streams: split, permuted and rotated sequences built from a :class:`Source`.

Vocabulary (van de Ven & Tolias): in a *task-incremental* stream each task has
its own output head and the task identity is given at test time (split); in a
*domain-incremental* stream all tasks share one head and the same labels, only
the input distribution changes (permuted, rotated).

Every builder is deterministic given ``seed``: permutations and angles are drawn
once per task from one generator, never per batch or per worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from ..config import check_fits_in_memory
from ..errors import ConfigError
from ..validate import Float
from .sources import Source

STREAM_KINDS = ("split", "permuted", "rotated", "attributes")


@dataclass
class Task:
    """One task of a stream.

    ``y_*`` are the labels the task's head predicts: ``0..num_outputs-1``
    (for split tasks, class ``classes[k]`` of the source becomes label ``k``).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_outputs: int
    classes: list[int] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def subsample(
        self, max_train: int | None = None, max_test: int | None = None, generator: torch.Generator | None = None
    ) -> Task:
        """A copy with at most ``max_train`` / ``max_test`` examples, drawn with ``generator``."""
        task = self
        if max_train is not None and len(self.x_train) > max_train:
            idx = torch.randperm(len(self.x_train), generator=generator)[:max_train]
            task = replace(task, x_train=self.x_train[idx], y_train=self.y_train[idx])
        if max_test is not None and len(self.x_test) > max_test:
            idx = torch.randperm(len(self.x_test), generator=generator)[:max_test]
            task = replace(task, x_test=self.x_test[idx], y_test=self.y_test[idx])
        return task

    def __repr__(self) -> str:
        return (
            f"Task({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, num_outputs={self.num_outputs})"
        )


@dataclass
class Stream:
    """A sequence of tasks plus how they are meant to be learned.

    ``scenario`` is ``"task"`` (one head per task, task id given) or
    ``"domain"`` (one shared head).
    """

    kind: str
    source_name: str
    tasks: list[Task]
    scenario: str
    seed: int = 0

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def head_sizes(self) -> list[int]:
        """Output size of each task's head (one entry per task; equal for a shared head)."""
        return [t.num_outputs for t in self.tasks]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.tasks[0].x_train.shape[1:])

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, i: int) -> Task:
        return self.tasks[i]

    def __iter__(self):
        return iter(self.tasks)

    def subsample(self, max_train: int | None = None, max_test: int | None = None, seed: int = 0) -> Stream:
        """A copy with at most ``max_train`` / ``max_test`` examples per task (for smoke runs)."""
        g = torch.Generator().manual_seed(seed)
        return replace(self, tasks=[task.subsample(max_train, max_test, g) for task in self.tasks])

    def __repr__(self) -> str:
        return (
            f"Stream(kind={self.kind!r}, source={self.source_name!r}, tasks={self.num_tasks}, "
            f"scenario={self.scenario!r})"
        )


def _check_num_tasks(num_tasks) -> int:
    if not isinstance(num_tasks, int) or isinstance(num_tasks, bool) or num_tasks < 1:
        raise ConfigError(f"number of tasks must be a positive integer, got {num_tasks!r}")
    return num_tasks


def _check_copies_fit(source: Source, num_tasks: int, kind: str) -> None:
    """A permuted/rotated stream holds one transformed copy of the data per task: refuse what cannot fit."""
    per_task = (source.x_train.numel() + source.x_test.numel()) * source.x_train.element_size()
    check_fits_in_memory(
        num_tasks * per_task, f"a {kind} stream of {num_tasks:,} tasks on {source.name!r}", per_task, "tasks"
    )


def split_stream(
    source: Source,
    num_tasks: int | None = None,
    classes_per_task: int = 2,
    shuffle_classes: bool = False,
    seed: int = 0,
) -> Stream:
    """Split the classes into disjoint groups, one task per group (task-incremental).

    With digits/MNIST and the defaults: 5 tasks, {0,1}, {2,3}, ..., {8,9}.
    ``shuffle_classes=True`` draws the class order from ``seed``.
    """
    if source.attribute_names is not None:
        raise ConfigError(f"dataset {source.name!r} has attributes, not classes; use stream 'attributes'")
    if not isinstance(classes_per_task, int) or classes_per_task < 2:
        raise ConfigError(f"classes_per_task must be an integer >= 2, got {classes_per_task!r}")
    max_tasks = source.num_classes // classes_per_task
    if num_tasks is None:
        num_tasks = max_tasks
    _check_num_tasks(num_tasks)
    if num_tasks > max_tasks:
        raise ConfigError(
            f"a split stream of {num_tasks} tasks x {classes_per_task} classes needs "
            f"{num_tasks * classes_per_task} classes, but {source.name!r} has {source.num_classes} "
            f"(at most {max_tasks} tasks)"
        )
    order = list(range(source.num_classes))
    if shuffle_classes:
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(source.num_classes, generator=g).tolist()
    tasks = []
    for t in range(num_tasks):
        classes = order[t * classes_per_task : (t + 1) * classes_per_task]
        parts = {}
        for split in ("train", "test"):
            x = getattr(source, f"x_{split}")
            y = getattr(source, f"y_{split}")
            keep = torch.zeros_like(y, dtype=torch.bool)
            new_y = torch.zeros_like(y)
            for k, c in enumerate(classes):
                hit = y == c
                keep |= hit
                new_y[hit] = k
            parts[split] = (x[keep], new_y[keep])
        names = [source.class_names[c] if source.class_names else str(c) for c in classes]
        tasks.append(
            Task(
                name="/".join(names),
                x_train=parts["train"][0],
                y_train=parts["train"][1],
                x_test=parts["test"][0],
                y_test=parts["test"][1],
                num_outputs=len(classes),
                classes=classes,
            )
        )
    return Stream("split", source.name, tasks, scenario="task", seed=seed)


def permutations(num_tasks: int, num_pixels: int, seed: int = 0, first_identity: bool = True) -> list[torch.Tensor]:
    """One pixel permutation per task, drawn once from a generator seeded with ``seed``."""
    _check_num_tasks(num_tasks)
    g = torch.Generator().manual_seed(seed)
    perms = []
    for t in range(num_tasks):
        if t == 0 and first_identity:
            perms.append(torch.arange(num_pixels))
        else:
            perms.append(torch.randperm(num_pixels, generator=g))
    return perms


def apply_permutation(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Permute the pixels of images ``x`` (N, C, H, W) with one permutation of H*W."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w)


def permuted_stream(source: Source, num_tasks: int = 5, seed: int = 0, first_identity: bool = True) -> Stream:
    """Each task applies its own fixed pixel permutation to every image (domain-incremental).

    Task 0 sees the original images when ``first_identity`` is true (the usual
    convention), so the first task is the plain dataset.
    """
    _check_num_tasks(num_tasks)
    _check_copies_fit(source, num_tasks, "permuted")
    h, w = source.image_shape[1:]
    perms = permutations(num_tasks, h * w, seed=seed, first_identity=first_identity)
    tasks = []
    for t, perm in enumerate(perms):
        tasks.append(
            Task(
                name=f"perm{t}",
                x_train=apply_permutation(source.x_train, perm),
                y_train=source.y_train.clone(),
                x_test=apply_permutation(source.x_test, perm),
                y_test=source.y_test.clone(),
                num_outputs=source.num_classes,
                classes=list(range(source.num_classes)),
                info={"permutation": perm},
            )
        )
    return Stream("permuted", source.name, tasks, scenario="domain", seed=seed)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate images ``x`` (N, C, H, W) counter-clockwise by ``degrees`` about the centre (bilinear)."""
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    matrix = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(matrix.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotated_stream(
    source: Source,
    num_tasks: int = 5,
    max_angle: float = 180.0,
    angles: list[float] | None = None,
    seed: int = 0,
) -> Stream:
    """Each task rotates every image by a fixed angle (domain-incremental).

    Angles are evenly spaced in ``[0, max_angle)`` unless given explicitly.
    """
    if angles is None:
        _check_num_tasks(num_tasks)
        angles = [i * max_angle / num_tasks for i in range(num_tasks)]
    else:
        angles = [Float()(f"angles[{i}]", a) for i, a in enumerate(angles)]
        _check_num_tasks(len(angles))
    _check_copies_fit(source, len(angles), "rotated")
    tasks = []
    for angle in angles:
        tasks.append(
            Task(
                name=f"rot{angle:g}",
                x_train=rotate(source.x_train, angle),
                y_train=source.y_train.clone(),
                x_test=rotate(source.x_test, angle),
                y_test=source.y_test.clone(),
                num_outputs=source.num_classes,
                classes=list(range(source.num_classes)),
                info={"angle": angle},
            )
        )
    return Stream("rotated", source.name, tasks, scenario="domain", seed=seed)


DEFAULT_TASKS = {"split": None, "permuted": 5, "rotated": 5}


def make_stream(source: Source, kind: str = "split", num_tasks: int | None = None, seed: int = 0) -> Stream:
    """Build a stream of ``kind`` (split | permuted | rotated) from ``source``."""
    kind = str(kind).strip().lower()
    if kind == "attributes":
        raise ConfigError("'attributes' is a multi-task set, not a sequence: use cltoolkit.data.attribute_tasks()")
    if kind not in DEFAULT_TASKS:
        raise ConfigError(f"unknown stream {kind!r}; choose one of: {', '.join(STREAM_KINDS)}")
    if num_tasks is None:
        num_tasks = DEFAULT_TASKS[kind]
    if kind == "split":
        return split_stream(source, num_tasks=num_tasks, seed=seed)
    if kind == "permuted":
        return permuted_stream(source, num_tasks=num_tasks, seed=seed)
    return rotated_stream(source, num_tasks=num_tasks, seed=seed)


def load_stream(
    dataset: str = "digits",
    kind: str = "split",
    num_tasks: int | None = None,
    seed: int = 0,
    root=None,
) -> Stream:
    """Load ``dataset`` (see :func:`~cltoolkit.data.load_source`) and build a ``kind`` stream from it."""
    from .sources import load_source

    return make_stream(load_source(dataset, root=root), kind, num_tasks=num_tasks, seed=seed)
