"""Notebook 01's experiments: fine-tuning, online EWC, SI and joint training on a task stream.

The regularisers and the runner live in :mod:`cltoolkit.baselines` (notebooks 01, 04 and 05 reuse
them); this module is the command line's way in: ``python -m cltoolkit run finetune|ewc|si|joint``.
"""

from __future__ import annotations

import argparse

from ..baselines import default_config, run_baseline
from ..data.streams import load_stream
from ..errors import ConfigError


def run_from_args(args: argparse.Namespace) -> dict:
    """``run finetune|ewc|si|joint``: the config for the scale with the flags given, run on the stream."""
    if args.stream == "attributes":
        raise ConfigError(f"{args.method} learns a sequence of tasks; use --stream split, permuted or rotated")
    overrides = {}
    for flag, field in (("epochs", "epochs"), ("lr", "lr"), ("ewc_lambda", "ewc_lambda"), ("si_c", "si_c")):
        if getattr(args, flag) is not None:
            overrides[field] = getattr(args, flag)
    config = default_config(args.scale, **overrides)
    stream = load_stream(args.dataset, args.stream, args.tasks, seed=args.seed, root=args.data_root)
    result = run_baseline(
        args.method,
        stream,
        config,
        scale=args.scale,
        device=args.device,
        seed=args.seed,
        progress=False if args.quiet else None,
    )
    return result.to_dict()
