"""Where the real datasets live, whether they are complete, and how they are downloaded.

The layout under the data root (``$CLTK_DATA`` unless a root is given) is
torchvision's, so its dataset classes read it::

    MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte     (+ the .gz downloads)
    FashionMNIST/raw/...                                        (same names)
    cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta   (+ cifar-10-python.tar.gz)
    cifar-100-python/train, test, meta                          (+ cifar-100-python.tar.gz)
    celeba/list_attr_celeba.txt, identity_CelebA.txt, list_bbox_celeba.txt,
           list_landmarks_align_celeba.txt, list_eval_partition.txt, img_align_celeba/*.jpg
                                                                (+ img_align_celeba.zip)

**From torchvision:** the URLs, mirrors and published MD5s, read from its
dataset classes (``MNIST.mirrors`` / ``.resources``, ``CIFAR10.url`` /
``.tgz_md5`` / ``.train_list`` / ``.test_list`` / ``.meta``, ``CelebA.file_list``)
each time they are needed, never copied here; and the work itself:
``download_url``, ``download_file_from_google_drive`` (through gdown),
``calculate_md5`` and ``extract_archive``.

**Own code, and why:**

- *Atomic placement.* torchvision writes a download, and what it extracts,
  straight under the final name, and a failed MD5 check leaves the bad file
  there, so a killed run leaves a file that looks complete. Here each step runs
  inside a hidden staging folder next to its target (``.NAME.*.part``, removed
  afterwards), and its result is renamed into place (``os.replace``) only when
  complete and, for a download, verified. Files get mode ``0o666 & ~umask``
  before the rename (gdown writes through ``mkstemp``, which makes them 0600).
  A run killed outright leaves at most a ``.part`` folder, which
  :func:`dataset_status` lists.
- *Verify, then extract.* An archive is extracted only after its MD5 matched
  the published one (torchvision's tar extraction does not filter member
  paths on Python < 3.14, so only the published archive may reach it).
- *A local mirror* (``base_url="file://..."``) is copied directly: torchvision's
  downloader cannot read ``file://`` URLs.
- *Checking what was extracted* (:func:`check`, ``cltoolkit data check``):
  torchvision only asks "is it there?". Here the CIFAR batches and CelebA's
  annotation files are checked against their published MD5s, MNIST's IDX files
  (no MD5 is published once extracted) against the size their header states,
  and CelebA's image folder against the number of images its partition file
  lists, so a truncated file is found even after its archive was deleted.
- *Messages:* what is missing or damaged, named, with the command that fixes
  it, in one line. Bad input (an unknown name, a root that is a file) raises
  :class:`~cltoolkit.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import shlex
import shutil
import socket
import struct
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import data_dir
from ..errors import ChecksumError, CltkError, ConfigError

SCRIPT = "python data_scripts/download.py"  # what a learner types; every "missing" message repeats it
REAL_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "celeba")
TIMEOUT_S = 60  # torchvision opens URLs without a timeout; a stalled mirror should fail, not hang
_ABOUT = {
    "mnist": ("MNIST", "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": ("Fashion-MNIST", "https://github.com/zalandoresearch/fashion-mnist"),
    "cifar10": ("CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "cifar100": ("CIFAR-100", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "celeba": ("CelebA", "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"),
}


class DownloadError(CltkError, OSError):
    """A file could not be downloaded (no connection, HTTP error, Google Drive refusing, ...)."""


class CorruptDatasetError(CltkError, ValueError):
    """A dataset file is on disk but damaged or of the wrong kind; the message says how to fetch it again."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name in the dataset folder, MD5, mirrors or Google Drive id.

    ``produces`` is what extracting it creates next to it (the file for a
    ``.gz``, the top-level folder for a tar or zip); ``None`` if it is used as is.
    """

    name: str
    md5: str
    urls: tuple[str, ...] = ()
    gdrive_id: str | None = None
    produces: str | None = None


@dataclass(frozen=True)
class Spec:
    """A real dataset, as torchvision publishes it.

    ``folder`` (relative to the root) receives the downloads; ``required``
    lists what the loader reads, relative to the root (a trailing ``/`` marks a
    folder); ``md5`` holds the published checksums of extracted files.
    """

    name: str
    title: str
    folder: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]
    md5: dict[str, str] = field(default_factory=dict)
    homepage: str = ""
    manual: bool = False  # Google Drive: may have to be downloaded by hand


def spec(name: str) -> Spec:
    """The :class:`Spec` of ``name`` (``-`` and case ignored), built from torchvision's dataset class."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in REAL_DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(REAL_DATASETS)}")
    from torchvision import datasets as tv

    title, homepage = _ABOUT[key]
    if key in ("mnist", "fashion_mnist"):
        cls = tv.MNIST if key == "mnist" else tv.FashionMNIST
        folder = f"{cls.__name__}/raw"
        files = tuple(
            RemoteFile(f, md5, tuple(m + f for m in cls.mirrors), produces=f.removesuffix(".gz"))
            for f, md5 in cls.resources
        )
        return Spec(key, title, folder, files, tuple(f"{folder}/{f.produces}" for f in files), homepage=homepage)
    if key in ("cifar10", "cifar100"):
        cls = tv.CIFAR10 if key == "cifar10" else tv.CIFAR100
        members = [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]
        md5 = {f"{cls.base_folder}/{n}": h for n, h in members}
        files = (RemoteFile(cls.filename, cls.tgz_md5, (cls.url,), produces=cls.base_folder),)
        return Spec(key, title, "", files, tuple(md5), md5, homepage)
    cls = tv.CelebA
    files = tuple(
        RemoteFile(n, h, gdrive_id=i, produces="img_align_celeba" if n.endswith(".zip") else None)
        for i, h, n in cls.file_list
    )
    md5 = {f"{cls.base_folder}/{f.name}": f.md5 for f in files if f.produces is None}
    required = (*md5, f"{cls.base_folder}/img_align_celeba/")
    return Spec(key, title, cls.base_folder, files, required, md5, homepage, manual=True)


def resolve_root(root: str | Path | None = None) -> Path:
    """The data root: ``root``, else ``$CLTK_DATA``, else the default (it need not exist yet).

    Raises :class:`ConfigError` if it is a file, or lies inside one.
    """
    path = Path(root).expanduser() if root is not None else data_dir()
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = f"the data root {path}" if root is not None else f"$CLTK_DATA ({path})"
                where = "is a file" if p == path else f"lies inside {p}, which is a file"
                raise ConfigError(f"{what} {where}, not a folder; give a folder for the datasets")
            break
    return path


def default_root() -> Path | None:
    """``$CLTK_DATA`` or the default folder; ``None`` when ``$CLTK_DATA`` is unusable (a file)."""
    try:
        return data_dir()
    except ConfigError:
        return None


def download_command(name: str, root: str | Path | None = None) -> str:
    """The shell command that fetches ``name`` into ``root`` (``--root`` left out for ``$CLTK_DATA``)."""
    cmd, default = f"{SCRIPT} {spec(name).name}", default_root()
    if root is not None and (default is None or Path(root).expanduser().absolute() != default.absolute()):
        cmd += f" --root {shlex.quote(str(root))}"
    return cmd


def _rel(sp: Spec, name: str) -> str:
    return f"{sp.folder}/{name}" if sp.folder else name


# --------------------------------------------------------------------------- what is on disk


def idx_problem(path: Path) -> str | None:
    """What is wrong with an extracted MNIST IDX file, from its header and size; ``None`` if nothing.

    An IDX file of bytes starts with ``00 00 08 ND`` (ND dimensions: 3 for
    images, 1 for labels, as the name's ``idx3`` / ``idx1`` says), then ND
    big-endian sizes, then exactly their product in bytes.
    """
    ndim = int(path.name.split("-idx")[1][0])
    with open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
    if head[:2] == b"\x1f\x8b":
        return "is still gzip-compressed (it should be the extracted file)"
    if head[:4] != bytes([0, 0, 8, ndim]):
        return f"does not start with the magic number of a {ndim}-dimensional IDX file of bytes"
    if len(head) < 4 + 4 * ndim:
        return "is cut short inside its header"
    dims = struct.unpack(f">{ndim}I", head[4:])
    size, expected = path.stat().st_size, len(head) + math.prod(dims)
    if size != expected:
        state = "truncated" if size < expected else "too long"
        return f"is {state}: {size} bytes where its header promises {expected} ({dims[0]} items)"
    return None


def _md5(path: Path) -> str:
    from torchvision.datasets.utils import calculate_md5

    return calculate_md5(path)


def extracted_problems(sp: Spec, root: Path) -> tuple[list[str], int, int]:
    """Problems of the extracted files that are present, and how many were verified by MD5 / by size."""
    problems, by_md5, by_size = [], 0, 0
    for rel in sp.required:
        path = root / rel
        if rel.endswith("/") or not path.is_file():
            continue
        if rel in sp.md5:
            actual = _md5(path)
            by_md5 += actual == sp.md5[rel]
            if actual != sp.md5[rel]:
                problems.append(f"{rel} has md5 {actual}, expected {sp.md5[rel]}")
        elif "-idx" in path.name:
            problem = idx_problem(path)
            by_size += problem is None
            if problem:
                problems.append(f"{rel} {problem}")
    images, listing = root / sp.folder / "img_align_celeba", root / sp.folder / "list_eval_partition.txt"
    if sp.name == "celeba" and images.is_dir() and listing.is_file():
        with open(listing, encoding="utf-8", errors="replace") as f:
            listed = sum(1 for line in f if line.strip())
        found = sum(1 for e in os.scandir(images) if e.is_file())
        if found < listed:
            problems.append(f"celeba/img_align_celeba holds {found} of the {listed} images the partition lists")
    return problems, by_md5, by_size


def _leftovers(root: Path, sp: Spec) -> list[str]:
    folder = root / sp.folder
    names = {f.name for f in sp.files} | {f.produces for f in sp.files if f.produces}
    if not folder.is_dir():
        return []
    return sorted({str(p.relative_to(root)) for n in names for p in folder.glob(f".{n}.*.part")})


def wrong_kind(path: Path) -> str:
    """``"PATH is a folder where a file belongs"`` (or the reverse), for messages."""
    found, expected = ("folder", "file") if path.is_dir() else ("file", "folder")
    return f"{path} is a {found} where a {expected} belongs"


def dataset_status(name: str, root: str | Path | None = None) -> dict:
    """What is on disk for one dataset (cheap: nothing is hashed).

    A dict with ``name``, ``title``, ``root``; ``ready`` (everything the loader
    reads is in place; :func:`check` verifies it); ``present`` / ``missing`` /
    ``wrong_kind`` (required paths relative to the root; ``wrong_kind``: a
    folder where a file belongs or the reverse); ``archives`` (downloads kept);
    ``leftovers`` (``.part`` folders of a killed run); ``command`` (what fetches
    it); ``manual`` (CelebA: may need downloading by hand).
    """
    sp, root = spec(name), resolve_root(root)
    present, missing, wrong = [], [], []
    for rel in sp.required:
        path, folder = root / rel, rel.endswith("/")
        bucket = missing if not path.exists() else present if path.is_dir() == folder else wrong
        bucket.append(rel.rstrip("/"))
    return {
        "name": sp.name,
        "title": sp.title,
        "root": str(root),
        "ready": not missing and not wrong,
        "present": present,
        "missing": missing,
        "wrong_kind": wrong,
        "archives": [_rel(sp, f.name) for f in sp.files if f.produces and (root / _rel(sp, f.name)).is_file()],
        "leftovers": _leftovers(root, sp),
        "command": download_command(sp.name, root),
        "manual": sp.manual,
    }


def status(root: str | Path | None = None, names: Iterable[str] | None = None) -> dict[str, dict]:
    """:func:`dataset_status` of every real dataset (or of ``names``): ``{name: {...}}``."""
    return {spec(n).name: dataset_status(n, root) for n in (names if names is not None else REAL_DATASETS)}


def format_status(report: dict[str, dict] | str | Path | None = None) -> str:
    """One line per dataset, for ``cltoolkit data list``: ``report`` is :func:`status` output or a data root."""
    if not isinstance(report, dict):
        report = status(report)
    lines = []
    for name, st in report.items():
        if st["wrong_kind"]:
            wrong = wrong_kind(Path(st["root"]) / st["wrong_kind"][0])
            line = f"{name:<14} broken   {wrong}; remove it, then run: {st['command']}"
        elif st["ready"]:
            line = f"{name:<14} present  in {st['root']} ('python -m cltoolkit data check' verifies it)"
        else:
            what = "partial" if st["present"] or st["archives"] else "missing"
            line = f"{name:<14} {what:<8} fetch with: {st['command']}"
        if st["leftovers"]:
            line += f"  (left by an interrupted run; delete if no download is running: {', '.join(st['leftovers'])})"
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class FileCheck:
    """One file with a published MD5: ``actual`` is ``None`` when the file is absent."""

    path: str
    expected: str
    actual: str | None

    @property
    def status(self) -> str:
        """``"ok"``, ``"mismatch"`` or ``"absent"``."""
        return "absent" if self.actual is None else "ok" if self.actual == self.expected else "mismatch"


def verify(name: str, root: str | Path | None = None) -> list[FileCheck]:
    """Recompute the MD5 of each file of ``name`` with a published checksum (archives, CIFAR batches, CelebA lists)."""
    sp, root = spec(name), resolve_root(root)
    published = [(_rel(sp, f.name), f.md5) for f in sp.files] + list(sp.md5.items())
    return [FileCheck(rel, md5, _md5(root / rel) if (root / rel).is_file() else None) for rel, md5 in published]


def check(name: str, root: str | Path | None = None) -> tuple[bool, str]:
    """Whether ``name`` is complete and intact, and one line saying why, for ``cltoolkit data check``.

    Kept archives and extracted files are verified (MD5 where published, IDX
    sizes for MNIST, image count for CelebA), so a damaged file is reported
    even when its archive is gone.
    """
    st = dataset_status(name, root)
    sp, root = spec(name), Path(st["root"])
    if st["wrong_kind"]:
        return False, f"broken: {wrong_kind(root / st['wrong_kind'][0])}; remove it, then run: {st['command']}"
    kept = [(_rel(sp, f.name), f.md5) for f in sp.files if _rel(sp, f.name) in st["archives"]]
    archives = [FileCheck(rel, md5, _md5(root / rel)) for rel, md5 in kept]
    problems, by_md5, by_size = extracted_problems(sp, root)
    problems = [f"{c.path} has md5 {c.actual}, expected {c.expected}" for c in archives if c.status != "ok"] + problems
    if problems:
        more = f"; and {len(problems) - 2} more" if len(problems) > 2 else ""
        return False, f"corrupt: {'; '.join(problems[:2])}{more}; download again with: {st['command']} --force"
    if not st["ready"]:
        return False, f"missing {', '.join(st['missing'])}; fetch with: {st['command']}"
    by_md5 += len(archives)
    parts = [f"{by_md5} file(s) match their published md5"] if by_md5 else []
    parts += [f"{by_size} IDX file(s) have the size their header states"] if by_size else []
    parts += ["the image folder holds every listed image"] if sp.name == "celeba" else []
    return True, "ready; " + ", ".join(parts)


# --------------------------------------------------------------------------- download


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _staging(final: Path) -> Iterator[Path]:
    """A hidden folder next to ``final`` to build it in; removed on the way out, whatever happens."""
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _refuse_folder(path: Path) -> None:
    if path.is_dir():
        raise CorruptDatasetError(f"{wrong_kind(path)}; remove it and run again")


def _publish(src: Path, final: Path) -> None:
    """Rename a complete ``src`` (inside a staging folder) to ``final``; a file gets ``0o666 & ~umask``."""
    if src.is_file():
        _refuse_folder(final)
        os.chmod(src, 0o666 & ~_umask())
    elif final.is_dir():  # re-extracting: the old folder goes into the staging folder, deleted with it
        os.replace(final, src.parent / f"old-{final.name}")
    os.replace(src, final)


def _gdrive(sp: Spec, f: RemoteFile, tmp: Path, folder: Path, root: Path) -> None:
    from torchvision.datasets.utils import download_file_from_google_drive

    manual = (
        f"download {', '.join(x.name for x in sp.files)} by hand from {sp.homepage} (Google Drive) into {folder}, "
        f"then run {download_command(sp.name, root)} to check and extract them"
    )
    try:
        import gdown  # noqa: F401  (torchvision's Google Drive download needs it)
    except ImportError:
        raise DownloadError(f"{sp.title} is on Google Drive, which needs 'pip install gdown'; or {manual}") from None
    try:
        download_file_from_google_drive(f.gdrive_id, tmp, f.name)
    except Exception as exc:  # gdown raises its own types (quota exceeded, an HTML page, ...)
        raise DownloadError(f"Google Drive refused {f.name} ({exc}); {manual}") from None


def _fetch(sp: Spec, f: RemoteFile, final: Path, root: Path, base_url: str | None) -> None:
    """Download ``f`` into a staging folder, check its MD5, then rename it to ``final``; mirrors in turn."""
    from torchvision.datasets import utils as tvu

    urls = [base_url.rstrip("/") + "/" + f.name] if base_url else list(f.urls) or ["Google Drive"]
    errors = []
    with _staging(final) as tmp:
        part = tmp / f.name
        for url in urls:
            part.unlink(missing_ok=True)  # torchvision would take a leftover from the last mirror as done
            try:
                if url == "Google Drive":
                    _gdrive(sp, f, tmp, final.parent, root)
                elif url.startswith("file:"):
                    shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), part)
                else:
                    tvu.download_url(url, tmp, f.name)
                actual = tvu.calculate_md5(part)
            except CltkError:
                raise
            except (OSError, ValueError, RuntimeError, http.client.HTTPException) as exc:
                errors.append(f"{url}: {exc}")
                continue
            if actual == f.md5:
                _publish(part, final)
                return
            errors.append(f"{url} gave md5 {actual}, expected {f.md5}")
    if all(" gave md5 " in e for e in errors):
        raise ChecksumError(f"checksum mismatch for {f.name} ({'; '.join(errors)}); the bad download was deleted")
    raise DownloadError(
        f"could not download {f.name} ({'; '.join(errors)}); check the connection, or download it from "
        f"{sp.homepage} into {final.parent} and run the same command again"
    )


def _extract(archive: Path, final: Path) -> None:
    """Extract a verified ``archive`` into a staging folder; rename what it holds under ``final.name`` into place."""
    from torchvision.datasets.utils import extract_archive

    with _staging(final) as tmp:
        try:
            extract_archive(str(archive), str(tmp))
        except Exception as exc:  # gzip / tarfile / zipfile / zlib errors, all meaning a damaged archive
            raise CorruptDatasetError(f"cannot extract {archive}: {exc}; download it again with --force") from None
        if not (tmp / final.name).exists():
            raise CorruptDatasetError(f"{archive} does not contain {final.name!r}; download it again with --force")
        _publish(tmp / final.name, final)


@contextlib.contextmanager
def _quiet_network(quiet: bool) -> Iterator[None]:
    """A socket timeout for torchvision's downloads; with ``quiet``, its progress bars (stderr) are hidden."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)
    try:
        with contextlib.ExitStack() as stack:
            if quiet:
                stack.enter_context(contextlib.redirect_stderr(stack.enter_context(open(os.devnull, "w"))))
            yield
    finally:
        socket.setdefaulttimeout(old)


def download(
    name: str,
    root: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    base_url: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Download, verify and extract dataset ``name`` into ``root`` (default ``$CLTK_DATA``).

    What is already in place and intact is kept (an extracted file that passes
    :func:`check`'s tests, an archive with the published MD5) unless ``force``.
    Archives are kept so they can be rechecked. ``base_url`` replaces the
    mirrors by ``base_url/FILENAME`` (a mirror; ``file://`` folders work too).
    ``log`` receives one-line notes. Raises :class:`ChecksumError`,
    :class:`DownloadError` or :class:`CorruptDatasetError` (nothing half-written
    is left); returns :func:`dataset_status` afterwards.
    """
    sp, root = spec(name), resolve_root(root)
    say = log or (lambda msg: None)
    folder = root / sp.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot create {folder}: a file is in the way; remove it or give another root") from None
    with _quiet_network(not progress):
        for f in sp.files:
            archive = folder / f.name
            _refuse_folder(archive)
            if f.produces and _rel(sp, f.produces) in sp.required:  # a .gz that extracts to one file
                _refuse_folder(folder / f.produces)
            if not force and f.produces:
                produced = _rel(sp, f.produces)
                inside = [r for r in sp.required if r.rstrip("/") == produced or r.startswith(produced + "/")]
                intact = all((root / r).exists() and (root / r).is_dir() == r.endswith("/") for r in inside)
                if intact and not [p for p in extracted_problems(sp, root)[0] if p.startswith(produced)]:
                    say(f"{sp.name}: {produced} already there")
                    continue
            if not force and archive.is_file() and _md5(archive) == f.md5:
                say(f"{sp.name}: {_rel(sp, f.name)} already downloaded, checksum ok")
            else:
                say(f"{sp.name}: downloading {f.name}")
                _fetch(sp, f, archive, root, base_url)
            if f.produces:
                say(f"{sp.name}: extracting {f.name}")
                _extract(archive, folder / f.produces)
    return dataset_status(sp.name, root)
