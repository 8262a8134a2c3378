"""Real-dataset loaders, on tiny files written in the real on-disk formats (no network)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from fake_datasets import write_fake_celeba, write_fake_cifar, write_fake_mnist

from cltoolkit.data import attribute_tasks, load_source, make_stream
from cltoolkit.data.real import CorruptDatasetError, load_real_source
from cltoolkit.errors import CltkError, ConfigError, DatasetNotFoundError


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("CLTK_PROGRESS", "0")


def _check_images(x: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert x.dtype == torch.float32
    assert tuple(x.shape) == shape
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


# --------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("fashion", [False, True])
def test_mnist_loads_idx_files(tmp_path, fashion):
    written = write_fake_mnist(tmp_path, n_train=20, n_test=10, fashion=fashion)
    src = load_source("fashion_mnist" if fashion else "mnist", root=tmp_path)
    assert src.name == ("fashion_mnist" if fashion else "mnist")
    _check_images(src.x_train, (20, 1, 28, 28))
    _check_images(src.x_test, (10, 1, 28, 28))
    assert src.y_train.dtype == torch.int64 and src.y_train.shape == (20,)
    assert src.y_train.tolist() == written["y_train"].tolist()
    assert src.y_test.tolist() == written["y_test"].tolist()
    assert torch.equal((src.x_train[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(written["x_train"]))
    assert src.num_classes == 10 and len(src.class_names) == 10
    assert ("Trouser" in src.class_names) == fashion


def test_mnist_feeds_streams(tmp_path):
    write_fake_mnist(tmp_path)
    src = load_source("mnist", root=tmp_path)
    stream = make_stream(src, "permuted", 3)
    assert stream.num_tasks == 3 and stream.image_shape == (1, 28, 28)
    split = make_stream(src, "split")
    assert split.num_tasks == 5 and sum(len(t.x_train) for t in split.tasks) == 20
    assert make_stream(src, "rotated", 2).num_tasks == 2


def test_max_images_and_cltk_data(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path)
    monkeypatch.setenv("CLTK_DATA", str(tmp_path))
    src = load_source("mnist", max_images=7)
    assert len(src.x_train) == 7 and len(src.x_test) == 7
    with pytest.raises(ConfigError, match="max_images"):
        load_source("mnist", max_images=0)
    with pytest.raises(ConfigError, match="image_size"):
        load_source("mnist", image_size=32)  # a celeba-only option


def test_missing_dataset_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CLTK_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        load_source("mnist")
    msg = str(info.value)
    assert "python data_scripts/download.py mnist" in msg and "--root" not in msg
    assert "CLTK_DATA" in msg and "train-images-idx3-ubyte" in msg
    other = tmp_path / "elsewhere"
    for name in ("fashion_mnist", "cifar10", "cifar100", "celeba"):
        with pytest.raises(DatasetNotFoundError, match=f"data_scripts/download.py {name} --root {other}"):
            load_source(name, root=other)


def test_archives_present_but_not_extracted(tmp_path):
    write_fake_mnist(tmp_path, gzipped=True)
    with pytest.raises(DatasetNotFoundError, match="already downloaded; it only extracts"):
        load_source("mnist", root=tmp_path)


def test_truncated_idx_file(tmp_path):
    write_fake_mnist(tmp_path, n_train=20)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDatasetError) as info:
        load_source("mnist", root=tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte" in msg and "truncated" in msg and "--force" in msg
    assert isinstance(info.value, CltkError)


def test_idx_wrong_magic_and_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path, n_train=20)
    raw = tmp_path / "MNIST" / "raw"
    labels = raw / "train-labels-idx1-ubyte"
    labels.write_bytes((2051).to_bytes(4, "big") + labels.read_bytes()[4:])
    with pytest.raises(CorruptDatasetError, match="magic number 2051, expected 2049"):
        load_source("mnist", root=tmp_path)
    write_fake_mnist(tmp_path, n_train=20)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(
        bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3])
    )  # 3 labels for 10 images
    with pytest.raises(CorruptDatasetError, match="3 labels for 10 images"):
        load_source("mnist", root=tmp_path)


# --------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("which", [10, 100])
def test_cifar_loads_pickles(tmp_path, which):
    written = write_fake_cifar(tmp_path, which=which, n_train=20, n_test=10)
    src = load_source(f"cifar{which}", root=tmp_path)
    _check_images(src.x_train, (20, 3, 32, 32))
    _check_images(src.x_test, (10, 3, 32, 32))
    assert src.y_train.dtype == torch.int64
    assert src.y_train.tolist() == written["y_train"].tolist()
    assert src.y_test.tolist() == written["y_test"].tolist()
    # channel order: the first 1024 values of a row are the red plane
    assert torch.equal((src.x_test * 255).round().to(torch.uint8), torch.from_numpy(written["x_test"]))
    assert src.num_classes == which and src.class_names[:2] == ["class_0", "class_1"]


@pytest.mark.parametrize("which", [10, 100])
def test_cifar_python2_pickles(tmp_path, which):
    written = write_fake_cifar(tmp_path, which=which, n_train=10, n_test=5, python2=True)
    src = load_source(f"cifar{which}", root=tmp_path)
    assert torch.equal((src.x_train * 255).round().to(torch.uint8), torch.from_numpy(written["x_train"]))
    assert src.y_test.tolist() == written["y_test"].tolist() and src.class_names[-1] == f"class_{which - 1}"


def test_cifar_feeds_split_stream(tmp_path):
    write_fake_cifar(tmp_path, which=10)
    stream = make_stream(load_source("cifar10", root=tmp_path), "split")
    assert stream.num_tasks == 5 and stream.image_shape == (3, 32, 32)
    assert stream.tasks[0].classes == [0, 1]


def test_cifar_corrupt_pickle(tmp_path):
    write_fake_cifar(tmp_path, which=10)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:50])
    with pytest.raises(CorruptDatasetError, match="data_batch_3.*not a readable pickle.*--force"):
        load_source("cifar10", root=tmp_path)
    batch.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(CorruptDatasetError, match="expected uint8"):
        load_source("cifar10", root=tmp_path)


def test_cifar_missing_one_batch(tmp_path):
    write_fake_cifar(tmp_path, which=10)
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_5"):
        load_source("cifar10", root=tmp_path)


# --------------------------------------------------------------------------- CelebA


def test_celeba_loads_attributes_and_images(tmp_path):
    written = write_fake_celeba(tmp_path, n_images=12, size=(218, 178))
    src = load_source("celeba", root=tmp_path)
    parts = written["partitions"]
    train, test = np.flatnonzero(parts == 0), np.flatnonzero(parts == 2)
    _check_images(src.x_train, (len(train), 3, 64, 64))
    _check_images(src.x_test, (len(test), 3, 64, 64))
    assert src.y_train.dtype == torch.int64 and src.y_train.shape == (len(train), 40)
    assert src.y_train.tolist() == written["attributes"][train].tolist()
    assert src.y_test.tolist() == written["attributes"][test].tolist()
    assert src.attribute_names == written["attribute_names"] and src.num_classes == 40
    # solid-colour JPEGs: each channel's mean is the colour written (up to JPEG rounding)
    means = src.x_train.mean(dim=(2, 3)) * 255
    assert torch.allclose(means, torch.from_numpy(written["colors"][train]).float(), atol=3)


def test_celeba_options_and_attribute_tasks(tmp_path):
    write_fake_celeba(tmp_path, n_images=12)
    src = load_source("celeba", root=tmp_path, image_size=(40, 32), max_images=3)
    assert src.x_train.shape == (3, 3, 40, 32) and src.x_test.shape == (2, 3, 40, 32)
    tasks = attribute_tasks(src)
    assert tasks.num_tasks == 8 and sum(tasks.head_sizes) == 40
    assert tasks.y_train.shape == (3, 40)
    with pytest.raises(ConfigError, match="image_size"):
        load_real_source("celeba", tmp_path, image_size=0)


def test_celeba_truncated_attribute_file(tmp_path):
    write_fake_celeba(tmp_path, n_images=12)
    path = tmp_path / "celeba" / "list_attr_celeba.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:8]))
    with pytest.raises(CorruptDatasetError, match="says 12 images but it lists 6"):
        load_source("celeba", root=tmp_path)


def test_celeba_missing_and_broken_image(tmp_path):
    write_fake_celeba(tmp_path, n_images=6)
    images = tmp_path / "celeba" / "img_align_celeba"
    (images / "000002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CorruptDatasetError, match="000002.jpg.*not a readable image"):
        load_source("celeba", root=tmp_path)
    (images / "000002.jpg").unlink()
    with pytest.raises(CorruptDatasetError, match="000002.jpg is listed but not there"):
        load_source("celeba", root=tmp_path)


def test_celeba_without_images_folder(tmp_path):
    write_fake_celeba(tmp_path, images=False)
    with pytest.raises(DatasetNotFoundError, match="img_align_celeba.*gdown"):
        load_source("celeba", root=tmp_path)
