"""Metrics by Keras name, and running means over an epoch."""

from __future__ import annotations

from collections.abc import Callable

import torch

MetricFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def binary_accuracy(y_pred: torch.Tensor, y_true: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    y_true = y_true.reshape(y_pred.shape) if y_true.numel() == y_pred.numel() else y_true
    return ((y_pred > threshold).to(y_pred.dtype) == y_true.to(y_pred.dtype)).to(y_pred.dtype).mean()


def categorical_accuracy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return (y_pred.argmax(-1) == y_true.argmax(-1)).to(y_pred.dtype).mean()


def sparse_categorical_accuracy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_pred.argmax(-1) == y_true.round().long()).to(y_pred.dtype).mean()


def mae(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)).abs().mean()


def mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)).square().mean()


METRICS: dict[str, MetricFn] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mae": mae,
    "mse": mse,
}
ALIASES = {"mean_absolute_error": "mae", "mean_squared_error": "mse", "acc": "accuracy"}


def resolve_accuracy(y_pred: torch.Tensor, y_true: torch.Tensor) -> str:
    """Which accuracy "accuracy" means, decided from the shapes alone, as Keras 3 does."""
    if y_pred.shape[-1] == 1:
        return "binary_accuracy"
    if y_true.dim() < y_pred.dim() or y_true.shape[-1] == 1:
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def check_name(metric: str) -> str:
    name = ALIASES.get(metric, metric)
    if name != "accuracy" and name not in METRICS:
        raise ValueError(
            f"Unknown metric {metric!r}. Expected 'accuracy', one of {sorted(METRICS)}, "
            "or a callable metric(y_pred, y_true) returning a scalar tensor."
        )
    return name


class Mean:
    """A mean of batch values weighted by batch size (what Keras shows per epoch)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, weight: int) -> None:
        self.total += value * weight
        self.count += weight

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")
