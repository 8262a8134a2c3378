"""Temporary shim while the hypernet experiment moves here (structure issue)."""

from ..hypernet import run_from_args  # noqa: F401
