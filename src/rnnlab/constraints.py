"""Keras's ``constraints`` module (defined in :mod:`rnnlab.core.constraints`)."""

from .core.constraints import *  # noqa: F403
from .core.constraints import __all__  # noqa: F401
