"""Download / verify / list (cltoolkit.data.fetch) and data_scripts/download.py, with no network.

Downloads are served from ``file://`` folders of fake archives (or a fake opener);
the registry's checksums are swapped for the fakes' where a test needs them to pass.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import pytest
from fake_datasets import md5sum, write_fake_celeba, write_fake_cifar_archive, write_fake_mnist, zip_folder

from cltoolkit.data import fetch, load_source
from cltoolkit.errors import ChecksumError, CltkError, ConfigError

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "data_scripts" / "download.py"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("CLTK_PROGRESS", "0")


def _with_md5s(monkeypatch, name: str, folder: Path) -> None:
    """Make the registry expect the MD5s of the fake files in ``folder`` (same file names)."""
    spec = fetch.REGISTRY[name]
    files = tuple(dataclasses.replace(f, md5=md5sum(folder / f.name)) for f in spec.files)
    monkeypatch.setitem(fetch.REGISTRY, name, dataclasses.replace(spec, files=files, known_md5=()))


def _mnist_server(tmp_path: Path) -> Path:
    write_fake_mnist(tmp_path / "server", gzipped=True)
    return tmp_path / "server" / "MNIST" / "raw"


def _everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_download_mnist_from_file_url(tmp_path, monkeypatch):
    served = _mnist_server(tmp_path)
    _with_md5s(monkeypatch, "mnist", served)
    root = tmp_path / "data"
    assert not fetch.status(root)["mnist"]["ready"]
    notes = []
    st = fetch.download("mnist", root, progress=False, base_url=served.as_uri(), log=notes.append)
    assert st["ready"] and st["missing"] == [] and not st["leftovers"]
    assert len(st["archives"]) == 4
    assert not [p for p in _everything(root) if ".part" in p or ".tmp" in p]
    assert any("downloading" in n for n in notes)
    assert load_source("mnist", root=root).x_train.shape == (20, 1, 28, 28)
    assert {c.status for c in fetch.verify("mnist", root)} == {"ok"}

    def no_network(url):
        raise AssertionError(f"should not download {url}")

    fetch.download("mnist", root, progress=False, opener=no_network)  # already there: nothing fetched
    # the extracted files alone are enough too (archives may be deleted to save space)
    for f in (root / "MNIST" / "raw").glob("*.gz"):
        f.unlink()
    assert fetch.download("mnist", root, progress=False, opener=no_network)["ready"]
    assert {c.status for c in fetch.verify("mnist", root)} == {"absent"}


def test_wrong_checksum_leaves_no_file(tmp_path):
    served = _mnist_server(tmp_path)  # the registry keeps the real MNIST checksums: fakes cannot match
    root = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        fetch.download("mnist", root, progress=False, base_url=served.as_uri())
    msg = str(info.value)
    bad = md5sum(served / "train-images-idx3-ubyte.gz")
    assert "train-images-idx3-ubyte.gz" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg and bad in msg
    assert _everything(root) == ["MNIST", "MNIST/raw"]


class _Interrupted(io.RawIOBase):
    """A response that delivers some bytes and then fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.sent = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return b"\x1f\x8b" + b"x" * 1000
        raise self.error


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset by peer"), KeyboardInterrupt()])
def test_interrupted_download_leaves_no_file(tmp_path, error):
    root = tmp_path / "data"
    calls = []

    def opener(url):
        calls.append(url)
        return _Interrupted(error)

    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else fetch.DownloadError
    with pytest.raises(expected) as info:
        fetch.download("mnist", root, progress=False, opener=opener)
    if expected is fetch.DownloadError:
        assert isinstance(info.value, CltkError)
        assert "connection reset" in str(info.value) and "ossci-datasets" in str(info.value)
        assert len(calls) == 2  # both mirrors were tried
    assert _everything(root) == ["MNIST", "MNIST/raw"]  # no final file and no .part file
    assert not fetch.status(root)["mnist"]["ready"]


def test_existing_bad_archive_is_replaced(tmp_path, monkeypatch):
    served = _mnist_server(tmp_path)
    _with_md5s(monkeypatch, "mnist", served)
    root = tmp_path / "data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    notes = []
    fetch.download("mnist", root, progress=False, base_url=served.as_uri(), log=notes.append)
    assert any("wrong checksum" in n for n in notes)
    assert md5sum(raw / "train-images-idx3-ubyte.gz") == md5sum(served / "train-images-idx3-ubyte.gz")


def test_download_cifar_tarball(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    write_fake_cifar_archive(server, which=100)
    _with_md5s(monkeypatch, "cifar100", server)
    root = tmp_path / "data"
    st = fetch.download("cifar100", root, progress=False, base_url=server.as_uri())
    assert st["ready"] and st["archives"] == ["cifar-100-python.tar.gz"]
    assert sorted(p.name for p in root.iterdir()) == ["cifar-100-python", "cifar-100-python.tar.gz"]
    assert load_source("cifar100", root=root).num_classes == 100
    # --force extracts again over the existing folder
    (root / "cifar-100-python" / "extra").write_text("x")
    fetch.download("cifar100", root, force=True, progress=False, base_url=server.as_uri())
    assert not (root / "cifar-100-python" / "extra").exists()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-100-python", "cifar-100-python.tar.gz"]
    # a file missing from the extracted folder: extracted again from the kept archive, nothing downloaded
    (root / "cifar-100-python" / "test").unlink()

    def no_network(url):
        raise AssertionError(f"should not download {url}")

    assert fetch.download("cifar100", root, progress=False, opener=no_network)["ready"]


def test_corrupt_archive_is_not_extracted(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    archive = write_fake_cifar_archive(server, which=10)
    archive.write_bytes(archive.read_bytes()[:200])  # a truncated tarball, with a checksum to match
    _with_md5s(monkeypatch, "cifar10", server)
    root = tmp_path / "data"
    with pytest.raises(fetch.CorruptDatasetError, match="cannot extract.*--force"):
        fetch.download("cifar10", root, progress=False, base_url=server.as_uri())
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]
    assert not fetch.status(root)["cifar10"]["ready"]


def test_verify_reports_mismatch(tmp_path):
    root = tmp_path / "data"
    write_fake_cifar_archive(root, which=10)
    root_cifar = root / ".staging-cifar10" / "cifar-10-batches-py"
    root_cifar.rename(root / "cifar-10-batches-py")
    checks = {c.path: c for c in fetch.verify("cifar10", root)}
    assert checks["cifar-10-python.tar.gz"].status == "mismatch"
    assert checks["cifar-10-batches-py/data_batch_1"].status == "mismatch"
    assert fetch.status(root)["cifar10"]["ready"]
    assert {c.status for c in fetch.verify("mnist", root)} == {"absent"}
    ok, message = fetch.check("cifar10", root)
    assert not ok and "data_batch_1 has md5" in message and "--force" in message
    ok, message = fetch.check("mnist", root)
    assert not ok and "fetch with: python data_scripts/download.py mnist --root" in message


def test_check_ready_dataset(tmp_path, monkeypatch):
    served = _mnist_server(tmp_path)
    _with_md5s(monkeypatch, "mnist", served)
    root = tmp_path / "data"
    fetch.download("mnist", root, progress=False, base_url=served.as_uri())
    assert fetch.check("mnist", root) == (True, "ready; 4 file(s) match their published md5")
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"changed")
    ok, message = fetch.check("mnist", root)
    assert not ok and message.startswith("corrupt: MNIST/raw/t10k-labels-idx1-ubyte.gz has md5")


def test_celeba_manual_files_are_checked_and_extracted(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_fake_celeba(root, n_images=6)
    folder = root / "celeba"
    zip_folder(folder / "img_align_celeba", folder / "img_align_celeba.zip")
    for p in (folder / "img_align_celeba").iterdir():
        p.unlink()
    (folder / "img_align_celeba").rmdir()
    _with_md5s(monkeypatch, "celeba", folder)
    monkeypatch.setitem(sys.modules, "gdown", None)  # no gdown, and none needed: files are there

    st = fetch.download("celeba", root, progress=False)
    assert st["ready"]
    src = load_source("celeba", root=root, image_size=16)
    assert src.x_train.shape == (4, 3, 16, 16) and src.y_train.shape == (4, 40)  # partitions 0,0,0,1,2,0


def test_celeba_without_gdown_explains_manual_download(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdown", None)
    with pytest.raises(fetch.DownloadError, match="gdown.*by hand from https://mmlab"):
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
    assert "mnist          ready" in table and "python data_scripts/download.py cifar100" in table
    (tmp_path / "MNIST" / "raw" / ".t10k-images-idx3-ubyte.gz.abc.part").write_bytes(b"x")
    assert fetch.status(names=["mnist"])["mnist"]["leftovers"] == ["MNIST/raw/.t10k-images-idx3-ubyte.gz.abc.part"]
    with pytest.raises(ConfigError, match="choose one of: mnist, fashion_mnist"):
        fetch.status(names=["imagenet"])
    assert fetch.get_spec("Fashion-MNIST").name == "fashion_mnist"


# --------------------------------------------------------------------------- the command line


def _run(*args: str, env_data: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "CLTK_DATA": str(env_data), "CLTK_PROGRESS": "0", "HOME": str(env_data)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_unknown_dataset_is_one_line(tmp_path):
    proc = _run("mnist", "imagenet", env_data=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "imagenet" in lines[0] and "mnist, fashion_mnist, cifar10, cifar100, celeba" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing downloaded before the bad name was seen


def test_cli_help_list_and_checksum_error(tmp_path):
    helped = _run("--help", env_data=tmp_path)
    assert helped.returncode == 0 and "--force" in helped.stdout and "CelebA" in helped.stdout
    write_fake_mnist(tmp_path)
    listed = _run("--list", env_data=tmp_path)
    assert listed.returncode == 0
    assert "mnist          ready" in listed.stdout and "download.py cifar10" in listed.stdout
    served = _mnist_server(tmp_path)
    data = tmp_path / "other"
    bad = _run("mnist", "--root", str(data), "--base-url", served.as_uri(), "--quiet", env_data=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "checksum mismatch" in bad.stderr
    assert _everything(data) == ["MNIST", "MNIST/raw"]


def test_cli_main_in_process(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import download as cli
    finally:
        sys.path.remove(str(SCRIPT.parent))
    served = _mnist_server(tmp_path)
    _with_md5s(monkeypatch, "mnist", served)
    root = tmp_path / "data"
    assert cli.main(["mnist", "--root", str(root), "--base-url", served.as_uri(), "--quiet"]) == 0
    assert fetch.status(root)["mnist"]["ready"]
    assert cli.main(["--root", str(root)]) == 2
    assert "name at least one dataset" in capsys.readouterr().err
