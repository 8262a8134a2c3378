"""Loaders for the real datasets, reading the files that ``data_scripts/download.py`` puts in place.

Each loader returns a :class:`~cltoolkit.data.sources.Source` with images as
float32 ``(N, C, H, W)`` in ``[0, 1]``. Expected layout under ``root``
(torchvision's layout; see :mod:`cltoolkit.data.fetch`):

- ``mnist``: ``MNIST/raw/{train,t10k}-images-idx3-ubyte`` and ``...-labels-idx1-ubyte``
  (uncompressed IDX files) -> ``(N, 1, 28, 28)``, 10 classes.
- ``fashion_mnist``: the same names under ``FashionMNIST/raw/``.
- ``cifar10``: ``cifar-10-batches-py/data_batch_1..5``, ``test_batch``,
  ``batches.meta`` (python pickles) -> ``(N, 3, 32, 32)``, 10 classes.
- ``cifar100``: ``cifar-100-python/train``, ``test``, ``meta`` -> ``(N, 3, 32, 32)``,
  100 fine classes.
- ``celeba``: ``celeba/list_attr_celeba.txt``, ``celeba/list_eval_partition.txt``
  and ``celeba/img_align_celeba/*.jpg`` -> ``(N, 3, S, S)`` resized to
  ``image_size`` (default 64), ``y`` int64 ``(N, 40)`` of 0/1.

Every loader accepts ``max_images`` (keep the first N images of each split,
in file order). Missing files raise :class:`~cltoolkit.errors.DatasetNotFoundError`
naming the command that fetches them; unreadable ones raise
:class:`~cltoolkit.data.fetch.CorruptDatasetError` naming the file.
"""

from __future__ import annotations

import inspect
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from ..config import data_dir, progress_enabled
from ..errors import ConfigError, DatasetNotFoundError
from . import fetch
from .fetch import CorruptDatasetError
from .sources import Source

__all__ = ["CorruptDatasetError", "load_celeba", "load_cifar", "load_mnist", "load_real_source"]

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _corrupt(path: Path, problem: str, name: str, root: Path) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"{path} is unreadable: {problem}; download it again with: {fetch.download_command(name, root)} --force"
    )


def _require(name: str, root: Path) -> None:
    """Raise :class:`DatasetNotFoundError` unless every file the loader reads is under ``root``."""
    st = fetch.dataset_status(name, root)
    if st["ready"]:
        return
    missing = st["missing"]
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    msg = f"{st['title']} is not in {root} (missing {shown}). Fetch it with: {st['command']}"
    if st["archives"]:
        msg += " (the archives are already downloaded; it only extracts them)"
    msg += f". Datasets are read from $CLTK_DATA (now {data_dir()}) unless a root folder is given"
    if st["manual"]:
        msg += (
            ". CelebA is on Google Drive: the command needs 'pip install gdown', or put img_align_celeba.zip, "
            f"list_attr_celeba.txt and list_eval_partition.txt from {fetch.REGISTRY['celeba'].homepage} into "
            f"{root / 'celeba'} and run it to check and extract them"
        )
    raise DatasetNotFoundError(msg)


def _check_max_images(max_images) -> int | None:
    if max_images is None:
        return None
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
        raise ConfigError(f"max_images must be a positive integer or None, got {max_images!r}")
    return max_images


# --------------------------------------------------------------------------- MNIST


def _idx_dims(path: Path, magic: int, name: str, root: Path) -> tuple[int, ...]:
    """Check an IDX file's header against its size; return its dimensions."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4:
            raise _corrupt(path, f"only {size} bytes, too short for an IDX file", name, root)
        found = int.from_bytes(head, "big")
        if found != magic:
            hint = " (it looks gzip-compressed: it should be the extracted file)" if head[:2] == b"\x1f\x8b" else ""
            raise _corrupt(path, f"magic number {found}, expected {magic}{hint}", name, root)
        ndim = magic & 0xFF
        raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise _corrupt(path, "the header is cut short", name, root)
    dims = struct.unpack(f">{ndim}I", raw)
    expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))
    if size < expected:
        raise _corrupt(
            path, f"truncated: its header promises {dims[0]} items ({expected} bytes) but it has {size}", name, root
        )
    if size > expected:
        raise _corrupt(path, f"{size - expected} unexpected bytes after the {dims[0]} items", name, root)
    return dims


def load_mnist(root: Path, fashion: bool = False, max_images: int | None = None) -> Source:
    """MNIST (or Fashion-MNIST) from the raw IDX files, via torchvision: x ``(N, 1, 28, 28)``, y ``(N,)``."""
    from torchvision.datasets import MNIST, FashionMNIST

    name = "fashion_mnist" if fashion else "mnist"
    max_images = _check_max_images(max_images)
    root = Path(root)
    _require(name, root)
    cls = FashionMNIST if fashion else MNIST
    raw = root / cls.__name__ / "raw"
    for prefix in ("train", "t10k"):
        img_dims = _idx_dims(raw / f"{prefix}-images-idx3-ubyte", IDX_IMAGES_MAGIC, name, root)
        lab_dims = _idx_dims(raw / f"{prefix}-labels-idx1-ubyte", IDX_LABELS_MAGIC, name, root)
        if img_dims[1:] != (28, 28):
            raise _corrupt(raw / f"{prefix}-images-idx3-ubyte", f"images are {img_dims[1:]}, not 28x28", name, root)
        if img_dims[0] != lab_dims[0]:
            raise _corrupt(
                raw / f"{prefix}-labels-idx1-ubyte", f"{lab_dims[0]} labels for {img_dims[0]} images", name, root
            )
    parts = {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = cls(str(root), train=train, download=False)
        except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
            raise _corrupt(raw, f"torchvision cannot read it ({exc})", name, root) from None
        x, y = ds.data[:max_images], ds.targets[:max_images].long()
        if len(y) and int(y.max()) > 9:
            raise _corrupt(raw, f"{split} labels go up to {int(y.max())}, expected 0..9", name, root)
        parts[split] = (x.unsqueeze(1).float().div_(255.0), y)
    return Source(
        name=name,
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        num_classes=10,
        class_names=list(FASHION_CLASSES) if fashion else [str(i) for i in range(10)],
    )


# --------------------------------------------------------------------------- CIFAR


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _unpickle(path: Path, name: str, root: Path) -> dict:
    """Load a CIFAR python pickle (written by Python 2) into a dict with ``str`` keys."""
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")  # latin1 keeps Python 2 numpy buffers byte-exact
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... all mean a bad file
        raise _corrupt(path, f"not a readable pickle ({type(exc).__name__}: {exc})", name, root) from None
    if not isinstance(obj, dict):
        raise _corrupt(path, f"expected a dict, found {type(obj).__name__}", name, root)
    return {_text(k): v for k, v in obj.items()}


def load_cifar(root: Path, which: int = 10, max_images: int | None = None) -> Source:
    """CIFAR-10 or CIFAR-100 (fine labels) from the python pickle batches: x ``(N, 3, 32, 32)``, y ``(N,)``."""
    if which not in (10, 100):
        raise ConfigError(f"CIFAR comes as 10 or 100 classes, got {which!r}")
    max_images = _check_max_images(max_images)
    name = f"cifar{which}"
    root = Path(root)
    _require(name, root)
    if which == 10:
        folder = root / "cifar-10-batches-py"
        files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        meta_file, label_key, names_key = "batches.meta", "labels", "label_names"
    else:
        folder = root / "cifar-100-python"
        files = {"train": ["train"], "test": ["test"]}
        meta_file, label_key, names_key = "meta", "fine_labels", "fine_label_names"
    meta = _unpickle(folder / meta_file, name, root)
    if names_key not in meta or len(meta[names_key]) != which:
        raise _corrupt(folder / meta_file, f"no list of {which} {names_key!r}", name, root)
    class_names = [_text(n) for n in meta[names_key]]
    parts = {}
    for split, batch_files in files.items():
        xs, ys = [], []
        for fname in batch_files:
            path = folder / fname
            batch = _unpickle(path, name, root)
            if "data" not in batch or label_key not in batch:
                raise _corrupt(path, f"no 'data' / {label_key!r} entries (keys: {sorted(batch)})", name, root)
            data = np.asarray(batch["data"])
            labels = np.asarray(batch[label_key], dtype=np.int64)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise _corrupt(path, f"data is {data.dtype} {data.shape}, expected uint8 (N, 3072)", name, root)
            if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() >= which)):
                raise _corrupt(path, f"labels do not match the {len(data)} images / {which} classes", name, root)
            xs.append(data)
            ys.append(labels)
        data = np.concatenate(xs)[:max_images]
        labels = np.concatenate(ys)[:max_images]
        # Each row is 1024 red, 1024 green, 1024 blue values, each a row-major 32x32 plane.
        x = torch.from_numpy(data.reshape(-1, 3, 32, 32)).float().div_(255.0)
        parts[split] = (x, torch.from_numpy(labels))
    return Source(
        name=name,
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        num_classes=which,
        class_names=class_names,
    )


# --------------------------------------------------------------------------- CelebA


def _read_celeba_attributes(path: Path, root: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """``list_attr_celeba.txt``: count, 40 names, then ``filename v1 .. v40`` with -1/1 values."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, str(exc), "celeba", root) from None
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise _corrupt(path, "the first line should be the number of images", "celeba", root)
    count = int(lines[0])
    names = lines[1].split()
    rows = [line.split() for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise _corrupt(path, f"its first line says {count} images but it lists {len(rows)}", "celeba", root)
    attrs = {}
    for i, row in enumerate(rows):
        if len(row) != len(names) + 1:
            raise _corrupt(path, f"line {i + 3} has {len(row) - 1} values for {len(names)} attributes", "celeba", root)
        try:
            values = np.array([int(v) for v in row[1:]], dtype=np.int64)
        except ValueError:
            raise _corrupt(path, f"line {i + 3} has a value that is not -1 or 1", "celeba", root) from None
        if not np.isin(values, (-1, 1)).all():
            raise _corrupt(path, f"line {i + 3} has a value that is not -1 or 1", "celeba", root)
        attrs[row[0]] = (values + 1) // 2
    return names, attrs


def _read_celeba_partition(path: Path, root: Path) -> list[tuple[str, int]]:
    """``list_eval_partition.txt``: ``filename 0|1|2`` (train, validation, test)."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, str(exc), "celeba", root) from None
    for i, line in enumerate(lines):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise _corrupt(path, f"line {i + 1} should be 'filename 0|1|2', got {line!r}", "celeba", root)
        out.append((parts[0], int(parts[1])))
    return out


def _image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = tuple(image_size)
    else:
        size = None
    if size is None or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size):
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return size


def _load_celeba_images(folder: Path, files: list[str], size: tuple[int, int], root: Path, desc: str, progress: bool):
    from PIL import Image, UnidentifiedImageError
    from tqdm.auto import tqdm

    h, w = size
    out = np.empty((len(files), h, w, 3), dtype=np.uint8)
    for i, fname in enumerate(tqdm(files, desc=desc, disable=not progress, leave=False)):
        path = folder / fname
        if not path.is_file():
            raise _corrupt(folder, f"{fname} is listed but not there (incomplete extraction?)", "celeba", root)
        try:
            with Image.open(path) as img:
                img.draft("RGB", (w, h))  # JPEG: decode at a reduced scale that is still >= the target size
                out[i] = np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise _corrupt(path, f"not a readable image ({exc})", "celeba", root) from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def load_celeba(
    root: Path, image_size: int | tuple[int, int] = 64, max_images: int | None = None, progress: bool | None = None
) -> Source:
    """CelebA aligned faces with their 40 binary attributes.

    Train is the official partition 0 (162,770 images) and test partition 2
    (19,962); the validation partition 1 is not used. Images (178x218) are
    resized to ``image_size`` (default 64x64, as for Maximum Roaming; no crop,
    so faces are squeezed horizontally a little). x: float32 ``(N, 3, H, W)``;
    y: int64 ``(N, 40)`` of 0/1 in the file's attribute order; ``num_classes`` is
    40 (one sigmoid output per attribute). All images at 64x64 take about 8 GB
    as float32: pass ``max_images`` (per split) to load fewer.
    """
    size = _image_size(image_size)
    max_images = _check_max_images(max_images)
    root = Path(root)
    _require("celeba", root)
    folder = root / "celeba"
    names, attrs = _read_celeba_attributes(folder / "list_attr_celeba.txt", root)
    partition = _read_celeba_partition(folder / "list_eval_partition.txt", root)
    if progress is None:
        progress = progress_enabled()
    parts = {}
    for split, code in (("train", 0), ("test", 2)):
        files = [f for f, p in partition if p == code][:max_images]
        unknown = [f for f in files if f not in attrs]
        if unknown:
            raise _corrupt(
                folder / "list_attr_celeba.txt",
                f"no attributes for {unknown[0]} (listed in the partition)",
                "celeba",
                root,
            )
        x = _load_celeba_images(folder / "img_align_celeba", files, size, root, f"CelebA {split}", progress)
        y = (
            torch.from_numpy(np.stack([attrs[f] for f in files]))
            if files
            else torch.zeros(0, len(names), dtype=torch.int64)
        )
        parts[split] = (x, y)
    return Source(
        name="celeba",
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        num_classes=len(names),
        class_names=[],
        attribute_names=names,
    )


# --------------------------------------------------------------------------- dispatch

_LOADERS = {
    "mnist": lambda root, **kw: load_mnist(root, fashion=False, **kw),
    "fashion_mnist": lambda root, **kw: load_mnist(root, fashion=True, **kw),
    "cifar10": lambda root, **kw: load_cifar(root, which=10, **kw),
    "cifar100": lambda root, **kw: load_cifar(root, which=100, **kw),
    "celeba": lambda root, **kw: load_celeba(root, **kw),
}
_OPTIONS = {
    "mnist": ("max_images",),
    "fashion_mnist": ("max_images",),
    "cifar10": ("max_images",),
    "cifar100": ("max_images",),
    "celeba": tuple(p for p in inspect.signature(load_celeba).parameters if p != "root"),
}


def load_real_source(name: str, root: Path, **kwargs) -> Source:
    """Load real dataset ``name`` (mnist, fashion_mnist, cifar10, cifar100, celeba) from ``root``.

    Options: ``max_images`` (all datasets); ``image_size`` and ``progress`` (celeba).
    Nothing is downloaded: a missing dataset raises :class:`DatasetNotFoundError`.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in _LOADERS:
        raise ConfigError(f"unknown real dataset {name!r}; choose one of: {', '.join(_LOADERS)}")
    unknown = sorted(set(kwargs) - set(_OPTIONS[key]))
    if unknown:
        raise ConfigError(f"{key} does not take {', '.join(unknown)}; options: {', '.join(_OPTIONS[key])}")
    return _LOADERS[key](Path(root).expanduser(), **kwargs)
