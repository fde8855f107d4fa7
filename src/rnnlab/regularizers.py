"""Keras's ``regularizers`` module (defined in :mod:`rnnlab.core.regularizers`)."""

from .core.regularizers import *  # noqa: F403
from .core.regularizers import __all__  # noqa: F401
