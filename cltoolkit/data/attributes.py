"""Multi-task attribute sets: several binary properties per image, grouped into tasks.

For Maximum Roaming (multi-task learning) each task predicts a *group* of binary
attributes with a sigmoid + BCE per attribute, as in the paper's CelebA setup.

- ``digits``: nine properties of each digit image, some from its label
  (parity, primality, ...) and some from its pixels (ink, centre of mass),
  grouped into four tasks. Pixel thresholds are medians of the training split.
- ``celeba``: the 40 CelebA attributes in the authors' 8 groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .sources import Source

# Attribute index groups used by the Maximum Roaming authors on CelebA (docs/methods.md, Maximum Roaming).
CELEBA_GROUPS = [
    [2, 10, 13, 14, 18, 20, 25, 26, 39],
    [3, 15, 23, 1, 12],
    [4, 5, 8, 9, 11, 17, 28, 32, 33],
    [6, 21, 31, 36],
    [7, 27],
    [0, 16, 22, 24, 30],
    [19, 29],
    [34, 35, 37, 38],
]

DIGIT_ATTRIBUTES = [
    "even",
    "prime",
    "greater_than_4",
    "multiple_of_3",
    "closed_loop",
    "straight_strokes",
    "heavy_ink",
    "top_heavy",
    "left_heavy",
]
DIGIT_GROUPS = {"parity": [0, 1], "magnitude": [2, 3], "shape": [4, 5], "style": [6, 7, 8]}


@dataclass
class AttributeTasks:
    """Images with binary attributes grouped into tasks.

    ``y_*``: float32 ``(N, A)`` of 0/1; task ``t`` predicts columns ``groups[t]``.
    """

    source_name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    attribute_names: list[str]
    groups: list[list[int]]
    task_names: list[str]

    @property
    def num_tasks(self) -> int:
        return len(self.groups)

    @property
    def head_sizes(self) -> list[int]:
        return [len(g) for g in self.groups]

    def task_targets(self, y: torch.Tensor, task: int) -> torch.Tensor:
        """Columns of ``y`` (N, A) that task ``task`` predicts: (N, len(groups[task]))."""
        return y[:, self.groups[task]]

    def __repr__(self) -> str:
        return (
            f"AttributeTasks({self.source_name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"attributes={len(self.attribute_names)}, tasks={self.task_names})"
        )


def _label_attributes(y: torch.Tensor) -> torch.Tensor:
    def member(values):
        return torch.isin(y, torch.tensor(values)).float()

    return torch.stack(
        [
            member([0, 2, 4, 6, 8]),
            member([2, 3, 5, 7]),
            (y > 4).float(),
            member([0, 3, 6, 9]),
            member([0, 6, 8, 9]),
            member([1, 4, 7]),
        ],
        dim=1,
    )


def _pixel_statistics(x: torch.Tensor) -> torch.Tensor:
    """(N, 3): total ink, row and column of the centre of mass."""
    img = x.sum(dim=1)  # (N, H, W)
    n, h, w = img.shape
    ink = img.sum(dim=(1, 2)).clamp_min(1e-8)
    rows = torch.arange(h, dtype=img.dtype).view(1, h, 1)
    cols = torch.arange(w, dtype=img.dtype).view(1, 1, w)
    row_com = (img * rows).sum(dim=(1, 2)) / ink
    col_com = (img * cols).sum(dim=(1, 2)) / ink
    return torch.stack([ink, row_com, col_com], dim=1)


def digit_attributes(source: Source) -> AttributeTasks:
    """Nine binary attributes per digit image, in four tasks (parity, magnitude, shape, style)."""
    if source.attribute_names is not None or source.num_classes != 10:
        raise ConfigError(f"digit attributes need a 10-class digit source, got {source.name!r}")
    stats_train = _pixel_statistics(source.x_train)
    medians = stats_train.median(dim=0).values

    def attrs(x, y):
        stats = _pixel_statistics(x)
        pixel = torch.stack(
            [
                (stats[:, 0] > medians[0]).float(),  # more ink than the median image
                (stats[:, 1] < medians[1]).float(),  # centre of mass above the median
                (stats[:, 2] < medians[2]).float(),  # centre of mass left of the median
            ],
            dim=1,
        )
        return torch.cat([_label_attributes(y), pixel], dim=1)

    return AttributeTasks(
        source_name=source.name,
        x_train=source.x_train,
        y_train=attrs(source.x_train, source.y_train),
        x_test=source.x_test,
        y_test=attrs(source.x_test, source.y_test),
        attribute_names=list(DIGIT_ATTRIBUTES),
        groups=[list(g) for g in DIGIT_GROUPS.values()],
        task_names=list(DIGIT_GROUPS),
    )


def celeba_attributes(source: Source) -> AttributeTasks:
    """CelebA's 40 attributes in the Maximum Roaming authors' 8 groups."""
    if source.attribute_names is None or len(source.attribute_names) != 40:
        raise ConfigError(f"CelebA attribute tasks need a source with 40 attributes, got {source.name!r}")
    return AttributeTasks(
        source_name=source.name,
        x_train=source.x_train,
        y_train=source.y_train.float(),
        x_test=source.x_test,
        y_test=source.y_test.float(),
        attribute_names=list(source.attribute_names),
        groups=[list(g) for g in CELEBA_GROUPS],
        task_names=[f"group{i}" for i in range(len(CELEBA_GROUPS))],
    )


def attribute_tasks(source: Source) -> AttributeTasks:
    """The multi-task attribute set for ``source`` (digits or CelebA)."""
    if source.name == "digits" or (source.attribute_names is None and source.num_classes == 10):
        return digit_attributes(source)
    if source.name == "celeba":
        return celeba_attributes(source)
    raise ConfigError(f"no attribute tasks for dataset {source.name!r}; use 'digits' or 'celeba'")
