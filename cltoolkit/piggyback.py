"""Piggyback (Mallya, Davis & Lazebnik, ECCV 2018): one fixed network, one learned binary mask per task.

The backbone's weights ``W`` never change. Each conv and linear layer gets real-valued mask scores ``m_r``
(``mask_scores``); the forward pass uses ``W * m`` with ``m = 1[m_r > tau]`` (``tau`` = ``threshold``, bias not
masked), the backward pass is straight-through (``dL/dm_r := dL/dm``), and each task trains a fresh linear head.
Only ``m`` is kept, 1 bit per weight: an old task never changes. Defaults: ``tau = 5e-3``, scores start at
``1e-2`` (mask all ones: the masked network *is* the backbone), BatchNorm frozen. Read in the order of docs/methods.md
("Piggyback"); the digits experiment, baselines and configs are in :mod:`cltoolkit.experiments.piggyback`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CheckpointMismatchError, ConfigError
from .validate import Bool, Float, Int, OneOf

DEFAULT_THRESHOLD = 5e-3
DEFAULT_INIT = 1e-2

# -- thresholds with a straight-through gradient -----------------------------------------------


class Binarize(torch.autograd.Function):
    """``m = 1[scores > threshold]`` forward; the gradient passes straight through (``dL/dscores = dL/dm``)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        return (scores > threshold).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad_mask: torch.Tensor):
        return grad_mask, None


class Ternarize(torch.autograd.Function):
    """The {-1, 0, 1} variant (authors' code): -1 if s < 0, 0 if 0 <= s <= threshold, else +1; identity backward."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        return (scores > threshold).to(scores.dtype) - (scores < 0).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad_mask: torch.Tensor):
        return grad_mask, None


class BinaryMaskedWeight(torch.autograd.Function):
    """``W * Binarize(scores, threshold)`` in one step: the same values and the same straight-through gradient
    ``dL/dscores = dL/dW~ * W``, with one buffer instead of three (see ``benchmarks/bench_piggyback.py``)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        ctx.save_for_backward(weight)
        # 1[s > tau] as sign(max(s - tau, 0)): exact in IEEE floats, in one buffer that is then scaled in place by W
        return (scores - threshold).clamp_(min=0).sign_().mul_(weight)

    @staticmethod
    def backward(ctx, grad_masked_weight: torch.Tensor):
        (weight,) = ctx.saved_tensors
        return None, grad_masked_weight * weight, None  # W is fixed: no gradient


def check_threshold(threshold: float) -> float:
    """tau: a finite number >= 0 (the ternary mask needs ``0 <= tau``)."""
    return Float(low=0)("threshold", threshold)


def check_init(init: float, threshold: float) -> float:
    """The initial score: finite and above tau, so the first mask is all ones."""
    if Float()("init", init) <= threshold:
        raise ConfigError(
            f"mask score init ({init}) must be greater than the threshold ({threshold}) so the initial mask is "
            "all ones (the masked network starts as the backbone); use init_mode='random' for a random start"
        )
    return float(init)


# -- masked layers -----------------------------------------------------------------------------


class _MaskedLayer(nn.Module):
    """Both masked layers: the wrapped layer's ``weight``/``bias`` (and ``arg_names`` settings) kept fixed, trainable
    ``mask_scores`` of the weight's shape, and ``fixed_mask``: a stored task's mask, used instead of the scores."""

    wraps: type[nn.Module]
    arg_names: tuple[str, ...]

    def __init__(
        self, layer: nn.Module, threshold: float = DEFAULT_THRESHOLD, init: float = DEFAULT_INIT, ternary: bool = False
    ):
        super().__init__()
        if not isinstance(layer, self.wraps):
            raise ConfigError(f"{type(self).__name__} wraps an nn.{self.wraps.__name__}, got {type(layer).__name__}")
        if getattr(layer, "padding_mode", "zeros") != "zeros":
            raise ConfigError(f"{type(self).__name__} supports padding_mode='zeros' only, got {layer.padding_mode!r}")
        for name in self.arg_names:
            setattr(self, name, getattr(layer, name))
        self.threshold = check_threshold(threshold)
        self.init = check_init(init, self.threshold)
        self.ternary = Bool()("ternary", ternary)
        # the backbone is fixed: buffers move with .to() and are saved, but are never trained
        self.register_buffer("weight", layer.weight.detach().clone())
        self.register_buffer("bias", None if layer.bias is None else layer.bias.detach().clone())
        self.mask_scores = nn.Parameter(torch.full_like(self.weight, self.init))
        self.register_buffer("fixed_mask", None, persistent=False)

    @classmethod
    def from_layer(cls, layer: nn.Module, *args, **kwargs) -> _MaskedLayer:
        """Wrap ``layer`` (same arguments as the constructor); the output then equals ``layer(x)`` exactly."""
        return cls(layer, *args, **kwargs)

    def reset_scores(self, init_mode: str = "constant", generator: torch.Generator | None = None) -> None:
        """Scores back to ``init`` everywhere (mask all ones), or ``random``: uniform in [0, 2 tau], half zeros."""
        with torch.no_grad():
            if OneOf("constant", "random")("init_mode", init_mode) == "constant":
                self.mask_scores.fill_(self.init)
            else:
                self.mask_scores.copy_(2 * self.threshold * torch.rand(self.mask_scores.shape, generator=generator))

    def mask(self) -> torch.Tensor:
        """The mask in use: the fixed one if set, else the thresholded scores (differentiable, straight-through)."""
        if self.fixed_mask is not None:
            return self.fixed_mask
        return (Ternarize if self.ternary else Binarize).apply(self.mask_scores, self.threshold)

    def masked_weight(self) -> torch.Tensor:
        """``W * m`` (W~ in the paper); the bias is not masked."""
        if self.fixed_mask is None and not self.ternary:
            return BinaryMaskedWeight.apply(self.weight, self.mask_scores, self.threshold)  # = W * Binarize(...)
        return self.weight * self.mask()

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, threshold={self.threshold:g}, init={self.init:g}, ternary={self.ternary}"


class MaskedLinear(_MaskedLayer):
    """``y = x (W * m)^T + b`` with fixed ``W``, ``b``. Input (batch, in_features) -> (batch, out_features)."""

    wraps, arg_names = nn.Linear, ("in_features", "out_features")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.masked_weight(), self.bias)


class MaskedConv2d(_MaskedLayer):
    """``conv2d(x, W * m, b)`` with the wrapped layer's stride, padding, dilation and groups.
    Input (batch, in_channels, H, W) -> output (batch, out_channels, H', W')."""

    wraps = nn.Conv2d
    arg_names = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)


# -- 1 bit per weight --------------------------------------------------------------------------

_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """Pack a bool tensor (any shape, ``n`` elements) into ``ceil(n / 8)`` uint8 bytes, first element = top bit."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ConfigError(f"pack_mask expects a bool tensor, got {_describe(mask)}")
    flat = mask.detach().reshape(-1).cpu()
    flat = torch.cat([flat, torch.zeros((-flat.numel()) % 8, dtype=torch.bool)])
    return (flat.view(-1, 8).to(torch.uint8) * _BIT_WEIGHTS).sum(dim=1, dtype=torch.uint8)


def unpack_mask(packed: torch.Tensor, shape: Sequence[int] | torch.Size) -> torch.Tensor:
    """Inverse of :func:`pack_mask`: a bool tensor of ``shape`` from ``ceil(prod(shape) / 8)`` uint8 bytes."""
    shape = torch.Size(shape)
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.dim() != 1:
        raise ConfigError(f"unpack_mask expects a 1-D uint8 tensor from pack_mask, got {_describe(packed)}")
    if packed.numel() != packed_bytes(shape.numel()):
        raise ConfigError(f"{packed.numel()} packed bytes do not fit shape {tuple(shape)}: it needs ceil(n / 8)")
    bits = (packed.cpu().unsqueeze(1) & _BIT_WEIGHTS) != 0
    return bits.reshape(-1)[: shape.numel()].reshape(shape)


def packed_bytes(numel: int, ternary: bool = False) -> int:
    """Bytes to store one mask of ``numel`` weights: 1 bit each (2 bits for a ternary mask)."""
    return -(-(2 if ternary else 1) * numel // 8)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:80]


# -- sparsity ----------------------------------------------------------------------------------


def mask_sparsity(masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of zeros in each layer's mask: ``{layer: fraction}`` (bool, 0/1 or -1/0/1 masks)."""
    return {name: float((m == 0).float().mean()) for name, m in masks.items()}


def overall_sparsity(masks: dict[str, torch.Tensor]) -> float:
    """Fraction of zeros over all weights of all layers (weighted by layer size)."""
    total = sum(m.numel() for m in masks.values())
    return sum(int((m == 0).sum()) for m in masks.values()) / total if total else 0.0


def sparsity_at_threshold(scores: dict[str, torch.Tensor], threshold: float, ternary: bool = False) -> dict:
    """What-if: the per-layer sparsity the stored real-valued scores would give with another ``threshold``."""
    fn = Ternarize if ternary else Binarize
    return mask_sparsity({name: fn.apply(s, check_threshold(threshold)) for name, s in scores.items()})


# -- a backbone made maskable, one head per task, the mask bank ---------------------------------


def _make_maskable(module: nn.Module, threshold: float, init: float, ternary: bool) -> None:
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            masked = MaskedConv2d if isinstance(child, nn.Conv2d) else MaskedLinear
            setattr(module, name, masked.from_layer(child, threshold, init, ternary))
        else:
            _make_maskable(child, threshold, init, ternary)


def backbone_fingerprint(backbone: nn.Module) -> str:
    """A hash of a backbone's structure and weights: a mask bank only fits the backbone it was made on."""
    h = hashlib.sha256()
    for name, t in backbone.state_dict().items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode() + t.detach().cpu().double().numpy().tobytes())
    return h.hexdigest()[:16]


class PiggybackNet(nn.Module):
    """A fixed backbone with every ``nn.Conv2d`` / ``nn.Linear`` masked, one linear head per task, and a mask bank.

    ``backbone`` maps inputs, e.g. images (batch, C, H, W), to features (batch, ``feature_dim``); a wrong
    ``feature_dim`` is named at the first forward. A deep copy of it is masked (a bare layer too), heads never.
    BatchNorm is frozen (eval mode, the backbone's statistics) unless ``task_bn=True``: then each task trains a
    private copy of it (paper section 5.3; with the mask learning rate in :mod:`cltoolkit.experiments.piggyback`).

    Workflow: ``add_task(name, num_outputs)`` -> train :meth:`trainable_parameters` -> ``finish_task()``
    (threshold, pack to bits, store in ``bank[name]``: ``mask.<layer>``, ``head.*``, ``bn.*``) -> ``set_task(name)``
    to use any stored task; ``forward(x, name)``.
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
        self.feature_dim = Int(low=1, high=1_000_000)("feature_dim", feature_dim)
        self.threshold = check_threshold(threshold)
        self.init = check_init(init, self.threshold)
        self.init_mode = OneOf("constant", "random")("init_mode", init_mode)
        self.ternary, self.task_bn = Bool()("ternary", ternary), Bool()("task_bn", task_bn)
        self.fingerprint = backbone_fingerprint(backbone)
        body = copy.deepcopy(backbone)
        self.body = nn.Sequential(body) if isinstance(body, (nn.Conv2d, nn.Linear)) else body  # a bare layer: "0"
        _make_maskable(self.body, self.threshold, self.init, self.ternary)
        self.layer_names = [name for name, _ in self.masked_layers()]
        if not self.layer_names:
            raise ConfigError(f"the backbone ({type(backbone).__name__}) has no nn.Conv2d or nn.Linear layer to mask")
        self.body.requires_grad_(False)
        self._bn_pristine = self._bn_state()
        self.heads = nn.ModuleList()
        self.task_names: list[str] = []
        self.bank: dict[str, dict[str, torch.Tensor]] = {}
        self.training_task: str | None = None
        self.active_task: str | None = None

    def masked_layers(self) -> Iterator[tuple[str, _MaskedLayer]]:
        """``(name, layer)`` for every masked layer, input to output."""
        return ((n, m) for n, m in self.body.named_modules() if isinstance(m, _MaskedLayer))

    def _bn_layers(self) -> dict[str, nn.Module]:
        return {n: m for n, m in self.body.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}

    def _bn_state(self) -> dict[str, torch.Tensor]:
        """CPU copies of the BN parameters and statistics, keyed like the body's ``state_dict``."""
        bns = self._bn_layers()
        return {k: v.cpu().clone() for k, v in self.body.state_dict().items() if k.rpartition(".")[0] in bns}

    def _index(self, task: str) -> int:
        if task not in self.task_names:
            raise ConfigError(f"unknown task {task!r}; known tasks: {', '.join(map(repr, self.task_names)) or 'none'}")
        return self.task_names.index(task)

    def add_task(
        self, name: str, num_outputs: int, head: nn.Linear | None = None, generator: torch.Generator | None = None
    ) -> nn.Linear:
        """Start learning task ``name``: fresh scores (mask all ones at the default init) and a new head."""
        if not isinstance(name, str) or name in self.task_names:
            raise ConfigError(f"task name must be a new string, got {name!r} (set_task(name) uses a stored task)")
        if self.training_task is not None:
            raise ConfigError(f"finish task {self.training_task!r} (finish_task()) before adding another")
        num_outputs = Int(low=1, high=1_000_000)("num_outputs", num_outputs)
        head = nn.Linear(self.feature_dim, num_outputs) if head is None else head
        if not isinstance(head, nn.Linear) or head.bias is None or head.weight.shape != (num_outputs, self.feature_dim):
            raise ConfigError(f"head must be nn.Linear({self.feature_dim}, {num_outputs}) with a bias, got {head}")
        self.heads.append(head.to(next(self.body.buffers()).device))
        self.task_names.append(name)
        for _, layer in self.masked_layers():
            layer.fixed_mask = None
            layer.reset_scores(self.init_mode, generator)
            layer.mask_scores.requires_grad_(True)
        self.body.load_state_dict(self._bn_pristine, strict=False)  # BN entries only
        for bn in self._bn_layers().values():
            bn.requires_grad_(self.task_bn)
        self.training_task = self.active_task = name
        self.train(self.training)
        return head

    def trainable_parameters(self) -> dict[str, list[nn.Parameter]]:
        """The parameters learned for the task being trained: ``{"scores": [...], "head": [...], "bn": [...]}``."""
        if self.training_task is None:
            raise ConfigError("no task is being trained: call add_task(name, num_outputs) first")
        return {
            "scores": [layer.mask_scores for _, layer in self.masked_layers()],
            "head": list(self.heads[self._index(self.training_task)].parameters()),
            "bn": [p for bn in self._bn_layers().values() for p in bn.parameters()] if self.task_bn else [],
        }

    def finish_task(self) -> None:
        """Threshold the scores, pack the mask to bits, store it with the head (and BN copy) in the bank."""
        name = self.training_task
        if name is None:
            raise ConfigError("no task is being trained: call add_task(name, num_outputs) first")
        stored = {f"head.{k}": v.detach().cpu().clone() for k, v in self.heads[self._index(name)].state_dict().items()}
        for layer_name, m in self.masks().items():  # a ternary mask packs (m > 0, m < 0): 2 bits per weight
            stored[f"mask.{layer_name}"] = pack_mask(torch.stack([m > 0, m < 0]) if self.ternary else m > 0)
        self.bank[name] = stored | ({f"bn.{k}": v for k, v in self._bn_state().items()} if self.task_bn else {})
        self.requires_grad_(False)
        self.training_task = None
        self.set_task(name)

    def masks(self, task: str | None = None) -> dict[str, torch.Tensor]:
        """``{layer: mask}``: stored task ``task``'s, unpacked (bool, or float -1/0/1 if ternary), or the one in use."""
        if task is None:
            with torch.no_grad():
                return {name: layer.mask().detach().clone() for name, layer in self.masked_layers()}
        self._index(task)  # an unknown name raises, listing the known ones
        if task not in self.bank:
            raise ConfigError(f"task {task!r} is still being trained: finish_task() stores it in the bank")
        out = {}
        for name, layer in self.masked_layers():
            bits = unpack_mask(self.bank[task][f"mask.{name}"], (2,) * self.ternary + tuple(layer.weight.shape))
            out[name] = bits[0].float() - bits[1].float() if self.ternary else bits
        return out

    def set_task(self, task: str) -> None:
        """Use task ``task``: its stored mask, head and BN copy (or the task being trained)."""
        self._index(task)  # an unknown name raises, listing the known ones
        if task != self.training_task:
            if self.training_task is not None:
                raise ConfigError(f"finish task {self.training_task!r} before switching to {task!r}")
            for (_, layer), mask in zip(self.masked_layers(), self.masks(task).values()):
                layer.fixed_mask = mask.to(layer.weight.device, layer.weight.dtype)
            bn = {k[3:]: v for k, v in self.bank[task].items() if k.startswith("bn.")}
            self.body.load_state_dict(bn or self._bn_pristine, strict=False)  # BN entries only
        self.active_task = task

    def train(self, mode: bool = True) -> PiggybackNet:
        """Like ``nn.Module.train``, but BN stays in eval mode unless a task-specific BN is being trained."""
        super().train(mode)
        for bn in self._bn_layers().values():
            bn.train(mode and self.task_bn and self.training_task is not None)
        return self

    def forward(self, x: torch.Tensor, task: str | None = None) -> torch.Tensor:
        """Logits (batch, num_outputs of ``task``) for inputs ``x``; ``task``: a task name (default: the active one)."""
        task = self.active_task if task is None else task
        if task is None:
            raise ConfigError("no task: add_task(...) or set_task(...) first")
        if task != self.active_task:
            self.set_task(task)
        features = self.body(x)
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise ConfigError(
                f"feature_dim is {self.feature_dim}, but the backbone gives features of shape "
                f"{tuple(features.shape)}; the heads need (batch, feature_dim): pass the backbone's output size"
            )
        return self.heads[self._index(task)](features)

    def bytes_per_task(self, task: str | None = None) -> int:
        """What a task costs to store (default: the last one): its packed mask bits, head and BN copy, in bytes."""
        index = self._index(self.task_names[-1] if task is None and self.task_names else task)
        template = self.stored_template(self.heads[index].out_features)
        return sum(v.numel() * v.element_size() for v in template.values())

    def stored_template(self, num_outputs: int) -> dict[str, torch.Tensor]:
        """What :attr:`bank` holds for a task with ``num_outputs`` classes: names, shapes and dtypes (empty tensors)."""
        head = nn.utils.skip_init(nn.Linear, self.feature_dim, num_outputs)
        template = {f"head.{k}": v for k, v in head.state_dict().items()}
        for name, layer in self.masked_layers():
            template[f"mask.{name}"] = torch.empty(packed_bytes(layer.weight.numel(), self.ternary), dtype=torch.uint8)
        return template | ({f"bn.{k}": v for k, v in self._bn_pristine.items()} if self.task_bn else {})

    def add_stored(self, tasks: dict[str, dict[str, torch.Tensor]]) -> list[str]:
        """Add finished tasks ``{name: stored state}`` (e.g. from a bank file); returns their names. All or nothing:
        each name must be new (else ``ConfigError``) and each state exactly what :meth:`stored_template` describes,
        with finite values (else ``CheckpointMismatchError``), or nothing changes."""
        if self.training_task is not None:
            raise ConfigError(f"finish task {self.training_task!r} before adding stored tasks")
        if not isinstance(tasks, dict) or not tasks:
            raise ConfigError(f"add_stored takes a non-empty {{name: stored state}} dict, got {_describe(tasks)}")
        for name, stored in tasks.items():
            if not isinstance(name, str) or name in self.task_names:
                raise ConfigError(f"task {name!r} is already in this network (or not a name); use a fresh network")
            weight = stored.get("head.weight") if isinstance(stored, dict) else None
            outputs = len(weight) if isinstance(weight, torch.Tensor) and weight.dim() == 2 and len(weight) else 1
            _check_like(stored, self.stored_template(outputs), f"task {name!r}")
        for name, stored in tasks.items():  # everything is checked: commit
            head = nn.utils.skip_init(nn.Linear, self.feature_dim, len(stored["head.weight"]))
            head.load_state_dict({k[5:]: v for k, v in stored.items() if k.startswith("head.")})
            self.heads.append(head.to(next(self.body.buffers()).device).requires_grad_(False))
            self.task_names.append(name)
            self.bank[name] = stored
        self.set_task(name)
        return list(tasks)


def _check_like(state, expected: dict[str, torch.Tensor], what: str) -> None:
    """``state`` has ``expected``'s keys, tensor shapes and dtypes, and only finite values."""
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{what} must be a dict of tensors, got {_describe(state)}")
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state))[:5], sorted(set(state) - set(expected))[:5]
        raise CheckpointMismatchError(f"{what}: missing entries {missing}, unexpected entries {extra}")
    for key, ref in expected.items():
        v = state[key]
        if not isinstance(v, torch.Tensor) or v.shape != ref.shape or v.dtype != ref.dtype:
            raise CheckpointMismatchError(f"{what}: {key} is {_describe(v)}, expected {ref.dtype} {tuple(ref.shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointMismatchError(f"{what}: {key} holds NaN or infinite values")
