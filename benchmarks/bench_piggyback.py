"""Cost of Piggyback's masked layers relative to plain layers of the same shapes, measured in one run.

    python benchmarks/bench_piggyback.py            # about 30 s on one CPU core
    python benchmarks/bench_piggyback.py --device cuda

Three ratios per layer (median time of the masked variant / median time of the plain layer):

- ``train step``: forward + backward of ``MaskedLinear`` / ``MaskedConv2d`` (gradient to the mask scores)
  vs ``nn.Linear`` / ``nn.Conv2d`` (gradient to the weight). Target: <= 1.3x.
- ``inference, mask applied once``: the mask multiplied into the weights once
  (``cltoolkit.experiments.piggyback.plain_layer``), then a plain forward. Target: ~1.0x.
- ``inference, mask on the fly``: the masked layer's own forward under ``no_grad`` (for reference).

The extra work of a masked training step is a few passes over the *weights* (threshold, multiply, and
``grad * W`` in the backward), independent of the batch size, so its relative cost is largest for big
linear layers at small batches and close to nothing for convolutions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from cltoolkit.experiments.piggyback import plain_layer
from cltoolkit.piggyback import MaskedConv2d, MaskedLinear


def _time_pair(fn_a, fn_b, device: torch.device, repeats: int, inner: int) -> tuple[float, float]:
    """Median seconds per call of ``fn_a`` and ``fn_b``, measured alternately (a shared machine drifts)."""
    fn_a(), fn_b()  # warm-up
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) / inner)
    return statistics.median(times_a), statistics.median(times_b)


def _train_step(layer: nn.Module, x: torch.Tensor):
    def step():
        layer.zero_grad(set_to_none=True)
        layer(x).square().mean().backward()

    return step


def _infer(layer: nn.Module, x: torch.Tensor):
    def forward():
        with torch.no_grad():
            layer(x)

    return forward


def cases(device: torch.device):
    torch.manual_seed(0)
    yield "Linear 1024->1024, batch 128", nn.Linear(1024, 1024), torch.randn(128, 1024)
    yield "Linear 1024->1024, batch 512", nn.Linear(1024, 1024), torch.randn(512, 1024)
    yield "Linear 256->128, batch 32", nn.Linear(256, 128), torch.randn(32, 256)
    yield "Conv2d 64->64 3x3, 32x32, batch 16", nn.Conv2d(64, 64, 3, padding=1), torch.randn(16, 64, 32, 32)
    yield "Conv2d 32->64 3x3, 8x8, batch 32", nn.Conv2d(32, 64, 3, padding=1, bias=False), torch.randn(32, 32, 8, 8)


def run(device: torch.device, repeats: int = 9, inner: int = 8) -> list[dict]:
    rows = []
    for name, plain, x in cases(device):
        plain, x = plain.to(device), x.to(device)
        masked = (MaskedLinear if isinstance(plain, nn.Linear) else MaskedConv2d).from_layer(plain).to(device)
        with torch.no_grad():  # a realistic mask: about a third of the weights off
            masked.mask_scores.copy_(torch.rand_like(masked.mask_scores) * 1.5e-2)
        applied = plain_layer(masked)
        t_plain_train, t_masked_train = _time_pair(
            _train_step(plain, x), _train_step(masked, x), device, repeats, inner
        )
        t_plain_inf, t_applied_inf = _time_pair(_infer(plain, x), _infer(applied, x), device, repeats, inner)
        t_plain_inf2, t_fly_inf = _time_pair(_infer(plain, x), _infer(masked, x), device, repeats, inner)
        rows.append(
            dict(
                layer=name,
                plain_train_ms=1e3 * t_plain_train,
                train_ratio=t_masked_train / t_plain_train,
                plain_infer_ms=1e3 * t_plain_inf,
                applied_ratio=t_applied_inf / t_plain_inf,
                on_the_fly_ratio=t_fly_inf / t_plain_inf2,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, for stable timings)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = run(device)
    print(
        f"Piggyback masked layers vs plain layers on {device} ({torch.get_num_threads()} thread(s), torch "
        f"{torch.__version__}); ratios = masked / plain, medians of 9 alternating rounds of 8 calls"
    )
    header = (
        f"{'layer':<36} {'plain step':>11} {'train step':>11} {'plain infer':>12} {'applied':>8} {'on the fly':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['layer']:<36} {r['plain_train_ms']:9.3f}ms {r['train_ratio']:10.2f}x {r['plain_infer_ms']:10.3f}ms "
            f"{r['applied_ratio']:7.2f}x {r['on_the_fly_ratio']:10.2f}x"
        )


if __name__ == "__main__":
    main()
