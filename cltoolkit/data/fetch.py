"""Download, verify and list the real datasets: MNIST, Fashion-MNIST, CIFAR-10/100 and CelebA.

Files are laid out under the data root (``$CLTK_DATA`` unless given) the way
torchvision lays them out, so torchvision's own dataset classes can read them too::

    MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte      (+ the .gz downloads)
    FashionMNIST/raw/...                                         (same names)
    cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta (+ cifar-10-python.tar.gz)
    cifar-100-python/train, test, meta                          (+ cifar-100-python.tar.gz)
    celeba/list_attr_celeba.txt, celeba/list_eval_partition.txt, celeba/img_align_celeba/*.jpg
                                                                 (+ celeba/img_align_celeba.zip)

Nothing here half-writes a file. A download goes to a hidden ``.NAME.*.part``
file next to its final name, its MD5 is compared with the published one, and
only then is it renamed into place (``os.replace``). An archive is extracted
into a hidden temporary folder which is renamed into place once complete. So a
file or folder with its final name is always complete; an interrupted run leaves
at most a ``.part`` file or a hidden temporary folder, which :func:`status` lists.

The URLs and MD5 checksums are the published ones that torchvision also uses.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shlex
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..config import data_dir
from ..errors import ChecksumError, CltkError, ConfigError

# What a learner types; every "missing data" message repeats it.
SCRIPT = "python data_scripts/download.py"
CHUNK = 1 << 20
USER_AGENT = "cltoolkit-data-download"


class DownloadError(CltkError, OSError):
    """A file could not be downloaded (no connection, HTTP error, Google Drive refusing, ...)."""


class CorruptDatasetError(CltkError, ValueError):
    """A dataset file is on disk but unreadable (truncated, wrong format); re-download with ``--force``."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file of a dataset.

    ``name`` is the file name inside the dataset folder; ``urls`` are mirrors
    tried in order; ``gdrive_id`` is the Google Drive id for files hosted there.
    ``extract`` is ``"gz"``, ``"tar"`` or ``"zip"`` (or ``None``) and ``produces``
    what extraction creates, relative to the dataset folder (a file for gz, the
    archive's top-level folder for tar/zip).
    """

    name: str
    md5: str
    urls: tuple[str, ...] = ()
    gdrive_id: str | None = None
    extract: str | None = None
    produces: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A real dataset: where it goes under the root, what to fetch, what the loader reads.

    ``folder`` (relative to the root) holds the downloaded files; ``required``
    (relative to the root) is what :mod:`cltoolkit.data.real` reads;
    ``known_md5`` lists extracted files whose checksums are published too.
    """

    name: str
    title: str
    folder: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]
    homepage: str
    known_md5: tuple[tuple[str, str], ...] = ()
    manual: bool = False


def _mnist_like(name: str, title: str, folder: str, mirrors: tuple[str, ...], md5s: dict, homepage: str):
    files, required = [], []
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        archive = stem + ".gz"
        urls = tuple(m + archive for m in mirrors)
        files.append(RemoteFile(archive, md5s[stem], urls=urls, extract="gz", produces=stem))
        required.append(f"{folder}/{stem}")
    return DatasetSpec(name, title, folder, tuple(files), tuple(required), homepage)


_CIFAR10_BATCHES = (
    ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    ("data_batch_4", "634d18415352ddfa80567beed471001a"),
    ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ("test_batch", "40351d587109b95175f43aff81a1287e"),
    ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
)
_CIFAR100_FILES = (
    ("train", "16019d7e3df5f24257cddd939b257f8d"),
    ("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),
    ("meta", "7973b15100ade9c7d40fb424638fde48"),
)


def _cifar(name: str, title: str, archive: str, md5: str, top: str, members: tuple) -> DatasetSpec:
    url = "https://www.cs.toronto.edu/~kriz/" + archive
    return DatasetSpec(
        name,
        title,
        "",
        (RemoteFile(archive, md5, urls=(url,), extract="tar", produces=top),),
        tuple(f"{top}/{m}" for m, _ in members),
        "https://www.cs.toronto.edu/~kriz/cifar.html",
        known_md5=tuple((f"{top}/{m}", h) for m, h in members),
    )


REGISTRY: dict[str, DatasetSpec] = {
    "mnist": _mnist_like(
        "mnist",
        "MNIST",
        "MNIST/raw",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        {
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": _mnist_like(
        "fashion_mnist",
        "Fashion-MNIST",
        "FashionMNIST/raw",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "https://github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": _cifar(
        "cifar10",
        "CIFAR-10",
        "cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        _CIFAR10_BATCHES,
    ),
    "cifar100": _cifar(
        "cifar100",
        "CIFAR-100",
        "cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        _CIFAR100_FILES,
    ),
    "celeba": DatasetSpec(
        "celeba",
        "CelebA",
        "celeba",
        (
            RemoteFile(
                "img_align_celeba.zip",
                "00d2c5bc6d35e252742224ab0c1e8fcb",
                gdrive_id="0B7EVK8r0v71pZjFTYXZWM3FlRnM",
                extract="zip",
                produces="img_align_celeba",
            ),
            RemoteFile(
                "list_attr_celeba.txt", "75e246fa4810816ffd6ee81facbd244c", gdrive_id="0B7EVK8r0v71pblRyaVFSWGxPY0U"
            ),
            RemoteFile(
                "list_eval_partition.txt", "d32c9cbf5e040fd4025c592c306e6668", gdrive_id="0B7EVK8r0v71pY0NSMzRuSXJEVkk"
            ),
        ),
        ("celeba/list_attr_celeba.txt", "celeba/list_eval_partition.txt", "celeba/img_align_celeba"),
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
        manual=True,
    ),
}

NAMES: tuple[str, ...] = tuple(REGISTRY)
REAL_DATASETS = NAMES  # alias used by the CLI

Opener = Callable[[str], AbstractContextManager[IO[bytes]]]


# --------------------------------------------------------------------------- helpers


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name`` (``-`` and case ignored); :class:`ConfigError` lists the choices."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[key]


def _root(root: str | Path | None) -> Path:
    return Path(root).expanduser() if root is not None else data_dir()


def md5sum(path: str | Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_command(name: str, root: str | Path | None = None) -> str:
    """The exact shell command that fetches ``name`` into ``root`` (``--root`` omitted for ``$CLTK_DATA``)."""
    cmd = f"{SCRIPT} {get_spec(name).name}"
    if root is not None:
        try:
            same = Path(root).expanduser().resolve() == data_dir().resolve()
        except OSError:
            same = False
        if not same:
            cmd += f" --root {shlex.quote(str(root))}"
    return cmd


def _rel(spec: DatasetSpec, name: str) -> str:
    return f"{spec.folder}/{name}" if spec.folder else name


def _leftovers(root: Path, spec: DatasetSpec) -> list[str]:
    """Hidden ``.part`` files and temporary extraction folders left by an interrupted run."""
    found = []
    folder = root / spec.folder if spec.folder else root
    if folder.is_dir():
        for f in spec.files:
            found += list(folder.glob(f".{f.name}.*.part"))
            if f.extract == "gz":
                found += list(folder.glob(f".{f.produces}.*.part"))
            elif f.extract in ("tar", "zip"):
                found += list(folder.glob(f".{f.produces}.*.tmp"))
    return sorted({str(p.relative_to(root)) for p in found})


# --------------------------------------------------------------------------- status and verify


def dataset_status(name: str, root: str | Path | None = None) -> dict:
    """What is on disk for one dataset.

    Returns a dict with ``name``, ``title``, ``root``, ``ready`` (the loader can
    read it), ``present`` / ``missing`` (required paths, relative to the root),
    ``archives`` (downloaded archives present), ``leftovers`` (``.part`` files or
    temporary folders from an interrupted run), ``command`` (what fetches it)
    and ``manual`` (CelebA: may need to be downloaded by hand).
    """
    spec = get_spec(name)
    root = _root(root)
    present = [r for r in spec.required if (root / r).exists()]
    missing = [r for r in spec.required if r not in present]
    archives = [_rel(spec, f.name) for f in spec.files if f.extract and (root / _rel(spec, f.name)).is_file()]
    return {
        "name": spec.name,
        "title": spec.title,
        "root": str(root),
        "ready": not missing,
        "present": present,
        "missing": missing,
        "archives": archives,
        "leftovers": _leftovers(root, spec),
        "command": download_command(spec.name, root),
        "manual": spec.manual,
    }


def status(root: str | Path | None = None, names: Iterable[str] | None = None) -> dict[str, dict]:
    """:func:`dataset_status` for every real dataset (or ``names``): ``{name: {...}}``."""
    return {get_spec(n).name: dataset_status(n, root) for n in (names if names is not None else NAMES)}


def format_status(report: dict[str, dict] | str | Path | None = None) -> str:
    """A small table, one line per dataset, for terminals.

    ``report`` is :func:`status` output, or a data root (``None``: ``$CLTK_DATA``)
    whose status is computed here.
    """
    if not isinstance(report, dict):
        report = status(report)
    lines = []
    for name, st in report.items():
        if st["ready"]:
            line = f"{name:<14} ready    {st['root']}"
        else:
            what = "partial" if st["present"] or st["archives"] else "missing"
            line = f"{name:<14} {what:<8} fetch with: {st['command']}"
        if st["leftovers"]:
            line += f"  (left by an interrupted run; delete if no download is running: {', '.join(st['leftovers'])})"
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class FileCheck:
    """Result of checking one file against its published MD5 (``actual`` is ``None`` if absent)."""

    path: str
    expected: str
    actual: str | None

    @property
    def status(self) -> str:
        """``"ok"``, ``"mismatch"`` or ``"absent"``."""
        if self.actual is None:
            return "absent"
        return "ok" if self.actual == self.expected else "mismatch"


def verify(name: str, root: str | Path | None = None) -> list[FileCheck]:
    """Recompute the MD5 of every file of ``name`` whose checksum is published.

    That is the downloaded archives (where they were kept) and, for CIFAR, the
    extracted batch files. Files not on disk are reported ``absent``, not as errors
    (MNIST's extracted files have no published checksum: their archives do).
    """
    spec = get_spec(name)
    root = _root(root)
    checks = [(_rel(spec, f.name), f.md5) for f in spec.files] + list(spec.known_md5)
    out = []
    for rel, expected in checks:
        path = root / rel
        out.append(FileCheck(rel, expected, md5sum(path) if path.is_file() else None))
    return out


def check(name: str, root: str | Path | None = None) -> tuple[bool, str]:
    """Whether ``name`` is usable, and a one-line explanation, for ``cltoolkit data check``.

    ``ok`` means every file the loader reads is present and every present file
    with a published MD5 (archives, CIFAR batches) matches it.
    """
    st = dataset_status(name, root)
    checks = verify(name, root)
    bad = [c for c in checks if c.status == "mismatch"]
    if bad:
        detail = "; ".join(f"{c.path} has md5 {c.actual}, expected {c.expected}" for c in bad[:2])
        if len(bad) > 2:
            detail += f"; and {len(bad) - 2} more file(s)"
        return False, f"corrupt: {detail}; download again with: {st['command']} --force"
    if not st["ready"]:
        return False, f"missing {', '.join(st['missing'])}; fetch with: {st['command']}"
    n_ok = sum(c.status == "ok" for c in checks)
    if n_ok:
        return True, f"ready; {n_ok} file(s) match their published md5"
    return True, "ready (no archive kept whose checksum could be rechecked)"


# --------------------------------------------------------------------------- download


def _urlopen(url: str) -> IO[bytes]:
    return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}), timeout=60)


def _content_length(response) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _progress_bar(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled)


def _tempfile_near(final: Path, suffix: str = ".part") -> Path:
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=suffix)
    os.close(fd)
    return Path(tmp)


def _fetch_url(url: str, final: Path, md5: str, opener: Opener, progress: bool) -> None:
    """Stream ``url`` into a temp file, check ``md5``, then rename it to ``final``."""
    tmp = _tempfile_near(final)
    try:
        h = hashlib.md5(usedforsecurity=False)
        with opener(url) as response, open(tmp, "wb") as out:
            with _progress_bar(_content_length(response), final.name, progress) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if actual != md5:
            raise ChecksumError(
                f"checksum mismatch for {final.name} downloaded from {url}: expected md5 {md5}, got {actual}; "
                "the bad download was deleted, try again"
            )
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_gdrive(f: RemoteFile, final: Path, spec: DatasetSpec, progress: bool) -> None:
    """Download a Google Drive file with ``gdown`` (if installed), with the same temp + MD5 + rename steps."""
    root = final.parent.parent  # CelebA's files go in ROOT/celeba
    manual = (
        f"download {', '.join(x.name for x in spec.files)} by hand from {spec.homepage} (Google Drive folders "
        f"'Align&Cropped Images', 'Anno' and 'Eval') into {final.parent}, then run "
        f"{download_command(spec.name, root)} to check and extract them"
    )
    try:
        import gdown
    except ImportError:
        raise DownloadError(
            f"{spec.title} is hosted on Google Drive, which needs the 'gdown' package: pip install gdown, or {manual}"
        ) from None
    tmp = _tempfile_near(final)
    try:
        try:
            result = gdown.download(id=f.gdrive_id, output=str(tmp), quiet=not progress)
        except Exception as exc:  # gdown raises its own types (quota exceeded, HTML page instead of file, ...)
            raise DownloadError(f"Google Drive refused {f.name} ({exc}); {manual}") from None
        if result is None or not tmp.is_file() or tmp.stat().st_size == 0:
            raise DownloadError(f"Google Drive did not deliver {f.name} (often a daily quota); {manual}")
        actual = md5sum(tmp)
        if actual != f.md5:
            raise ChecksumError(
                f"checksum mismatch for {f.name} from Google Drive: expected md5 {f.md5}, got {actual}; "
                f"the bad download was deleted; {manual}"
            )
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _fetch(
    f: RemoteFile, final: Path, spec: DatasetSpec, opener: Opener | None, base_url: str | None, progress: bool
) -> None:
    if base_url is not None:
        urls: tuple[str, ...] = (base_url.rstrip("/") + "/" + f.name,)
    elif f.urls:
        urls = f.urls
    else:
        _fetch_gdrive(f, final, spec, progress)
        return
    opener = opener or _urlopen
    errors: list[str] = []
    bad_checksum: ChecksumError | None = None
    for url in urls:
        try:
            _fetch_url(url, final, f.md5, opener, progress)
            return
        except ChecksumError as exc:
            bad_checksum = exc
        except (OSError, EOFError, ValueError, http.client.HTTPException) as exc:
            errors.append(f"{url}: {exc}")
    if bad_checksum is not None:
        raise bad_checksum
    raise DownloadError(
        f"could not download {f.name} ({'; '.join(errors)}); check the connection, or download it from "
        f"{spec.homepage} into {final.parent} and rerun the same command"
    )


def _gunzip(archive: Path, final: Path) -> None:
    tmp = _tempfile_near(final)
    try:
        with gzip.open(archive, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.replace(tmp, final)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptDatasetError(f"cannot decompress {archive}: {exc}; re-download it with --force") from None
    finally:
        tmp.unlink(missing_ok=True)


def _safe_members(tar: tarfile.TarFile, dest: Path) -> None:
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(dest.resolve()):
            raise CorruptDatasetError(f"refusing to extract {member.name!r}: unexpected entry in the archive")


def _unpack(archive: Path, kind: str, top: str, dest_folder: Path) -> None:
    """Extract ``archive`` into a hidden temp folder, check it holds ``top``, rename ``top`` into place."""
    work = Path(tempfile.mkdtemp(dir=dest_folder, prefix=f".{top}.", suffix=".tmp"))
    final = dest_folder / top
    try:
        try:
            if kind == "tar":
                with tarfile.open(archive, "r:*") as tar:
                    if hasattr(tarfile, "data_filter"):
                        tar.extractall(work, filter="data")
                    else:  # pragma: no cover - Python < 3.11.4
                        _safe_members(tar, work)
                        tar.extractall(work)
            else:
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(work)
        except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as exc:
            raise CorruptDatasetError(f"cannot extract {archive}: {exc}; re-download it with --force") from None
        if not (work / top).is_dir():
            raise CorruptDatasetError(f"{archive} does not contain the folder {top!r}; re-download it with --force")
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=dest_folder, prefix=f".{top}.", suffix=".tmp"))
            os.replace(final, old / top)
        os.replace(work / top, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _extract(f: RemoteFile, archive: Path) -> None:
    if f.extract == "gz":
        _gunzip(archive, archive.parent / f.produces)
    elif f.extract in ("tar", "zip"):
        _unpack(archive, f.extract, f.produces, archive.parent)


def _extracted(spec: DatasetSpec, f: RemoteFile, root: Path) -> bool:
    """Whether what ``f`` extracts to is complete on disk (so neither download nor extraction is needed)."""
    if f.produces is None:
        return False
    produced = _rel(spec, f.produces)
    inside = [r for r in spec.required if r == produced or r.startswith(produced + "/")]
    return (root / produced).exists() and all((root / r).exists() for r in inside)


def download(
    name: str,
    root: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    opener: Opener | None = None,
    base_url: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Download, check and extract dataset ``name`` into ``root`` (default ``$CLTK_DATA``).

    Files already in place are kept (an archive whose MD5 matches is not fetched
    again; an archive already extracted is skipped) unless ``force``. Archives
    are kept next to their contents so :func:`verify` can recheck them.
    ``opener(url)`` returns a readable binary response (default: ``urllib``);
    ``base_url`` replaces the mirrors with ``base_url/FILENAME`` (a mirror, or a
    ``file://`` folder in tests). ``log`` receives one-line progress notes.

    Raises :class:`ChecksumError` (bad download, deleted), :class:`DownloadError`
    (network, Google Drive) or :class:`CorruptDatasetError` (archive unreadable).
    Returns :func:`dataset_status` afterwards.
    """
    spec = get_spec(name)
    root = _root(root)
    say = log or (lambda msg: None)
    folder = root / spec.folder if spec.folder else root
    folder.mkdir(parents=True, exist_ok=True)
    for f in spec.files:
        archive = folder / f.name
        if not force and _extracted(spec, f, root):
            say(f"{spec.name}: {_rel(spec, f.produces)} already there")
            continue
        if not force and archive.is_file():
            if md5sum(archive) == f.md5:
                say(f"{spec.name}: {_rel(spec, f.name)} already downloaded, checksum ok")
            else:
                say(f"{spec.name}: {_rel(spec, f.name)} has a wrong checksum, downloading it again")
                _fetch(f, archive, spec, opener, base_url, progress)
        else:
            say(f"{spec.name}: downloading {f.name}")
            _fetch(f, archive, spec, opener, base_url, progress)
        if f.extract:
            say(f"{spec.name}: extracting {f.name}")
            _extract(f, archive)
    return dataset_status(spec.name, root)
