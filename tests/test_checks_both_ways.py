"""Every exercise check, both ways: a stub gets one friendly line, the solution passes.

A stub is what the student editions hold: a function (or class) whose body is
``raise NotImplementedError()``. The check must print one line, no traceback, and return False.
The solution (here: the package's own reference, which the notebooks' solutions agree with) must
pass and return True. Wrong answers, and the mistakes each check names, are tested in the
per-notebook test modules (``test_checks_core.py``, ``test_piggyback.py`` ...).

A new ``check_*`` needs its reference answer in ``SOLUTIONS`` below.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from cltoolkit import checks, metrics


def stub(*args, **kwargs):
    raise NotImplementedError()


CHECKS = sorted(name for name in checks.__all__ if name.startswith("check_"))


def _n_answers(check) -> int:
    """How many learner answers a check takes (most take one; check_masked_layers takes two classes)."""
    inner = getattr(check, "__wrapped_check__", check)
    params = [
        p
        for p in inspect.signature(inner).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return max(1, len(params))


@pytest.mark.parametrize("name", CHECKS)
def test_stub_gets_one_friendly_line(name, capsys):
    check = getattr(checks, name)
    stubs = [stub] * _n_answers(check)
    assert check(*stubs) is False, f"{name} did not report the stub as not done"
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Not done yet: `stub` raises NotImplementedError"), out.out
    assert "Traceback" not in out.out + out.err


def test_a_wrong_answer_still_raises_with_a_hint():
    with pytest.raises(AssertionError, match="disagrees"):
        checks.check_average_accuracy(lambda R: float(np.asarray(R)[0].mean()))


def test_yours_or_falls_back_to_the_package(capsys):
    assert checks.yours_or(stub, metrics.average_accuracy, passed=False) is metrics.average_accuracy
    assert "using cltoolkit's version" in capsys.readouterr().out
    assert checks.yours_or(stub, metrics.average_accuracy, passed=True) is stub
