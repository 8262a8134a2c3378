"""Training and evaluation loops, and a checkpoint cache ("load if it exists, otherwise train").

The loops are deliberately plain: a list of batches, one optimiser step per
batch, optional extra terms in the loss (``penalty``) and a hook after each
step (``after_step``) so regularisers such as EWC and SI plug in without
rewriting the loop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import cache_dir, progress_enabled
from .errors import CheckpointMismatchError, ConfigError
from .files import atomic_write
from .validate import Float, Int


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True, generator=None):
    """Yield ``(x_batch, y_batch)`` pairs; the order is drawn from ``generator`` when shuffling."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


def make_optimizer(params, name: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0):
    """``adam`` or ``sgd`` (momentum 0.9) over ``params``."""
    lr = Float(0, low_open=True)("learning rate", lr)
    weight_decay = Float(0)("weight_decay", weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}; choose adam or sgd")


def train_epochs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    task: int = 0,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    loss_fn: Callable = F.cross_entropy,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    before_step: Callable[[nn.Module], None] | None = None,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    desc: str = "train",
) -> list[float]:
    """Train ``model(x, task)`` on ``(x, y)`` for ``epochs``; return the mean loss of each epoch.

    ``penalty(model)`` is added to the task loss (e.g. EWC's quadratic term).
    ``before_step(model)`` runs after ``backward()`` and before the optimiser
    step; ``after_step(model)`` after it (SI uses both).
    """
    epochs = Int(0)("epochs", epochs)
    batch_size = Int(1)("batch_size", batch_size)
    if len(x) != len(y):
        raise ConfigError(f"x and y must have the same number of examples, got {len(x)} and {len(y)}")
    device = torch.device(device)
    model.to(device).train()
    if optimizer is None:
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], lr=lr)
    show = progress_enabled() if progress is None else progress
    steps_per_epoch = -(-len(x) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not show, leave=False)
    history = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for xb, yb in batches(x, y, batch_size, shuffle=True, generator=generator):
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb, task), yb)
            if penalty is not None:
                loss = loss + penalty(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if before_step is not None:
                before_step(model)
            optimizer.step()
            if after_step is not None:
                after_step(model)
            total += loss.item() * len(xb)
            count += len(xb)
            bar.update(1)
        history.append(total / max(count, 1))
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    bar.close()
    return history


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, task: int = 0, batch_size: int = 512, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Logits of ``model(x, task)`` in eval mode, computed in batches: (N, outputs) on the CPU."""
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    out = [model(x[i : i + batch_size].to(device), task).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label."""
    if len(y) == 0:
        return float("nan")
    return (logits.argmax(dim=1) == y).float().mean().item()


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: int = 0, device: torch.device | str = "cpu"
) -> float:
    """Accuracy of ``model(x, task)`` on ``(x, y)``, in [0, 1]."""
    return accuracy(predict(model, x, task, device=device), y)


# ----------------------------------------------------------------------------------------------
# Checkpoint cache
# ----------------------------------------------------------------------------------------------


def config_hash(config: dict) -> str:
    """A short, stable hash of a JSON-serialisable configuration dict."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_path(config: dict, directory: str | Path | None = None, prefix: str = "ckpt") -> Path:
    """Where the checkpoint for ``config`` lives: ``$CLTK_CACHE/<prefix>-<hash>.pt``."""
    directory = Path(directory) if directory is not None else cache_dir()
    return directory / f"{prefix}-{config_hash(config)}.pt"


def save_checkpoint(model: nn.Module, path: str | Path, config: dict) -> Path:
    """Save ``model``'s state and its configuration atomically (a partial file never appears)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "config_json": json.dumps(config, sort_keys=True, default=str),
        "config_hash": config_hash(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: an interrupted save leaves no partial file.

    See :func:`cltoolkit.files.atomic_write` (umask-respecting permissions, orphaned temporary
    files of killed writers removed at the next save).
    """
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(model: nn.Module, path: str | Path, config: dict | None = None) -> nn.Module:
    """Load a checkpoint into ``model`` (``weights_only=True``).

    Raises :class:`CheckpointMismatchError` if the checkpoint was saved for
    another configuration or its tensors do not fit ``model``.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated or not a checkpoint at all
        raise CheckpointMismatchError(f"{path} is not a readable cltoolkit checkpoint ({exc}); delete it") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointMismatchError(f"{path} is not a cltoolkit checkpoint (no state_dict); delete it")
    if config is not None and payload.get("config_hash") != config_hash(config):
        raise CheckpointMismatchError(
            f"{path} was saved for another configuration (hash {payload.get('config_hash')}, "
            f"expected {config_hash(config)}); delete it or use the matching configuration"
        )
    state = payload["state_dict"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if wrong:
            parts.append(f"shape mismatch {wrong[:5]}")
        raise CheckpointMismatchError(f"checkpoint {path} does not match the model: " + "; ".join(parts))
    model.load_state_dict(state)
    return model


def load_or_train(
    model: nn.Module,
    config: dict,
    train_fn: Callable[[nn.Module], object],
    directory: str | Path | None = None,
    prefix: str = "ckpt",
    use_cache: bool = True,
) -> tuple[nn.Module, bool]:
    """Load the checkpoint for ``config`` if it exists, otherwise run ``train_fn(model)`` and save it.

    Returns ``(model, loaded)``. The file name is a hash of ``config``, so a
    changed hyperparameter never silently reuses an old result.
    """
    path = checkpoint_path(config, directory, prefix)
    if use_cache and path.exists():
        return load_checkpoint(model, path, config), True
    train_fn(model)
    if use_cache:
        save_checkpoint(model, path, config)
    return model, False
