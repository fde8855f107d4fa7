"""Keras's ``utils`` module: ``to_categorical``, ``pad_sequences``, ``set_random_seed``
(defined in :mod:`rnnlab.data` and :mod:`rnnlab.seed`)."""

from .data import pad_sequences, to_categorical
from .seed import set_seed as set_random_seed

__all__ = ["pad_sequences", "set_random_seed", "to_categorical"]
