"""The reproduction scorecard: every claim of the three papers (and of the baselines) the kit can test.

Each :class:`Claim` names the paper, what it claims, the paper's number or statement, and the kit's test: what is
measured at the given scale over the seeds and the criterion the mean must meet. :func:`run_scorecard` runs the
selected claims and gives each a verdict:

- ``reproduces``: the criterion holds at this scale;
- ``does not reproduce at this scale``: it does not (the row says by how much);
- ``not testable here``: the claim needs something this machine does not have (the row says what).

Runs are shared between claims (one Piggyback run per seed serves five claims) and cached in ``$CLTK_CACHE`` like
:func:`cltoolkit.experiments.compare.compare`'s, so a second scorecard only reads results back. ``python -m cltoolkit
scorecard --markdown docs/scorecard.md`` writes the table; ``--claims`` runs a subset (the others are listed as not
run); ``--list`` prints the claims.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import get_device, get_scale, progress_enabled
from ..errors import ConfigError
from ..metrics import summarize
from . import compare as cmp

VERDICTS = ("reproduces", "does not reproduce at this scale", "not testable here", "not run")
PIGGYBACK = "Piggyback (Mallya et al., ECCV 2018)"
ROAMING = "Maximum Roaming (Pascal et al., AAAI 2021)"
HYPERNET = "Hypernetworks (von Oswald et al., ICLR 2020)"
BASELINES = "Baselines (Kirkpatrick et al. 2017; Zenke et al. 2017)"

_PIGGYBACK_FILES = ("piggyback.py", "experiments/piggyback.py", "nets.py", "train.py", "metrics.py", "data/streams.py")
_HYPERNET_FILES = ("hypernet.py", "experiments/hypernet.py", "nets.py", "train.py", "metrics.py", "data/streams.py")


@dataclass
class Result:
    """A claim's measurement: the text for the table, whether the criterion holds, and the raw numbers."""

    measured: str
    holds: bool | None  # None: not testable here
    numbers: dict = dataclasses.field(default_factory=dict)
    why: str = ""


@dataclass(frozen=True)
class Claim:
    """One claim: ``measure(context) -> Result`` (None: not testable here, for the reason in ``test``)."""

    id: str
    paper: str
    claim: str
    paper_says: str
    test: str
    measure: Callable[[Context], Result] | None = None


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = [float(v) for v in values]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _pm(values: Sequence[float], digits: int = 3) -> str:
    mean, std = _mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# ----------------------------------------------------------------------------------------------
# The runs the claims share (each cached in $CLTK_CACHE)
# ----------------------------------------------------------------------------------------------


class Context:
    """Scale, seeds, device, and the runs computed so far (shared between claims, cached on disk)."""

    def __init__(self, scale: str, seeds: Sequence[int], device, use_cache: bool = True):
        self.scale, self.seeds, self.device, self.use_cache = scale, tuple(seeds), device, use_cache
        self._memo: dict = {}

    def _memoised(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def _cached(self, method: str, config: dict, seed: int, files: Sequence[str], train) -> dict:
        key = {
            "format": cmp.CACHE_FORMAT,
            "method": f"scorecard {method}",
            "scale": self.scale,
            "seed": seed,
            "config": config,
            "device": str(self.device),
            "code": cmp.code_version(files),
        }
        return cmp.cached_result(key, self.use_cache, train)

    def comparison(self, kind: str) -> cmp.Comparison:
        """``compare(kind)`` over the seeds (all seven methods)."""
        return self._memoised(
            ("compare", kind),
            lambda: cmp.compare(kind, self.seeds, scale=self.scale, progress=False, device=self.device),
        )

    def piggyback(self, seed: int, **overrides) -> dict:
        """Notebook 02's experiment (backbone pretrained on digits 0-4, four transfer tasks); baselines if plain."""
        from . import piggyback as pb

        config = pb.default_config(self.scale, **overrides)
        baselines = not overrides

        def train():
            exp = pb.run_experiment(
                "digits", "split", None, config, self.scale, self.device, seed, baselines=baselines, progress=False
            )
            res = exp.piggyback
            return {
                "acc_matrix": torch.from_numpy(res.acc_matrix),
                "tasks": list(res.task_names),
                "sparsity": {t: dict(s) for t, s in res.sparsity.items()},
                "overall_sparsity": dict(res.overall_sparsity),
                "unchanged": {t: bool(v) for t, v in res.unchanged_since_learned().items()},
                "classifier_only": dict(exp.classifier_only or {}),
                "finetune": dict(exp.finetune or {}),
            }

        return self._memoised(
            ("piggyback", seed, tuple(sorted(overrides.items()))),
            lambda: self._cached("piggyback", asdict(config), seed, _PIGGYBACK_FILES, train),
        )

    def roaming(self, seed: int, single_task: bool = False, **overrides) -> dict:
        """One multi-task run on the digit attribute tasks (notebook 03's config for the scale, with ``overrides``)."""
        from . import roaming as mr

        config = mr.default_config(self.scale, **overrides)

        def train():
            data = mr.load_attribute_tasks("digits")
            runner = mr.run_single_task if single_task else mr.run_roaming
            result = runner(data, config, seed=seed, device=self.device, progress=False)
            return {"mean_f1": float(result.mean_f1), "bytes_per_task": int(result.bytes_per_task)}

        method = "single-task" if single_task else "roaming"
        return self._memoised(
            (method, seed, tuple(sorted(overrides.items()))),
            lambda: self._cached(method, asdict(config), seed, cmp.ROAMING_FILES, train),
        )

    def toy(self, seed: int, **overrides) -> dict:
        """The hypernetwork paper's toy regression (Fig. 2) at the *paper's* settings, with ``overrides``."""
        from . import hypernet as hn

        config = hn.toy_config("paper", **{"beta": 0.005, "lookahead": True, **overrides})
        if self.scale == "smoke":
            config = dataclasses.replace(config, iterations=200)

        def train():
            return {"mse": torch.from_numpy(hn.train_toy_regression(config, seed=seed).mse)}

        return self._memoised(
            ("toy", seed, tuple(sorted(overrides.items()))),
            lambda: self._cached("toy regression", asdict(config), seed, _HYPERNET_FILES, train),
        )

    def chunked(self, seed: int) -> dict:
        """A chunked hypernetwork (trunk 10-10, chunks of 1000) on compare's permuted stream and budget."""
        from . import hypernet as hn

        cfg = cmp.compare_config(self.scale)
        config = dataclasses.replace(
            cmp.method_configs(self.scale, cfg, piggyback=False)["hypernet"],
            chunk_size=1000,
            chunk_emb_dim=16,
            hnet_hidden=(10, 10),
        )

        def train():
            stream = cmp.build_stream("permuted", cfg, seed)
            result = hn.train_hypernet(stream, config, device=self.device, seed=seed, progress=False)
            return {"acc_matrix": torch.from_numpy(result.acc_matrix), "ratio": float(result.compression_ratio)}

        return self._memoised(
            ("chunked", seed),
            lambda: self._cached(
                "chunked hypernet", {"hnet": asdict(config), **asdict(cfg)}, seed, _HYPERNET_FILES, train
            ),
        )


# ----------------------------------------------------------------------------------------------
# The claims
# ----------------------------------------------------------------------------------------------


def _pb_no_forgetting(ctx: Context) -> Result:
    runs = [ctx.piggyback(s) for s in ctx.seeds]
    same = sum(all(r["unchanged"].values()) for r in runs)
    bwt = [summarize(r["acc_matrix"].numpy())["bwt"] for r in runs]
    holds = same == len(runs) and all(b == 0.0 for b in bwt)
    return Result(
        f"test logits bit-identical after all tasks in {same}/{len(runs)} seeds; BWT {_pm(bwt)}",
        holds,
        {"bwt": bwt, "identical_seeds": same},
    )


def _pb_accuracy(ctx: Context, pb: dict) -> list[float]:
    return [float(v) for v in pb["acc_matrix"].numpy()[-1]]


def _pb_near_finetune(ctx: Context) -> Result:
    gaps = []
    for s in ctx.seeds:
        r = ctx.piggyback(s)
        gaps.append(np.mean([r["finetune"][t] for t in r["tasks"]]) - np.mean(_pb_accuracy(ctx, r)))
    mean, _ = _mean_std(gaps)
    return Result(f"fine-tuning − Piggyback = {_pm(gaps)} (mean over the 4 tasks)", bool(mean <= 0.03), {"gap": gaps})


def _pb_above_classifier(ctx: Context) -> Result:
    gains = []
    for s in ctx.seeds:
        r = ctx.piggyback(s)
        gains.append(np.mean(_pb_accuracy(ctx, r)) - np.mean([r["classifier_only"][t] for t in r["tasks"]]))
    mean, _ = _mean_std(gains)
    return Result(f"Piggyback − classifier only = {_pm(gains)}", bool(mean >= 0.10), {"gain": gains})


def _pb_sparsity_shift(ctx: Context) -> Result:
    first, last = [], []
    for s in ctx.seeds:
        r = ctx.piggyback(s)
        first.append(r["overall_sparsity"][r["tasks"][0]])
        last.append(r["overall_sparsity"][r["tasks"][-1]])
    order = ctx.piggyback(ctx.seeds[0])["tasks"]
    holds = _mean_std(last)[0] > _mean_std(first)[0] and all(b > a for a, b in zip(first, last))
    return Result(
        f"zeros: {_pm(first)} ({order[0]}) → {_pm(last)} ({order[-1]}); higher in "
        f"{sum(b > a for a, b in zip(first, last))}/{len(first)} seeds",
        holds,
        {"least_shift": first, "most_shift": last},
    )


def _pb_sparsity_depth(ctx: Context) -> Result:
    shallow, deep = [], []
    for s in ctx.seeds:
        r = ctx.piggyback(s)
        layers = list(r["sparsity"][r["tasks"][0]])
        shallow.append(np.mean([r["sparsity"][t][layers[0]] for t in r["tasks"]]))
        deep.append(np.mean([r["sparsity"][t][layers[-1]] for t in r["tasks"]]))
    holds = all(b > a for a, b in zip(shallow, deep))
    return Result(
        f"zeros in the first masked layer {_pm(shallow)}, in the last {_pm(deep)} (mean over tasks)",
        holds,
        {"first_layer": shallow, "last_layer": deep},
    )


def _overall(r: dict) -> float:
    return float(np.mean(list(r["overall_sparsity"].values())))


def _pb_sparsity_tau(ctx: Context) -> Result:
    low = [_overall(ctx.piggyback(s, threshold=2e-3)) for s in ctx.seeds]
    high = [_overall(ctx.piggyback(s, threshold=8e-3)) for s in ctx.seeds]
    holds = all(b > a for a, b in zip(low, high))
    return Result(
        f"zeros at τ = 2e-3: {_pm(low)}; at τ = 8e-3: {_pm(high)}", holds, {"tau_2e-3": low, "tau_8e-3": high}
    )


def _mean_final(r: dict) -> float:
    return float(np.mean(r["acc_matrix"].numpy()[-1]))


def _pb_random_init(ctx: Context) -> Result:
    const = [_mean_final(ctx.piggyback(s)) for s in ctx.seeds]
    rand = [_mean_final(ctx.piggyback(s, init_mode="random")) for s in ctx.seeds]
    drop = [a - b for a, b in zip(const, rand)]
    return Result(
        f"ACC {_pm(const)} (all-ones start) vs {_pm(rand)} (random, half zeros)",
        bool(_mean_std(drop)[0] >= 0.05),
        {"constant": const, "random": rand},
    )


def _pb_task_bn(ctx: Context) -> Result:
    gains = []
    for s in ctx.seeds:
        plain, bn = ctx.piggyback(s), ctx.piggyback(s, task_bn=True)
        shifted = range(1, len(plain["tasks"]))  # rotated, inverted, permuted: the tasks with a domain shift
        final_plain, final_bn = plain["acc_matrix"].numpy()[-1], bn["acc_matrix"].numpy()[-1]
        gains.append(float(np.mean([final_bn[j] - final_plain[j] for j in shifted])))
    return Result(
        f"task-specific BN − frozen BN on the shifted tasks: {_pm(gains)}",
        bool(_mean_std(gains)[0] >= 0.01),
        {"gain": gains},
    )


def _pb_ternary(ctx: Context) -> Result:
    binary = [_mean_final(ctx.piggyback(s)) for s in ctx.seeds]
    ternary = [_mean_final(ctx.piggyback(s, ternary=True)) for s in ctx.seeds]
    diff = [b - a for a, b in zip(binary, ternary)]
    return Result(
        f"ACC binary {_pm(binary)}, ternary {_pm(ternary)} (difference {_pm(diff)})",
        bool(abs(_mean_std(diff)[0]) <= 0.02),
        {"binary": binary, "ternary": ternary},
    )


def _lemma1(ctx: Context) -> Result:
    from ..roaming import RoamingPartition, units_per_task

    layouts = [
        (S, T, p) for S in (8, 16, 33) for T in (2, 3, 5) for p in (0.4, 0.6, 0.8) if units_per_task(S, p) * T >= S
    ]
    failures = []
    for seed in ctx.seeds:
        for S, T, p in layouts:
            part = RoamingPartition(S, T, p, seed=seed)
            active = part.mask.sum(0).copy()
            steps = 0
            while part.step():
                steps += 1
                visited = part.visited.sum(0)
                if not (part.mask.sum(0) == active).all():
                    failures.append(f"S={S} T={T} p={p}: active count changed")
                if not (visited == active + steps).all():
                    failures.append(f"S={S} T={T} p={p}: B_t did not grow by one")
            if steps != S - units_per_task(S, p) or not part.visited.all():
                failures.append(f"S={S} T={T} p={p}: {steps} updates, expected {S - units_per_task(S, p)}")
    n = len(layouts) * len(ctx.seeds)
    text = f"{n} partitions (S in 8, 16, 33; T in 2, 3, 5; p in 0.4, 0.6, 0.8; per seed): {len(failures)} failures"
    return Result(text, not failures, {"failures": failures[:10], "partitions": n})


def _roaming_f1(ctx: Context, **overrides) -> list[float]:
    return [ctx.roaming(s, **overrides)["mean_f1"] for s in ctx.seeds]


def _better(label_a: str, a: list[float], label_b: str, b: list[float]) -> Result:
    """``a`` beats ``b`` when the mean per-seed difference exceeds two standard errors (a clear difference)."""
    diff = [x - y for x, y in zip(a, b)]
    mean, std = _mean_std(diff)
    se = std / np.sqrt(len(diff))
    return Result(
        f"mean F-score {label_a} {_pm(a)}, {label_b} {_pm(b)} (difference {mean:+.3f}, standard error {se:.3f})",
        bool(mean > 2 * se),
        {label_a: a, label_b: b},
    )


def _mr_vs_fixed(ctx: Context) -> Result:
    return _better("roaming", _roaming_f1(ctx), "fixed", _roaming_f1(ctx, roaming=False))


def _mr_vs_full(ctx: Context) -> Result:
    return _better("roaming", _roaming_f1(ctx), "full sharing", _roaming_f1(ctx, sharing_ratio=1.0))


def _mr_delta(ctx: Context) -> Result:
    from . import roaming as mr

    default = mr.default_config(ctx.scale).update_interval
    large = max(4 * default, 2)
    return _better(
        f"Δ = {large}", _roaming_f1(ctx, update_interval=large), "Δ = 1", _roaming_f1(ctx, update_interval=1)
    )


def _mr_random_vs_cosine(ctx: Context) -> Result:
    return _better("random", _roaming_f1(ctx), "cosine", _roaming_f1(ctx, selection="cosine"))


def _toy_mse(ctx: Context) -> Result:
    finals = np.array([ctx.toy(s)["mse"].numpy()[-1] for s in ctx.seeds])  # (seeds, 3)
    per_task = " / ".join(_pm(finals[:, t], 4) for t in range(finals.shape[1]))
    worst = float(finals.max())
    return Result(
        f"final MSE per task {per_task}; worst {worst:.4f}", bool(worst <= 0.01), {"final_mse": finals.tolist()}
    )


def _toy_beta0(ctx: Context) -> Result:
    kept = [float(ctx.toy(s)["mse"].numpy()[-1, 0]) for s in ctx.seeds]
    forgot = [float(ctx.toy(s, beta=0.0)["mse"].numpy()[-1, 0]) for s in ctx.seeds]
    holds = all(f > 10 * k for k, f in zip(kept, forgot))
    return Result(f"task 0's final MSE: β = 0 {_pm(forgot, 4)}, β = 0.005 {_pm(kept, 4)}", holds, {"beta0": forgot})


def _metric(ctx: Context, kind: str, method: str, key: str) -> list[float]:
    return [summarize(R)[key] for R in ctx.comparison(kind).methods[method].acc_matrices]


def _tasks(ctx: Context, kind: str) -> str:
    return f"{len(ctx.comparison(kind).task_names)} {kind}-digit tasks"


def _hn_permuted(ctx: Context) -> Result:
    forgetting = _metric(ctx, "permuted", "hypernet", "forgetting")
    acc = _metric(ctx, "permuted", "hypernet", "avg_acc")
    return Result(
        f"forgetting {_pm(forgetting)}, ACC {_pm(acc)} ({_tasks(ctx, 'permuted')})",
        bool(_mean_std(forgetting)[0] <= 0.01),
        {"forgetting": forgetting, "avg_acc": acc},
    )


def _hn_split(ctx: Context) -> Result:
    acc = _metric(ctx, "split", "hypernet", "avg_acc")
    return Result(f"ACC {_pm(acc)}", bool(_mean_std(acc)[0] >= 0.97), {"avg_acc": acc})


def _hn_chunked(ctx: Context) -> Result:
    runs = [ctx.chunked(s) for s in ctx.seeds]
    ratio = [r["ratio"] for r in runs]
    chunked = [summarize(r["acc_matrix"].numpy())["avg_acc"] for r in runs]
    full = _metric(ctx, "permuted", "hypernet", "avg_acc")
    loss = [a - b for a, b in zip(full, chunked)]
    holds = max(ratio) < 1 and _mean_std(loss)[0] <= 0.02
    return Result(
        f"ratio {_pm(ratio)}; ACC chunked {_pm(chunked)} vs full {_pm(full)} (loss {_pm(loss)})",
        bool(holds),
        {"ratio": ratio, "chunked": chunked, "full": full},
    )


def _hn_entropy(ctx: Context) -> Result:
    acc = _metric(ctx, "split", "hypernet_ent", "avg_acc")
    return Result(
        f"ACC {_pm(acc)} (digit named among 10; task inferred by entropy)",
        bool(abs(_mean_std(acc)[0] - 0.695) <= 0.05),
        {"avg_acc": acc},
    )


def _ft_forgets(ctx: Context) -> Result:
    f = _metric(ctx, "permuted", "finetune", "forgetting")
    return Result(f"forgetting {_pm(f)} ({_tasks(ctx, 'permuted')})", bool(_mean_std(f)[0] >= 0.2), {"forgetting": f})


def _less_than_finetune(ctx: Context, method: str) -> Result:
    ft = _metric(ctx, "permuted", "finetune", "forgetting")
    own = _metric(ctx, "permuted", method, "forgetting")
    acc_ft, acc = _metric(ctx, "permuted", "finetune", "avg_acc"), _metric(ctx, "permuted", method, "avg_acc")
    holds = _mean_std(own)[0] < _mean_std(ft)[0] - 0.1 and _mean_std(acc)[0] > _mean_std(acc_ft)[0]
    return Result(
        f"forgetting {_pm(own)} vs fine-tuning {_pm(ft)}; ACC {_pm(acc)} vs {_pm(acc_ft)}",
        bool(holds),
        {"forgetting": own, "finetune_forgetting": ft},
    )


def _joint_top(ctx: Context) -> Result:
    parts, holds = [], True
    for kind in ("permuted", "split"):
        methods = ctx.comparison(kind).methods
        means = {m: _mean_std(_metric(ctx, kind, m, "avg_acc"))[0] for m in methods}
        best = max((m for m in means if m != "joint"), key=means.get)
        holds &= means["joint"] >= means[best] - 0.01
        parts.append(f"{kind}: joint {means['joint']:.3f}, best other {cmp.LABELS[best]} {means[best]:.3f}")
    return Result("; ".join(parts), bool(holds))


_CLEAR = "> 0 by more than two standard errors of the per-seed difference"
_NO_DATA = "needs {what}, which this machine does not have (no internet to download it)"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "pb-no-forgetting",
        PIGGYBACK,
        "Old tasks are untouched: no forgetting at all",
        "a stored mask never changes, so an old task's network is exactly what it was",
        "after all 4 transfer tasks, each task's test logits equal those right after it was learned (bit for bit); "
        "BWT = 0 exactly, in every seed",
        _pb_no_forgetting,
    ),
    Claim(
        "pb-near-finetune",
        PIGGYBACK,
        "Accuracy close to fine-tuning a whole network per task",
        "ResNet-50 top-1 error: CUBS 18.23, Cars 10.19, Flowers 4.77, WikiArt 28.57, Sketch 19.75 % (authors' "
        "README), close to individual fine-tuned networks",
        "mean accuracy of fine-tuning a copy of the backbone per task minus Piggyback's ≤ 0.03",
        _pb_near_finetune,
    ),
    Claim(
        "pb-above-classifier",
        PIGGYBACK,
        "Far above training the classifier only",
        "the 'classifier only' baseline is far worse on every dataset",
        "Piggyback's mean accuracy minus a new head on the frozen backbone ≥ 0.10",
        _pb_above_classifier,
    ),
    Claim(
        "pb-sparsity-shift",
        PIGGYBACK,
        "Masks get sparser as the domain shift grows",
        "VGG-16: 4.51 % zeros (Flowers) … 34.14 % (WikiArt)",
        "fraction of zeros of the most shifted task (permuted pixels) > the least shifted (new digit classes), in "
        "every seed",
        _pb_sparsity_shift,
    ),
    Claim(
        "pb-sparsity-depth",
        PIGGYBACK,
        "Deeper layers are masked more",
        "Fig. 3: per-layer sparsity grows with depth",
        "zeros in the last masked layer > in the first (mean over tasks), in every seed",
        _pb_sparsity_depth,
    ),
    Claim(
        "pb-sparsity-tau",
        PIGGYBACK,
        "A larger threshold τ in training gives sparser masks",
        "sparsity grows with τ",
        "mean fraction of zeros with τ = 8e-3 > with τ = 2e-3 (scores start at 1e-2), in every seed",
        _pb_sparsity_tau,
    ),
    Claim(
        "pb-random-init",
        PIGGYBACK,
        "Starting from a random mask trains badly",
        "random initialisation (half the weights masked) performs worse than starting from all ones",
        "ACC from the all-ones start minus ACC from a random start (scores uniform in [0, 2τ]) ≥ 0.05",
        _pb_random_init,
    ),
    Claim(
        "pb-task-bn",
        PIGGYBACK,
        "Task-specific batch norm helps under domain shift",
        "Section 5.3: learning BN parameters per task improves the shifted datasets (~1 MB per task on ResNet-50)",
        "accuracy with a private BN per task minus with the frozen backbone BN, on the 3 shifted tasks, ≥ 0.01",
        _pb_task_bn,
    ),
    Claim(
        "pb-ternary",
        PIGGYBACK,
        "Ternary masks {-1, 0, 1} bring no significant gain",
        "no significant gain over binary masks",
        "|ACC ternary − ACC binary| ≤ 0.02",
        _pb_ternary,
    ),
    Claim(
        "pb-imagenet",
        PIGGYBACK,
        "The headline numbers on the fine-grained datasets",
        "ResNet-50 top-1 error CUBS 18.23, Cars 10.19, Flowers 4.77, WikiArt 28.57, Sketch 19.75 %",
        _NO_DATA.format(what="ImageNet weights for ResNet-50 and the CUBS, Cars, Flowers, WikiArt and Sketch sets"),
    ),
    Claim(
        "mr-lemma1",
        ROAMING,
        "Lemma 1: roaming keeps each task's size, visits one new unit per update, covers all after (1 − p)·S",
        "proved in the paper",
        "RoamingPartition: active units per task constant, |B_t| grows by exactly 1 per update, every unit visited "
        "after exactly S − ⌈p·S⌉ updates, for every valid layout with S ∈ {8, 16, 33}, T ∈ {2, 3, 5}, "
        "p ∈ {0.4, 0.6, 0.8}, per seed",
        _lemma1,
    ),
    Claim(
        "mr-vs-fixed",
        ROAMING,
        "Roaming beats fixed partitions (task routing)",
        "CelebA: Maximum Roaming's F-score above task routing's",
        "mean F-score on the digit attribute tasks: roaming − fixed partitions (same p, same masks at the start) "
        f"{_CLEAR}",
        _mr_vs_fixed,
    ),
    Claim(
        "mr-vs-full",
        ROAMING,
        "Roaming beats full sharing",
        "CelebA: Maximum Roaming above the multi-task baselines, full sharing included",
        f"mean F-score: roaming − full sharing (p = 1) {_CLEAR}",
        _mr_vs_full,
    ),
    Claim(
        "mr-delta",
        ROAMING,
        "Updating too often hurts: the F-score grows with Δ above a small value",
        "F-score grows with Δ (and with r(c)) above a small value",
        f"mean F-score with Δ = 4 × the default interval − with Δ = 1 iteration {_CLEAR}",
        _mr_delta,
    ),
    Claim(
        "mr-random-vs-cosine",
        ROAMING,
        "Random selection beats the deterministic cosine selection",
        "random selection wins late in training",
        f"mean F-score: random − cosine-similarity selection {_CLEAR}",
        _mr_random_vs_cosine,
    ),
    Claim(
        "mr-celeba",
        ROAMING,
        "The CelebA numbers (40 attributes in 8 groups, ResNet-18)",
        "the paper's F-scores on CelebA at 64×64, 40 epochs",
        _NO_DATA.format(what="CelebA and a GPU for 40 epochs of ResNet-18"),
    ),
    Claim(
        "hn-toy-mse",
        HYPERNET,
        "Toy regression: all three functions kept (Fig. 2)",
        "final test MSE ≈ 0.0042 / 0.0024 / 0.0061 with β = 0.005, look-ahead, 4001 iterations per task",
        "at the paper's settings (1-10-10-1 sigmoid target, hypernet 10-10, 2-d embeddings, Adam 1e-2, batch 32, "
        "4001 iterations, β = 0.005, look-ahead): final MSE ≤ 0.01 on every task, mean over seeds",
        _toy_mse,
    ),
    Claim(
        "hn-toy-beta0",
        HYPERNET,
        "Without the regulariser (β = 0) the toy's first task is forgotten",
        "β = 0 is fine-tuning and forgets",
        "task 0's final MSE with β = 0 > 10 × with β = 0.005, in every seed",
        _toy_beta0,
    ),
    Claim(
        "hn-permuted",
        HYPERNET,
        "Near-zero forgetting on permuted tasks (task id given)",
        "PermutedMNIST-10, CL1: ≈ 97.6 % average accuracy (approximate, as quoted elsewhere)",
        "forgetting ≤ 0.01 on 5 permuted-digit tasks (compare's protocol; MNIST-10 itself needs MNIST)",
        _hn_permuted,
    ),
    Claim(
        "hn-split",
        HYPERNET,
        "Near-perfect split tasks with the task id given",
        "SplitMNIST, CL1: ≈ 99.8 % (approximate)",
        "ACC ≥ 0.97 on 5 split-digit tasks",
        _hn_split,
    ),
    Claim(
        "hn-chunked",
        HYPERNET,
        "A chunked hypernetwork compresses (ratio < 1) without losing accuracy",
        "PermutedMNIST-10: compression ratio ≈ 0.955 at about the same accuracy",
        "chunked (trunk 10-10, chunks of 1000): ratio < 1 and ACC within 0.02 of the full hypernetwork, same stream "
        "and budget",
        _hn_chunked,
    ),
    Claim(
        "hn-entropy",
        HYPERNET,
        "Entropy task inference on split tasks (no task id)",
        "SplitMNIST, CL3 with HNET+ENT: ≈ 69.5 % (approximate)",
        "ACC of entropy inference on 5 split-digit tasks within 0.05 of 0.695",
        _hn_entropy,
    ),
    Claim(
        "bl-finetune-forgets",
        BASELINES,
        "Fine-tuning forgets catastrophically on permuted tasks",
        "accuracy on old permuted tasks collapses without protection",
        "fine-tuning's forgetting ≥ 0.2 on 5 permuted-digit tasks",
        _ft_forgets,
    ),
    Claim(
        "bl-ewc",
        BASELINES,
        "EWC reduces forgetting (Kirkpatrick et al. 2017)",
        "EWC keeps old permuted-MNIST tasks where SGD forgets them",
        "online EWC's forgetting < fine-tuning's − 0.1 and a higher ACC, 5 permuted-digit tasks",
        lambda ctx: _less_than_finetune(ctx, "ewc"),
    ),
    Claim(
        "bl-si",
        BASELINES,
        "SI reduces forgetting (Zenke et al. 2017)",
        "SI keeps old permuted-MNIST tasks close to EWC's level",
        "SI's forgetting < fine-tuning's − 0.1 and a higher ACC, 5 permuted-digit tasks",
        lambda ctx: _less_than_finetune(ctx, "si"),
    ),
    Claim(
        "bl-joint-top",
        BASELINES,
        "Joint training is the upper bound",
        "training on all data so far bounds what continual methods reach",
        "joint's ACC ≥ every other method's − 0.01, on permuted and split digits",
        _joint_top,
    ),
)


# ----------------------------------------------------------------------------------------------
# Running and writing
# ----------------------------------------------------------------------------------------------


def check_claims(ids: Sequence[str] | None) -> tuple[str, ...]:
    """The claim ids to run (all when None); an unknown id is a ConfigError listing the known ones."""
    known = [c.id for c in CLAIMS]
    if ids is None:
        return tuple(known)
    if isinstance(ids, str) or not isinstance(ids, Sequence) or len(ids) == 0:
        raise ConfigError(f"claims must be a non-empty list of claim ids, got {ids!r}; see --list")
    for claim_id in ids:
        if claim_id not in known:
            raise ConfigError(f"unknown claim {claim_id!r}; choose from: {', '.join(known)}")
    return tuple(c for c in known if c in ids)


def run_scorecard(
    claims: Sequence[str] | None = None,
    scale: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    device=None,
    progress: bool | None = None,
    use_cache: bool = True,
) -> dict:
    """Run the selected claims; returns the JSON-ready scorecard (every claim listed, unselected ones 'not run')."""
    selected = check_claims(claims)
    seeds = cmp.check_seeds(list(seeds))
    scale = get_scale(scale)
    device = get_device(device)
    show = progress_enabled(scale) if progress is None else progress
    ctx = Context(scale, seeds, device, use_cache)
    start = time.perf_counter()
    rows = []
    bar = tqdm(total=len(selected), desc="scorecard", disable=not show)
    for claim in CLAIMS:
        row = {k: getattr(claim, k) for k in ("id", "paper", "claim", "paper_says", "test")}
        if claim.id not in selected:
            rows.append({**row, "measured": "", "verdict": "not run", "seconds": 0.0})
            continue
        bar.set_postfix(claim=claim.id)
        t0 = time.perf_counter()
        if claim.measure is None:
            rows.append({**row, "measured": "", "verdict": "not testable here", "seconds": 0.0})
        else:
            result = claim.measure(ctx)
            verdict = "reproduces" if result.holds else "does not reproduce at this scale"
            rows.append(
                {
                    **row,
                    "measured": result.measured,
                    "verdict": verdict,
                    "numbers": result.numbers,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
        bar.update(1)
    bar.close()
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    return {
        "scale": scale,
        "seeds": list(seeds),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "seconds": round(time.perf_counter() - start, 1),
        "counts": counts,
        "claims": rows,
    }


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(card: dict, command: str) -> str:
    """One markdown table, one row per claim, with the command, the date and the setting above it."""
    counts = ", ".join(f"{n} {v}" for v, n in card["counts"].items() if n)
    lines = [
        "# Reproduction scorecard",
        "",
        f"Generated by `{command}` on {card['date']}: scale `{card['scale']}`, seeds "
        f"{', '.join(map(str, card['seeds']))}, device {card['device']} ({card['threads']} thread(s)), torch "
        f"{card['torch']}; {card['seconds'] / 60:.1f} min (runs already in `$CLTK_CACHE` are read back, not timed).",
        "",
        f"**{counts}.** Each row is one claim of a paper, the kit's test of it (the criterion is on the mean over the "
        'seeds; "in every seed" where it says so), what was measured (mean ± sample standard deviation over the '
        "seeds) and the verdict: *reproduces*, *does not reproduce at this scale* (the embedded 8×8 digits and small "
        "networks, not the papers' datasets), or *not testable here* (and why). The code is "
        "`cltoolkit/experiments/scorecard.py`; notebook 05 puts the methods side by side.",
        "",
        "| # | paper | claim | the paper's number or statement | the kit's test | measured | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, row in enumerate(card["claims"], 1):
        measured = row["measured"] or ("—" if row["verdict"] == "not run" else row["test"])
        test = row["test"] if row["verdict"] != "not testable here" else "—"
        lines.append(
            f"| {k} | {_cell(row['paper'])} | {_cell(row['claim'])} | {_cell(row['paper_says'])} | {_cell(test)} | "
            f"{_cell(measured)} | **{row['verdict']}** |"
        )
    return "\n".join(lines) + "\n"


def format_card(card: dict) -> str:
    """A short plain-text summary for the terminal: one line per claim run."""
    lines = [f"scorecard at scale {card['scale']}, seeds {card['seeds']} ({card['seconds']:.0f} s)"]
    for row in card["claims"]:
        if row["verdict"] != "not run":
            lines.append(f"{row['id']:<22} {row['verdict']:<34} {row['measured']}")
    lines.append(", ".join(f"{n} {v}" for v, n in card["counts"].items() if n))
    return "\n".join(lines)


def run_from_args(args: argparse.Namespace) -> dict:
    """``python -m cltoolkit scorecard``: run the claims with the flags given; the JSON-ready card."""
    return run_scorecard(
        args.claims, args.scale, args.seeds, args.device, progress=False if args.quiet else None, use_cache=True
    )
