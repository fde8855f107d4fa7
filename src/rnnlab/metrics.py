"""Keras's ``metrics`` module: metric functions and objects (defined in :mod:`rnnlab.training.metrics`)."""

from .training.metrics import (
    BinaryAccuracy,
    CategoricalAccuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    SparseCategoricalAccuracy,
    binary_accuracy,
    categorical_accuracy,
    mae,
    mse,
    sparse_categorical_accuracy,
)

__all__ = [
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "mae",
    "mse",
    "sparse_categorical_accuracy",
]
