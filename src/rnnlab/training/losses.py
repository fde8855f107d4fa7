"""Losses by Keras name, reduced as Keras reduces them.

A loss function maps ``(y_true, y_pred)`` (Keras's argument order) to one value per sample,
or per step for sequence outputs: the last axis is averaged (summed for the crossentropies
over classes). :func:`reduce` then weighs these values by sample weights and by the output
mask, and averages over the batch as Keras's ``"sum_over_batch_size"`` does: the sum of the
weighted values divided by their count, where a mask first rescales the valid entries so that
padded steps count for nothing (the mean over valid steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] before taking logs

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (y_true, y_pred) -> values or scalar


def _same_shape(name: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """y_true reshaped like y_pred when only a trailing 1 differs, as Keras squeezes or expands."""
    if y_true.shape == y_pred.shape:
        return y_true
    if (
        y_true.numel() == y_pred.numel()
        and y_true.shape[0] == y_pred.shape[0]
        and (y_pred.shape[-1] == 1 or y_true.shape[-1] == 1)
    ):
        return y_true.reshape(y_pred.shape)
    raise ValueError(
        f"Loss '{name}' compares predictions of shape {tuple(y_pred.shape)} with targets of shape "
        f"{tuple(y_true.shape)}; they must match. Check the last layer's units "
        "(e.g. Dense(1) for one value per sample) and the shape of y."
    )


def mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    y_true = _same_shape("mse", y_true, y_pred).to(y_pred.dtype)
    return (y_pred - y_true).square().mean(dim=-1)


def mean_absolute_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    y_true = _same_shape("mae", y_true, y_pred).to(y_pred.dtype)
    return (y_pred - y_true).abs().mean(dim=-1)


def binary_crossentropy(y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    y_true = _same_shape("binary_crossentropy", y_true, y_pred).to(y_pred.dtype)
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none").mean(dim=-1)
    p = y_pred.clamp(EPSILON, 1 - EPSILON)
    return -(y_true * p.log() + (1 - y_true) * (1 - p).log()).mean(dim=-1)


def _log_probabilities(y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if from_logits:
        return torch.log_softmax(y_pred, dim=-1)
    p = y_pred / y_pred.sum(dim=-1, keepdim=True)  # Keras renormalises probabilities first
    return p.clamp(EPSILON, 1 - EPSILON).log()


def categorical_crossentropy(y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    if y_true.shape != y_pred.shape:
        integer_labels = y_true.dim() < y_pred.dim() or y_true.shape[-1] == 1
        hint = (
            " Integer labels need loss='sparse_categorical_crossentropy', or one-hot encode them "
            "with rnnlab.utils.to_categorical."
            if integer_labels
            else ""
        )
        raise ValueError(
            f"Loss 'categorical_crossentropy' expects one-hot targets shaped like the predictions "
            f"{tuple(y_pred.shape)}, received targets of shape {tuple(y_true.shape)}.{hint}"
        )
    return -(y_true.to(y_pred.dtype) * _log_probabilities(y_pred, from_logits)).sum(dim=-1)


def sparse_categorical_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    labels = sparse_labels("sparse_categorical_crossentropy", y_true, y_pred)
    return -_log_probabilities(y_pred, from_logits).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def sparse_labels(name: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Integer labels of shape ``y_pred.shape[:-1]`` (a trailing axis of 1 dropped), range-checked."""
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(
            f"Loss '{name}' expects integer labels of shape "
            f"{tuple(y_pred.shape[:-1])} for predictions of shape {tuple(y_pred.shape)}, "
            f"received labels of shape {tuple(y_true.shape)}."
        )
    labels = (y_true.round() if y_true.is_floating_point() else y_true).long()
    classes = y_pred.shape[-1]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"Labels must lie in [0, {classes - 1}] for {classes} output units, received labels "
            f"from {int(labels.min())} to {int(labels.max())}."
        )
    return labels


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
WITH_LOGITS = {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}


def canonical_name(loss: str) -> str:
    name = ALIASES.get(loss, loss)
    if name not in LOSSES:
        raise ValueError(
            f"Unknown loss {loss!r}. Expected one of {sorted(LOSSES) + sorted(ALIASES)}, "
            "or a callable loss(y_true, y_pred) returning one value per sample (or a scalar)."
        )
    return name


def get(loss: str | Callable[..., Any], from_logits: bool = False) -> LossFn:
    """A loss function ``(y_true, y_pred) -> values`` from a name or a callable."""
    if callable(loss):
        return loss
    name = canonical_name(loss)
    fn = LOSSES[name]
    if name in WITH_LOGITS:
        return lambda y_true, y_pred: fn(y_true, y_pred, from_logits=from_logits)
    if from_logits:
        raise ValueError(f"from_logits applies to crossentropy losses, not to {loss!r}.")
    return fn


def _match_rank(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weights shaped to multiply ``values``: a trailing axis of 1 dropped or added, as Keras does."""
    if weights.dim() == values.dim() + 1 and weights.shape[-1] == 1:
        weights = weights.squeeze(-1)
    while weights.dim() < values.dim():
        weights = weights.unsqueeze(-1)
    return weights


def mask_weights(
    mask: torch.Tensor | None, sample_weight: torch.Tensor | None, values: torch.Tensor, rescale: bool
) -> torch.Tensor | None:
    """Sample weights times the mask; with ``rescale`` the valid entries are scaled by total / valid,
    so that a mean over all entries becomes the mean over the valid ones (Keras's ``apply_mask``)."""
    weights = None if sample_weight is None else _match_rank(sample_weight.to(values.dtype), values)
    if mask is None:
        return weights
    m = _match_rank(mask.to(values.dtype), values)
    if rescale:
        valid = m.sum()
        m = m * (m.numel() / valid if bool(valid > 0) else 0.0)
    return m if weights is None else weights * m


def reduce(
    values: torch.Tensor, sample_weight: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Keras's ``sum_over_batch_size``: ``sum(values * weights) / values.numel()``, masks rescaled."""
    if values.dim() == 0:
        return values  # a loss that reduced itself
    weights = mask_weights(mask, sample_weight, values, rescale=True)
    if weights is not None:
        values = values * weights
    return values.sum() / max(values.numel(), 1)


# -- Keras-style loss objects -----------------------------------------------------------------
class Loss:
    """A loss as Keras's objects are: ``loss(y_true, y_pred, sample_weight=None)`` gives the reduced
    value ("sum_over_batch_size", or "sum" / "none"); ``compile(loss=...)`` uses ``values`` per sample
    and reduces with the output mask and sample weights as for a loss given by name."""

    key = ""  # the name in LOSSES

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None, **options: Any) -> None:
        if reduction not in ("sum_over_batch_size", "sum", "none", None):
            raise ValueError(f"reduction must be 'sum_over_batch_size', 'sum' or 'none', received {reduction!r}.")
        self.reduction = reduction
        self.name = name or self.key
        self.from_logits = bool(options.pop("from_logits", False))
        if options:
            raise TypeError(f"{type(self).__name__} does not support {sorted(options)} in rnnlab.")

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return get(self.key, self.from_logits)(y_true, y_pred)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        y_pred = torch.as_tensor(y_pred)
        values = self.values(torch.as_tensor(y_true), y_pred)
        weight = None if sample_weight is None else torch.as_tensor(sample_weight)
        if self.reduction in ("none", None):
            return values if weight is None else values * _match_rank(weight.to(values.dtype), values)
        if self.reduction == "sum":
            return reduce(values, weight) * max(values.numel(), 1)
        return reduce(values, weight)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        if self.key in WITH_LOGITS:
            config["from_logits"] = self.from_logits
        return config


def _loss_class(class_name: str, key: str) -> type[Loss]:
    def __init__(self: Loss, reduction: str | None = "sum_over_batch_size", name: str | None = None, **kw: Any) -> None:
        Loss.__init__(self, reduction, name, **kw)

    doc = f"Keras's ``{class_name}``: the ``{key}`` loss as an object."
    return type(class_name, (Loss,), {"key": key, "__init__": __init__, "__doc__": doc})


MeanSquaredError = _loss_class("MeanSquaredError", "mean_squared_error")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", "mean_absolute_error")
BinaryCrossentropy = _loss_class("BinaryCrossentropy", "binary_crossentropy")
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", "categorical_crossentropy")
SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
