"""Metrics by Keras name, and the running means that turn them into epoch values.

A metric function maps ``(y_true, y_pred)`` to one value per sample (or per step); ``Mean``
averages them over an epoch the way Keras's ``MeanMetricWrapper`` does: masked steps and zero
sample weights count for nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .losses import mask_weights, sparse_labels

MetricFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (y_true, y_pred) -> values


def binary_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    y_true = y_true.reshape(y_pred.shape) if y_true.numel() == y_pred.numel() else y_true
    hits = (y_pred > threshold).to(y_pred.dtype) == y_true.to(y_pred.dtype)
    return hits.to(y_pred.dtype).mean(dim=-1)


def categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred.argmax(-1) == y_true.argmax(-1)).to(y_pred.dtype)


def sparse_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred.argmax(-1) == sparse_labels("sparse_categorical_accuracy", y_true, y_pred)).to(y_pred.dtype)


def mae(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)).abs().mean(dim=-1)


def mse(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)).square().mean(dim=-1)


METRICS: dict[str, MetricFn] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mae": mae,
    "mse": mse,
}
ALIASES = {"mean_absolute_error": "mae", "mean_squared_error": "mse"}
ACCURACY = ("accuracy", "acc")  # resolved from the shapes; logged under the name the user gave


def resolve_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> str:
    """Which accuracy "accuracy" means, decided from the shapes alone, as Keras 3 does."""
    if y_pred.shape[-1] == 1:
        return "binary_accuracy"
    if y_true.dim() < y_pred.dim() or y_true.shape[-1] == 1:
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def check_name(metric: str) -> str:
    if metric in ACCURACY:
        return metric
    name = ALIASES.get(metric, metric)
    if name not in METRICS:
        raise ValueError(
            f"Unknown metric {metric!r}. Expected 'accuracy', one of {sorted(METRICS)}, "
            "or a callable metric(y_true, y_pred) returning one value per sample."
        )
    return name


class Mean:
    """A running mean, as Keras's ``Mean``: ``update(value, weight)`` for a batch value, or
    ``update_values`` for per-sample values with their mask and sample weights."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update(self, value: float, weight: float) -> None:
        self.total += value * weight
        self.count += weight

    def update_values(
        self, values: torch.Tensor, mask: torch.Tensor | None = None, sample_weight: torch.Tensor | None = None
    ) -> None:
        values = values.detach().double()
        if values.dim() == 0:
            self.update(float(values), 1.0)
            return
        weights = mask_weights(mask, sample_weight, values, rescale=False)
        steps = values[0].numel()  # per-sample means, as Keras reduces the trailing axes
        if weights is None:
            self.total += float(values.sum()) / steps
            self.count += float(len(values))
            return
        weights = weights.double().expand_as(values)
        self.total += float((values * weights).sum()) / steps
        self.count += float(weights.sum()) / steps

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")


# -- Keras-style metric objects ---------------------------------------------------------------
class Metric:
    """A metric as Keras's objects are: ``update_state(y_true, y_pred, sample_weight=None)``,
    ``result()``, ``reset_state()``; ``compile(metrics=[...])`` logs it under ``name``."""

    key = ""  # the function in METRICS

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.key
        self.mean = Mean()

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return METRICS[self.key](y_true, y_pred)

    def update_state(self, y_true: object, y_pred: object, sample_weight: object = None) -> None:
        y_pred_t = torch.as_tensor(y_pred)
        weight = None if sample_weight is None else torch.as_tensor(sample_weight)
        self.mean.update_values(self.values(torch.as_tensor(y_true), y_pred_t), None, weight)

    def result(self) -> float:
        return self.mean.result()

    def reset_state(self) -> None:
        self.mean = Mean()


def _metric_class(class_name: str, key: str) -> type[Metric]:
    return type(class_name, (Metric,), {"key": key, "__doc__": f"Keras's ``{class_name}`` metric."})


BinaryAccuracy = _metric_class("BinaryAccuracy", "binary_accuracy")
CategoricalAccuracy = _metric_class("CategoricalAccuracy", "categorical_accuracy")
SparseCategoricalAccuracy = _metric_class("SparseCategoricalAccuracy", "sparse_categorical_accuracy")


class MeanAbsoluteError(Metric):
    key = "mae"

    def __init__(self, name: str | None = "mean_absolute_error") -> None:
        super().__init__(name)


class MeanSquaredError(Metric):
    key = "mse"

    def __init__(self, name: str | None = "mean_squared_error") -> None:
        super().__init__(name)
