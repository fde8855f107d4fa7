"""Keras's ``models`` module: ``Sequential``, ``Model``, ``load_model`` (defined in :mod:`rnnlab.model`)."""

from .io import load_model
from .model import Model, Sequential

__all__ = ["Model", "Sequential", "load_model"]
