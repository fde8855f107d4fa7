"""Keras's ``initializers`` module (defined in :mod:`rnnlab.core.initializers`)."""

from .core.initializers import *  # noqa: F403
from .core.initializers import __all__  # noqa: F401
