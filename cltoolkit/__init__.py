"""cltoolkit: a notebook-first teaching kit for continual and multi-task learning."""

__version__ = "0.1.0"
