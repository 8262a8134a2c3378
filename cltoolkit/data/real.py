"""Read the real datasets from disk into tensors, through torchvision where it can.

Nothing is downloaded here (``data_scripts/download.py`` does that, see
:mod:`cltoolkit.data.fetch`). :func:`load_real` returns the fields of a
:class:`~cltoolkit.data.sources.Source`: images float32 ``(N, C, H, W)`` in
``[0, 1]``, labels int64 ``(N,)`` (CelebA: ``(N, 40)`` of 0/1).

- ``mnist`` / ``fashion_mnist``: ``torchvision.datasets.MNIST`` /
  ``FashionMNIST`` read the IDX files -> ``(N, 1, 28, 28)``. Own code: each
  file's header is first checked against its size
  (:func:`~cltoolkit.data.fetch.idx_problem`), so a damaged file is named in
  the error instead of failing inside torchvision with a shape message.
- ``cifar10`` / ``cifar100`` (fine labels): read here -> ``(N, 3, 32, 32)``,
  because of the rule below; file names and published MD5s are torchvision's
  (``CIFAR10.train_list`` ...).
- ``celeba``: ``torchvision.datasets.CelebA`` checks and reads the annotation
  files and opens the images -> ``(N, 3, S, S)``, resized to ``image_size``;
  own code: the loop that stacks the resized images into one tensor.

**Rule: never unpickle bytes that have not been verified.** The CIFAR batches
are Python pickles, and unpickling runs whatever the file says, so a crafted
``batches.meta`` in the data folder could run code. torchvision's CIFAR10 checks
the MD5 and then reads the file a second time with plain ``pickle.load``. Here
each batch file is read once into memory, its MD5 is compared with the
published one, and only those same bytes are unpickled, with
:class:`CifarUnpickler`, which resolves only the three globals a real CIFAR batch
references and refuses all others, so even a file that got past the MD5 check
cannot call anything. No other dataset here is a pickle; never add a
``pickle.load`` (or ``torch.load`` without ``weights_only=True``) on dataset files.

Every loader takes ``max_images`` (the first N images of each split, in file
order). A missing file raises :class:`~cltoolkit.errors.DatasetNotFoundError`
naming the command that fetches it; a damaged one
:class:`~cltoolkit.data.fetch.CorruptDatasetError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from ..config import progress_enabled
from ..errors import ConfigError, DatasetNotFoundError
from . import fetch
from .fetch import CorruptDatasetError

__all__ = ["CifarUnpickler", "CorruptDatasetError", "load_real"]

MAX_PICKLE_BYTES = 256 * 2**20  # CIFAR-100's train batch, the largest file, is about 155 MB


def _corrupt(path: Path, problem: str, name: str, root: Path) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"{path} is unreadable: {problem}; download it again with: {fetch.download_command(name, root)} --force"
    )


def _require(sp: fetch.Spec, root: Path) -> None:
    """Raise unless every path the loader reads is in place (and of the right kind: file or folder)."""
    st = fetch.dataset_status(sp.name, root)
    if st["wrong_kind"]:
        wrong = fetch.wrong_kind(root / st["wrong_kind"][0])
        raise CorruptDatasetError(f"{wrong}; remove it, then run: {st['command']}")
    if st["ready"]:
        return
    missing = st["missing"]
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    msg = f"{sp.title} is not in {root} (missing {shown}). Fetch it with: {st['command']}"
    if st["archives"]:
        msg += " (the archives are already downloaded; it only extracts them)"
    msg += f". Datasets are read from $CLTK_DATA (now {fetch.default_root()}) unless a root folder is given"
    if sp.manual:
        msg += (
            f". CelebA is on Google Drive: the command needs 'pip install gdown', or put "
            f"{', '.join(f.name for f in sp.files)} from {sp.homepage} into {root / sp.folder} and run it"
        )
    raise DatasetNotFoundError(msg)


def _positive_or_none(value, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{what} must be a positive integer or None, got {value!r}")
    return value


def _fields(parts: dict, num_classes: int, class_names: list[str], attribute_names=None) -> dict:
    (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
    return dict(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        class_names=class_names,
        attribute_names=attribute_names,
    )


# --------------------------------------------------------------------------- MNIST


def load_mnist(root: Path, fashion: bool = False, max_images: int | None = None) -> dict:
    """MNIST or Fashion-MNIST through torchvision: x ``(N, 1, 28, 28)``, y ``(N,)`` in 0..9."""
    from torchvision.datasets import MNIST, FashionMNIST

    sp, cls = (fetch.spec("fashion_mnist"), FashionMNIST) if fashion else (fetch.spec("mnist"), MNIST)
    _require(sp, root)
    for rel in sp.required:
        problem = fetch.idx_problem(root / rel)
        if problem:
            raise _corrupt(root / rel, f"it {problem}", sp.name, root)
    parts = {}
    for split in ("train", "test"):
        try:
            ds = cls(str(root), train=split == "train", download=False)
        except Exception as exc:  # torchvision's IDX reader raises RuntimeError, ValueError, AssertionError ...
            raise _corrupt(root / sp.folder, f"torchvision cannot read it ({exc})", sp.name, root) from None
        x, y = ds.data, ds.targets
        if tuple(x.shape[1:]) != (28, 28) or len(x) != len(y) or (len(y) and not 0 <= y.min() <= y.max() <= 9):
            found = f"images {tuple(x.shape)} and {len(y)} labels"
            expected = "(N, 28, 28) and N labels in 0..9"
            raise _corrupt(root / sp.folder, f"its {split} files hold {found}; expected {expected}", sp.name, root)
        parts[split] = (x[:max_images].unsqueeze(1).float().div_(255.0), y[:max_images].long())
    names = list(cls.classes) if fashion else [str(i) for i in range(10)]
    return _fields(parts, 10, names)


# --------------------------------------------------------------------------- CIFAR


_NDARRAY = object()  # what numpy.ndarray resolves to: a token only _reconstruct accepts, not callable


def _reconstruct(cls, shape, typecode) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` for plain ndarrays: an empty array that the pickle then fills."""
    if cls is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError("numpy array reconstruction with unexpected arguments")
    return np.ndarray((0,), np.uint8)


def _dtype(spec, align=False, copy=True) -> np.dtype:
    """``numpy.dtype`` for uint8 only (a fresh copy: the pickle calls its ``__setstate__``)."""
    if spec != "u1":
        raise pickle.UnpicklingError(f"only uint8 arrays belong in a CIFAR file, not dtype {spec!r}")
    return np.dtype("u1", bool(align), True)


class CifarUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch and nothing else.

    A real batch (pickled by Python 2 with numpy) is a dict of strings, ints,
    lists and one uint8 array; the only globals it references are the three
    that rebuild that array: ``numpy.core.multiarray._reconstruct``,
    ``numpy.ndarray`` and ``numpy.dtype``. Those resolve to the narrow
    stand-ins above; any other global (``os.system``, ``builtins.eval``, ...)
    raises :class:`pickle.UnpicklingError` before anything is called.
    Use with ``encoding="latin1"`` (Python 2 strings, byte-exact).
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR file") from None


def _read_cifar_pickle(path: Path, md5: str, name: str, root: Path) -> dict:
    """Read ``path`` once, check the bytes' MD5 against the published ``md5``, then unpickle those bytes."""
    size = path.stat().st_size
    if size > MAX_PICKLE_BYTES:
        raise _corrupt(path, f"{size} bytes, more than any CIFAR file; it was not unpickled", name, root)
    data = path.read_bytes()
    actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if actual != md5:
        raise _corrupt(path, f"its md5 {actual} is not the published {md5}, so it was not unpickled", name, root)
    try:
        obj = CifarUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # UnpicklingError (refused global), EOFError, ValueError ... all mean a bad file
        raise _corrupt(path, f"not a CIFAR pickle ({type(exc).__name__}: {exc})", name, root) from None
    if not isinstance(obj, dict):
        raise _corrupt(path, f"expected a dict, found {type(obj).__name__}", name, root)
    return obj


def load_cifar(root: Path, which: int = 10, max_images: int | None = None) -> dict:
    """CIFAR-10 or CIFAR-100 (fine labels): x ``(N, 3, 32, 32)``, y ``(N,)``; see the rule in the module docstring."""
    from torchvision.datasets import CIFAR10, CIFAR100

    sp, cls = (fetch.spec("cifar10"), CIFAR10) if which == 10 else (fetch.spec("cifar100"), CIFAR100)
    _require(sp, root)
    folder = root / cls.base_folder

    def read(fname: str) -> dict:
        return _read_cifar_pickle(folder / fname, sp.md5[f"{cls.base_folder}/{fname}"], sp.name, root)

    meta_file, names_key = cls.meta["filename"], cls.meta["key"]
    names = read(meta_file).get(names_key)
    if not isinstance(names, list) or len(names) != which:
        raise _corrupt(folder / meta_file, f"no list of {which} {names_key!r}", sp.name, root)
    label_key = "labels" if which == 10 else "fine_labels"
    parts = {}
    for split, files in (("train", cls.train_list), ("test", cls.test_list)):
        xs, ys = [], []
        for fname, _ in files:
            batch = read(fname)
            data, labels = batch.get("data"), batch.get(label_key)
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
                raise _corrupt(folder / fname, f"its data is {found}, expected uint8 (N, 3072)", sp.name, root)
            if not isinstance(labels, list) or len(labels) != len(data) or not all(type(v) is int for v in labels):
                raise _corrupt(folder / fname, f"its {label_key!r} is not a list of {len(data)} ints", sp.name, root)
            labels = np.asarray(labels, dtype=np.int64)
            if len(labels) and (labels.min() < 0 or labels.max() >= which):
                raise _corrupt(folder / fname, f"labels outside 0..{which - 1}", sp.name, root)
            xs.append(data)
            ys.append(labels)
        data, labels = np.concatenate(xs)[:max_images], np.concatenate(ys)[:max_images]
        # each row: 1024 red, 1024 green, 1024 blue values, each a row-major 32x32 plane
        parts[split] = (torch.from_numpy(data.reshape(-1, 3, 32, 32)).float().div_(255.0), torch.from_numpy(labels))
    return _fields(parts, which, [str(n) for n in names])


# --------------------------------------------------------------------------- CelebA


def _image_size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size)
    ):
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return tuple(size)


def load_celeba(
    root: Path, image_size: int | tuple[int, int] = 64, max_images: int | None = None, progress: bool | None = None
) -> dict:
    """CelebA aligned faces and their 40 binary attributes, through torchvision.

    Train is the official partition 0 (162,770 images), test partition 2
    (19,962); validation is not used. Images (178x218) are resized to
    ``image_size`` (default 64x64, as for Maximum Roaming; no crop). x: float32
    ``(N, 3, H, W)``; y: int64 ``(N, 40)`` of 0/1 in the file's attribute
    order; ``num_classes`` 40. All of it at 64x64 is about 8 GB as float32:
    ``max_images`` (per split) loads fewer.
    """
    from PIL import Image
    from torchvision.datasets import CelebA
    from tqdm.auto import tqdm

    h, w = _image_size(image_size)
    sp = fetch.spec("celeba")
    _require(sp, root)
    problems = fetch.extracted_problems(sp, root)[0]  # named here; torchvision would only say "corrupted"
    if problems:
        command = fetch.download_command("celeba", root)
        raise CorruptDatasetError(f"CelebA in {root} is damaged: {problems[0]}; fetch it again with: {command} --force")

    def to_array(img) -> np.ndarray:
        with img:
            img.draft("RGB", (w, h))  # JPEG: decode at a reduced scale still >= the target size
            return np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR))

    parts, progress = {}, progress_enabled() if progress is None else progress
    for split in ("train", "test"):
        try:
            ds = CelebA(str(root), split=split, target_type="attr", transform=to_array)
        except Exception as exc:  # RuntimeError, ValueError, IndexError, TypeError from its text-file parser
            raise _corrupt(root / sp.folder, f"torchvision cannot read its lists ({exc})", "celeba", root) from None
        n = len(ds) if max_images is None else min(len(ds), max_images)
        x = np.empty((n, h, w, 3), dtype=np.uint8)
        for i in tqdm(range(n), desc=f"CelebA {split}", disable=not progress, leave=False):
            try:
                x[i] = ds[i][0]
            except Exception as exc:  # FileNotFoundError, PIL.UnidentifiedImageError, truncated JPEG ...
                path = root / sp.folder / "img_align_celeba" / ds.filename[i]
                raise _corrupt(path, f"not a readable image ({type(exc).__name__}: {exc})", "celeba", root) from None
        parts[split] = (torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0).contiguous(), ds.attr[:n].long())
    names = [a for a in ds.attr_names if a]  # the header line ends with a space: drop the empty name
    return _fields(parts, len(names), [], names)


# --------------------------------------------------------------------------- dispatch

_OPTIONS = {"celeba": ("max_images", "image_size", "progress")}


def load_real(name: str, root: str | Path | None = None, **options) -> dict:
    """The :class:`~cltoolkit.data.sources.Source` fields of real dataset ``name``, read from ``root``.

    ``root``: default ``$CLTK_DATA``. Options: ``max_images`` (all datasets);
    ``image_size`` and ``progress`` (celeba). Nothing is downloaded.
    """
    sp, root = fetch.spec(name), fetch.resolve_root(root)
    allowed = _OPTIONS.get(sp.name, ("max_images",))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"{sp.name} does not take {', '.join(unknown)}; options: {', '.join(allowed)}")
    max_images = _positive_or_none(options.pop("max_images", None), "max_images")
    if sp.name in ("mnist", "fashion_mnist"):
        return load_mnist(root, fashion=sp.name == "fashion_mnist", max_images=max_images)
    if sp.name in ("cifar10", "cifar100"):
        return load_cifar(root, which=10 if sp.name == "cifar10" else 100, max_images=max_images)
    return load_celeba(root, max_images=max_images, **options)
