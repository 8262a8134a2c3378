"""Temporary shim while the piggyback experiment moves here (structure issue)."""

from ..piggyback import run_from_args  # noqa: F401
