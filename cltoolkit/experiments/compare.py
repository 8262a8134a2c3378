"""Notebook 05's experiment: every sequential method on one task stream, over several seeds.

:func:`compare` runs fine-tuning, online EWC, SI, joint training, Piggyback, the hypernetwork with the
task identity given (``hypernet``) and the same hypernetwork with entropy task inference
(``hypernet_ent``, no task identity) on the *same* stream, and returns per method the mean and spread
over seeds of ACC, BWT and forgetting, the extra bytes each new task costs, whether the task identity
is needed at test time, the training time, and the accuracy matrices. ``python -m cltoolkit compare``
and notebook 05 both call it.

The protocol, and what makes it fair:

- **One stream per seed, shared by every method.** For seed ``s`` the stream is built once
  (``load_stream(..., seed=s)``: the permutations come from ``s``) and subsampled once; every
  method gets that object with its own subsampling switched off, so all see the same tasks, the
  same training examples and the same test sets. The seed also sets each method's initialisation and
  batch order.
- **The same training budget.** Every method trains ``epochs`` passes over each task's data with
  batches of ``batch_size`` (joint: ``epochs`` passes over the union so far, one batch per task per
  step). No method gets more data or more passes than another.
- **The same network where a method allows it.** The baselines train an MLP (:mod:`cltoolkit.baselines`'
  configuration for the scale). Piggyback masks *that same MLP*. The hypernetwork generates a smaller
  MLP (its notebook's configuration): generating a 256-256 MLP with a full hypernetwork would need
  millions of parameters.
- **Piggyback needs a pretrained backbone.** Its backbone is trained on the first task of the stream
  exactly as fine-tuning trains it (same initialisation, same batches: it *is* fine-tuning's network
  after task 0, which a test checks). Piggyback's network for task 0 is that backbone with its head
  (an all-ones mask, stored like any other); each later task learns a binary mask over the frozen
  backbone and a new head, with the same epochs as everyone else. So Piggyback sees no extra data and
  no extra passes, and its row for task 0 is the fine-tuned backbone itself. Entries ``R[i, j]`` for
  ``j > i`` are task j's network before it is learned (the backbone with a fresh head).
- **Entropy task inference** (``hypernet_ent``) uses the hypernetwork trained for ``hypernet`` (one
  training run, two ways to test it): after task i, each test input is given to the networks generated
  for tasks ``0..i`` and the least uncertain one answers (lowest predictive entropy). Labels are compared
  in the source's class space, so on the split stream a wrong task choice is a wrong answer.

Runs are cached in ``$CLTK_CACHE`` ("load if it exists, otherwise train"), keyed by the method, the
stream, the seed, every configuration and a hash of the code that trains them: a second run of the same
comparison only reads the results back, and a changed hyperparameter or method never reuses an old one.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import baselines
from ..config import by_scale, get_device, get_scale, progress_enabled, seed_everything
from ..data.sources import DATASETS
from ..data.streams import Stream, load_stream
from ..errors import ConfigError
from ..metrics import AccuracyMatrix, summarize
from ..nets import build_net, count_parameters
from ..train import atomic_torch_save, checkpoint_path, evaluate, load_or_train
from ..validate import Checked, Int, OneOf, check_overrides, check_seed, checked

METHODS = ("finetune", "ewc", "si", "joint", "piggyback", "hypernet", "hypernet_ent")
STREAMS = ("permuted", "split")
LABELS = {
    "finetune": "fine-tuning",
    "ewc": "online EWC",
    "si": "SI",
    "joint": "joint (upper bound)",
    "piggyback": "Piggyback",
    "hypernet": "hypernetwork",
    "hypernet_ent": "hypernetwork + entropy",
}
MAX_SEEDS = 100
CACHE_FORMAT = "cltoolkit-compare-run/1"

# ----------------------------------------------------------------------------------------------
# Configuration and inputs
# ----------------------------------------------------------------------------------------------


@dataclass
class CompareConfig(Checked):
    """What every method shares: the data (``dataset``, ``permuted_tasks``, ``max_train`` / ``max_test``
    examples per task, None = all) and the training budget (``epochs`` per task, ``batch_size``)."""

    dataset: str = checked("digits", OneOf(*DATASETS))
    permuted_tasks: int = checked(5, Int(low=1, high=1000))
    epochs: int = checked(5, Int(low=1, high=10_000))
    batch_size: int = checked(32, Int(low=1, high=1_000_000))
    max_train: int | None = checked(None, Int(low=1, optional=True))
    max_test: int | None = checked(None, Int(low=1, optional=True))


def compare_config(scale: str | None = None, **overrides) -> CompareConfig:
    """Per scale: ``smoke`` (3 epochs, 3 permuted tasks, 150 examples per task), ``default`` (5 epochs, 5 tasks,
    all 1,258 training digits per task), ``paper`` (MNIST, 10 permuted tasks). Unknown overrides are refused."""
    check_overrides(CompareConfig, overrides)
    base = by_scale(
        scale,
        smoke=dict(epochs=3, permuted_tasks=3, max_train=150, max_test=150),
        default=dict(),
        paper=dict(dataset="mnist", permuted_tasks=10, batch_size=128),
    )
    return CompareConfig(**{**base, **overrides})


def check_methods(methods: Sequence[str] | None) -> tuple[str, ...]:
    """The methods to run, in :data:`METHODS` order; an unknown or repeated name is a ConfigError."""
    if methods is None:
        return METHODS
    if isinstance(methods, str) or not isinstance(methods, Sequence) or len(methods) == 0:
        raise ConfigError(f"methods must be a non-empty list of names from {', '.join(METHODS)}; got {methods!r}")
    names = [str(m).strip().lower() for m in methods]
    for name in names:
        if name not in METHODS:
            raise ConfigError(f"unknown method {name!r} for compare; choose from: {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"methods lists a method twice: {', '.join(names)}; name each once")
    return tuple(m for m in METHODS if m in names)


def check_seeds(seeds) -> tuple[int, ...]:
    """At least one seed, at most :data:`MAX_SEEDS`, each an integer in [0, 2**64 - 1], none repeated."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise ConfigError(f"seeds must be a non-empty list of integers such as [0, 1, 2], got {seeds!r}")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"{len(seeds)} seeds is more than {MAX_SEEDS}; use fewer (3 give a spread)")
    out = tuple(check_seed(s, "each seed") for s in seeds)
    if len(set(out)) != len(out):
        raise ConfigError(f"seeds repeat a value: {list(out)}; a repeated seed repeats the same run")
    return out


def check_stream_kind(kind: str) -> str:
    kind = str(kind).strip().lower()
    if kind not in STREAMS:
        raise ConfigError(f"unknown stream {kind!r} for compare; choose one of: {', '.join(STREAMS)}")
    return kind


def build_stream(kind: str, config: CompareConfig, seed: int, root=None) -> Stream:
    """The stream every method learns for ``seed``: built from the seed, subsampled once (``max_*``)."""
    num_tasks = config.permuted_tasks if kind == "permuted" else None
    stream = load_stream(config.dataset, kind, num_tasks, seed=seed, root=root)
    if config.max_train or config.max_test:
        stream = stream.subsample(config.max_train, config.max_test, seed=seed)
    return stream


def method_configs(scale: str, config: CompareConfig, piggyback: bool = True) -> dict:
    """Each method's configuration for ``scale`` with the shared budget (epochs, batch size) and no subsampling.

    ``{"baseline": BaselineConfig, "hypernet": HypernetConfig, "piggyback": PiggybackConfig}`` (the baselines'
    also serves Piggyback's backbone; ``piggyback=False`` leaves Piggyback's out).
    """
    from . import hypernet as hn

    shared = dict(epochs=config.epochs, batch_size=config.batch_size)
    out = {
        "baseline": baselines.default_config(scale, **shared, max_train=None, max_test=None),
        "hypernet": dataclasses.replace(
            hn.default_config(scale, **shared), iterations=None, max_train=None, max_test=None
        ),
    }
    if piggyback:
        from . import piggyback as pb

        out["piggyback"] = pb.default_config(scale, **shared, max_train=None, max_test=None)
    return out


# ----------------------------------------------------------------------------------------------
# One run of one method on one seed
# ----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One method on one seed: the accuracy matrix (T, T) and what it cost."""

    acc_matrix: np.ndarray
    seconds: float
    bytes_per_task: int
    params: int
    cached: bool = False


_COMMON_FILES = ("nets.py", "train.py", "metrics.py", "data/streams.py", "data/sources.py", "experiments/compare.py")
CODE_FILES = {  # what each method's results depend on: a change there retrains it, a change elsewhere does not
    "baseline": (*_COMMON_FILES, "baselines.py"),
    "piggyback": (*_COMMON_FILES, "baselines.py", "piggyback.py", "experiments/piggyback.py"),
    "hypernet": (*_COMMON_FILES, "hypernet.py", "experiments/hypernet.py"),
}


ROAMING_FILES = ("roaming.py", "nets.py", "train.py", "metrics.py", "data/attributes.py", "experiments/roaming.py")


def code_version(files: Sequence[str]) -> str:
    """A hash of the source files that train and score the methods: part of every cache key."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in files:
        path = root / name
        h.update(name.encode() + (path.read_bytes() if path.exists() else b"-"))
    return h.hexdigest()[:16]


def _cache_key(method: str, kind: str, seed: int, scale: str, config: CompareConfig, configs: dict, device) -> dict:
    own = {"finetune": "baseline", "ewc": "baseline", "si": "baseline", "joint": "baseline"}.get(method, method)
    used = {"piggyback": ("baseline", "piggyback")}.get(own, (own,))
    return {
        "format": CACHE_FORMAT,
        "method": method,
        "stream": kind,
        "seed": seed,
        "scale": scale,
        "compare": asdict(config),
        "configs": {k: asdict(configs[k]) for k in used},
        "device": str(device),
        "code": code_version(CODE_FILES[own]),
    }


def _load_cached(path: Path) -> dict | None:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: train again and overwrite it
        return None
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        return None
    return payload


def cached_result(key: dict, use_cache: bool, train) -> dict:
    """``train()`` -> a dict of tensors and plain numbers/strings/dicts, stored under ``key`` in ``$CLTK_CACHE``.

    If a result for ``key`` (a JSON-able dict naming at least ``method``) is cached, it is read back instead of
    training (``"cached": True`` in the returned dict). Include the code version (:func:`code_version`) in ``key``.
    """
    path = checkpoint_path(key, prefix=f"compare-{key['method']}")
    if use_cache:
        payload = _load_cached(path)
        if payload is not None:
            return {**payload, "cached": True}
    payload = {"format": CACHE_FORMAT, **train()}
    if use_cache:
        atomic_torch_save(payload, path)
    return {**payload, "cached": False}


def _run_from(payload: dict, prefix: str = "") -> Run:
    return Run(
        acc_matrix=payload[f"{prefix}acc_matrix"].double().numpy(),
        seconds=float(payload[f"{prefix}seconds"]),
        bytes_per_task=int(payload["bytes_per_task"]),
        params=int(payload["params"]),
        cached=bool(payload["cached"]),
    )


def run_baseline_on(method: str, stream: Stream, config, device, seed: int) -> dict:
    result = baselines.run_baseline(method, stream, config, device=device, seed=seed, progress=False)
    return {
        "acc_matrix": torch.from_numpy(result.acc_matrix),
        "seconds": result.seconds,
        "bytes_per_task": result.bytes_per_task,
        "params": result.params,
    }


def first_task_network(stream: Stream, config, device, seed: int, use_cache: bool = True) -> nn.Module:
    """Fine-tuning's network after the first task of ``stream`` (Piggyback's backbone), from the cache if there.

    Trained by :func:`cltoolkit.baselines.run_baseline` on the first task alone, with the same seed, so it is
    bit-identical to the network fine-tuning has after task 0 (same initialisation, same batches).
    """
    first = dataclasses.replace(stream, tasks=stream.tasks[:1])
    scenario_domain = stream.scenario == "domain"
    with torch.random.fork_rng(devices=[]):
        model = build_net(
            config.arch,
            first.image_shape,
            first.head_sizes,
            shared_head=scenario_domain,
            hidden=config.hidden,
            channels=config.channels,
        )

    def train(net):
        trained = baselines.run_baseline("finetune", first, config, device=device, seed=seed, progress=False)
        net.load_state_dict(trained.model.state_dict())

    task = first.tasks[0]
    key = {
        "format": "cltoolkit-compare-backbone/1",
        "config": asdict(config),
        "seed": seed,
        "task": task.name,
        "stream": stream.kind,
        "source": stream.source_name,
        "data": _data_fingerprint(task),
        "device": str(device),
        "code": code_version(CODE_FILES["baseline"]),
    }
    model, _ = load_or_train(model, key, train, prefix="compare-backbone", use_cache=use_cache)
    return model.to(device).eval()


def _data_fingerprint(task) -> str:
    h = hashlib.sha256()
    for t in (task.x_train, task.y_train):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _fresh_head(dim: int, outputs: int, seed: int) -> nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(dim, outputs)


class _Plain(nn.Module):
    """``module(x)`` with the ``(x, task)`` signature the evaluation loop uses."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, task=None) -> torch.Tensor:
        return self.module(x)


def run_piggyback_on(stream: Stream, base_config, pb_config, device, seed: int, use_cache: bool = True) -> dict:
    """Piggyback on ``stream`` with the protocol of this module: backbone = fine-tuning's network after task 0."""
    from ..piggyback import PiggybackNet
    from .piggyback import train_piggyback_task

    start = time.perf_counter()
    backbone = first_task_network(stream, base_config, device, seed, use_cache)
    dim = backbone.feature_dim
    net = PiggybackNet(
        backbone.body, dim, pb_config.threshold, pb_config.init, pb_config.init_mode, pb_config.ternary
    ).to(device)
    first = stream.tasks[0]
    net.add_task(first.name, first.num_outputs, head=copy.deepcopy(backbone.heads[0]))
    net.finish_task()  # task 0 is the backbone itself: an all-ones mask and the head it was trained with
    heads = [_fresh_head(dim, t.num_outputs, seed * 1000 + j) for j, t in enumerate(stream.tasks)]
    before = [float("nan")]
    for head, task in zip(heads[1:], stream.tasks[1:]):  # task j's network before it is learned
        plain = nn.Sequential(backbone.body, copy.deepcopy(head)).to(device).eval()
        before.append(evaluate(_Plain(plain), task.x_test, task.y_test, device=device))
    generator = seed_everything(seed)
    acc = AccuracyMatrix(stream.names)
    for i, task in enumerate(stream.tasks):
        if i > 0:
            train_piggyback_task(net, task, pb_config, device, generator, head=heads[i], progress=False)
        for j, other in enumerate(stream.tasks):
            acc.record(i, j, evaluate(net, other.x_test, other.y_test, other.name, device) if j <= i else before[j])
    return {
        "acc_matrix": torch.from_numpy(acc.values),
        "seconds": time.perf_counter() - start,
        "bytes_per_task": net.bytes_per_task(),
        "params": count_parameters(backbone.body) + count_parameters(net.heads),
    }


@torch.no_grad()
def inferred_accuracy(hnet, target, stream: Stream, candidates: Sequence[int], j: int) -> float:
    """Accuracy on task ``j``'s test set when each input picks its task among ``candidates`` by entropy.

    Compared in the source's class space: on a split stream, output ``k`` of task ``t``'s network means class
    ``stream.tasks[t].classes[k]``; a wrong task is a wrong class.
    """
    from ..hypernet import infer_tasks

    task = stream.tasks[j]
    if len(task.y_test) == 0:
        return float("nan")
    ids, logits = infer_tasks(hnet, target, task.x_test, list(candidates))
    pred = logits.argmax(1)
    if stream.scenario != "task":
        return float((pred == task.y_test).float().mean())
    width = max(len(t.classes) for t in stream.tasks)
    lookup = torch.full((stream.num_tasks, max(width, int(pred.max()) + 1)), -1, dtype=torch.long)
    for t, other in enumerate(stream.tasks):
        lookup[t, : len(other.classes)] = torch.tensor(other.classes)
    true_class = torch.tensor(task.classes)[task.y_test]
    return float((lookup[ids, pred] == true_class).float().mean())


def run_hypernet_on(stream: Stream, config, device, seed: int) -> dict:
    """One hypernetwork run, tested two ways: task id given (``acc_matrix``) and inferred (``ent_acc_matrix``)."""
    from .hypernet import train_hypernet

    result = train_hypernet(stream, config, device=device, seed=seed, progress=False, keep_snapshots=True)
    start = time.perf_counter()
    ent = AccuracyMatrix(stream.names)
    for i in range(stream.num_tasks):
        hnet = result.hnet_after(i).to(device).eval()
        for j in range(stream.num_tasks):
            ent.record(i, j, inferred_accuracy(hnet, result.target, stream, range(i + 1), j))
    return {
        "acc_matrix": torch.from_numpy(result.acc_matrix),
        "seconds": result.seconds,
        "ent_acc_matrix": torch.from_numpy(ent.values),
        "ent_seconds": result.seconds + time.perf_counter() - start,
        "bytes_per_task": result.bytes_per_task,
        "params": result.params,
    }


def _train(method: str, stream: Stream, configs: dict, device, seed: int, use_cache: bool) -> dict:
    if method in baselines.BASELINES:
        return run_baseline_on(method, stream, configs["baseline"], device, seed)
    if method == "piggyback":
        return run_piggyback_on(stream, configs["baseline"], configs["piggyback"], device, seed, use_cache)
    return run_hypernet_on(stream, configs["hypernet"], device, seed)


# ----------------------------------------------------------------------------------------------
# The comparison
# ----------------------------------------------------------------------------------------------


def _spread(values: Sequence[float]) -> float:
    """Sample standard deviation (0 for a single value)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


@dataclass
class MethodSummary:
    """One method over all seeds: means, spreads (sample standard deviation) and the matrices."""

    name: str
    runs: list[Run] = field(repr=False)
    needs_task_id: bool

    def _metric(self, key: str) -> list[float]:
        return [summarize(run.acc_matrix)[key] for run in self.runs]

    @property
    def acc_matrices(self) -> list[np.ndarray]:
        return [run.acc_matrix for run in self.runs]

    @property
    def acc_matrix(self) -> np.ndarray:
        """The mean accuracy matrix over seeds (T, T)."""
        return np.mean(self.acc_matrices, axis=0)

    def to_dict(self) -> dict:
        out = {"label": LABELS[self.name]}
        for key in ("avg_acc", "bwt", "forgetting"):
            values = self._metric(key)
            out[key], out[f"{key}_std"] = float(np.mean(values)), _spread(values)
        seconds = [run.seconds for run in self.runs]
        out.update(
            bytes_per_task=int(max(run.bytes_per_task for run in self.runs)),
            needs_task_id=self.needs_task_id,
            seconds=float(np.mean(seconds)),
            seconds_std=_spread(seconds),
            params=int(self.runs[0].params),
            per_seed_avg_acc=self._metric("avg_acc"),
            acc_matrix=self.acc_matrix.tolist(),
            acc_matrices=[m.tolist() for m in self.acc_matrices],
            cached_runs=sum(run.cached for run in self.runs),
        )
        return out


@dataclass
class Comparison:
    """What :func:`compare` returns; ``to_dict()`` is the CLI's JSON, ``table()`` its printout."""

    stream: str
    scale: str
    dataset: str
    seeds: tuple[int, ...]
    task_names: list[str]
    methods: dict[str, MethodSummary]
    config: dict
    device: str
    seconds: float

    def summary(self, name: str) -> dict:
        return self.methods[name].to_dict()

    def to_dict(self) -> dict:
        return {
            "stream": self.stream,
            "scale": self.scale,
            "seeds": list(self.seeds),
            "methods": {name: s.to_dict() for name, s in self.methods.items()},
            "dataset": self.dataset,
            "tasks": list(self.task_names),
            "device": self.device,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "config": self.config,
            "seconds": round(self.seconds, 3),
        }

    def table(self) -> str:
        return format_table(self.to_dict())


def format_table(result: dict) -> str:
    """The comparison as a readable table (mean ± sample standard deviation over the seeds)."""
    seeds = ",".join(map(str, result["seeds"]))
    lines = [
        f"compare on {result['dataset']} / {result['stream']} ({len(result['tasks'])} tasks; scale {result['scale']}, "
        f"seeds {seeds}, device {result.get('device', '?')}, threads {result.get('threads', '?')})",
        "",
        f"{'method':<24}{'ACC':>15}{'BWT':>16}{'forgetting':>16}{'bytes/task':>12}{'task id':>9}{'seconds':>9}",
    ]
    for m in result["methods"].values():
        lines.append(
            f"{m['label']:<24}{m['avg_acc']:>8.3f} ± {m['avg_acc_std']:.3f}{m['bwt']:>+9.3f} ± {m['bwt_std']:.3f}"
            f"{m['forgetting']:>9.3f} ± {m['forgetting_std']:.3f}{m['bytes_per_task']:>12,}"
            f"{'needed' if m['needs_task_id'] else 'no':>9}{m['seconds']:>9.1f}"
        )
    cached = sum(m.get("cached_runs", 0) for m in result["methods"].values())
    lines.append("")
    lines.append(
        "mean ± sample std over seeds; ACC = final average accuracy, BWT = backward transfer, forgetting as in "
        "Chaudhry et al.; seconds = training time per seed"
        + (f" (as measured when trained: {cached} run(s) read from $CLTK_CACHE)" if cached else "")
    )
    return "\n".join(lines)


def compare(
    stream_kind: str = "permuted",
    seeds: Sequence[int] = (0, 1, 2),
    methods: Sequence[str] | None = None,
    scale: str | None = None,
    progress: bool | None = None,
    *,
    config: CompareConfig | None = None,
    device: str | torch.device | None = None,
    use_cache: bool = True,
    data_root=None,
) -> Comparison:
    """Run ``methods`` (default: all of :data:`METHODS`) on the same ``stream_kind`` stream for every seed.

    ``config`` defaults to :func:`compare_config` for the scale. One progress bar counts methods × seeds.
    Returns a :class:`Comparison`; see the module docstring for the protocol.
    """
    kind = check_stream_kind(stream_kind)
    seeds = check_seeds(list(seeds) if isinstance(seeds, tuple) else seeds)
    names = check_methods(methods)
    scale = get_scale(scale)
    config = (config or compare_config(scale)).validate()
    device = get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    configs = method_configs(scale, config, piggyback="piggyback" in names)
    start = time.perf_counter()
    runs: dict[str, list[Run]] = {name: [] for name in names}
    task_names: list[str] = []
    scenario = "task"
    bar = tqdm(total=len(names) * len(seeds), desc=f"compare ({kind})", disable=not show)
    for seed in seeds:
        stream = build_stream(kind, config, seed, data_root)
        task_names, scenario = stream.names, stream.scenario
        hyper = None
        for name in names:
            bar.set_postfix(method=name, seed=seed)
            trained = "hypernet" if name == "hypernet_ent" else name  # one hypernetwork run serves both
            if trained == "hypernet" and hyper is not None:
                payload = hyper
            else:
                key = _cache_key(trained, kind, seed, scale, config, configs, device)
                train = functools.partial(_train, trained, stream, configs, device, seed, use_cache)
                payload = cached_result(key, use_cache, train)
                hyper = payload if trained == "hypernet" else hyper
            runs[name].append(_run_from(payload, "ent_" if name == "hypernet_ent" else ""))
            bar.update(1)
    bar.close()
    needs_id = {m: m != "hypernet_ent" and (m in ("piggyback", "hypernet") or scenario == "task") for m in names}
    return Comparison(
        stream=kind,
        scale=scale,
        dataset=config.dataset,
        seeds=seeds,
        task_names=task_names,
        methods={m: MethodSummary(m, runs[m], needs_id[m]) for m in names},
        config={"compare": asdict(config), **{k: asdict(v) for k, v in configs.items()}},
        device=str(device),
        seconds=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------------------------
# Multi-task learning is another setting: Maximum Roaming's four variants on the attribute tasks
# ----------------------------------------------------------------------------------------------

MULTITASK_VARIANTS = ("full sharing", "fixed partitions", "roaming", "single-task networks")


def multitask_overview(
    scale: str | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
) -> dict[str, dict]:
    """Notebook 03's four multi-task runs on the digit attribute tasks, one seed, cached like :func:`compare`.

    ``{variant: {"mean_f1", "per_task_f1", "bytes_per_task", "params", "seconds", "roaming_finished_at",
    "cached"}}`` for full sharing (p = 1), fixed partitions, Maximum Roaming (the scale's
    :func:`cltoolkit.experiments.roaming.default_config`) and one network per task.
    """
    from . import roaming as mr

    scale, seed, device = get_scale(scale), check_seed(seed), get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    config = mr.default_config(scale)
    variants = {
        "full sharing": dataclasses.replace(config, sharing_ratio=1.0),
        "fixed partitions": dataclasses.replace(config, roaming=False),
        "roaming": config,
        "single-task networks": config,
    }
    data = None
    out = {}
    for label in tqdm(MULTITASK_VARIANTS, desc="multi-task", disable=not show):
        key = {
            "format": CACHE_FORMAT,
            "method": f"multitask {label}",
            "seed": seed,
            "scale": scale,
            "config": asdict(variants[label]),
            "device": str(device),
            "code": code_version(ROAMING_FILES),
        }

        def train(label=label):
            nonlocal data
            data = data or mr.load_attribute_tasks("digits")
            runner = mr.run_single_task if label == "single-task networks" else mr.run_roaming
            result = runner(data, variants[label], seed=seed, device=device, progress=False)
            finished = result.log.roaming_finished_at if result.log is not None else None
            return {
                "mean_f1": float(result.mean_f1),
                "per_task_f1": {k: float(v) for k, v in result.scores["per_task_f1"].items()},
                "bytes_per_task": int(result.bytes_per_task),
                "params": int(result.params),
                "seconds": float(result.seconds),
                "roaming_finished_at": -1 if finished is None else int(finished),
            }

        payload = cached_result(key, use_cache, train)
        out[label] = {k: v for k, v in payload.items() if k != "format"}
    return out


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def run_from_args(args: argparse.Namespace) -> dict:
    """``python -m cltoolkit compare``: :func:`compare` with the flags given, as the JSON-ready dict."""
    result = compare(
        args.stream,
        args.seeds,
        args.methods,
        args.scale,
        progress=False if args.quiet else None,
        device=args.device,
        data_root=getattr(args, "data_root", None),
    )
    return result.to_dict()
