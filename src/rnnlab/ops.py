"""Keras's ``ops`` module: the tensor operations custom layers and cells use (:mod:`rnnlab.core.ops`)."""

from .core.ops import *  # noqa: F403
from .core.ops import __all__  # noqa: F401
