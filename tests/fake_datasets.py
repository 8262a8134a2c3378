"""Tiny files in the real on-disk formats of MNIST, CIFAR and CelebA, for tests without a network.

Each ``write_fake_*`` function writes where the real loaders look (torchvision's
layout under ``root``) and returns the arrays it wrote, so a test can compare
what the loader returns with what is on disk. Labels cycle through every class.
:func:`publish_md5s` lets a test get the fakes past the published-MD5 checks;
:func:`code_running_pickle` is what an attacker would put in a data folder.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shlex
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()

MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def md5sum(path: str | Path) -> str:
    """Hex MD5 of a file."""
    return hashlib.md5(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (unsigned bytes): magic ``0x0000 08 ndim``, big-endian dims, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def _labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def write_fake_mnist(
    root: str | Path, n_train: int = 20, n_test: int = 10, fashion: bool = False, seed: int = 0, gzipped: bool = False
) -> dict[str, np.ndarray]:
    """Write MNIST (or Fashion-MNIST) IDX files into ``root/MNIST/raw`` (``root/FashionMNIST/raw``).

    ``gzipped=True`` writes only the ``.gz`` files, as they are downloaded.
    Returns ``x_train`` uint8 (n, 28, 28), ``y_train`` (n,), ``x_test``, ``y_test``.
    """
    rng = np.random.default_rng(seed)
    raw = Path(root) / ("FashionMNIST" if fashion else "MNIST") / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": _labels(rng, n_train, 10),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": _labels(rng, n_test, 10),
    }
    contents = dict(zip(MNIST_STEMS, (arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])))
    for stem, array in contents.items():
        data = idx_bytes(array)
        if gzipped:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (raw / stem).write_bytes(data)
    return arrays


def _py2(obj) -> bytes:
    """Pickle opcodes for ``obj`` as Python 2's cPickle wrote them (``str`` as byte strings)."""
    if isinstance(obj, (str, bytes)):
        b = obj.encode("latin1") if isinstance(obj, str) else obj
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + len(b).to_bytes(4, "little") + b
    if obj is None:
        return b"N"
    if isinstance(obj, int):
        return b"K" + bytes([obj]) if 0 <= obj < 256 else b"J" + obj.to_bytes(4, "little", signed=True)
    if isinstance(obj, list):
        return b"(" + b"".join(_py2(x) for x in obj) + b"l"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2(x) for x in obj) + b"t"
    if isinstance(obj, dict):
        return b"(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"d"
    if isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        shape = tuple(int(d) for d in obj.shape)
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _py2((0,)) + _py2("b") + b"\x87R"
            b"(K\x01"
            + _py2(shape)
            + b"cnumpy\ndtype\n"
            + _py2(("u1", 0, 1))
            + b"R"
            + _py2((3, "|", None, None, None, -1, -1, 0))
            + b"b\x89"
            + _py2(obj.tobytes())
            + b"tb"
        )
    raise TypeError(f"cannot write {type(obj).__name__} as a Python 2 pickle")


def python2_pickle(obj) -> bytes:
    """``obj`` (dicts, lists, str, int, uint8 arrays) pickled the way the original CIFAR files were (Python 2)."""
    return b"\x80\x02" + _py2(obj) + b"."


def _cifar_layout(which: int) -> tuple[str, list[str], str, str, str]:
    if which == 10:
        return "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels", "batches.meta"
    if which == 100:
        return "cifar-100-python", ["train"], "test", "fine_labels", "meta"
    raise ValueError(f"which must be 10 or 100, got {which!r}")


def write_fake_cifar(
    root: str | Path, which: int = 10, n_train: int = 20, n_test: int = 10, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write CIFAR-10 (5 train batches) or CIFAR-100 pickles into ``root/cifar-10-batches-py`` or ``cifar-100-python``.

    Byte for byte as Python 2 wrote the originals: dicts with ``data`` uint8
    (n, 3072), ``labels`` or ``fine_labels`` (lists of ints), names as strings.
    Their MD5s are not the published ones: see :func:`publish_md5s`. Returns
    ``x_train`` uint8 (n, 3, 32, 32), ``y_train``, ``x_test``, ``y_test`` and ``class_names``.
    """
    rng = np.random.default_rng(seed)
    top, train_files, test_file, label_key, meta_file = _cifar_layout(which)
    folder = Path(root) / top
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 3, 32, 32), dtype=np.uint8),
        "y_train": _labels(rng, n_train, which),
        "x_test": rng.integers(0, 256, size=(n_test, 3, 32, 32), dtype=np.uint8),
        "y_test": _labels(rng, n_test, which),
    }

    def dump(path: Path, x: np.ndarray, y: np.ndarray, name: str) -> None:
        entry = {"batch_label": name, "data": x.reshape(len(x), -1), label_key: y.tolist()}
        if which == 100:
            entry["coarse_labels"] = (y // 5).tolist()
        entry["filenames"] = [f"img_{i}.png" for i in range(len(x))]
        path.write_bytes(python2_pickle(entry))

    splits = np.array_split(np.arange(n_train), len(train_files))
    for fname, idx in zip(train_files, splits):
        dump(folder / fname, arrays["x_train"][idx], arrays["y_train"][idx], fname)
    dump(folder / test_file, arrays["x_test"], arrays["y_test"], test_file)
    names = [f"class_{i}" for i in range(which)]
    if which == 10:
        meta = {"label_names": names, "num_cases_per_batch": 10000, "num_vis": 3072}
    else:
        meta = {"fine_label_names": names, "coarse_label_names": ["c"] * 20}
    (folder / meta_file).write_bytes(python2_pickle(meta))
    arrays["class_names"] = np.array(names)
    return arrays


def write_fake_cifar_archive(dest: str | Path, which: int = 10, **kwargs) -> Path:
    """Write the CIFAR batches into ``dest`` and pack them, as published, into ``cifar-10(0)-python.tar.gz``."""
    dest = Path(dest)
    write_fake_cifar(dest, which=which, **kwargs)
    top = _cifar_layout(which)[0]
    archive = dest / ("cifar-10-python.tar.gz" if which == 10 else "cifar-100-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(dest / top, arcname=top)
    return archive


class RunsCode:
    """Pickles to a call of ``func(*args)`` (``__reduce__``): what a crafted pickle in a data folder would do."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def code_running_pickle(marker: str | Path, how: str = "os.system") -> bytes:
    """A pickle that creates the file ``marker`` when loaded by a plain unpickler (``how``: the global it abuses)."""
    marker = str(marker)
    if how == "os.system":
        payload = RunsCode(os.system, f"touch {shlex.quote(marker)}")
    elif how == "builtins.exec":
        payload = RunsCode(exec, f"open({marker!r}, 'w').close()")
    elif how == "subprocess.call":
        payload = RunsCode(subprocess.call, ["touch", marker])
    else:
        raise ValueError(how)
    return pickle.dumps({"label_names": payload, "data": payload, "labels": payload}, protocol=2)


def write_fake_celeba(
    root: str | Path,
    n_images: int = 12,
    size: tuple[int, int] = (218, 178),
    seed: int = 0,
    partitions: list[int] | None = None,
    images: bool = True,
) -> dict:
    """Write CelebA's five list files and ``n_images`` solid-colour JPEGs under ``root/celeba``.

    ``size`` is (height, width) (real: 218x178). Partitions default to the
    pattern 0,0,0,1,2 repeated. ``images=False`` skips ``img_align_celeba/``.
    Returns ``filenames``, ``attributes`` int (n, 40) of 0/1, ``partitions``,
    ``colors`` uint8 (n, 3) and ``attribute_names``.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = Path(root) / "celeba"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n_images)]
    attrs = rng.integers(0, 2, size=(n_images, 40))
    parts = list(partitions) if partitions is not None else [(0, 0, 0, 1, 2)[i % 5] for i in range(n_images)]
    colors = rng.integers(20, 236, size=(n_images, 3), dtype=np.uint8)
    lines = [str(n_images), " ".join(CELEBA_ATTRIBUTES) + " "]
    for fname, row in zip(names, attrs):
        lines.append(fname + " " + " ".join(f"{2 * int(v) - 1:2d}" for v in row))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, p in zip(names, parts)))
    # the other lists torchvision's CelebA reads (identity, boxes in the original photos, aligned landmarks)
    (folder / "identity_CelebA.txt").write_text("".join(f"{f} {i % 7 + 1}\n" for i, f in enumerate(names)))
    rows = "".join(f"{f} {' '.join(str(v) for v in rng.integers(0, 200, 4))}\n" for f in names)
    (folder / "list_bbox_celeba.txt").write_text(f"{n_images}\nimage_id x_1 y_1 width height\n{rows}")
    header = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
    rows = "".join(f"{f} {' '.join(str(v) for v in rng.integers(60, 150, 10))}\n" for f in names)
    (folder / "list_landmarks_align_celeba.txt").write_text(f"{n_images}\n{header}\n{rows}")
    if images:
        img_dir = folder / "img_align_celeba"
        img_dir.mkdir(exist_ok=True)
        h, w = size
        for fname, color in zip(names, colors):
            pixels = np.broadcast_to(color, (h, w, 3)).copy()
            Image.fromarray(pixels).save(img_dir / fname, quality=95)
    return {
        "filenames": names,
        "attributes": attrs,
        "partitions": np.array(parts),
        "colors": colors,
        "attribute_names": list(CELEBA_ATTRIBUTES),
    }


def zip_folder(folder: str | Path, archive: str | Path) -> Path:
    """Zip ``folder`` (keeping its name as the top-level entry) into ``archive``, like ``img_align_celeba.zip``."""
    folder, archive = Path(folder), Path(archive)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, arcname=str(Path(folder.name) / path.relative_to(folder)))
    archive.write_bytes(buf.getvalue())
    return archive


def publish_md5s(monkeypatch, name: str, root: str | Path) -> None:
    """Make torchvision's tables of published MD5s (which the kit reads) list those of the fake files under ``root``.

    The fakes cannot have the real datasets' checksums, so tests that must get
    past an MD5 check patch torchvision's class attributes (``MNIST.resources``,
    ``CIFAR10.train_list`` ..., ``CelebA.file_list``) for the duration of the
    test. Files that are not under ``root`` keep their published MD5.
    """
    from torchvision import datasets as tv

    root = Path(root)

    def md5_of(path: Path, published: str) -> str:
        return md5sum(path) if path.is_file() else published

    if name in ("mnist", "fashion_mnist"):
        cls = tv.MNIST if name == "mnist" else tv.FashionMNIST
        raw = root / cls.__name__ / "raw"
        monkeypatch.setattr(cls, "resources", [(f, md5_of(raw / f, h)) for f, h in cls.resources])
    elif name in ("cifar10", "cifar100"):
        cls = tv.CIFAR10 if name == "cifar10" else tv.CIFAR100
        folder = root / cls.base_folder
        monkeypatch.setattr(cls, "tgz_md5", md5_of(root / cls.filename, cls.tgz_md5))
        monkeypatch.setattr(cls, "train_list", [[f, md5_of(folder / f, h)] for f, h in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[f, md5_of(folder / f, h)] for f, h in cls.test_list])
        meta = dict(cls.meta, md5=md5_of(folder / cls.meta["filename"], cls.meta["md5"]))
        monkeypatch.setattr(cls, "meta", meta)
    elif name == "celeba":
        folder = root / tv.CelebA.base_folder
        monkeypatch.setattr(tv.CelebA, "file_list", [(i, md5_of(folder / f, h), f) for i, h, f in tv.CelebA.file_list])
    else:
        raise ValueError(f"unknown dataset {name!r}")
