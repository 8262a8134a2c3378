"""Executable checks for the notebooks' exercises and from-scratch code.

Each ``check_*`` function takes the learner's function (or object), compares it
with the package's reference on several inputs, prints a short confirmation
and raises ``AssertionError`` with a hint when something is off. One module per
notebook; everything is re-exported here.
"""

from .core import *  # noqa: F401,F403
from .hypernet import *  # noqa: F401,F403
from .piggyback import *  # noqa: F401,F403
from .roaming import *  # noqa: F401,F403
