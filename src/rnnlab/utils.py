"""Keras's ``utils`` module: ``to_categorical``, ``pad_sequences``, ``set_random_seed``,
``timeseries_dataset_from_array`` (defined in :mod:`rnnlab.preprocessing` and :mod:`rnnlab.core.seed`)."""

from .core.seed import set_seed as set_random_seed
from .preprocessing.arrays import pad_sequences, to_categorical
from .preprocessing.timeseries import timeseries_dataset_from_array

__all__ = ["pad_sequences", "set_random_seed", "timeseries_dataset_from_array", "to_categorical"]
