"""Arguments for a method's ``run_from_args`` built by the real CLI parser, so tests never drift from it."""

from __future__ import annotations

import argparse

from cltoolkit.cli import METHODS, build_parser


def cli_args(method: str, **overrides) -> argparse.Namespace:
    """``python -m cltoolkit run METHOD`` as parsed, at smoke scale on the CPU, quiet, with ``overrides`` applied."""
    args = build_parser().parse_args(["run", method])
    settings = dict(dataset="digits", stream=METHODS[method][1], scale="smoke", device="cpu", quiet=True)
    settings.update(overrides)
    for key, value in settings.items():
        if not hasattr(args, key):
            raise AttributeError(f"the CLI has no option {key!r}")
        setattr(args, key, value)
    return args
