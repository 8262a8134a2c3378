"""Temporary shim while the roaming experiment moves here (structure issue)."""

from ..roaming import run_from_args  # noqa: F401
