"""``Variable``: a Keras-variable view of one of a layer's torch parameters (``layer.weights``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class Variable:
    """One weight as Keras shows it: ``name`` ("kernel"), ``path`` ("sequential/lstm/lstm_cell/kernel"),
    ``shape``, ``dtype``, ``trainable``, ``numpy()``, ``np.asarray(v)``, ``assign(...)``.

    It is a view, not a copy: ``value`` is the layer's own ``torch.nn.Parameter``, so an
    ``assign`` changes the layer and training changes what the variable shows.
    """

    def __init__(self, parameter: nn.Parameter, path: str, constraint: Any = None) -> None:
        self.value = parameter
        self.path = path
        self.constraint = constraint  # the layer's projection for this weight, applied after optimizer updates

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def ndim(self) -> int:
        return self.value.dim()

    @property
    def dtype(self) -> str:
        return str(self.value.dtype).removeprefix("torch.")

    @property
    def trainable(self) -> bool:
        return self.value.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.value.requires_grad_(bool(value))

    def numpy(self) -> np.ndarray:
        array: np.ndarray = self.value.detach().cpu().numpy().copy()
        return array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    @torch.no_grad()
    def assign(self, value: Any) -> Variable:
        tensor = torch.as_tensor(np.asarray(value.numpy() if isinstance(value, Variable) else value))
        if tuple(tensor.shape) != self.shape:
            raise ValueError(
                f"Variable {self.path} has shape {self.shape}; cannot assign a value of shape {tuple(tensor.shape)}."
            )
        self.value.copy_(tensor.to(dtype=self.value.dtype, device=self.value.device))
        return self

    def assign_add(self, delta: Any) -> Variable:
        return self.assign(self.numpy() + np.asarray(delta))

    def assign_sub(self, delta: Any) -> Variable:
        return self.assign(self.numpy() - np.asarray(delta))

    def __len__(self) -> int:
        return len(self.value)

    def __getitem__(self, index: Any) -> torch.Tensor:
        return self.value.detach()[index]

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"
