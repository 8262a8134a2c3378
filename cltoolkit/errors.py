"""Exceptions with messages a learner can act on.

Every error the kit raises on bad input derives from :class:`CltkError`, so the
CLI can turn it into one readable line instead of a traceback.
"""

from __future__ import annotations


class CltkError(Exception):
    """Base class for the kit's own errors (bad input, missing data, ...)."""


class ConfigError(CltkError, ValueError):
    """An unknown scale, device, dataset, method or an impossible parameter."""


class DatasetNotFoundError(CltkError, FileNotFoundError):
    """A real dataset is not on disk; the message names the command that fetches it."""


class ChecksumError(CltkError, OSError):
    """A downloaded file does not match its published checksum."""


class CheckpointMismatchError(CltkError, RuntimeError):
    """A checkpoint was saved for another model or configuration."""
