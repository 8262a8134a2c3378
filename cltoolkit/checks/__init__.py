"""Executable checks for the notebooks' exercises and from-scratch code.

Each ``check_*`` function takes the learner's function (or object), compares it with the
package's reference on several inputs and prints a short confirmation. It returns ``True`` when
the answer passes, prints one line and returns ``False`` when the answer is still a stub (raises
``NotImplementedError``, as in the student editions), and raises ``AssertionError`` with a hint
when the answer is wrong. One module per notebook; everything is re-exported here, wrapped by
:func:`~cltoolkit.checks._exercise.exercise_check`. :func:`yours_or` picks the learner's version
or the package's for the cells that follow an exercise.
"""

from . import comparison as _comparison
from . import core as _core
from . import hypernet as _hypernet
from . import piggyback as _piggyback
from . import roaming as _roaming
from ._exercise import exercise_check, yours_or

__all__ = ["exercise_check", "yours_or"]

for _module in (_core, _hypernet, _piggyback, _roaming, _comparison):
    for _name in _module.__all__:
        _value = getattr(_module, _name)
        globals()[_name] = exercise_check(_value) if _name.startswith("check_") and callable(_value) else _value
        __all__.append(_name)
del _module, _name, _value
