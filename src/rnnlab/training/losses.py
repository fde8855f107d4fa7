"""Losses by Keras name. Each maps (y_pred, y_true) to the mean loss over the batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] before taking logs

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _same_shape(name: str, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
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


def mean_squared_error(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    y_true = _same_shape("mse", y_pred, y_true).to(y_pred.dtype)
    return (y_pred - y_true).square().mean()


def mean_absolute_error(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    y_true = _same_shape("mae", y_pred, y_true).to(y_pred.dtype)
    return (y_pred - y_true).abs().mean()


def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    y_true = _same_shape("binary_crossentropy", y_pred, y_true).to(y_pred.dtype)
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true)
    p = y_pred.clamp(EPSILON, 1 - EPSILON)
    return -(y_true * p.log() + (1 - y_true) * (1 - p).log()).mean()


def categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    if y_true.shape != y_pred.shape:
        hint = (
            (
                " Integer labels need loss='sparse_categorical_crossentropy', or one-hot encode them "
                "with rnnlab.data.to_categorical."
            )
            if y_true.dim() < y_pred.dim() or y_true.shape[-1] == 1
            else ""
        )
        raise ValueError(
            f"Loss 'categorical_crossentropy' expects one-hot targets shaped like the predictions "
            f"{tuple(y_pred.shape)}, received targets of shape {tuple(y_true.shape)}.{hint}"
        )
    y_true = y_true.to(y_pred.dtype)
    if from_logits:
        log_p = torch.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_p = p.clamp(EPSILON, 1 - EPSILON).log()
    return -(y_true * log_p).sum(dim=-1).mean()


def sparse_categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(
            f"Loss 'sparse_categorical_crossentropy' expects integer labels of shape "
            f"{tuple(y_pred.shape[:-1])} for predictions of shape {tuple(y_pred.shape)}, "
            f"received labels of shape {tuple(y_true.shape)}."
        )
    if y_true.is_floating_point():
        y_true = y_true.round()
    labels = y_true.long()
    classes = y_pred.shape[-1]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"Labels must lie in [0, {classes - 1}] for {classes} output units, received labels "
            f"from {int(labels.min())} to {int(labels.max())}."
        )
    log_p = (
        torch.log_softmax(y_pred, dim=-1)
        if from_logits
        else (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(EPSILON, 1 - EPSILON).log()
    )
    return -log_p.gather(-1, labels.unsqueeze(-1)).mean()


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
            "or a callable loss(y_pred, y_true) returning a scalar tensor."
        )
    return name


def get(loss: str | Callable[..., Any], from_logits: bool = False) -> LossFn:
    """A loss function ``(y_pred, y_true) -> scalar`` from a name or a callable."""
    if callable(loss):
        return loss
    name = canonical_name(loss)
    fn = LOSSES[name]
    if name in WITH_LOGITS:
        return lambda y_pred, y_true: fn(y_pred, y_true, from_logits=from_logits)
    if from_logits:
        raise ValueError(f"from_logits applies to crossentropy losses, not to {loss!r}.")
    return fn
