"""Losses by name for ``compile(loss=...)``, and the functions behind them."""

from .training.losses import (
    mean_absolute_error,  # noqa: F401
)
