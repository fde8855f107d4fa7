"""Keras's ``utils`` module: ``to_categorical``, ``pad_sequences``, ``set_random_seed``
(defined in :mod:`rnnlab.preprocessing.arrays` and :mod:`rnnlab.core.seed`)."""

from .core.seed import set_seed as set_random_seed
from .preprocessing.arrays import pad_sequences, to_categorical

__all__ = ["pad_sequences", "set_random_seed", "to_categorical"]
