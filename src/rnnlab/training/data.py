"""Turning what users pass to fit / evaluate / predict into batches of tensors."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

Batch = tuple[torch.Tensor, ...]


def as_tensor(data: Any, name: str) -> torch.Tensor:
    """A tensor from an array, tensor or nested list; floats become float32; bad values raise."""
    if isinstance(data, torch.Tensor):
        tensor = data
    else:
        array = np.asarray(data)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} must be numeric, received an array of dtype {array.dtype}. "
                "Encode text or categories as numbers first (e.g. token ids, to_categorical)."
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    if tensor.is_floating_point():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            rows = torch.nonzero(bad.reshape(len(tensor), -1).any(dim=1)).flatten()[:5].tolist()
            raise ValueError(
                f"{name} contains NaN or infinite values (first bad samples: {rows}). "
                "Fill or drop missing values before training."
            )
    if tensor.dim() == 0:
        raise ValueError(f"{name} must have a batch axis, received a scalar.")
    return tensor


class ArrayBatches:
    """Batches of (x, y) tensors, reshuffled every epoch from torch's global RNG when ``shuffle``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, batch_size: int, shuffle: bool) -> None:
        if y is not None and len(x) != len(y):
            raise ValueError(f"x and y must have the same number of samples: x has {len(x)}, y has {len(y)}.")
        if len(x) == 0:
            raise ValueError("x is empty: there is nothing to train on.")
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.x)
        order = torch.randperm(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            index = slice(start, start + self.batch_size) if order is None else order[start : start + self.batch_size]
            yield (self.x[index],) if self.y is None else (self.x[index], self.y[index])

    def first(self) -> Batch:
        return (self.x[:1],) if self.y is None else (self.x[:1], self.y[:1])


class IterableBatches:
    """Batches from any iterable of ``(x, y)`` (or ``(x,)`` / ``x`` for predict), e.g. a DataLoader."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        try:
            return len(self.batches)  # type: ignore[arg-type]
        except TypeError:
            return 0  # unknown

    def __iter__(self) -> Iterator[Batch]:
        for i, batch in enumerate(self.batches):
            items = batch if isinstance(batch, (tuple, list)) else (batch,)
            yield tuple(as_tensor(item, f"batch {i}, item {j}") for j, item in enumerate(items))

    def first(self) -> Batch:
        return next(iter(self))


def is_array_like(data: Any) -> bool:
    return isinstance(data, (np.ndarray, torch.Tensor, list))


def batches(x: Any, y: Any, batch_size: int | None, shuffle: bool, name: str = "x") -> ArrayBatches | IterableBatches:
    if is_array_like(x):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}.")
        return ArrayBatches(as_tensor(x, name), None if y is None else as_tensor(y, "y"), batch_size or 32, shuffle)
    if y is not None:
        raise ValueError(
            f"y must be None when x is an iterable of batches (received {type(x).__name__}); "
            "the batches carry their own targets."
        )
    if x is None:
        raise ValueError("fit / evaluate / predict need x.")
    return IterableBatches(x)


def split_validation(x: Any, y: Any, validation_split: float) -> tuple[Any, Any, tuple[Any, Any]]:
    """Keras's split: the last ``validation_split`` of the samples, taken before any shuffling."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), received {validation_split}.")
    if not is_array_like(x):
        raise ValueError(
            "validation_split needs arrays or tensors; with an iterable of batches, pass validation_data instead."
        )
    n = len(x)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves "
            f"{'no training' if split_at == 0 else 'no validation'} samples."
        )
    return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])
