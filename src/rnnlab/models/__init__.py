"""Keras's ``models`` module: ``Sequential``, ``Model``, ``load_model``.

``model.py`` holds ``Model`` and ``Sequential``; ``summary.py`` the ``summary()`` table.
"""

from ..saving.load import load_model
from .model import Model, Sequential

__all__ = ["Model", "Sequential", "load_model"]
