"""Data: sources (embedded digits, real datasets) and the task streams built from them.

Imports point one way: ``streams`` / ``attributes`` -> ``sources`` -> ``real`` (reading
files) -> ``fetch`` (where files live, downloading, checking).

Rule for dataset files: never unpickle bytes that have not been verified. The CIFAR
batches (Python pickles) are unpickled only after their published MD5 matched, and
only with :class:`~cltoolkit.data.real.CifarUnpickler`, which allows nothing but the
uint8 array inside; no other dataset file is ever unpickled (see :mod:`cltoolkit.data.real`).
"""

from .attributes import CELEBA_GROUPS, AttributeTasks, attribute_tasks, celeba_attributes, digit_attributes
from .sources import DATASETS, Source, load_digits, load_source
from .streams import (
    STREAM_KINDS,
    Stream,
    Task,
    apply_permutation,
    load_stream,
    make_stream,
    permutations,
    permuted_stream,
    rotate,
    rotated_stream,
    split_stream,
)

__all__ = [
    "CELEBA_GROUPS",
    "DATASETS",
    "STREAM_KINDS",
    "AttributeTasks",
    "Source",
    "Stream",
    "Task",
    "apply_permutation",
    "attribute_tasks",
    "celeba_attributes",
    "digit_attributes",
    "load_digits",
    "load_source",
    "load_stream",
    "make_stream",
    "permutations",
    "permuted_stream",
    "rotate",
    "rotated_stream",
    "split_stream",
]
