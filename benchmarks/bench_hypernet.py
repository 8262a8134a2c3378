"""How much does generating the weights cost? Ratios measured in one run.

1. One training step of hypernetwork + target vs training the same target MLP directly (same sizes, same
   batch): without the regulariser, and with the output regulariser over 10 old tasks (full and chunked).
2. The embedding landscape: time to evaluate a grid of G points (batched through the hypernetwork, one
   vmapped target forward per batch) vs G, and vs a Python loop over the points.

Run: ``python benchmarks/bench_hypernet.py`` (about 15-40 s on 2 CPU cores). Prints a table; ``--json PATH``
also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from cltoolkit.hypernet import HyperNetwork, TargetMLP
from cltoolkit.widgets.hypernet import landscape_grid

IN, HIDDEN, OUT, BATCH = 64, (100, 100), 10, 32


def timed(fn, repeats: int, warmup: int = 3) -> float:
    """Median seconds per call over ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def direct_step(x, y):
    net = nn.Sequential(nn.Linear(IN, HIDDEN[0]), nn.ReLU(), nn.Linear(*HIDDEN), nn.ReLU(), nn.Linear(HIDDEN[1], OUT))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def hypernet_step(x, y, old_tasks: int, chunk_size: int | None):
    target = TargetMLP(IN, HIDDEN, OUT)
    hidden = (10, 10) if chunk_size else (50, 50)
    hnet = HyperNetwork(target.target_shapes, old_tasks + 1, emb_dim=16, hidden=hidden, chunk_size=chunk_size)
    current = old_tasks
    params = [p for n, p in hnet.named_parameters() if not n.startswith("task_embeddings.")]
    opt = torch.optim.Adam([*params, hnet.embedding(current)], lr=1e-3)
    targets = hnet.store_targets(range(old_tasks))

    def step():
        loss = F.cross_entropy(target(x, hnet(current)), y)
        if old_tasks:
            loss = loss + hnet.output_regularizer(targets, beta=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, hnet


def landscape_times(points_list, examples: int = 200, repeats: int = 3):
    torch.manual_seed(0)
    target = TargetMLP(IN, HIDDEN, OUT)
    hnet = HyperNetwork(target.target_shapes, 3, emb_dim=2, hidden=(50, 50), init_std=target.init_std())
    x, y = torch.rand(examples, IN), torch.randint(0, OUT, (examples,))
    rows = []
    for points in points_list:
        resolution = int(round(points**0.5))
        seconds = timed(lambda r=resolution: landscape_grid(hnet, target, x, y, (-3, 3, -3, 3), r), repeats, 1)
        rows.append((resolution * resolution, seconds))

    # the same grid point by point, for the speed-up of batching
    resolution = int(round(points_list[0] ** 0.5))
    grid = torch.stack(
        torch.meshgrid(torch.linspace(-3, 3, resolution), torch.linspace(-3, 3, resolution), indexing="ij")
    )
    points = grid.reshape(2, -1).T

    @torch.no_grad()
    def loop():
        return [(target(x, hnet(p)).argmax(1) == y).float().mean() for p in points]

    loop_seconds = timed(loop, repeats, 1)
    return rows, (len(points), loop_seconds)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = torch.rand(BATCH, IN), torch.randint(0, OUT, (BATCH,))

    base = timed(direct_step(x, y), args.repeats)
    results = {"direct_step_ms": base * 1e3, "steps": {}}
    print(f"target MLP {IN}-{'-'.join(map(str, HIDDEN))}-{OUT}, batch {BATCH}, 1 thread")
    print(f"{'training step':<46} {'ms':>8} {'x direct':>9} {'ratio':>7}")
    print(f"{'target trained directly':<46} {base * 1e3:8.3f} {1.0:9.2f} {'':>7}")
    for label, old, chunk in (
        ("hypernet (full 50-50), no regulariser", 0, None),
        ("hypernet (full 50-50), regulariser, 10 old", 10, None),
        ("hypernet (chunked 10-10, 1000), no regulariser", 0, 1000),
        ("hypernet (chunked 10-10, 1000), reg., 10 old", 10, 1000),
    ):
        step, hnet = hypernet_step(x, y, old, chunk)
        seconds = timed(step, args.repeats)
        ratio = hnet.compression_ratio()
        results["steps"][label] = {"ms": seconds * 1e3, "vs_direct": seconds / base, "compression_ratio": ratio}
        print(f"{label:<46} {seconds * 1e3:8.3f} {seconds / base:9.2f} {ratio:7.2f}")

    rows, (loop_points, loop_seconds) = landscape_times([400, 1600, 6400])
    results["landscape"] = [{"points": p, "seconds": s, "ms_per_point": s / p * 1e3} for p, s in rows]
    print(f"\nlandscape grid, 200 test examples {'points':>10} {'s':>8} {'ms/point':>9} {'x first':>8}")
    for p, s in rows:
        print(f"{'':<33} {p:10d} {s:8.3f} {s / p * 1e3:9.3f} {s / rows[0][1]:8.2f}")
    batched_first = rows[0][1]
    results["landscape_loop"] = {
        "points": loop_points,
        "seconds": loop_seconds,
        "speedup": loop_seconds / batched_first,
    }
    print(
        f"{'python loop over points':<33} {loop_points:10d} {loop_seconds:8.3f} {loop_seconds / loop_points * 1e3:9.3f}"
        f"   batched is {loop_seconds / batched_first:.1f}x faster"
    )
    # with few test examples the per-point overhead (not the target's arithmetic) dominates
    small_rows, (_, small_loop) = landscape_times([400], examples=20)
    results["landscape_loop_20_examples"] = {"batched": small_rows[0][1], "loop": small_loop}
    print(
        f"{'same grid, 20 test examples':<33} {400:10d} batched {small_rows[0][1]:.3f} s, loop {small_loop:.3f} s"
        f"   batched is {small_loop / small_rows[0][1]:.1f}x faster"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
