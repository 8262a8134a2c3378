"""Real-dataset loaders, on tiny files written in the real on-disk formats (no network).

The fakes cannot match the published MD5s; tests that need them accepted
patch torchvision's MD5 tables with ``publish_md5s``. The hostile cases (a
crafted pickle, a folder where a file belongs, a data root that is a file)
come after the loaders.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from fake_datasets import (
    code_running_pickle,
    publish_md5s,
    python2_pickle,
    write_fake_celeba,
    write_fake_cifar,
    write_fake_mnist,
)

from cltoolkit.cli import main as cli_main
from cltoolkit.data import attribute_tasks, load_source, make_stream
from cltoolkit.data import real as real_module
from cltoolkit.data.real import CifarUnpickler, CorruptDatasetError, load_real
from cltoolkit.errors import CltkError, ConfigError, DatasetNotFoundError


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("CLTK_PROGRESS", "0")


def _check_images(x: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert x.dtype == torch.float32
    assert tuple(x.shape) == shape
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def _cifar(tmp_path, monkeypatch, which: int = 10, **kwargs) -> dict:
    written = write_fake_cifar(tmp_path, which=which, **kwargs)
    publish_md5s(monkeypatch, f"cifar{which}", tmp_path)
    return written


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


# hostile
def test_truncated_idx_file(tmp_path):
    write_fake_mnist(tmp_path, n_train=20)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDatasetError) as info:
        load_source("mnist", root=tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte" in msg and "truncated" in msg and "--force" in msg
    assert isinstance(info.value, CltkError)


def test_idx_wrong_magic_gzip_and_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path, n_train=20)
    raw = tmp_path / "MNIST" / "raw"
    labels = raw / "train-labels-idx1-ubyte"
    labels.write_bytes((2051).to_bytes(4, "big") + labels.read_bytes()[4:])
    with pytest.raises(CorruptDatasetError, match="train-labels-idx1-ubyte.*magic number of a 1-dimensional IDX"):
        load_source("mnist", root=tmp_path)
    write_fake_mnist(tmp_path, n_train=20, gzipped=True)
    (raw / "train-labels-idx1-ubyte.gz").rename(labels)  # a compressed file under the extracted name
    with pytest.raises(CorruptDatasetError, match="still gzip-compressed"):
        load_source("mnist", root=tmp_path)
    write_fake_mnist(tmp_path, n_train=20)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    with pytest.raises(CorruptDatasetError, match=r"test files hold images \(10, 28, 28\) and 3 labels"):
        load_source("mnist", root=tmp_path)


# --------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("which", [10, 100])
def test_cifar_loads_python2_pickles(tmp_path, monkeypatch, which):
    written = _cifar(tmp_path, monkeypatch, which=which, n_train=20, n_test=10)
    src = load_source(f"cifar{which}", root=tmp_path)
    _check_images(src.x_train, (20, 3, 32, 32))
    _check_images(src.x_test, (10, 3, 32, 32))
    assert src.y_train.tolist() == written["y_train"].tolist() and src.y_train.dtype == torch.int64
    assert torch.equal((src.x_test * 255).round().to(torch.uint8), torch.from_numpy(written["x_test"]))
    assert src.num_classes == which and src.class_names[:2] == ["class_0", "class_1"]
    assert src.class_names[-1] == f"class_{which - 1}"


def test_cifar_feeds_split_stream(tmp_path, monkeypatch):
    _cifar(tmp_path, monkeypatch)
    stream = make_stream(load_source("cifar10", root=tmp_path), "split")
    assert stream.num_tasks == 5 and stream.image_shape == (3, 32, 32)
    assert stream.tasks[0].classes == [0, 1]


def test_cifar_with_the_published_md5s_rejects_the_fakes(tmp_path):
    write_fake_cifar(tmp_path, which=10)  # no publish_md5s: the real checksums apply
    with pytest.raises(CorruptDatasetError, match="is not the published .* so it was not unpickled.*--force"):
        load_source("cifar10", root=tmp_path)


def test_cifar_corrupt_pickle(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path, which=10)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:50])
    publish_md5s(monkeypatch, "cifar10", tmp_path)
    with pytest.raises(CorruptDatasetError, match="data_batch_3.*not a CIFAR pickle.*--force"):
        load_source("cifar10", root=tmp_path)
    batch.write_bytes(python2_pickle({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    publish_md5s(monkeypatch, "cifar10", tmp_path)
    with pytest.raises(CorruptDatasetError, match=r"data is uint8 \(2, 10\), expected uint8 \(N, 3072\)"):
        load_source("cifar10", root=tmp_path)
    batch.write_bytes(python2_pickle({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}))
    publish_md5s(monkeypatch, "cifar10", tmp_path)
    with pytest.raises(CorruptDatasetError, match=r"labels outside 0..9"):
        load_source("cifar10", root=tmp_path)


def test_cifar_missing_one_batch(tmp_path):
    write_fake_cifar(tmp_path, which=10)
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_5"):
        load_source("cifar10", root=tmp_path)


# --------------------------------------------------------------------------- CelebA


def test_celeba_loads_attributes_and_images(tmp_path, monkeypatch):
    written = write_fake_celeba(tmp_path, n_images=12, size=(218, 178))
    publish_md5s(monkeypatch, "celeba", tmp_path)
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


def test_celeba_options_and_attribute_tasks(tmp_path, monkeypatch):
    write_fake_celeba(tmp_path, n_images=12)
    publish_md5s(monkeypatch, "celeba", tmp_path)
    src = load_source("celeba", root=tmp_path, image_size=(40, 32), max_images=3)
    assert src.x_train.shape == (3, 3, 40, 32) and src.x_test.shape == (2, 3, 40, 32)
    tasks = attribute_tasks(src)
    assert tasks.num_tasks == 8 and sum(tasks.head_sizes) == 40
    assert tasks.y_train.shape == (3, 40)
    for bad in (0, (32,), True, "64"):
        with pytest.raises(ConfigError, match="image_size"):
            load_real("celeba", tmp_path, image_size=bad)


def test_celeba_truncated_attribute_file(tmp_path, monkeypatch):
    write_fake_celeba(tmp_path, n_images=12)
    publish_md5s(monkeypatch, "celeba", tmp_path)
    path = tmp_path / "celeba" / "list_attr_celeba.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:8]))
    with pytest.raises(CorruptDatasetError, match="list_attr_celeba.txt has md5 .*--force"):
        load_source("celeba", root=tmp_path)
    publish_md5s(monkeypatch, "celeba", tmp_path)  # even with its md5 accepted: one line, naming the folder
    with pytest.raises(CorruptDatasetError, match="celeba is unreadable: torchvision cannot read its lists"):
        load_source("celeba", root=tmp_path)


def test_celeba_missing_and_broken_image(tmp_path, monkeypatch):
    write_fake_celeba(tmp_path, n_images=10)
    publish_md5s(monkeypatch, "celeba", tmp_path)
    images = tmp_path / "celeba" / "img_align_celeba"
    (images / "000002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CorruptDatasetError, match="000002.jpg is unreadable: not a readable image"):
        load_source("celeba", root=tmp_path)
    (images / "000002.jpg").unlink()
    with pytest.raises(CorruptDatasetError, match="img_align_celeba holds 9 of the 10 images"):
        load_source("celeba", root=tmp_path)


def test_celeba_without_images_folder(tmp_path):
    write_fake_celeba(tmp_path, images=False)
    with pytest.raises(DatasetNotFoundError, match="img_align_celeba.*gdown.*list_landmarks_align_celeba.txt"):
        load_source("celeba", root=tmp_path)


# --------------------------------------------------------------------------- hostile: code in a CIFAR pickle

PAYLOADS = [
    "os.system",  # hostile
    "builtins.exec",  # hostile
    "subprocess.call",  # hostile
]


@pytest.mark.parametrize("how", PAYLOADS)
def test_the_crafted_pickles_do_run_code_when_unpickled_plainly(tmp_path, how):
    """Guards the tests below: each payload really runs code under plain ``pickle.loads``."""
    marker = tmp_path / "pwned"
    pickle.loads(code_running_pickle(marker, how))
    assert marker.exists()


@pytest.mark.parametrize("how", PAYLOADS)
@pytest.mark.parametrize("target", ["batches.meta", "data_batch_1", "test_batch"])  # hostile x3 (wrong md5)
def test_crafted_cifar_pickle_with_wrong_md5_is_never_unpickled(tmp_path, monkeypatch, how, target):
    _cifar(tmp_path, monkeypatch)  # every genuine fake file's md5 is "published" ...
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-10-batches-py" / target).write_bytes(code_running_pickle(marker, how))  # ... this one is not
    with pytest.raises(CorruptDatasetError, match=f"{target} is unreadable: its md5 .* so it was not unpickled"):
        load_source("cifar10", root=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("how", PAYLOADS)
@pytest.mark.parametrize("target", ["batches.meta", "data_batch_1", "test_batch"])  # hostile x3 (md5 bypassed)
def test_crafted_cifar_pickle_past_the_md5_check_is_refused_by_the_unpickler(tmp_path, monkeypatch, how, target):
    write_fake_cifar(tmp_path, which=10)
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-10-batches-py" / target).write_bytes(code_running_pickle(marker, how))
    publish_md5s(monkeypatch, "cifar10", tmp_path)  # MD5 checking defeated: the crafted file "matches"
    with pytest.raises(CorruptDatasetError, match=f"{target} is unreadable: not a CIFAR pickle .*is not allowed"):
        load_source("cifar10", root=tmp_path)
    assert not marker.exists()


# hostile
def test_crafted_cifar_meta_through_the_cli(tmp_path, monkeypatch, capsys):
    """``run --dataset cifar10``: exit 2, one line, no code run (MD5 check defeated, so the unpickler must refuse)."""
    write_fake_cifar(tmp_path, which=10, n_train=40, n_test=20)
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(code_running_pickle(marker))
    publish_md5s(monkeypatch, "cifar10", tmp_path)
    code = cli_main(["run", "finetune", "--dataset", "cifar10", "--data-root", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert err.count("\n") == 1 and "batches.meta" in err and "posix.system is not allowed" in err


# hostile
def test_crafted_cifar_meta_in_a_fresh_process(tmp_path):
    """The same from a shell, with the published MD5s in force: refused before unpickling, no traceback."""
    write_fake_cifar(tmp_path, which=10)
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(code_running_pickle(marker))
    proc = subprocess.run(
        [sys.executable, "-m", "cltoolkit", "run", "finetune", "--dataset", "cifar10"]
        + ["--data-root", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and not marker.exists()
    assert len(proc.stderr.strip().splitlines()) == 1 and "not unpickled" in proc.stderr


def _py2_array(dtype_code: bytes = b"u1", cls: bytes = b"cnumpy\nndarray\n") -> bytes:
    """A Python 2 style pickle of ``{"data": array}``: one element, chosen dtype, chosen class to rebuild."""
    flags, raw = (b"K?", b"]K\x05a") if dtype_code == b"O" else (b"K\x00", b"U\x01\x07")  # object: a list
    return (
        b"\x80\x02(U\x04datacnumpy.core.multiarray\n_reconstruct\n" + cls + b"(K\x00tU\x01b\x87R"
        b"(K\x01(K\x01tcnumpy\ndtype\n(U" + bytes([len(dtype_code)]) + dtype_code + b"K\x00K\x01tR"
        b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + flags + b"tb\x89" + raw + b"tbd."
    )


def test_the_unpickler_allows_only_uint8_ndarrays():
    def load(data: bytes):
        return CifarUnpickler(io.BytesIO(data), encoding="latin1").load()

    assert pickle.loads(_py2_array(), encoding="latin1")["data"].tolist() == [7]  # the hand-written pickle is valid
    ok = load(_py2_array())
    assert ok["data"].dtype == np.uint8 and ok["data"].tolist() == [7]
    assert pickle.loads(_py2_array(b"O"), encoding="latin1")["data"].dtype == object  # plain pickle builds it
    with pytest.raises(pickle.UnpicklingError, match="only uint8 arrays"):
        load(_py2_array(b"O"))  # hostile: object arrays could hold anything
    with pytest.raises(pickle.UnpicklingError, match="unexpected arguments"):
        load(_py2_array(cls=b"cnumpy\ndtype\n"))  # hostile: _reconstruct asked to build something else
    with pytest.raises(pickle.UnpicklingError, match="numpy._core.numeric._frombuffer is not allowed"):
        load(pickle.dumps({"data": np.zeros(3, np.uint8)}, protocol=5))  # a modern numpy pickle is not a CIFAR file


# hostile
def test_oversized_cifar_file_is_not_read(tmp_path, monkeypatch):
    _cifar(tmp_path, monkeypatch)
    monkeypatch.setattr(real_module, "MAX_PICKLE_BYTES", 1000)
    with pytest.raises(CorruptDatasetError, match="more than any CIFAR file; it was not unpickled"):
        load_source("cifar10", root=tmp_path)


# --------------------------------------------------------------------------- hostile: layouts


@pytest.mark.parametrize(
    ("name", "rel"),
    [
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),  # hostile
        ("cifar10", "cifar-10-batches-py/batches.meta"),  # hostile
        ("celeba", "celeba/list_eval_partition.txt"),  # hostile
    ],
)
def test_a_folder_where_a_dataset_file_belongs(tmp_path, monkeypatch, capsys, name, rel):
    {"mnist": write_fake_mnist, "cifar10": write_fake_cifar, "celeba": write_fake_celeba}[name](tmp_path)
    (tmp_path / rel).unlink()
    (tmp_path / rel).mkdir()
    with pytest.raises(CorruptDatasetError, match=f"{rel} is a folder where a file belongs; remove it"):
        load_source(name, root=tmp_path)
    method = "roaming" if name == "celeba" else "finetune"
    code = cli_main(["run", method, "--dataset", name, "--data-root", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is a folder where a file belongs" in err


# hostile
def test_a_file_where_the_celeba_image_folder_belongs(tmp_path):
    write_fake_celeba(tmp_path, images=False)
    (tmp_path / "celeba" / "img_align_celeba").write_text("not a folder")
    with pytest.raises(CorruptDatasetError, match="img_align_celeba is a file where a folder belongs; remove it"):
        load_source("celeba", root=tmp_path)


# hostile x2 (CLTK_DATA a file, and inside a file)
def test_cltk_data_pointing_at_a_file(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    monkeypatch.setenv("CLTK_DATA", str(a_file))
    with pytest.raises(ConfigError, match="CLTK_DATA.*notes.txt.*which is a file"):
        load_source("mnist")
    write_fake_mnist(tmp_path / "good")
    assert len(load_source("mnist", root=tmp_path / "good").x_train) == 20  # an explicit root still works
    with pytest.raises(DatasetNotFoundError, match="download.py cifar10 --root"):
        load_source("cifar10", root=tmp_path / "good")  # and its message does not trip over $CLTK_DATA
    monkeypatch.setenv("CLTK_DATA", str(a_file / "sub"))
    with pytest.raises(ConfigError, match=r"\$CLTK_DATA \(.*notes.txt/sub\) lies inside .*notes.txt, which is a file"):
        load_source("cifar10")
    assert cli_main(["run", "finetune", "--dataset", "mnist", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "not downloaded" not in err and err.count("\n") == 1


# hostile x3 (--data-root a file for run, data list, data check)
def test_data_root_pointing_at_a_file(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="the data root .*notes.txt is a file, not a folder"):
        load_source("celeba", root=a_file)
    assert cli_main(["run", "ewc", "--dataset", "mnist", "--data-root", str(a_file / "x"), "--quiet"]) == 2
    assert "which is a file" in capsys.readouterr().err
    for action in ("list", "check"):
        assert cli_main(["data", action, "--root", str(a_file)]) == 2
        err = capsys.readouterr().err
        assert "is a file, not a folder" in err and err.count("\n") == 1
