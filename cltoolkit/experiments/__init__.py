"""Experiments: the protocols of each notebook (task design, configs per scale, the papers' baselines, runners).

One module per notebook. Each exposes ``run_from_args(args) -> dict`` for ``python -m cltoolkit run``;
the notebooks call the same functions, so no experiment logic lives only in a notebook or only in the CLI.
Dependencies point one way: infrastructure <- methods (``cltoolkit.piggyback`` ...) <- experiments <- CLI.
"""
