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
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cltoolkit"


def data_dir() -> Path:
    """Directory for real datasets: ``$CLTK_DATA`` or ``~/.cache/cltoolkit/data``."""
    value = os.environ.get("CLTK_DATA")
    return Path(value).expanduser() if value else _user_cache_root() / "data"


def cache_dir() -> Path:
    """Directory for cached checkpoints: ``$CLTK_CACHE`` or ``~/.cache/cltoolkit/checkpoints``."""
    value = os.environ.get("CLTK_CACHE")
    return Path(value).expanduser() if value else _user_cache_root() / "checkpoints"


def progress_enabled(scale: str | None = None) -> bool:
    """Whether long loops show ``tqdm`` progress bars (off at smoke scale and in CI)."""
    flag = os.environ.get("CLTK_PROGRESS")
    if flag is not None and flag != "":
        return flag not in ("0", "false", "no", "off")
    return get_scale(scale) != "smoke"


def describe_environment(scale: str | None = None, device: str | None = None) -> dict:
    """Versions, scale, device and paths, for the environment check in notebook 00."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scale": get_scale(scale),
        "device": str(get_device(device)),
        "cuda_available": torch.cuda.is_available(),
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
