"""Cost of Maximum Roaming, as ratios against baselines measured in the same run.

1. One multi-task training step (forward, backward, Adam) with one masked pass per task, against full-sharing
   MTL with a single pass, on the digit attribute tasks (4 tasks, batch 64, RoamingCNN (16, 32)); and the
   authors' rule, one Adam step per task per batch, against one step on the summed losses.
2. ``RoamingPartition.step()`` for a large layer (512 filters x 40 tasks), random and cosine selection,
   against one forward + backward pass of that layer (a 3x3 conv, 512 -> 512 channels, batch 32 at 8x8).

Run: ``python benchmarks/bench_roaming.py`` (under a minute on a CPU). Prints a table; ``--json PATH`` saves it.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cltoolkit import roaming as mr
from cltoolkit.data import attribute_tasks, load_digits
from cltoolkit.experiments.roaming import multitask_step, shared_loss
from cltoolkit.train import make_optimizer


def best_of(fn, repeats: int = 5, number: int = 10) -> float:
    """Seconds per call: the best of ``repeats`` timings of ``number`` calls."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def training_step_costs() -> dict:
    data = attribute_tasks(load_digits())
    x, y = data.x_train[:64], data.y_train[:64]

    def make(full: bool, per_task: bool = False):
        torch.manual_seed(0)
        net = mr.RoamingCNN(1, (16, 32), data.head_sizes)
        net.fully_shared = full
        if not full:
            mr.NetworkPartitions(net, 0.5, seed=0)
        opt = make_optimizer(net.parameters(), "adam", 1e-3)

        def step():
            if not full:
                return multitask_step(net, opt, x, y, data.groups, per_task)
            loss, _ = shared_loss(net, x, y, data.groups)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    shared = best_of(make(True), number=20)
    masked = best_of(make(False), number=20)
    stepwise = best_of(make(False, per_task=True), number=20)
    return {
        "full_sharing_step_s": shared,
        "masked_summed_step_s": masked,
        "masked_step_per_task_s": stepwise,
        "ratio_masked_vs_shared": masked / shared,
        "ratio_step_per_task_vs_summed": stepwise / masked,
    }


def partition_step_costs(num_units: int = 512, num_tasks: int = 40) -> dict:
    conv = torch.nn.Conv2d(num_units, num_units, 3, padding=1, bias=False)
    x = torch.randn(32, num_units, 8, 8)

    def layer_pass():
        conv.zero_grad(set_to_none=True)
        conv(x).sum().backward()

    def stepper(selection: str):
        state = {"part": mr.RoamingPartition(num_units, num_tasks, 0.8, seed=0, selection=selection)}
        filters = conv.weight.detach()

        def step():
            if state["part"].done:
                state["part"] = mr.RoamingPartition(num_units, num_tasks, 0.8, seed=0, selection=selection)
            state["part"].step(filters)

        return step

    layer = best_of(layer_pass, repeats=3, number=3)
    random_step = best_of(stepper("random"), number=20)
    cosine_step = best_of(stepper("cosine"), repeats=3, number=5)
    return {
        "layer_fwd_bwd_s": layer,
        "random_step_s": random_step,
        "cosine_step_s": cosine_step,
        "ratio_random_step_vs_layer_pass": random_step / layer,
        "ratio_cosine_step_vs_layer_pass": cosine_step / layer,
        "ratio_cosine_vs_random": cosine_step / random_step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    results = {"threads": torch.get_num_threads(), **training_step_costs(), **partition_step_costs()}
    results["total_s"] = time.perf_counter() - start
    for key, value in results.items():
        unit = "" if key.startswith(("ratio", "threads")) else " s"
        print(f"{key:>34}: {value:.4g}{unit}" if isinstance(value, float) else f"{key:>34}: {value}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
