"""Piggyback (Mallya, Davis & Lazebnik, ECCV 2018): learn a binary mask per task over a fixed network.

A pretrained backbone's weights ``W`` never change. For every new task we learn
real-valued mask scores ``m_r`` (same shape as ``W``), threshold them into a
binary mask ``m = 1[m_r > tau]`` and use ``W * m``; a fresh linear head per task
is trained normally. The backward pass is straight-through: ``dL/dm_r = dL/dm``.
After training only the thresholded mask is kept, packed to 1 bit per weight,
so old tasks are never touched (no forgetting by construction).

The pieces, in the order notebook 02 builds them:

- :class:`Binarize` / :class:`Ternarize`: the thresholding with its straight-through gradient;
- :class:`MaskedLinear` / :class:`MaskedConv2d`: a fixed layer plus trainable ``mask_scores``;
- :func:`pack_mask` / :func:`unpack_mask`: 1 bit per weight;
- :class:`PiggybackNet`: a whole backbone made maskable, one head per task, a mask bank;
- :func:`run_experiment`: pretrain a backbone on a base task, then learn new tasks with
  Piggyback, "classifier only" and full fine-tuning (one network per task). The notebook
  and ``python -m cltoolkit run piggyback`` both call it.

Defaults follow METHODS.md section 1: ``tau = 5e-3``, scores initialised to ``1e-2``
(initial mask all ones, so the masked network *is* the backbone), frozen BatchNorm.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import by_scale, get_device, get_scale, progress_enabled, seed_everything
from .data.sources import Source, load_source
from .data.streams import Task, apply_permutation, permutations, rotate
from .errors import CheckpointMismatchError, ConfigError
from .metrics import AccuracyMatrix, summarize
from .nets import MultiHeadNet, SmallCNN, count_parameters
from .train import atomic_torch_save, batches, evaluate, make_optimizer, predict, train_epochs

DEFAULT_THRESHOLD = 5e-3
DEFAULT_INIT = 1e-2
BANK_FORMAT = "cltoolkit-piggyback-bank/1"

# ----------------------------------------------------------------------------------------------
# Thresholding with a straight-through gradient
# ----------------------------------------------------------------------------------------------


class Binarize(torch.autograd.Function):
    """``m = 1[scores > threshold]`` forward; the gradient passes straight through (``dL/dscores = dL/dm``)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        return (scores > threshold).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad_mask: torch.Tensor):
        return grad_mask, None


class Ternarize(torch.autograd.Function):
    """The {-1, 0, 1} variant (authors' code): -1 if ``s < 0``, 0 if ``0 <= s <= threshold``, else +1.

    Backward is the identity, as for :class:`Binarize`.
    """

    @staticmethod
    def forward(ctx, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        out = (scores > threshold).to(scores.dtype)
        return out - (scores < 0).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad_mask: torch.Tensor):
        return grad_mask, None


class BinaryMaskedWeight(torch.autograd.Function):
    """``W * Binarize(scores, threshold)`` in one step: the same values and the same straight-through gradient
    ``dL/dscores = dL/dW~ * W``, with one buffer instead of three (a bool mask, its float copy and the product;
    see ``benchmarks/bench_piggyback.py``). ``weight`` is fixed: it gets no gradient."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        ctx.save_for_backward(weight)
        # 1[s > tau] as sign(max(s - tau, 0)): exact in IEEE floats (s - tau == 0 only if s == tau), and
        # written into one fresh buffer, which is then scaled in place by W
        return (scores - threshold).clamp_(min=0).sign_().mul_(weight)

    @staticmethod
    def backward(ctx, grad_masked_weight: torch.Tensor):
        (weight,) = ctx.saved_tensors
        return None, grad_masked_weight * weight, None


def check_threshold(threshold) -> float:
    """Validate tau: a finite real number >= 0 (the ternary mask needs 0 <= tau)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"threshold must be a real number, got {type(threshold).__name__} {threshold!r}")
    if not math.isfinite(threshold) or threshold < 0:
        raise ConfigError(f"threshold must be a finite number >= 0, got {threshold}")
    return float(threshold)


def _check_init(init, threshold: float) -> float:
    if isinstance(init, bool) or not isinstance(init, (int, float)) or not math.isfinite(init):
        raise ConfigError(f"mask score init must be a finite real number, got {init!r}")
    if init <= threshold:
        raise ConfigError(
            f"mask score init ({init}) must be greater than the threshold ({threshold}) so the initial mask is "
            "all ones (the masked network starts as the backbone); use init_mode='random' for a random start"
        )
    return float(init)


# ----------------------------------------------------------------------------------------------
# Masked layers
# ----------------------------------------------------------------------------------------------


class _MaskedMixin:
    """Shared by the masked layers: fixed ``weight``/``bias`` buffers, trainable ``mask_scores``.

    ``fixed_mask`` (when set) is a stored task's mask and is used instead of the scores.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    mask_scores: nn.Parameter
    fixed_mask: torch.Tensor | None

    def _init_masking(self, layer: nn.Module, threshold: float, init: float, ternary: bool) -> None:
        self.threshold = check_threshold(threshold)
        self.init = _check_init(init, self.threshold)
        self.ternary = bool(ternary)
        # the backbone is fixed: buffers move with .to() and are saved, but are never trained
        self.register_buffer("weight", layer.weight.detach().clone())
        self.register_buffer("bias", None if layer.bias is None else layer.bias.detach().clone())
        self.mask_scores = nn.Parameter(torch.full_like(self.weight, self.init))
        self.register_buffer("fixed_mask", None, persistent=False)

    def reset_scores(self, init_mode: str = "constant", generator: torch.Generator | None = None) -> None:
        """Scores back to ``init`` everywhere (mask all ones), or ``random``: uniform in [0, 2 tau], half zeros."""
        with torch.no_grad():
            if init_mode == "constant":
                self.mask_scores.fill_(self.init)
            elif init_mode == "random":
                u = torch.rand(self.mask_scores.shape, generator=generator)
                self.mask_scores.copy_(2 * self.threshold * u)
            else:
                raise ConfigError(f"unknown init_mode {init_mode!r}; choose 'constant' or 'random'")

    def mask(self) -> torch.Tensor:
        """The mask in use: the fixed one if set, else the thresholded scores (differentiable, straight-through)."""
        if self.fixed_mask is not None:
            return self.fixed_mask
        fn = Ternarize if self.ternary else Binarize
        return fn.apply(self.mask_scores, self.threshold)

    def masked_weight(self) -> torch.Tensor:
        """``W * m`` (W~ in the paper); the bias is not masked."""
        if self.fixed_mask is None and not self.ternary:
            return BinaryMaskedWeight.apply(self.weight, self.mask_scores, self.threshold)  # = W * Binarize(...)
        return self.weight * self.mask()

    def extra_repr(self) -> str:
        kind = "ternary" if self.ternary else "binary"
        return f"{tuple(self.weight.shape)}, threshold={self.threshold:g}, init={self.init:g}, {kind}"


class MaskedLinear(_MaskedMixin, nn.Module):
    """``y = x (W * m)^T + b`` with fixed ``W``, ``b`` and ``m = Binarize(mask_scores, threshold)``.

    Input (batch, in_features) -> output (batch, out_features).
    """

    def __init__(
        self, layer: nn.Linear, threshold: float = DEFAULT_THRESHOLD, init: float = DEFAULT_INIT, ternary: bool = False
    ):
        super().__init__()
        if not isinstance(layer, nn.Linear):
            raise ConfigError(f"MaskedLinear wraps an nn.Linear, got {type(layer).__name__}")
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self._init_masking(layer, threshold, init, ternary)

    @classmethod
    def from_layer(
        cls, layer: nn.Linear, threshold: float = DEFAULT_THRESHOLD, init: float = DEFAULT_INIT, ternary: bool = False
    ) -> MaskedLinear:
        """Wrap ``layer``; at init the output equals ``layer(x)`` exactly (the mask is all ones)."""
        return cls(layer, threshold, init, ternary)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.masked_weight(), self.bias)

    def to_plain(self) -> nn.Linear:
        """An ``nn.Linear`` with the mask applied once to its weight (for fast inference)."""
        plain = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        plain.to(self.weight.device)
        with torch.no_grad():
            plain.weight.copy_(self.masked_weight())
            if self.bias is not None:
                plain.bias.copy_(self.bias)
        return plain


class MaskedConv2d(_MaskedMixin, nn.Module):
    """``conv2d(x, W * m, b)`` with the wrapped layer's stride, padding, dilation and groups.

    Input (batch, in_channels, H, W) -> output (batch, out_channels, H', W').
    """

    def __init__(
        self, layer: nn.Conv2d, threshold: float = DEFAULT_THRESHOLD, init: float = DEFAULT_INIT, ternary: bool = False
    ):
        super().__init__()
        if not isinstance(layer, nn.Conv2d):
            raise ConfigError(f"MaskedConv2d wraps an nn.Conv2d, got {type(layer).__name__}")
        if layer.padding_mode != "zeros":
            raise ConfigError(f"MaskedConv2d supports padding_mode='zeros' only, got {layer.padding_mode!r}")
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding
        self.dilation, self.groups = layer.dilation, layer.groups
        self._init_masking(layer, threshold, init, ternary)

    @classmethod
    def from_layer(
        cls, layer: nn.Conv2d, threshold: float = DEFAULT_THRESHOLD, init: float = DEFAULT_INIT, ternary: bool = False
    ) -> MaskedConv2d:
        """Wrap ``layer``; at init the output equals ``layer(x)`` exactly (the mask is all ones)."""
        return cls(layer, threshold, init, ternary)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)

    def to_plain(self) -> nn.Conv2d:
        """An ``nn.Conv2d`` with the mask applied once to its weight (for fast inference)."""
        plain = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            bias=self.bias is not None,
        )
        plain.to(self.weight.device)
        with torch.no_grad():
            plain.weight.copy_(self.masked_weight())
            if self.bias is not None:
                plain.bias.copy_(self.bias)
        return plain


MaskedLayer = MaskedLinear | MaskedConv2d


# ----------------------------------------------------------------------------------------------
# 1 bit per weight
# ----------------------------------------------------------------------------------------------

_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """Pack a bool tensor (any shape, ``n`` elements) into ``ceil(n / 8)`` uint8 bytes, first element = top bit."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ConfigError(f"pack_mask expects a bool tensor, got {got}")
    flat = mask.detach().reshape(-1).cpu()
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, torch.zeros(pad, dtype=torch.bool)])
    return (flat.view(-1, 8).to(torch.uint8) * _BIT_WEIGHTS).sum(dim=1, dtype=torch.uint8)


def unpack_mask(packed: torch.Tensor, shape: Sequence[int] | torch.Size) -> torch.Tensor:
    """Inverse of :func:`pack_mask`: a bool tensor of ``shape`` from ``ceil(prod(shape) / 8)`` uint8 bytes."""
    shape = torch.Size(shape)
    n = shape.numel()
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.dim() != 1:
        raise ConfigError("unpack_mask expects a 1-D uint8 tensor from pack_mask")
    if packed.numel() != -(-n // 8):
        raise ConfigError(f"{packed.numel()} packed bytes do not fit shape {tuple(shape)} (needs {-(-n // 8)})")
    bits = (packed.cpu().unsqueeze(1) & _BIT_WEIGHTS) != 0
    return bits.reshape(-1)[:n].reshape(shape)


def packed_bytes(numel: int, ternary: bool = False) -> int:
    """Bytes to store one mask of ``numel`` weights: 1 bit each (2 bits for a ternary mask)."""
    return (2 if ternary else 1) * -(-numel // 8)


# ----------------------------------------------------------------------------------------------
# Sparsity
# ----------------------------------------------------------------------------------------------


def mask_sparsity(masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of zeros in each layer's mask: ``{layer: fraction}`` (bool, 0/1 or -1/0/1 masks)."""
    return {name: float((m == 0).float().mean()) for name, m in masks.items()}


def overall_sparsity(masks: dict[str, torch.Tensor]) -> float:
    """Fraction of zeros over all weights of all layers (weighted by layer size)."""
    zeros = sum(int((m == 0).sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    return zeros / total if total else 0.0


def sparsity_at_threshold(scores: dict[str, torch.Tensor], threshold: float, ternary: bool = False) -> dict:
    """What-if: the per-layer sparsity the stored real-valued scores would give with another ``threshold``."""
    threshold = check_threshold(threshold)
    fn = Ternarize if ternary else Binarize
    return mask_sparsity({name: fn.apply(s, threshold) for name, s in scores.items()})


# ----------------------------------------------------------------------------------------------
# A backbone made maskable
# ----------------------------------------------------------------------------------------------


def _replace_layers(module: nn.Module, threshold: float, init: float, ternary: bool) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, MaskedConv2d.from_layer(child, threshold, init, ternary))
        elif isinstance(child, nn.Linear):
            setattr(module, name, MaskedLinear.from_layer(child, threshold, init, ternary))
        else:
            _replace_layers(child, threshold, init, ternary)


def backbone_fingerprint(backbone: nn.Module) -> str:
    """A hash of a backbone's structure and weights: a mask bank only fits the backbone it was made on."""
    h = hashlib.sha256()
    for name, tensor in list(backbone.state_dict().items()):
        if name.endswith("mask_scores"):
            continue
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class _StoredTask:
    num_outputs: int
    masks: dict[str, torch.Tensor]  # layer -> packed uint8 (binary), or (plus, minus) packed pairs for ternary
    head: dict[str, torch.Tensor]
    bn: dict[str, torch.Tensor] | None = None


class PiggybackNet(nn.Module):
    """A fixed backbone with every ``nn.Conv2d`` / ``nn.Linear`` masked, one linear head per task, and a mask bank.

    ``backbone`` maps images (batch, C, H, W) to features (batch, ``feature_dim``); it is deep-copied,
    its conv and linear layers become :class:`MaskedConv2d` / :class:`MaskedLinear` (heads are separate
    and never masked). BatchNorm is frozen (eval mode, backbone statistics) unless ``task_bn=True``,
    which trains a private copy of the BN parameters and statistics for each task (paper section 5.3).

    Workflow: ``add_task(name, num_outputs)`` -> train the scores and head (:meth:`trainable_parameters`)
    -> ``finish_task()`` (threshold, pack to bits, store in the bank) -> ``set_task(name)`` to use any
    stored task. ``forward(x, task)`` accepts a task name or index.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        threshold: float = DEFAULT_THRESHOLD,
        init: float = DEFAULT_INIT,
        init_mode: str = "constant",
        ternary: bool = False,
        task_bn: bool = False,
    ):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise ConfigError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
        if init_mode not in ("constant", "random"):
            raise ConfigError(f"unknown init_mode {init_mode!r}; choose 'constant' or 'random'")
        self.threshold = check_threshold(threshold)
        self.init = _check_init(init, self.threshold)
        self.init_mode, self.ternary, self.task_bn = init_mode, bool(ternary), bool(task_bn)
        self.fingerprint = backbone_fingerprint(backbone)
        self.body = copy.deepcopy(backbone)
        _replace_layers(self.body, self.threshold, self.init, self.ternary)
        self.layer_names = [n for n, m in self.body.named_modules() if isinstance(m, (MaskedLinear, MaskedConv2d))]
        if not self.layer_names:
            raise ConfigError(f"the backbone ({type(backbone).__name__}) has no nn.Conv2d or nn.Linear layer to mask")
        self.feature_dim = int(feature_dim)
        for p in self.body.parameters():
            p.requires_grad_(False)
        self._bn_pristine = {n: copy.deepcopy(m.state_dict()) for n, m in self._bn_modules()}
        self.heads = nn.ModuleList()
        self.task_names: list[str] = []
        self.bank: dict[str, _StoredTask] = {}
        self.training_task: str | None = None
        self.active_task: str | None = None

    # -- structure ---------------------------------------------------------------------------

    def masked_layers(self) -> Iterator[tuple[str, MaskedLayer]]:
        """``(name, layer)`` for every masked layer, input to output."""
        modules = dict(self.body.named_modules())
        for name in self.layer_names:
            yield name, modules[name]

    def _bn_modules(self) -> Iterator[tuple[str, nn.modules.batchnorm._BatchNorm]]:
        for name, m in self.body.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                yield name, m

    @property
    def num_backbone_weights(self) -> int:
        return sum(layer.weight.numel() for _, layer in self.masked_layers())

    def _index(self, task: str | int) -> int:
        if isinstance(task, int) and not isinstance(task, bool):
            if not 0 <= task < len(self.task_names):
                raise ConfigError(f"task index {task} out of range: {len(self.task_names)} tasks added")
            return task
        if task not in self.task_names:
            known = ", ".join(map(repr, self.task_names)) or "none yet"
            raise ConfigError(f"unknown task {task!r}; known tasks: {known}")
        return self.task_names.index(task)

    # -- tasks -------------------------------------------------------------------------------

    def add_task(
        self, name: str, num_outputs: int, head: nn.Linear | None = None, generator: torch.Generator | None = None
    ) -> nn.Linear:
        """Start learning task ``name``: fresh scores (mask all ones at the default init) and a new head."""
        name = str(name)
        if name in self.task_names:
            raise ConfigError(f"task {name!r} was already added; use set_task({name!r}) to switch to it")
        if self.training_task is not None:
            raise ConfigError(f"finish task {self.training_task!r} (finish_task()) before adding another")
        if not isinstance(num_outputs, int) or num_outputs < 1:
            raise ConfigError(f"num_outputs must be a positive integer, got {num_outputs!r}")
        device = next(iter(self.body.buffers())).device
        if head is None:
            head = nn.Linear(self.feature_dim, num_outputs)
        elif head.out_features != num_outputs or head.in_features != self.feature_dim:
            raise ConfigError(f"head must be Linear({self.feature_dim}, {num_outputs}), got {head}")
        self.heads.append(head.to(device))
        self.task_names.append(name)
        for _, layer in self.masked_layers():
            layer.fixed_mask = None
            layer.reset_scores(self.init_mode, generator)
            layer.mask_scores.requires_grad_(True)
        self._load_bn(None)
        if self.task_bn:
            for _, bn in self._bn_modules():
                for p in bn.parameters():
                    p.requires_grad_(True)
        self.training_task = self.active_task = name
        self.train(self.training)
        return head

    def trainable_parameters(self, include_head: bool = True) -> dict[str, list[nn.Parameter]]:
        """The parameters learned for the task being trained: ``{"scores": [...], "head": [...], "bn": [...]}``."""
        if self.training_task is None:
            raise ConfigError("no task is being trained: call add_task(name, num_outputs) first")
        groups = {"scores": [layer.mask_scores for _, layer in self.masked_layers()], "head": [], "bn": []}
        if include_head:
            groups["head"] = list(self.heads[self._index(self.training_task)].parameters())
        if self.task_bn:
            groups["bn"] = [p for _, bn in self._bn_modules() for p in bn.parameters()]
        return groups

    def current_masks(self) -> dict[str, torch.Tensor]:
        """``{layer: mask}`` of the mask in use (thresholded scores while training), detached."""
        with torch.no_grad():
            return {name: layer.mask().detach().clone() for name, layer in self.masked_layers()}

    def current_scores(self) -> dict[str, torch.Tensor]:
        """``{layer: real-valued scores}`` (CPU copies): keep them to ask "what if tau were different"."""
        return {name: layer.mask_scores.detach().cpu().clone() for name, layer in self.masked_layers()}

    def finish_task(self) -> None:
        """Threshold the scores, pack the mask to bits, store it with the head (and BN copy) in the bank."""
        name = self.training_task
        if name is None:
            raise ConfigError("no task is being trained: call add_task(name, num_outputs) first")
        masks = {}
        for layer_name, layer in self.masked_layers():
            m = layer.mask().detach()
            masks[layer_name] = (pack_mask(m > 0), pack_mask(m < 0)) if self.ternary else pack_mask(m > 0)
            layer.mask_scores.requires_grad_(False)
        head = self.heads[self._index(name)]
        for p in head.parameters():
            p.requires_grad_(False)
        bn = None
        if self.task_bn:
            bn = {}
            for bn_name, module in self._bn_modules():
                for key, value in module.state_dict().items():
                    bn[f"{bn_name}.{key}"] = value.detach().cpu().clone()
                for p in module.parameters():
                    p.requires_grad_(False)
        state = {k: v.detach().cpu().clone() for k, v in head.state_dict().items()}
        self.bank[name] = _StoredTask(head.out_features, masks, state, bn)
        self.training_task = None
        self.set_task(name)

    def stored_masks(self, task: str | int) -> dict[str, torch.Tensor]:
        """``{layer: mask}`` of a stored task, unpacked (bool, or float -1/0/1 for a ternary net)."""
        name = self.task_names[self._index(task)]
        if name not in self.bank:
            raise ConfigError(f"task {name!r} is still being trained: call finish_task() first")
        out = {}
        for layer_name, layer in self.masked_layers():
            packed = self.bank[name].masks[layer_name]
            if self.ternary:
                plus, minus = (unpack_mask(p, layer.weight.shape) for p in packed)
                out[layer_name] = plus.float() - minus.float()
            else:
                out[layer_name] = unpack_mask(packed, layer.weight.shape)
        return out

    def set_task(self, task: str | int) -> None:
        """Use stored task ``task`` (name or index): its mask, head and BN copy."""
        name = self.task_names[self._index(task)]
        if name == self.training_task:
            self.active_task = name
            return
        if name not in self.bank:
            raise ConfigError(f"task {name!r} is still being trained: call finish_task() first")
        if self.training_task is not None:
            raise ConfigError(f"finish task {self.training_task!r} before switching to {name!r}")
        for layer_name, mask in self.stored_masks(name).items():
            layer = dict(self.body.named_modules())[layer_name]
            layer.fixed_mask = mask.to(layer.weight.device, layer.weight.dtype)
        self._load_bn(self.bank[name].bn)
        self.active_task = name

    def _load_bn(self, state: dict[str, torch.Tensor] | None) -> None:
        for bn_name, module in self._bn_modules():
            if state is None:
                module.load_state_dict(self._bn_pristine[bn_name])
            else:
                prefix = f"{bn_name}."
                module.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})

    def train(self, mode: bool = True) -> PiggybackNet:
        """Like ``nn.Module.train``, but BN stays in eval mode unless a task-specific BN is being trained."""
        super().train(mode)
        bn_train = mode and self.task_bn and self.training_task is not None
        for _, bn in self._bn_modules():
            bn.train(bn_train)
        return self

    def forward(self, x: torch.Tensor, task: str | int | None = None) -> torch.Tensor:
        """Logits (batch, num_outputs of ``task``) for images ``x``; ``task`` = name, index or the active one."""
        if task is None:
            if self.active_task is None:
                raise ConfigError("no task: add_task(...) or set_task(...) first")
            task = self.active_task
        index = self._index(task)
        if self.task_names[index] != self.active_task:
            self.set_task(index)
        return self.heads[index](self.body(x))

    # -- storage -----------------------------------------------------------------------------

    def bytes_per_task(self, task: str | int | None = None) -> int:
        """Storage to add one task: packed mask bits + fp32 head (+ fp32 BN copy with ``task_bn``)."""
        task = self.task_names[-1] if task is None else task
        name = self.task_names[self._index(task)]
        mask_bytes = sum(packed_bytes(layer.weight.numel(), self.ternary) for _, layer in self.masked_layers())
        head_bytes = 4 * count_parameters(self.heads[self._index(name)])
        bn_bytes = 0
        if self.task_bn:
            bn_bytes = 4 * sum(
                v.numel() for _, m in self._bn_modules() for v in m.state_dict().values() if v.dtype.is_floating_point
            )
        return mask_bytes + head_bytes + bn_bytes

    def save_bank(self, path: str | Path) -> Path:
        """Write every stored task (packed masks, heads, BN copies) to ``path`` atomically."""
        path = Path(path)
        if not self.bank:
            raise ConfigError("the mask bank is empty: finish at least one task before saving")
        payload = {
            "format": BANK_FORMAT,
            "fingerprint": self.fingerprint,
            "layers": {name: list(layer.weight.shape) for name, layer in self.masked_layers()},
            "threshold": self.threshold,
            "ternary": self.ternary,
            "task_bn": self.task_bn,
            "tasks": [
                {"name": n, "num_outputs": s.num_outputs, "masks": s.masks, "head": s.head, "bn": s.bn}
                for n, s in self.bank.items()
            ],
        }
        return atomic_torch_save(payload, path)

    def load_bank(self, path: str | Path) -> list[str]:
        """Add the tasks stored in ``path`` (from :meth:`save_bank` on the same backbone); returns their names.

        Raises :class:`~cltoolkit.errors.CheckpointMismatchError` for a bank made on another backbone
        or with other settings, or a file that is not a mask bank.
        """
        path = Path(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise CheckpointMismatchError(f"{path} is not a readable Piggyback mask bank ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != BANK_FORMAT:
            raise CheckpointMismatchError(f"{path} is not a Piggyback mask bank (format {BANK_FORMAT} expected)")
        if payload.get("fingerprint") != self.fingerprint:
            raise CheckpointMismatchError(
                f"mask bank {path} was made for another backbone (fingerprint {payload.get('fingerprint')}, "
                f"this network's backbone is {self.fingerprint}); masks only make sense on the exact weights "
                "they were learned on: load it into a PiggybackNet built from that backbone"
            )
        for key in ("ternary", "task_bn"):
            if payload.get(key) != getattr(self, key):
                raise CheckpointMismatchError(
                    f"mask bank {path} has {key}={payload.get(key)}, this network {key}="
                    f"{getattr(self, key)}; build the network with the same setting"
                )
        if self.training_task is not None:
            raise ConfigError(f"finish task {self.training_task!r} before loading a mask bank")
        names = []
        for entry in payload["tasks"]:
            name = entry["name"]
            if name in self.task_names:
                raise ConfigError(f"task {name!r} from {path} is already in this network")
            head = nn.Linear(self.feature_dim, int(entry["num_outputs"]))
            try:
                head.load_state_dict(entry["head"])
                self.bank[name] = _StoredTask(int(entry["num_outputs"]), entry["masks"], entry["head"], entry["bn"])
                self.heads.append(head.to(next(iter(self.body.buffers())).device).requires_grad_(False))
                self.task_names.append(name)
                self.set_task(name)
            except (RuntimeError, KeyError, ConfigError) as exc:
                raise CheckpointMismatchError(f"mask bank {path} is corrupt (task {name!r}: {exc})") from None
            names.append(name)
        return names

    # -- reports -----------------------------------------------------------------------------

    def sparsity(self, task: str | int | None = None) -> dict[str, float]:
        """``{layer: fraction of zeros}`` of a stored task's mask (or the current mask if ``task`` is None)."""
        masks = self.current_masks() if task is None else self.stored_masks(task)
        return mask_sparsity(masks)

    def overall_sparsity(self, task: str | int | None = None) -> float:
        """Fraction of zeros over all backbone weights for ``task``."""
        masks = self.current_masks() if task is None else self.stored_masks(task)
        return overall_sparsity(masks)

    def extra_repr(self) -> str:
        return (
            f"threshold={self.threshold:g}, init={self.init:g}, init_mode={self.init_mode!r}, "
            f"ternary={self.ternary}, task_bn={self.task_bn}, tasks={self.task_names}"
        )


def apply_masks(net: PiggybackNet, task: str | int) -> nn.Module:
    """A plain copy of ``net``'s body for ``task`` with each mask multiplied into its weights once.

    Inference then costs exactly what the plain backbone costs. Returns a module (batch, C, H, W) -> features.
    """
    net.set_task(task)
    body = copy.deepcopy(net.body)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, (MaskedLinear, MaskedConv2d)):
                setattr(module, name, child.to_plain())
            else:
                swap(child)

    swap(body)
    return body.eval()


# ----------------------------------------------------------------------------------------------
# Backbones and tasks for the digits experiment
# ----------------------------------------------------------------------------------------------


def digits_backbone(in_channels: int = 1, channels: Sequence[int] = (32, 64, 64), hidden: int = 128):
    """The kit's small CNN (conv-BN-ReLU-pool blocks, global pooling) plus a hidden linear layer.

    Returns ``(backbone, feature_dim)``; images (batch, C, H, W) -> features (batch, hidden).
    Four maskable layers at the default sizes (three convs and one linear).
    """
    body = nn.Sequential(SmallCNN(in_channels, channels), nn.Linear(int(channels[-1]), hidden), nn.ReLU())
    return body, hidden


def invert(x: torch.Tensor) -> torch.Tensor:
    """Photographic negative of images in [0, 1]."""
    return 1.0 - x


def _subset(source: Source, classes: Sequence[int], name: str, transform=None, info=None) -> Task:
    parts = {}
    for split in ("train", "test"):
        x, y = getattr(source, f"x_{split}"), getattr(source, f"y_{split}")
        keep = torch.zeros_like(y, dtype=torch.bool)
        new_y = torch.zeros_like(y)
        for k, c in enumerate(classes):
            keep |= y == c
            new_y[y == c] = k
        xs = x[keep]
        parts[split] = (transform(xs) if transform is not None else xs, new_y[keep])
    return Task(
        name,
        parts["train"][0],
        parts["train"][1],
        parts["test"][0],
        parts["test"][1],
        num_outputs=len(classes),
        classes=list(classes),
        info=dict(info or {}),
    )


TRANSFER_TASKS = ("new classes", "rotated 90", "inverted", "permuted")


def make_tasks(source: Source, kind: str = "split", num_tasks: int | None = None, seed: int = 0):
    """The base task (to pretrain the backbone) and the new tasks Piggyback learns: ``(base, [tasks])``.

    The base task is always the first half of the classes on the original images (digits 0-4): it
    plays ImageNet's role. The new tasks, each with its own head, depend on ``kind``:

    - ``split`` (default): four transfer tasks of growing domain shift: the *other* classes
      (digits 5-9), then all classes rotated by 90 degrees, inverted (1 - x), and with a fixed
      pixel permutation. ``num_tasks`` (1..4) keeps the first ones.
    - ``rotated``: ``num_tasks`` (default 4) copies of all classes rotated by 0, 45, 90, ... degrees.
    - ``permuted``: ``num_tasks`` (default 4) copies of all classes under fixed pixel permutations.
    """
    kind = str(kind).lower()
    if source.attribute_names is not None:
        raise ConfigError(f"piggyback needs a dataset with classes; {source.name!r} has attributes")
    half = source.num_classes // 2
    base = _subset(source, range(half), f"base {0}-{half - 1}" if half > 1 else "base")
    everything = list(range(source.num_classes))
    pixels = source.image_shape[1] * source.image_shape[2]
    if kind == "split":
        n = len(TRANSFER_TASKS) if num_tasks is None else num_tasks
        if not isinstance(n, int) or not 1 <= n <= len(TRANSFER_TASKS):
            raise ConfigError(f"the piggyback 'split' design has 1 to {len(TRANSFER_TASKS)} new tasks, got {n!r}")
        perm = permutations(2, pixels, seed=seed)[1]
        tasks = [
            _subset(source, range(half, source.num_classes), f"classes {half}-{source.num_classes - 1}"),
            _subset(source, everything, "rotated 90", lambda x: rotate(x, 90.0), {"angle": 90.0}),
            _subset(source, everything, "inverted", invert),
            _subset(source, everything, "permuted", lambda x: apply_permutation(x, perm), {"permutation": perm}),
        ]
        return base, tasks[:n]
    n = 4 if num_tasks is None else num_tasks
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"number of tasks must be a positive integer, got {n!r}")
    if kind == "rotated":
        angles = [i * 180.0 / n for i in range(n)]
        return base, [
            _subset(source, everything, f"rot{a:g}", lambda x, a=a: rotate(x, a), {"angle": a}) for a in angles
        ]
    if kind == "permuted":
        perms = permutations(n, pixels, seed=seed, first_identity=False)
        return base, [
            _subset(source, everything, f"perm{t}", lambda x, p=p: apply_permutation(x, p)) for t, p in enumerate(perms)
        ]
    raise ConfigError(f"piggyback supports streams split, rotated and permuted, got {kind!r}")


def _limit(task: Task, max_train: int | None, max_test: int | None, seed: int) -> Task:
    return task.subsample(max_train, max_test, torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# Training: Piggyback and its two baselines
# ----------------------------------------------------------------------------------------------


@dataclass
class PiggybackConfig:
    """Hyperparameters of the experiment (``base_*``: pretraining the backbone on the base task)."""

    channels: tuple[int, ...] = (32, 64, 64)
    hidden: int = 128
    base_epochs: int = 15
    base_lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    mask_lr: float = 3e-4  # paper: 1e-4 for 30 epochs on big data; a few epochs on 600 digits need more
    head_lr: float = 1e-3
    finetune_lr: float = 1e-3
    threshold: float = DEFAULT_THRESHOLD
    init: float = DEFAULT_INIT
    init_mode: str = "constant"
    ternary: bool = False
    task_bn: bool = False
    max_train: int | None = None
    max_test: int | None = None

    def validate(self) -> PiggybackConfig:
        for name in ("base_epochs", "epochs", "batch_size", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("base_lr", "mask_lr", "head_lr", "finetune_lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        self.threshold = check_threshold(self.threshold)
        if self.init_mode == "constant":
            _check_init(self.init, self.threshold)
        elif self.init_mode != "random":
            raise ConfigError(f"unknown init_mode {self.init_mode!r}; choose 'constant' or 'random'")
        return self


def default_config(scale: str | None = None, **overrides) -> PiggybackConfig:
    """The configuration for a scale; ``smoke`` trains a few epochs on at most 300 examples per task."""
    base = by_scale(
        scale,
        smoke=dict(base_epochs=4, epochs=3, max_train=300, max_test=300),
        default=dict(),
        paper=dict(epochs=30, batch_size=32, mask_lr=1e-4, head_lr=1e-4),
    )
    base.update(overrides)
    return PiggybackConfig(**base).validate()


def pretrain_backbone(base: Task, cfg: PiggybackConfig, device="cpu", seed: int = 0, progress: bool | None = None):
    """Train the digits backbone (plus a throw-away head) on the base task: ``(backbone, feature_dim, accuracy)``."""
    generator = seed_everything(seed)
    body, dim = digits_backbone(base.x_train.shape[1], cfg.channels, cfg.hidden)
    net = MultiHeadNet(body, dim, [base.num_outputs])
    train_epochs(
        net,
        base.x_train,
        base.y_train,
        epochs=cfg.base_epochs,
        batch_size=cfg.batch_size,
        lr=cfg.base_lr,
        device=device,
        generator=generator,
        progress=progress,
        desc="base task",
    )
    acc = evaluate(net, base.x_test, base.y_test, device=device)
    return net.body.cpu().eval(), dim, acc


def _fresh_head(dim: int, outputs: int, seed: int) -> nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(dim, outputs)


def train_piggyback_task(
    net: PiggybackNet,
    task: Task,
    cfg: PiggybackConfig,
    device="cpu",
    generator: torch.Generator | None = None,
    head: nn.Linear | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Add ``task`` to ``net``, train its mask scores and head with Adam, then store it. Returns epoch losses."""
    net.add_task(task.name, task.num_outputs, head=head, generator=generator)
    net.to(device)
    groups = net.trainable_parameters()
    params = [{"params": groups["scores"], "lr": cfg.mask_lr}, {"params": groups["head"], "lr": cfg.head_lr}]
    if groups["bn"]:
        params.append({"params": groups["bn"], "lr": cfg.head_lr})
    opt = torch.optim.Adam(params)
    losses = train_epochs(
        net,
        task.x_train,
        task.y_train,
        task=task.name,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        optimizer=opt,
        device=device,
        generator=generator,
        progress=progress,
        desc=f"piggyback {task.name}",
    )
    net.finish_task()
    return losses


@dataclass
class PiggybackResult:
    """What :func:`run_piggyback` returns: the network with its mask bank and the measurements."""

    task_names: list[str]
    acc_matrix: np.ndarray
    sparsity: dict[str, dict[str, float]]
    overall_sparsity: dict[str, float]
    scores: dict[str, dict[str, torch.Tensor]]
    bytes_per_task: int
    seconds: float
    net: PiggybackNet = field(repr=False)
    logits_when_learned: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    test_inputs: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def unchanged_since_learned(self) -> dict[str, bool]:
        """``{task: True}`` if the test logits now are bit-identical to those right after learning the task."""
        device = next(iter(self.net.body.buffers())).device
        return {
            name: torch.equal(predict(self.net, self.test_inputs[name], name, device=device), logits)
            for name, logits in self.logits_when_learned.items()
        }

    @property
    def accuracies(self) -> dict[str, float]:
        """Final accuracy on each task (the last row of the accuracy matrix)."""
        return dict(zip(self.task_names, map(float, self.acc_matrix[-1])))


def run_piggyback(
    tasks: Sequence[Task],
    backbone: nn.Module,
    feature_dim: int,
    cfg: PiggybackConfig | None = None,
    device="cpu",
    seed: int = 0,
    progress: bool | None = None,
) -> PiggybackResult:
    """Learn ``tasks`` one after another with Piggyback over the fixed ``backbone``; fill the accuracy matrix.

    ``R[i, j]`` for ``j > i`` is the accuracy of task j's untrained head on the backbone (what the
    network for task j is before learning it: the backbone does not change, so it is the same for all i).
    """
    cfg = (cfg or PiggybackConfig()).validate()
    device = get_device(device)
    start = time.perf_counter()
    generator = seed_everything(seed)
    net = PiggybackNet(backbone, feature_dim, cfg.threshold, cfg.init, cfg.init_mode, cfg.ternary, cfg.task_bn)
    heads = [_fresh_head(feature_dim, t.num_outputs, seed * 1000 + j) for j, t in enumerate(tasks)]
    plain = copy.deepcopy(backbone).to(device).eval()
    before = []
    with torch.no_grad():
        for head, t in zip(heads, tasks):
            logits = head.to(device)(
                torch.cat([plain(t.x_test[k : k + 512].to(device)) for k in range(0, len(t.x_test), 512)])
            )
            before.append(float((logits.argmax(1).cpu() == t.y_test).float().mean()))
    acc = AccuracyMatrix([t.name for t in tasks])
    scores, logits = {}, {}
    for i, task in enumerate(tasks):
        train_piggyback_task(net, task, cfg, device, generator, head=copy.deepcopy(heads[i]), progress=progress)
        scores[task.name] = net.current_scores()
        logits[task.name] = predict(net, task.x_test, task.name, device=device)
        for j, other in enumerate(tasks):
            value = evaluate(net, other.x_test, other.y_test, other.name, device) if j <= i else before[j]
            acc.record(i, j, value)
    names = [t.name for t in tasks]
    result = PiggybackResult(
        task_names=names,
        acc_matrix=acc.values,
        sparsity={n: net.sparsity(n) for n in names},
        overall_sparsity={n: net.overall_sparsity(n) for n in names},
        scores=scores,
        bytes_per_task=net.bytes_per_task(),
        seconds=time.perf_counter() - start,
        net=net,
        logits_when_learned=logits,
        test_inputs={t.name: t.x_test for t in tasks},
    )
    return result


def run_classifier_only(
    tasks: Sequence[Task],
    backbone: nn.Module,
    feature_dim: int,
    cfg: PiggybackConfig | None = None,
    device="cpu",
    seed: int = 0,
) -> dict[str, float]:
    """Baseline: frozen backbone, only a new head per task. Returns ``{task: test accuracy}``."""
    cfg = (cfg or PiggybackConfig()).validate()
    device = get_device(device)
    generator = seed_everything(seed)
    frozen = copy.deepcopy(backbone).to(device).eval()
    out = {}
    for j, task in enumerate(tasks):
        head = _fresh_head(feature_dim, task.num_outputs, seed * 1000 + j).to(device)
        with torch.no_grad():
            f_train = predict(_Features(frozen), task.x_train, device=device)
            f_test = predict(_Features(frozen), task.x_test, device=device)
        opt = make_optimizer(head.parameters(), "adam", cfg.head_lr)
        for _ in range(cfg.epochs):
            for fb, yb in batches(f_train, task.y_train, cfg.batch_size, generator=generator):
                loss = F.cross_entropy(head(fb.to(device)), yb.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        with torch.no_grad():
            out[task.name] = float((head(f_test.to(device)).argmax(1).cpu() == task.y_test).float().mean())
    return out


class _Features(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor, task=None) -> torch.Tensor:
        return self.body(x)


def run_finetune_each(
    tasks: Sequence[Task],
    backbone: nn.Module,
    feature_dim: int,
    cfg: PiggybackConfig | None = None,
    device="cpu",
    seed: int = 0,
    progress: bool | None = None,
) -> dict[str, float]:
    """Baseline "individual networks": a full copy of the backbone fine-tuned per task. ``{task: accuracy}``."""
    cfg = (cfg or PiggybackConfig()).validate()
    device = get_device(device)
    generator = seed_everything(seed)
    out = {}
    for j, task in enumerate(tasks):
        net = MultiHeadNet(copy.deepcopy(backbone), feature_dim, [task.num_outputs])
        net.heads[0] = _fresh_head(feature_dim, task.num_outputs, seed * 1000 + j)
        for p in net.parameters():
            p.requires_grad_(True)
        train_epochs(
            net,
            task.x_train,
            task.y_train,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.finetune_lr,
            device=device,
            generator=generator,
            progress=progress,
            desc=f"fine-tune {task.name}",
        )
        out[task.name] = evaluate(net, task.x_test, task.y_test, device=device)
    return out


# ----------------------------------------------------------------------------------------------
# The experiment (notebook 02 and the CLI)
# ----------------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """Everything :func:`run_experiment` measured."""

    dataset: str
    kind: str
    base: Task = field(repr=False)
    tasks: list[Task] = field(repr=False)
    backbone: nn.Module = field(repr=False)
    feature_dim: int
    base_accuracy: float
    piggyback: PiggybackResult = field(repr=False)
    classifier_only: dict[str, float] | None
    finetune: dict[str, float] | None
    config: dict
    seconds: float

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def finetune_bytes_per_task(self) -> int:
        """A fine-tuned fp32 copy of the backbone plus its head."""
        head = 4 * (self.feature_dim + 1) * self.tasks[-1].num_outputs
        return 4 * sum(t.numel() for t in self.backbone.state_dict().values() if t.dtype.is_floating_point) + head

    def to_dict(self) -> dict:
        """The CLI's JSON (DESIGN.md public contract) plus the baselines' accuracies."""
        pb = self.piggyback
        out = {
            "tasks": pb.task_names,
            "acc_matrix": [[float(v) for v in row] for row in pb.acc_matrix],
            **summarize(pb.acc_matrix),
            "bytes_per_task": int(pb.bytes_per_task),
            "params": int(count_parameters(self.backbone) + count_parameters(pb.net.heads)),
            "sparsity": {t: {k: round(v, 6) for k, v in s.items()} for t, s in pb.sparsity.items()},
            "overall_sparsity": {t: round(v, 6) for t, v in pb.overall_sparsity.items()},
            "base_task": self.base.name,
            "base_accuracy": self.base_accuracy,
            "finetune_bytes_per_task": self.finetune_bytes_per_task(),
            "seconds": round(self.seconds, 3),
            "config": self.config,
        }
        if self.classifier_only is not None:
            out["classifier_only_acc"] = self.classifier_only
        if self.finetune is not None:
            out["finetune_acc"] = self.finetune
        return out


def run_experiment(
    dataset: str | Source = "digits",
    kind: str = "split",
    num_tasks: int | None = None,
    config: PiggybackConfig | None = None,
    scale: str | None = None,
    device=None,
    seed: int = 0,
    baselines: bool = True,
    progress: bool | None = None,
    data_root=None,
) -> Experiment:
    """Pretrain a backbone on the base task, learn the new tasks with Piggyback, and (optionally) the baselines.

    At ``paper`` scale on a real dataset, call :func:`resnet_backbone` yourself and use
    :func:`run_piggyback`; this function trains the digits CNN backbone.
    """
    start = time.perf_counter()
    scale = get_scale(scale)
    cfg = (config or default_config(scale)).validate()
    device = get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    source = dataset if isinstance(dataset, Source) else load_source(dataset, root=data_root)
    base, tasks = make_tasks(source, kind, num_tasks, seed)
    base = _limit(base, cfg.max_train, cfg.max_test, seed)
    tasks = [_limit(t, cfg.max_train, cfg.max_test, seed + 1 + j) for j, t in enumerate(tasks)]
    backbone, dim, base_acc = pretrain_backbone(base, cfg, device, seed, show)
    pb = run_piggyback(tasks, backbone, dim, cfg, device, seed, show)
    clf = run_classifier_only(tasks, backbone, dim, cfg, device, seed) if baselines else None
    ft = run_finetune_each(tasks, backbone, dim, cfg, device, seed, show) if baselines else None
    return Experiment(
        source.name, kind, base, tasks, backbone, dim, base_acc, pb, clf, ft, asdict(cfg), time.perf_counter() - start
    )


# ----------------------------------------------------------------------------------------------
# Paper scale: torchvision ResNet
# ----------------------------------------------------------------------------------------------


def resnet_backbone(name: str = "resnet18", pretrained: bool = True) -> tuple[nn.Module, int]:
    """A torchvision ResNet without its classifier: ``(backbone, feature_dim)``; 3-channel images in.

    With ``pretrained=True`` the ImageNet weights must already be in the torch hub cache (nothing is
    downloaded here); otherwise a :class:`ConfigError` says how to get them.
    """
    import torchvision

    builder = getattr(torchvision.models, name, None)
    if builder is None or not name.startswith(("resnet", "vgg")):
        raise ConfigError(f"unknown torchvision backbone {name!r}; use e.g. resnet18, resnet50 or vgg16")
    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not file.exists():
            raise ConfigError(
                f"ImageNet weights for {name} are not in the torch hub cache ({file}). On a machine with internet "
                f"run: python -c \"import torchvision; torchvision.models.{name}(weights='DEFAULT')\" (or download "
                f"{weights.url} into {file.parent}); or pass pretrained=False for a random backbone"
            )
    model = builder(weights=weights)
    if hasattr(model, "fc"):
        dim = model.fc.in_features
        model.fc = nn.Identity()
    else:
        dim = model.classifier[-1].in_features
        model.classifier[-1] = nn.Identity()
    return model.eval(), dim


def as_rgb(task: Task) -> Task:
    """Repeat a 1-channel task's images to 3 channels (for ImageNet backbones)."""
    if task.x_train.shape[1] == 3:
        return task
    return replace(
        task,
        x_train=task.x_train.expand(-1, 3, -1, -1).contiguous(),
        x_test=task.x_test.expand(-1, 3, -1, -1).contiguous(),
    )


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def run_from_args(args) -> dict:
    """``python -m cltoolkit run piggyback``: the experiment of notebook 02 as a JSON-ready dict.

    At ``default``/``smoke`` scale the digits CNN is pretrained on the base task; at ``paper`` scale
    the backbone is an ImageNet ResNet-18 from the torch hub cache (the base task is ImageNet).
    """
    if args.stream == "attributes":
        raise ConfigError(
            "piggyback learns a sequence of classification tasks, not the multi-task 'attributes' set; "
            "use --stream split, rotated or permuted"
        )
    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.lr is not None:
        overrides["mask_lr"] = args.lr
    if getattr(args, "threshold", None) is not None:
        overrides["threshold"] = args.threshold
    cfg = default_config(args.scale, **overrides)
    progress = False if args.quiet else None
    if args.scale != "paper":
        exp = run_experiment(
            args.dataset,
            args.stream,
            args.tasks,
            cfg,
            args.scale,
            args.device,
            args.seed,
            baselines=True,
            progress=progress,
            data_root=args.data_root,
        )
        return exp.to_dict()
    start = time.perf_counter()
    source = load_source(args.dataset, root=args.data_root)
    _, tasks = make_tasks(source, args.stream, args.tasks, args.seed)
    tasks = [as_rgb(_limit(t, cfg.max_train, cfg.max_test, args.seed)) for t in tasks]
    backbone, dim = resnet_backbone("resnet18", pretrained=True)
    pb = run_piggyback(tasks, backbone, dim, cfg, args.device, args.seed, progress)
    return {
        "tasks": pb.task_names,
        "acc_matrix": [[float(v) for v in row] for row in pb.acc_matrix],
        **summarize(pb.acc_matrix),
        "bytes_per_task": int(pb.bytes_per_task),
        "params": int(count_parameters(backbone) + count_parameters(pb.net.heads)),
        "sparsity": pb.sparsity,
        "overall_sparsity": pb.overall_sparsity,
        "base_task": "ImageNet (resnet18)",
        "seconds": round(time.perf_counter() - start, 3),
        "config": asdict(cfg),
    }
