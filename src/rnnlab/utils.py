"""Keras's ``utils`` module: ``to_categorical``, ``pad_sequences``, ``set_random_seed``,
``timeseries_dataset_from_array``, and Keras's registration of classes of your own
(defined in :mod:`rnnlab.preprocessing`, :mod:`rnnlab.core.seed` and :mod:`rnnlab.core.registration`)."""

from .core.registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from .core.seed import set_seed as set_random_seed
from .preprocessing.arrays import pad_sequences, to_categorical
from .preprocessing.timeseries import timeseries_dataset_from_array

__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "pad_sequences",
    "register_keras_serializable",
    "set_random_seed",
    "timeseries_dataset_from_array",
    "to_categorical",
]
