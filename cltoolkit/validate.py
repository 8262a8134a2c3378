"""One place that checks numbers and names: config dataclasses and public functions go through it.

The rules are small callables ``rule(name, value) -> value`` that either return the (normalised)
value or raise :class:`~cltoolkit.errors.ConfigError` with one line naming the field, the value
and what is allowed. Every float must be finite: ``nan`` and ``inf`` are refused everywhere, so a
result can never silently turn into chance-level accuracy or invalid JSON.

A config dataclass declares its rules next to its defaults and checks itself on construction::

    @dataclass
    class MyConfig(Checked):
        lr: float = checked(1e-3, Float(low=0, low_open=True))
        epochs: int = checked(10, Int(low=1, high=10_000))

``MyConfig(lr=float("nan"))`` then raises ``ConfigError("lr must be a finite number, got nan")``,
and so does ``dataclasses.replace(config, lr=...)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import MISSING, field, fields
from typing import Any

from .errors import ConfigError

SEED_MAX = 2**64 - 1  # torch.manual_seed accepts seeds in [0, 2**64 - 1]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Int:
    """An integer (not a bool, not a float) in ``[low, high]``; ``optional=True`` also allows None."""

    def __init__(self, low: int | None = None, high: int | None = None, optional: bool = False):
        self.low, self.high, self.optional = low, high, optional

    def __call__(self, name: str, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        if not _is_int(value):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        value = int(value)
        if self.low is not None and value < self.low:
            raise ConfigError(f"{name} must be >= {self.low}, got {value}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{name} must be <= {self.high:,}, got {value:,}")
        return value


class Float:
    """A finite real number in a range; ``low_open`` / ``high_open`` exclude the bound itself."""

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        optional: bool = False,
    ):
        self.low, self.high, self.low_open, self.high_open, self.optional = low, high, low_open, high_open, optional

    def describe(self) -> str:
        """``in [0, 1]``, ``> 0``, ... (empty when any finite number is allowed)."""
        if self.low is None and self.high is None:
            return ""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        if self.high is None and self.low == 0:
            return "> 0" if self.low_open else ">= 0"
        return f"in {left}{low}, {high}{right}"

    def __call__(self, name: str, value: Any) -> float | None:
        if value is None and self.optional:
            return None
        if not _is_real(value):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            raise ConfigError(f"{name} must be {self.describe()}, got {value:g}")
        return value


class OneOf:
    """One of a fixed set of names (case-sensitive)."""

    def __init__(self, *choices: str):
        self.choices = choices

    def __call__(self, name: str, value: Any) -> Any:
        if value not in self.choices:
            raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, self.choices))}")
        return value


class Bool:
    """True or False (not 0/1, not a string)."""

    def __call__(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False, got {value!r}")
        return value


class IntTuple:
    """A non-empty sequence of integers, each in ``[low, high]``, returned as a tuple."""

    def __init__(self, low: int = 1, high: int | None = None, min_len: int = 1, optional: bool = False):
        self.item = Int(low, high)
        self.min_len, self.optional = min_len, optional

    def __call__(self, name: str, value: Any) -> tuple[int, ...] | None:
        if value is None and self.optional:
            return None
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{name} must be a sequence of integers like (10, 10), got {value!r}")
        if len(value) < self.min_len:
            raise ConfigError(f"{name} needs at least {self.min_len} entries, got {value!r}")
        return tuple(self.item(f"{name}[{i}]", v) for i, v in enumerate(value))


def checked(default: Any, rule, **kwargs):
    """A dataclass field with a default and a validation rule (see :class:`Checked`)."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"check": rule}, **kwargs)
    return field(default=default, metadata={"check": rule}, **kwargs)


class Checked:
    """Mixin for dataclasses: every field with a rule is checked on construction (and by ``validate()``)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self):
        for f in fields(self):
            rule = f.metadata.get("check")
            if rule is not None:
                object.__setattr__(self, f.name, rule(f.name, getattr(self, f.name)))
        return self

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.default is not MISSING or f.default_factory is not MISSING]


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed torch, NumPy and Python all accept: an integer in [0, 2**64 - 1]."""
    if not _is_int(seed) or seed < 0 or seed > SEED_MAX:
        raise ConfigError(f"{name} must be an integer in [0, 2**64 - 1], got {seed!r}")
    return int(seed)


def check_overrides(config_cls, overrides: dict) -> None:
    """Refuse keyword overrides that are not fields of ``config_cls`` (a typo must not pass silently)."""
    known = {f.name for f in fields(config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"unknown {config_cls.__name__} field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
