"""Keras's ``models`` module: ``Sequential``, ``Model``, ``load_model``.

``model.py`` holds ``Model`` and ``Sequential``; ``functional.py`` the model that ``Model(inputs, outputs)``
builds; ``summary.py`` the ``summary()`` table.
"""

from ..saving.load import load_model
from .functional import Functional
from .model import Model, Sequential

__all__ = ["Model", "Sequential", "Functional", "load_model"]
