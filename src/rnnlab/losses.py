"""Losses by name for ``compile(loss=...)``, and the functions behind them."""
from .training.losses import (binary_crossentropy, categorical_crossentropy, mean_absolute_error,  # noqa: F401
                              mean_squared_error, sparse_categorical_crossentropy)
