"""Scale, device, seeding and paths: the one place that reads ``CLTK_*`` variables.

Environment variables (all optional):

``CLTK_SCALE``
    ``smoke`` (CI: seconds per notebook, tiny epochs, still the real code paths),
    ``default`` (embedded digits data on a CPU, a few minutes per notebook) or
    ``paper`` (real datasets at the papers' sizes; wants a GPU). Unset means
    ``default``.
``CLTK_DEVICE``
    ``auto`` (cuda if available, else mps, else cpu), ``cpu``, ``cuda`` (or
    ``cuda:N``) or ``mps``. Unset means ``auto``.
``CLTK_DATA``
    Where real datasets live (``data_scripts/download.py`` writes there).
``CLTK_CACHE``
    Where trained checkpoints are cached ("load if it exists, otherwise train").
``CLTK_PROGRESS``
    ``0`` hides progress bars, ``1`` forces them. By default they are shown
    except at smoke scale.
"""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError
from .validate import check_seed

SCALES = ("smoke", "default", "paper")
DEVICES = ("auto", "cpu", "cuda", "mps")


def get_scale(scale: str | None = None) -> str:
    """Return the scale to use: ``scale`` if given, else ``$CLTK_SCALE``, else ``default``."""
    value = scale if scale is not None else os.environ.get("CLTK_SCALE", "") or "default"
    value = value.strip().lower()
    if value not in SCALES:
        source = "scale" if scale is not None else "CLTK_SCALE"
        raise ConfigError(f"unknown {source} {value!r}; choose one of: {', '.join(SCALES)}")
    return value


def by_scale(scale: str | None = None, **values):
    """Pick the value for the current scale: ``by_scale(smoke=1, default=5, paper=30)``."""
    scale = get_scale(scale)
    missing = [s for s in SCALES if s not in values]
    if missing:
        raise TypeError(f"by_scale needs a value for every scale; missing {missing}")
    return values[scale]


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return the torch device to use: ``device`` if given, else ``$CLTK_DEVICE``, else auto.

    Raises :class:`ConfigError` for an unknown name or a device this machine
    does not have (e.g. ``cuda`` on a CPU-only machine).
    """
    if isinstance(device, torch.device):
        device = str(device)
    value = (device if device is not None else os.environ.get("CLTK_DEVICE", "") or "auto").strip()
    value = value.lower()
    source = "device" if device is not None else "CLTK_DEVICE"
    kind = value.split(":")[0]
    if kind not in DEVICES:
        raise ConfigError(f"unknown {source} {value!r}; choose one of: {', '.join(DEVICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{source} is {value!r} but CUDA is not available on this machine "
            "(use 'cpu' or 'auto'; on Colab choose Runtime > Change runtime type > GPU)"
        )
    if kind == "mps" and not _mps_available():
        raise ConfigError(f"{source} is {value!r} but Apple MPS is not available; use 'cpu' or 'auto'")
    try:
        return torch.device(value)
    except RuntimeError as exc:  # e.g. "cuda:x"
        raise ConfigError(f"invalid {source} {value!r}: {exc}") from None


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh ``torch.Generator`` seeded with ``seed``.

    On a CPU, two runs with the same seed give identical results.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cltoolkit"


def _directory(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    path = Path(value).expanduser() if value else default
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{variable} is {str(path)!r}, which is a file, not a directory; point it at a directory")
    return path


def data_dir() -> Path:
    """Directory for real datasets: ``$CLTK_DATA`` or ``~/.cache/cltoolkit/data`` (refused if it is a file)."""
    return _directory("CLTK_DATA", _user_cache_root() / "data")


def cache_dir() -> Path:
    """Directory for cached checkpoints: ``$CLTK_CACHE`` or ``~/.cache/cltoolkit/checkpoints`` (not a file)."""
    return _directory("CLTK_CACHE", _user_cache_root() / "checkpoints")


PROGRESS_VALUES = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def progress_enabled(scale: str | None = None) -> bool:
    """Whether long loops show ``tqdm`` progress bars (off at smoke scale and in CI).

    ``CLTK_PROGRESS`` = ``1``/``true``/``yes``/``on`` forces them, ``0``/``false``/``no``/``off`` hides them;
    anything else is an error (a typo must not be silently read as "off").
    """
    flag = os.environ.get("CLTK_PROGRESS", "").strip().lower()
    if flag:
        if flag not in PROGRESS_VALUES:
            raise ConfigError(f"unknown CLTK_PROGRESS {flag!r}; use 1 (show progress bars) or 0 (hide them)")
        return PROGRESS_VALUES[flag]
    return get_scale(scale) != "smoke"


def available_memory() -> int:
    """Bytes of memory this process can still allocate without swapping (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30  # unknown: assume a modest laptop


def check_fits_in_memory(needed: int, what: str, per_unit: int | None = None, unit: str = "") -> None:
    """Refuse (ConfigError) to start something that would need more than half the available memory.

    ``per_unit`` / ``unit`` let the message say how many units (tasks, ...) would fit.
    """
    available = available_memory()
    if needed <= available // 2:
        return
    message = f"{what} needs about {needed / 2**30:.1f} GiB of memory, "
    message += f"more than half of the {available / 2**30:.1f} GiB available"
    if per_unit:
        message += f"; at most {max(0, available // 2 // per_unit):,} {unit} fit"
    raise ConfigError(message)


def describe_environment(scale: str | None = None, device: str | None = None) -> dict:
    """Versions, scale, device and paths, for the environment check in notebook 00."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scale": get_scale(scale),
        "device": str(get_device(device)),
        "cuda_available": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
        "data_dir": str(data_dir()),
        "cache_dir": str(cache_dir()),
    }
    for name in ("torchvision", "sklearn", "ipywidgets", "plotly", "matplotlib"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", "?")
        except ImportError:
            info[name] = "not installed"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
