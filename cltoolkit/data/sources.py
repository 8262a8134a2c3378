"""Data sources: the embedded digits and the real datasets, as tensors.

A :class:`Source` is a dataset already split into train and test, with images
as a float tensor ``(N, C, H, W)`` in ``[0, 1]``. Stream builders
(:mod:`cltoolkit.data.streams`) turn a source into a sequence of tasks. The
real datasets are read by :mod:`cltoolkit.data.real` (which knows nothing of
this module: imports go sources -> real -> fetch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .fetch import REAL_DATASETS
from .real import load_real

DATASETS = ("digits", *REAL_DATASETS)


@dataclass
class Source:
    """A dataset split into train and test.

    ``x_*``: float32 ``(N, C, H, W)`` in ``[0, 1]``.
    ``y_*``: int64 ``(N,)`` class labels, or for attribute datasets (CelebA)
    int64 ``(N, A)`` with 0/1 entries, one column per name in ``attribute_names``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    attribute_names: list[str] | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Source({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )


def load_digits(test_fraction: float = 0.3, split_seed: int = 0) -> Source:
    """scikit-learn's 1,797 handwritten 8x8 digits, shipped with scikit-learn (no download).

    Pixels (0..16) are scaled to [0, 1]. The train/test split is stratified and
    fixed by ``split_seed`` so every run and every notebook sees the same split.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    rng = np.random.default_rng(split_seed)
    test_idx, train_idx = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_test = int(round(test_fraction * len(idx)))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx = np.sort(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    return Source(
        name="digits",
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        num_classes=10,
        class_names=[str(i) for i in range(10)],
    )


def load_source(name: str, root: str | Path | None = None, **kwargs) -> Source:
    """Load a source by name: ``digits`` (embedded) or a real dataset from ``root``.

    Real datasets are read from ``root`` (default: ``$CLTK_DATA``); if they are
    missing, :class:`~cltoolkit.errors.DatasetNotFoundError` names the
    ``data_scripts`` command that downloads them. Nothing is downloaded here.
    Options (``**kwargs``): see :func:`~cltoolkit.data.real.load_real`.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if key == "digits":
        return load_digits(**kwargs)
    return Source(name=key, **load_real(key, root, **kwargs))
