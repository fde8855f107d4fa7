"""Keras's ``initializers`` module: ``get`` (defined in :mod:`rnnlab.core.initializers`)."""

from .core.initializers import get

__all__ = ["get"]
