"""What every check does with an exercise that is not done yet, and with the answer it is given.

Student editions (``notebooks/student/``) replace each solution with ``raise NotImplementedError()``.
A check given such a stub must not bury the student under a traceback: :func:`exercise_check`
wraps every ``check_*`` so that a stub prints one friendly line and the check returns ``False``;
a correct answer returns ``True``; a wrong answer still raises ``AssertionError`` naming the input
and the likely mistake. Later cells use :func:`yours_or` to fall back on the package's version
while the learner's is not written yet, so the rest of the notebook still runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def _not_done(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was caused by, a NotImplementedError (a stub somewhere down the call)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NotImplementedError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _name(answer: Any) -> str:
    return getattr(answer, "__name__", None) or type(answer).__name__


def exercise_check(check: Callable[..., Any]) -> Callable[..., bool]:
    """Wrap ``check(answer, ...)``: True when it passes, False (and one line) when ``answer`` is a stub."""

    @functools.wraps(check)
    def wrapper(answer, *args, **kwargs) -> bool:
        try:
            check(answer, *args, **kwargs)
        except Exception as exc:
            if _not_done(exc):
                print(
                    f"Not done yet: `{_name(answer)}` raises NotImplementedError. "
                    "Write it in the cell above, run that cell, then run this one again."
                )
                return False
            raise
        return True

    wrapper.__wrapped_check__ = check
    return wrapper


def yours_or(answer: Any, reference: Any, passed: bool) -> Any:
    """The learner's ``answer`` if its check ``passed``, else the package's ``reference`` (saying so)."""
    if passed:
        return answer
    print(f"(using cltoolkit's version instead of `{_name(answer)}` until yours passes its check)")
    return reference
