"""Tiny files in the real on-disk formats of MNIST, CIFAR and CelebA, for tests without a network.

Each ``write_fake_*`` function writes where the real loaders look (torchvision's
layout under ``root``) and returns the arrays it wrote, so a test can compare
what the loader returns with what is on disk. Labels cycle through every class.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
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
    root: str | Path, which: int = 10, n_train: int = 20, n_test: int = 10, seed: int = 0, python2: bool = False
) -> dict[str, np.ndarray]:
    """Write CIFAR-10 (5 train batches) or CIFAR-100 pickles into ``root/cifar-10-batches-py`` or ``cifar-100-python``.

    Pickles have ``bytes`` keys (``b'data'`` uint8 (n, 3072), ``b'labels'`` or
    ``b'fine_labels'``); ``python2=True`` writes them byte for byte as Python 2
    did for the originals (keys are then Python 2 ``str``). Returns ``x_train`` uint8 (n, 3, 32, 32),
    ``y_train``, ``x_test``, ``y_test`` and ``class_names``.
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
        entry = {b"batch_label": name.encode(), b"data": x.reshape(len(x), -1), label_key.encode(): y.tolist()}
        if which == 100:
            entry[b"coarse_labels"] = (y // 5).tolist()
        entry[b"filenames"] = [f"img_{i}.png".encode() for i in range(len(x))]
        path.write_bytes(python2_pickle(entry) if python2 else pickle.dumps(entry, protocol=2))

    splits = np.array_split(np.arange(n_train), len(train_files))
    for fname, idx in zip(train_files, splits):
        dump(folder / fname, arrays["x_train"][idx], arrays["y_train"][idx], fname)
    dump(folder / test_file, arrays["x_test"], arrays["y_test"], test_file)
    names = [f"class_{i}" for i in range(which)]
    if which == 10:
        meta = {b"label_names": [n.encode() for n in names], b"num_cases_per_batch": 10000}
    else:
        meta = {b"fine_label_names": [n.encode() for n in names], b"coarse_label_names": [b"c"] * 20}
    (folder / meta_file).write_bytes(python2_pickle(meta) if python2 else pickle.dumps(meta, protocol=2))
    arrays["class_names"] = np.array(names)
    return arrays


def write_fake_cifar_archive(dest: str | Path, which: int = 10, **kwargs) -> Path:
    """Build the downloadable ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` in ``dest``; return its path."""
    dest = Path(dest)
    staging = dest / f".staging-cifar{which}"
    write_fake_cifar(staging, which=which, **kwargs)
    top = _cifar_layout(which)[0]
    archive = dest / ("cifar-10-python.tar.gz" if which == 10 else "cifar-100-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / top, arcname=top)
    return archive


def write_fake_celeba(
    root: str | Path,
    n_images: int = 12,
    size: tuple[int, int] = (218, 178),
    seed: int = 0,
    partitions: list[int] | None = None,
    images: bool = True,
) -> dict:
    """Write CelebA's attribute and partition files and ``n_images`` solid-colour JPEGs under ``root/celeba``.

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
