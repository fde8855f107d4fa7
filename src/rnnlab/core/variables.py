"""``Variable``: a Keras-variable view of one of a layer's torch parameters (``layer.weights``);
``steady_weights``, a stretch of calls in which no weight changes."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from . import initializers


def new_weight(shape: tuple[int, ...], initializer: Any, trainable: bool = True) -> Weight:
    """A layer's new weight of ``shape``, drawn by ``initializer`` (a Keras name, object or callable)."""
    weight = torch.empty(shape)
    initializers.initialize(weight, initializer)
    return Weight(weight, requires_grad=trainable)


class Weight(nn.Parameter):
    """A layer's own weight (``layer.kernel``, ``layer.embeddings``): a torch parameter that also takes
    Keras's variable calls, ``assign``, ``assign_add``, ``assign_sub``, ``numpy()`` (a copy) and
    ``value``, so code written for Keras can read and set it directly."""

    @property
    def value(self) -> torch.Tensor:
        return self

    def numpy(self, *, force: bool = False) -> np.ndarray:
        array: np.ndarray = self.detach().cpu().numpy().copy()
        return array

    def assign(self, value: Any) -> Weight:
        _assign(self, value, "This weight")
        return self

    def assign_add(self, delta: Any) -> Weight:
        return self.assign(self.numpy() + np.asarray(delta))

    def assign_sub(self, delta: Any) -> Weight:
        return self.assign(self.numpy() - np.asarray(delta))


@torch.no_grad()
def _assign(target: torch.Tensor, value: Any, what: str) -> None:
    tensor = torch.as_tensor(np.asarray(value.numpy() if isinstance(value, (Variable, Weight)) else value))
    if tuple(tensor.shape) != tuple(target.shape):
        raise ValueError(
            f"{what} has shape {tuple(target.shape)}; cannot assign a value of shape {tuple(tensor.shape)}."
        )
    target.copy_(tensor.to(dtype=target.dtype, device=target.device))


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

    def assign(self, value: Any) -> Variable:
        _assign(self.value, value, f"Variable {self.path}")
        return self

    def assign_add(self, delta: Any) -> Variable:
        return self.assign(self.numpy() + np.asarray(delta))

    def assign_sub(self, delta: Any) -> Variable:
        return self.assign(self.numpy() - np.asarray(delta))

    # -- a tensor in expressions: torch functions, operators and rnnlab.ops see the parameter itself,
    # so gradients reach it (Keras's variables behave as their values in the same way)
    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*_values(args), **_values(kwargs or {}))

    def __add__(self, other: Any) -> Any:
        return self.value + _values(other)

    def __radd__(self, other: Any) -> Any:
        return _values(other) + self.value

    def __sub__(self, other: Any) -> Any:
        return self.value - _values(other)

    def __rsub__(self, other: Any) -> Any:
        return _values(other) - self.value

    def __mul__(self, other: Any) -> Any:
        return self.value * _values(other)

    def __rmul__(self, other: Any) -> Any:
        return _values(other) * self.value

    def __truediv__(self, other: Any) -> Any:
        return self.value / _values(other)

    def __rtruediv__(self, other: Any) -> Any:
        return _values(other) / self.value

    def __matmul__(self, other: Any) -> Any:
        return self.value @ _values(other)

    def __rmatmul__(self, other: Any) -> Any:
        return _values(other) @ self.value

    def __pow__(self, other: Any) -> Any:
        return self.value ** _values(other)

    def __neg__(self) -> torch.Tensor:
        return -self.value

    @property
    def T(self) -> torch.Tensor:  # the tensor attribute's name
        return self.value.T

    def __len__(self) -> int:
        return len(self.value)

    def __getitem__(self, index: Any) -> torch.Tensor:
        return self.value[index]

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"


def _values(x: Any) -> Any:
    """``x`` with every Variable in it (also inside lists, tuples and dicts) replaced by its parameter."""
    if isinstance(x, Variable):
        return x.value
    if isinstance(x, (list, tuple)):
        return type(x)(_values(item) for item in x)
    if isinstance(x, dict):
        return {key: _values(item) for key, item in x.items()}
    return x


_STEADY: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar("rnnlab_steady", default=None)


@contextlib.contextmanager
def steady_weights() -> Iterator[None]:
    """Calls in which no weight changes (``predict``'s batches): what is computed from weights may
    be kept in ``kept_while_steady()`` for their length and no longer. Across such stretches
    nothing is kept: an optimizer swaps weight storage and writes through ``.data``, which neither
    addresses nor version counters reliably reveal."""
    token = _STEADY.set({})
    try:
        yield
    finally:
        _STEADY.reset(token)


def kept_while_steady() -> dict[Any, Any] | None:
    """The innermost ``steady_weights`` stretch's store, or None outside one."""
    return _STEADY.get()
