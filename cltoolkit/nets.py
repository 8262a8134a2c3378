"""Small backbones sized for 8x8 digits (and 28x28 / 32x32 at paper scale), plus heads.

Every network the kit trains is a :class:`MultiHeadNet`: a ``body`` that maps
images to features and one linear head per task (task-incremental) or a single
shared head (domain-incremental). ``forward(x, task)`` picks the head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .errors import ConfigError

ARCHS = ("mlp", "cnn")


class MLP(nn.Module):
    """Flatten, then ``Linear -> ReLU`` for each hidden size. Output: (batch, hidden[-1])."""

    def __init__(self, in_features: int, hidden: Sequence[int] = (100, 100)):
        super().__init__()
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ConfigError(f"hidden sizes must be positive integers, got {list(hidden)}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        self.layers = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SmallCNN(nn.Module):
    """Two or three ``conv3x3 -> BN -> ReLU -> maxpool`` blocks, then global average pooling.

    Works for 8x8 (two pools), 28x28 and 32x32 inputs. Output: (batch, channels[-1]).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64), batch_norm: bool = True):
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ConfigError(f"channel sizes must be positive integers, got {list(channels)}")
        layers: list[nn.Module] = []
        width = in_channels
        for c in channels:
            layers.append(nn.Conv2d(width, int(c), kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(c)))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            width = int(c)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.layers = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class MultiHeadNet(nn.Module):
    """A feature ``body`` plus linear heads; ``forward(x, task)`` uses head ``task``.

    With ``shared_head=True`` there is a single head used for every task.
    """

    def __init__(self, body: nn.Module, feature_dim: int, head_sizes: Sequence[int], shared_head: bool = False):
        super().__init__()
        if not head_sizes:
            raise ConfigError("a network needs at least one head")
        self.body = body
        self.feature_dim = feature_dim
        self.shared_head = shared_head
        sizes = [head_sizes[0]] if shared_head else list(head_sizes)
        self.heads = nn.ModuleList(nn.Linear(feature_dim, int(n)) for n in sizes)

    def head_index(self, task: int) -> int:
        if self.shared_head:
            return 0
        if not 0 <= task < len(self.heads):
            raise ConfigError(f"task {task} out of range: this network has {len(self.heads)} heads")
        return task

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        return self.heads[self.head_index(task)](self.body(x))

    def extra_repr(self) -> str:
        return f"shared_head={self.shared_head}"


def build_net(
    arch: str,
    image_shape: Sequence[int],
    head_sizes: Sequence[int],
    shared_head: bool = False,
    hidden: Sequence[int] = (100, 100),
    channels: Sequence[int] = (32, 64),
) -> MultiHeadNet:
    """Build a :class:`MultiHeadNet` with an ``mlp`` or ``cnn`` body for images of ``image_shape`` (C, H, W)."""
    arch = str(arch).lower()
    c, h, w = image_shape
    if arch == "mlp":
        body = MLP(c * h * w, hidden)
    elif arch == "cnn":
        body = SmallCNN(c, channels)
    else:
        raise ConfigError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")
    return MultiHeadNet(body, body.out_features, head_sizes, shared_head=shared_head)


def torchvision_backbone(name: str = "resnet18", weights: str | None = None, in_channels: int = 3):
    """A torchvision classifier with its final layer removed: returns ``(body, feature_dim)``.

    ``weights`` is passed to torchvision (e.g. ``"IMAGENET1K_V1"``); pretrained
    weights must already be in the torch hub cache since nothing downloads here.
    """
    import torchvision

    try:
        builder = getattr(torchvision.models, name)
    except AttributeError:
        raise ConfigError(f"unknown torchvision model {name!r}") from None
    try:
        model = builder(weights=weights)
    except (RuntimeError, OSError) as exc:  # no network / no cached weights
        raise ConfigError(
            f"could not load {name} weights {weights!r}: {exc}. Put the weights file in "
            f"{torch.hub.get_dir()}/checkpoints or use weights=None"
        ) from None
    if in_channels != 3 and hasattr(model, "conv1"):
        old = model.conv1
        model.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    if hasattr(model, "fc"):
        dim = model.fc.in_features
        model.fc = nn.Identity()
    elif hasattr(model, "classifier"):
        last = [m for m in model.classifier if isinstance(m, nn.Linear)][-1]
        dim = last.in_features
        model.classifier[-1] = nn.Identity()
    else:
        raise ConfigError(f"do not know how to remove the classifier of {name}")
    return model, dim


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
