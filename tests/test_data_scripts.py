"""Download / check / list (cltoolkit.data.fetch) and data_scripts/, with no network.

Fake archives are served by a local HTTP server (through torchvision's own
downloader) or from ``file://`` folders; ``publish_md5s`` makes torchvision's
MD5 tables list the fakes' checksums where a test needs them accepted.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path

import pytest
from fake_datasets import (
    md5sum,
    publish_md5s,
    write_fake_celeba,
    write_fake_cifar,
    write_fake_cifar_archive,
    write_fake_mnist,
    zip_folder,
)

from cltoolkit.cli import main as cli_main
from cltoolkit.data import fetch, load_source
from cltoolkit.errors import ChecksumError, CltkError, ConfigError

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "data_scripts" / "download.py"
CHECKSUMS = REPO / "data_scripts" / "checksums.py"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("CLTK_PROGRESS", "0")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    """``serve(folder)`` -> ``http://127.0.0.1:PORT``, a local HTTP server for ``folder`` (stopped after the test)."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _mnist_server(tmp_path: Path) -> Path:
    """Fake MNIST downloads in ``tmp_path/server/MNIST/raw`` (as the mirrors publish them)."""
    write_fake_mnist(tmp_path / "server", gzipped=True)
    return tmp_path / "server"


def _everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _no_network(monkeypatch) -> None:
    from torchvision.datasets import utils

    def refuse(url, *args, **kwargs):
        raise AssertionError(f"should not download {url}")

    monkeypatch.setattr(utils, "download_url", refuse)


def test_download_mnist_through_torchvision_from_its_mirror_list(tmp_path, monkeypatch, serve):
    from torchvision.datasets import MNIST

    server = _mnist_server(tmp_path)
    publish_md5s(monkeypatch, "mnist", server)
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/nothing-here/", serve(server) + "/MNIST/raw/"])
    root = tmp_path / "data"
    assert not fetch.status(root)["mnist"]["ready"]
    notes = []
    st = fetch.download("mnist", root, progress=False, log=notes.append)
    assert st["ready"] and st["missing"] == [] and not st["leftovers"] and len(st["archives"]) == 4
    assert not [p for p in _everything(root) if ".part" in p]
    assert any("downloading" in n for n in notes)
    assert load_source("mnist", root=root).x_train.shape == (20, 1, 28, 28)
    assert {c.status for c in fetch.verify("mnist", root)} == {"ok"}
    _no_network(monkeypatch)
    fetch.download("mnist", root, progress=False)  # already there: nothing fetched
    for f in (root / "MNIST" / "raw").glob("*.gz"):
        f.unlink()  # the extracted files alone are enough (archives may be deleted to save space)
    assert fetch.download("mnist", root, progress=False)["ready"]
    assert {c.status for c in fetch.verify("mnist", root)} == {"absent"}


# hostile
def test_wrong_checksum_leaves_no_file(tmp_path, serve):
    server = _mnist_server(tmp_path)  # torchvision's real MNIST checksums apply: the fakes cannot match
    root = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        fetch.download("mnist", root, progress=False, base_url=serve(server) + "/MNIST/raw")
    msg = str(info.value)
    bad = md5sum(server / "MNIST" / "raw" / "train-images-idx3-ubyte.gz")
    assert "train-images-idx3-ubyte.gz" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg and bad in msg
    assert _everything(root) == ["MNIST", "MNIST/raw"]


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset by peer"), KeyboardInterrupt()])
def test_interrupted_download_leaves_no_file(tmp_path, monkeypatch, error):
    from torchvision.datasets import utils

    calls = []

    def half_then_fail(url, root, filename=None, md5=None):
        calls.append(url)
        Path(root, filename).write_bytes(b"\x1f\x8b" + b"x" * 1000)  # torchvision writes under the final name
        raise error

    monkeypatch.setattr(utils, "download_url", half_then_fail)
    root = tmp_path / "data"
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else fetch.DownloadError
    with pytest.raises(expected) as info:
        fetch.download("mnist", root, progress=False)
    if expected is fetch.DownloadError:
        assert isinstance(info.value, CltkError)
        assert "connection reset" in str(info.value) and "ossci-datasets" in str(info.value)
        assert len(calls) == 2  # both of torchvision's mirrors were tried
    assert _everything(root) == ["MNIST", "MNIST/raw"]  # no final file and no staging folder
    assert not fetch.status(root)["mnist"]["ready"]


def test_existing_bad_archive_is_replaced(tmp_path, monkeypatch):
    server = _mnist_server(tmp_path)
    publish_md5s(monkeypatch, "mnist", server)
    root = tmp_path / "data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    fetch.download("mnist", root, progress=False, base_url=(server / "MNIST" / "raw").as_uri())
    assert md5sum(raw / "train-images-idx3-ubyte.gz") == md5sum(server / "MNIST" / "raw" / "train-images-idx3-ubyte.gz")


def test_download_cifar_tarball_from_a_file_url(tmp_path, monkeypatch):
    server = tmp_path / "server"
    write_fake_cifar_archive(server, which=100)
    publish_md5s(monkeypatch, "cifar100", server)
    root = tmp_path / "data"
    st = fetch.download("cifar100", root, progress=False, base_url=server.as_uri())
    assert st["ready"] and st["archives"] == ["cifar-100-python.tar.gz"]
    assert sorted(p.name for p in root.iterdir()) == ["cifar-100-python", "cifar-100-python.tar.gz"]
    assert load_source("cifar100", root=root).num_classes == 100
    assert fetch.check("cifar100", root) == (True, "ready; 4 file(s) match their published md5")
    (root / "cifar-100-python" / "extra").write_text("x")  # --force extracts again over the existing folder
    fetch.download("cifar100", root, force=True, progress=False, base_url=server.as_uri())
    assert not (root / "cifar-100-python" / "extra").exists()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-100-python", "cifar-100-python.tar.gz"]
    (root / "cifar-100-python" / "test").unlink()  # extracted again from the kept archive, nothing downloaded
    _no_network(monkeypatch)
    assert fetch.download("cifar100", root, progress=False)["ready"]


# hostile
def test_corrupt_archive_is_not_extracted(tmp_path, monkeypatch):
    server = tmp_path / "server"
    archive = write_fake_cifar_archive(server, which=10)
    archive.write_bytes(archive.read_bytes()[:200])  # a truncated tarball, with a "published" checksum to match
    publish_md5s(monkeypatch, "cifar10", server)
    root = tmp_path / "data"
    with pytest.raises(fetch.CorruptDatasetError, match="cannot extract.*--force"):
        fetch.download("cifar10", root, progress=False, base_url=server.as_uri())
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]
    assert not fetch.status(root)["cifar10"]["ready"]


def test_verify_and_check_report_mismatches(tmp_path):
    root = tmp_path / "data"
    write_fake_cifar_archive(root, which=10)  # fakes: no file matches torchvision's published md5
    checks = {c.path: c for c in fetch.verify("cifar10", root)}
    assert checks["cifar-10-python.tar.gz"].status == "mismatch"
    assert checks["cifar-10-batches-py/data_batch_1"].status == "mismatch"
    assert fetch.status(root)["cifar10"]["ready"]  # everything is there ...
    assert {c.status for c in fetch.verify("mnist", root)} == {"absent"}
    ok, message = fetch.check("cifar10", root)  # ... but check is not fooled
    assert not ok and "cifar-10-python.tar.gz has md5" in message and "--force" in message and "6 more" in message
    ok, message = fetch.check("mnist", root)
    assert not ok and "fetch with: python data_scripts/download.py mnist --root" in message


def test_check_ready_dataset(tmp_path, monkeypatch):
    server = _mnist_server(tmp_path)
    publish_md5s(monkeypatch, "mnist", server)
    root = tmp_path / "data"
    fetch.download("mnist", root, progress=False, base_url=(server / "MNIST" / "raw").as_uri())
    expected = "ready; 4 file(s) match their published md5, 4 IDX file(s) have the size their header states"
    assert fetch.check("mnist", root) == (True, expected)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"changed")
    ok, message = fetch.check("mnist", root)
    assert not ok and message.startswith("corrupt: MNIST/raw/t10k-labels-idx1-ubyte.gz has md5")


def _celeba_by_hand(root: Path, n_images: int = 10) -> Path:
    """CelebA's six files as a learner downloads them by hand into ROOT/celeba (the images still zipped)."""
    write_fake_celeba(root, n_images=n_images)
    folder = root / "celeba"
    zip_folder(folder / "img_align_celeba", folder / "img_align_celeba.zip")
    for p in (folder / "img_align_celeba").iterdir():
        p.unlink()
    (folder / "img_align_celeba").rmdir()
    return folder


def test_celeba_manual_files_are_checked_and_extracted(tmp_path, monkeypatch):
    root = tmp_path / "data"
    _celeba_by_hand(root)
    publish_md5s(monkeypatch, "celeba", root)
    monkeypatch.setitem(sys.modules, "gdown", None)  # no gdown, and none needed: the files are there
    assert fetch.download("celeba", root, progress=False)["ready"]
    src = load_source("celeba", root=root, image_size=16)
    assert src.x_train.shape == (6, 3, 16, 16) and src.y_train.shape == (6, 40)  # partitions 0,0,0,1,2 x 2
    ok, message = fetch.check("celeba", root)
    assert ok and message.startswith("ready; 6 file(s) match")


def test_celeba_without_gdown_explains_manual_download(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdown", None)
    with pytest.raises(fetch.DownloadError, match="gdown.*identity_CelebA.txt.*by hand from https://mmlab"):
        fetch.download("celeba", tmp_path, progress=False)
    assert _everything(tmp_path) == ["celeba"]


def test_status_and_names(tmp_path, monkeypatch):
    monkeypatch.setenv("CLTK_DATA", str(tmp_path))
    write_fake_mnist(tmp_path)
    report = fetch.status()
    assert list(report) == ["mnist", "fashion_mnist", "cifar10", "cifar100", "celeba"]
    assert report["mnist"]["ready"] and not report["cifar10"]["ready"]
    assert report["cifar10"]["command"] == "python data_scripts/download.py cifar10"
    assert report["celeba"]["manual"]
    table = fetch.format_status(report)
    assert fetch.format_status() == table == fetch.format_status(tmp_path)
    assert "mnist          present" in table and "python data_scripts/download.py cifar100" in table
    (tmp_path / "MNIST" / "raw" / ".t10k-images-idx3-ubyte.gz.abc.part").mkdir()
    assert fetch.status(names=["mnist"])["mnist"]["leftovers"] == ["MNIST/raw/.t10k-images-idx3-ubyte.gz.abc.part"]
    assert "left by an interrupted run" in fetch.format_status(tmp_path)
    with pytest.raises(ConfigError, match="choose one of: mnist, fashion_mnist"):
        fetch.status(names=["imagenet"])
    assert fetch.spec("Fashion-MNIST").name == "fashion_mnist"


# --------------------------------------------------------------------------- hostile: check, layouts, modes


# hostile
def test_check_finds_a_truncated_extracted_mnist_file_without_its_archive(tmp_path):
    write_fake_mnist(tmp_path)  # extracted files only: no archive to recheck
    assert fetch.check("mnist", tmp_path)[0]
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-784])
    ok, message = fetch.check("mnist", tmp_path)
    assert not ok and "t10k-images-idx3-ubyte is truncated" in message and "--force" in message


# hostile
def test_check_finds_a_damaged_cifar_batch_without_its_archive(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path, which=10)
    publish_md5s(monkeypatch, "cifar10", tmp_path)
    assert fetch.check("cifar10", tmp_path) == (True, "ready; 7 file(s) match their published md5")
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:-10])
    ok, message = fetch.check("cifar10", tmp_path)
    assert not ok and message.startswith("corrupt: cifar-10-batches-py/data_batch_2 has md5")


# hostile
def test_check_finds_missing_celeba_images(tmp_path, monkeypatch):
    write_fake_celeba(tmp_path, n_images=10)
    publish_md5s(monkeypatch, "celeba", tmp_path)
    assert fetch.check("celeba", tmp_path)[0]
    (tmp_path / "celeba" / "img_align_celeba" / "000007.jpg").unlink()
    ok, message = fetch.check("celeba", tmp_path)
    assert not ok and "holds 9 of the 10 images" in message


# hostile
def test_check_and_list_name_a_folder_where_a_file_belongs(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    path.unlink()
    path.mkdir()
    ok, message = fetch.check("mnist", tmp_path)
    assert not ok and message.startswith(f"broken: {path} is a folder where a file belongs; remove it")
    assert "mnist          broken" in fetch.format_status(tmp_path)
    _no_network(monkeypatch)
    with pytest.raises(fetch.CorruptDatasetError, match="train-labels-idx1-ubyte is a folder where a file belongs"):
        fetch.download("mnist", tmp_path, progress=False)  # refused before downloading anything


def test_download_repairs_a_truncated_file_from_the_kept_archive(tmp_path, monkeypatch):
    server = _mnist_server(tmp_path)
    publish_md5s(monkeypatch, "mnist", server)
    root = tmp_path / "data"
    fetch.download("mnist", root, progress=False, base_url=(server / "MNIST" / "raw").as_uri())
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    assert not fetch.check("mnist", root)[0]
    _no_network(monkeypatch)
    fetch.download("mnist", root, progress=False)  # no --force needed: the damaged file is not "already there"
    assert fetch.check("mnist", root)[0]


# hostile
def test_a_file_in_the_way_of_the_dataset_folder(tmp_path):
    (tmp_path / "MNIST").write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create .*MNIST/raw: a file is in the way"):
        fetch.download("mnist", tmp_path, progress=False)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])  # hostile x3 (shared folders)
def test_downloaded_and_extracted_files_respect_the_umask(tmp_path, monkeypatch, umask):
    server = _mnist_server(tmp_path)
    publish_md5s(monkeypatch, "mnist", server)
    root = tmp_path / "data"
    old = os.umask(umask)
    try:
        fetch.download("mnist", root, progress=False, base_url=(server / "MNIST" / "raw").as_uri())
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (root / "MNIST" / "raw").iterdir()}
    assert len(modes) == 8 and set(modes.values()) == {0o666 & ~umask}, {k: oct(v) for k, v in modes.items()}


# hostile
def test_a_google_drive_download_written_through_mkstemp_gets_the_umask_mode(tmp_path, monkeypatch):
    """gdown saves through ``tempfile.mkstemp`` (mode 0600); the kit sets ``0o666 & ~umask`` before the rename."""
    from torchvision.datasets import utils

    source = _celeba_by_hand(tmp_path / "drive")
    publish_md5s(monkeypatch, "celeba", tmp_path / "drive")
    by_id = {i: f for i, _, f in __import__("torchvision").datasets.CelebA.file_list}

    def like_gdown(file_id, root, filename=None, md5=None):
        fd, tmp = tempfile.mkstemp(dir=root)
        with os.fdopen(fd, "wb") as out:
            out.write((source / by_id[file_id]).read_bytes())
        os.replace(tmp, Path(root, filename))

    monkeypatch.setitem(sys.modules, "gdown", types.ModuleType("gdown"))
    monkeypatch.setattr(utils, "download_file_from_google_drive", like_gdown)
    root = tmp_path / "data"
    old = os.umask(0o022)
    try:
        assert fetch.download("celeba", root, progress=False)["ready"]
    finally:
        os.umask(old)
    assert {p.stat().st_mode & 0o777 for p in (root / "celeba").glob("*.*")} == {0o644}


# --------------------------------------------------------------------------- the command lines


def _script(path: Path):
    """The data script at ``path`` as a module, to call its ``main(argv)`` in this process."""
    sys.path.insert(0, str(path.parent))
    try:
        return __import__(path.stem)
    finally:
        sys.path.remove(str(path.parent))


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# hostile
def test_script_unknown_dataset_exits_2_with_one_line(tmp_path):
    """A real process, as a learner runs it: exit status and stderr of ``python data_scripts/download.py``."""
    env = {"PATH": "/usr/bin:/bin", "CLTK_DATA": str(tmp_path), "CLTK_PROGRESS": "0", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "mnist", "imagenet"], capture_output=True, text=True, env=env, timeout=300
    )
    line = _one_line(proc.stderr)
    assert proc.returncode == 2
    assert "imagenet" in line and "mnist, fashion_mnist, cifar10, cifar100, celeba" in line
    assert list(tmp_path.iterdir()) == []  # nothing downloaded before the bad name was seen


# hostile
def test_checksums_script_unknown_dataset_exits_2(tmp_path, capsys):
    assert _script(CHECKSUMS).main(["imagenet", "--root", str(tmp_path)]) == 2
    assert "imagenet" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "args",
    [
        ("mnist", "--root", "{file}/sub"),  # hostile
        ("mnist", "--root", "{file}"),  # hostile
        ("--list",),  # hostile
    ],
)
def test_script_root_that_is_a_file_exits_2(tmp_path, capsys, args):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    args = [a.format(file=a_file) for a in args]
    if args == ["--list"]:
        args += ["--root", str(a_file)]
    assert _script(SCRIPT).main(args) == 2
    assert "is a file" in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == "x"


def test_script_help_list_and_checksum_error(tmp_path, monkeypatch, capsys, serve):
    script = _script(SCRIPT)
    with pytest.raises(SystemExit) as done:
        script.main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "--force" in out and "CelebA" in out and "Exit status" in out
    write_fake_mnist(tmp_path)
    monkeypatch.setenv("CLTK_DATA", str(tmp_path))
    assert script.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "mnist          present" in out and "download.py cifar10" in out
    server = _mnist_server(tmp_path)
    data = tmp_path / "other"
    assert script.main(["mnist", "--root", str(data), "--base-url", serve(server) + "/MNIST/raw", "--quiet"]) == 1
    assert "checksum mismatch" in _one_line(capsys.readouterr().err)
    assert _everything(data) == ["MNIST", "MNIST/raw"]
    assert _script(CHECKSUMS).main(["mnist", "--root", str(tmp_path), "--urls"]) == 0
    out = capsys.readouterr().out
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in out and "ossci-datasets" in out


def test_script_downloads_then_cli_checks(tmp_path, monkeypatch, capsys):
    server = _mnist_server(tmp_path)
    publish_md5s(monkeypatch, "mnist", server)
    root = tmp_path / "data"
    url = (server / "MNIST" / "raw").as_uri()
    assert _script(SCRIPT).main(["mnist", "--root", str(root), "--base-url", url, "--quiet"]) == 0
    assert fetch.status(root)["mnist"]["ready"]
    assert _script(SCRIPT).main(["--root", str(root)]) == 2
    assert "name at least one dataset" in capsys.readouterr().err
    assert cli_main(["data", "check", "mnist", "--root", str(root)]) == 0
    assert "ready; 4 file(s) match" in capsys.readouterr().out
    (root / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 20, 1, 2]))
    assert cli_main(["data", "check", "mnist", "--root", str(root)]) == 1
    assert "train-labels-idx1-ubyte is truncated" in capsys.readouterr().out
