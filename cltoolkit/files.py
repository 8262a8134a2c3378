"""Writing files so that nothing half-written ever appears, and nothing is lost.

:func:`atomic_write` writes to a temporary file beside the target and renames it into place: a
crash or Ctrl-C mid-write leaves the old file (or none), never a truncated one. The temporary file
is named ``.<name>.<pid>.tmp``; if a process is killed before it can clean up, the next write to
the same target removes such orphans (:func:`remove_orphans`). Files get the permissions the
user's umask gives (``mkstemp`` alone would make them 0600, unreadable to a shared group).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(path: str | Path) -> list[Path]:
    """Delete temporary files left beside ``path`` by writers that no longer run; return them."""
    path = Path(path)
    removed = []
    pattern = re.compile(re.escape(_tmp_prefix(path)) + r"(\d+)\.[^.]*\.tmp$")
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.iterdir():
        match = pattern.match(candidate.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            try:
                candidate.unlink()
                removed.append(candidate)
            except OSError:
                pass
    return removed


def atomic_write(path: str | Path, write: Callable[[IO], None], binary: bool = True) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_tmp_prefix(path)}{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def check_writable_file(path: str | Path, what: str = "output file") -> Path:
    """Refuse, before any work is done, a target that cannot become a regular file we can write.

    Raises :class:`ConfigError` for an empty name, a directory, a special file (a FIFO, a device),
    a missing parent directory, or a directory we may not write into.
    """
    if path is None or str(path).strip() == "":
        raise ConfigError(f"the {what} name is empty; give a file name such as results.json")
    path = Path(path).expanduser()
    if path.exists() or path.is_symlink():
        if path.is_dir():
            raise ConfigError(f"cannot write the {what} {path}: it is a directory; give a file name inside it")
        if not path.is_file():
            raise ConfigError(f"cannot write the {what} {path}: it is not a regular file (a device, FIFO or socket)")
        if not os.access(path, os.W_OK):
            raise ConfigError(f"cannot write the {what} {path}: permission denied")
    parent = path.resolve().parent
    if not parent.exists():
        raise ConfigError(f"cannot write the {what} {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ConfigError(f"cannot write the {what} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the {what} {path}: no permission to create files in {parent}")
    return path
