"""Keras's ``ops``: the tensor operations custom layers and cells are written with, on torch tensors.

Each takes Keras's argument names and defaults (``sum(x, axis=None, keepdims=False)``,
``transpose(x, axes=None)``, ``softmax(x, axis=-1)``) and accepts tensors, NumPy arrays, Python
numbers and ``layer.weights`` variables alike, converted as Keras converts them (arrays keep their
dtype, Python floats become float32). The results are torch tensors, so gradients flow through them.
Called on symbolic tensors (``Input(...)`` and layer outputs), each records Keras's operation of the
same name (``ops.sum`` -> ``Sum``) in the functional graph and returns a symbolic tensor, as in Keras.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from . import symbolic
from .layer import DTYPES

Op = TypeVar("Op", bound=Callable[..., Any])
NN = "keras.src.ops.nn"

Axis = int | Sequence[int] | None

INTEGER_DTYPES = {
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def _dtype(dtype: Any) -> torch.dtype:
    """A Keras dtype name ("float32", "int64", "bool") or a torch dtype -> the torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = getattr(dtype, "name", dtype)  # a NumPy dtype has a name
    if name in DTYPES:
        return DTYPES[name]
    if name in INTEGER_DTYPES:
        return INTEGER_DTYPES[name]
    raise ValueError(f"Unknown dtype {dtype!r}; expected one of {sorted({*DTYPES, *INTEGER_DTYPES})}.")


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None, ragged: Any = None) -> torch.Tensor:
    """A torch tensor of ``x``: arrays keep their dtype; Python numbers and lists become float32 or int32,
    as Keras converts them (unless ``dtype`` says otherwise). A symbolic tensor stays itself."""
    if isinstance(x, symbolic.KerasTensor):
        return x if dtype is None else cast(x, dtype)  # type: ignore[return-value]
    value = getattr(x, "value", x)  # a layer.weights variable: its torch parameter
    if isinstance(value, torch.Tensor):
        tensor = value
    elif isinstance(value, np.ndarray):
        tensor = torch.as_tensor(value)
    else:
        array = np.asarray(value)
        python_types = {"f": np.float32, "i": np.int32, "u": np.int32}
        tensor = torch.as_tensor(array.astype(python_types.get(array.dtype.kind, array.dtype)))
    return tensor if dtype is None else tensor.to(_dtype(dtype))


def _operation(class_name: str, tensors: int = 1, module: str = "keras.src.ops.numpy") -> Callable[[Op], Op]:
    """Make an op record Keras's operation ``class_name`` when it is called on symbolic tensors: its
    first ``tensors`` parameters are the operation's inputs, the others its config (``axis``)."""

    def decorate(function: Op) -> Op:
        signature = inspect.signature(function)
        inputs = list(signature.parameters)[:tensors]
        kind = symbolic.operation_class(class_name, function, module)

        @functools.wraps(function)
        def op(*args: Any, **kwargs: Any) -> Any:
            if not _any_symbolic(args) and not (kwargs and _any_symbolic(kwargs.values())):
                return function(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            options = {k: v for k, v in bound.arguments.items() if k not in inputs}
            return kind(**options)(*(bound.arguments[k] for k in inputs))

        return op  # type: ignore[return-value]

    return decorate


def _any_symbolic(values: Any) -> bool:
    """Whether an op's arguments hold a symbolic tensor, itself or in a list (``concatenate``): checked on
    every call, so kept to the two levels ops take, without walking nested structures."""
    for value in values:
        if isinstance(value, symbolic.KerasTensor):
            return True
        if isinstance(value, (list, tuple)) and any(isinstance(item, symbolic.KerasTensor) for item in value):
            return True
    return False


def _pair(x1: Any, x2: Any) -> tuple[Any, Any]:
    """Operands for a binary operation, at least one a tensor: a Python number beside a tensor stays a
    number, so it takes the tensor's dtype (Keras's weak typing of Python scalars)."""

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    a = x1 if number(x1) and not number(x2) else convert_to_tensor(x1)
    b = x2 if number(x2) and isinstance(a, torch.Tensor) else convert_to_tensor(x2)
    return a, b


def _dims(axis: int | Sequence[int]) -> int | tuple[int, ...]:
    return axis if isinstance(axis, int) else tuple(axis)


def _all_or(axis: Axis) -> int | tuple[int, ...]:
    """The axes to reduce: all of them (``()`` for torch's amax / amin) when None."""
    return () if axis is None else _dims(axis)


# -- creation and shape ---------------------------------------------------------------
def zeros(shape: Any, dtype: Any = None) -> torch.Tensor:
    return torch.zeros(_shape(shape), dtype=_dtype(dtype or "float32"))


def ones(shape: Any, dtype: Any = None) -> torch.Tensor:
    return torch.ones(_shape(shape), dtype=_dtype(dtype or "float32"))


@_operation("ZerosLike")
def zeros_like(x: Any, dtype: Any = None) -> torch.Tensor:
    return torch.zeros_like(convert_to_tensor(x), dtype=None if dtype is None else _dtype(dtype))


@_operation("OnesLike")
def ones_like(x: Any, dtype: Any = None) -> torch.Tensor:
    return torch.ones_like(convert_to_tensor(x), dtype=None if dtype is None else _dtype(dtype))


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def shape(x: Any) -> tuple[int, ...]:
    """The static shape as a tuple of ints (of a symbolic tensor: None where a size is not known)."""
    if isinstance(x, symbolic.KerasTensor):
        return x.shape  # type: ignore[return-value]
    return tuple(convert_to_tensor(x).shape)


@_operation("Cast", module="keras.src.ops.core")
def cast(x: Any, dtype: Any) -> torch.Tensor:
    return convert_to_tensor(x).to(_dtype(dtype))


@_operation("Reshape")
def reshape(x: Any, newshape: Any) -> torch.Tensor:
    """``newshape`` may hold one ``-1`` (or ``None``, as Keras allows) for the size left over."""
    sizes = [-1 if s is None else int(s) for s in ((newshape,) if isinstance(newshape, int) else newshape)]
    return convert_to_tensor(x).reshape(sizes)


@_operation("Transpose")
def transpose(x: Any, axes: Sequence[int] | None = None) -> torch.Tensor:
    """The axes permuted as ``axes`` lists them; reversed when None (NumPy's transpose)."""
    tensor = convert_to_tensor(x)
    order = tuple(reversed(range(tensor.dim()))) if axes is None else tuple(axes)
    return tensor.permute(order)


@_operation("ExpandDims")
def expand_dims(x: Any, axis: int) -> torch.Tensor:
    return convert_to_tensor(x).unsqueeze(axis)


@_operation("Squeeze")
def squeeze(x: Any, axis: Axis = None) -> torch.Tensor:
    tensor = convert_to_tensor(x)
    return tensor.squeeze() if axis is None else tensor.squeeze(_dims(axis))


@_operation("Concatenate")
def concatenate(xs: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.cat([convert_to_tensor(x) for x in xs], dim=axis)


@_operation("Stack")
def stack(x: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.stack([convert_to_tensor(t) for t in x], dim=axis)


@_operation("Split")
def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[torch.Tensor]:
    """NumPy's split: a number of equal sections, or the indices where each new part starts."""
    tensor = convert_to_tensor(x)
    if isinstance(indices_or_sections, int):
        return list(torch.tensor_split(tensor, indices_or_sections, dim=axis))
    return list(torch.tensor_split(tensor, list(indices_or_sections), dim=axis))


# -- arithmetic ---------------------------------------------------------------------------
@_operation("Matmul", 2)
def matmul(x1: Any, x2: Any) -> torch.Tensor:
    return torch.matmul(convert_to_tensor(x1), convert_to_tensor(x2))


@_operation("Add", 2)
def add(x1: Any, x2: Any) -> torch.Tensor:
    a, b = _pair(x1, x2)
    result: torch.Tensor = a + b
    return result


@_operation("Subtract", 2)
def subtract(x1: Any, x2: Any) -> torch.Tensor:
    a, b = _pair(x1, x2)
    result: torch.Tensor = a - b
    return result


@_operation("Multiply", 2)
def multiply(x1: Any, x2: Any) -> torch.Tensor:
    a, b = _pair(x1, x2)
    result: torch.Tensor = a * b
    return result


@_operation("Divide", 2)
def divide(x1: Any, x2: Any) -> torch.Tensor:
    a, b = _pair(x1, x2)
    result: torch.Tensor = a / b
    return result


@_operation("Square")
def square(x: Any) -> torch.Tensor:
    return torch.square(convert_to_tensor(x))


@_operation("Sqrt")
def sqrt(x: Any) -> torch.Tensor:
    return torch.sqrt(convert_to_tensor(x))


@_operation("Exp")
def exp(x: Any) -> torch.Tensor:
    return torch.exp(convert_to_tensor(x))


@_operation("Log")
def log(x: Any) -> torch.Tensor:
    return torch.log(convert_to_tensor(x))


@_operation("Absolute")
def abs(x: Any) -> torch.Tensor:
    return torch.abs(convert_to_tensor(x))


@_operation("Maximum", 2)
def maximum(x1: Any, x2: Any) -> torch.Tensor:
    a, b = (convert_to_tensor(v) for v in (x1, x2))
    return torch.maximum(a, b.to(a.dtype) if b.dim() == 0 else b)


@_operation("Minimum", 2)
def minimum(x1: Any, x2: Any) -> torch.Tensor:
    a, b = (convert_to_tensor(v) for v in (x1, x2))
    return torch.minimum(a, b.to(a.dtype) if b.dim() == 0 else b)


@_operation("Clip")
def clip(x: Any, x_min: float, x_max: float) -> torch.Tensor:
    return torch.clamp(convert_to_tensor(x), x_min, x_max)


@_operation("Where", 3)
def where(condition: Any, x1: Any, x2: Any) -> torch.Tensor:
    return torch.where(convert_to_tensor(condition).bool(), *_pair(x1, x2))


# -- reductions ----------------------------------------------------------------------------
@_operation("Sum")
def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    tensor = convert_to_tensor(x)
    return tensor.sum() if axis is None and not keepdims else torch.sum(tensor, dim=_all_or(axis), keepdim=keepdims)


@_operation("Mean")
def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    tensor = convert_to_tensor(x)
    if not tensor.is_floating_point():  # Keras averages integers in float32
        tensor = tensor.float()
    return tensor.mean() if axis is None and not keepdims else torch.mean(tensor, dim=_all_or(axis), keepdim=keepdims)


@_operation("Max")
def max(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    return torch.amax(convert_to_tensor(x), dim=_all_or(axis), keepdim=keepdims)


@_operation("Min")
def min(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    return torch.amin(convert_to_tensor(x), dim=_all_or(axis), keepdim=keepdims)


@_operation("Argmax")
def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Indices as int32, Keras's index dtype."""
    return torch.argmax(convert_to_tensor(x), dim=axis, keepdim=keepdims).to(torch.int32)


# -- activations (Keras's ``ops.nn``) ------------------------------------------------------
@_operation("Sigmoid", module=NN)
def sigmoid(x: Any) -> torch.Tensor:
    return torch.sigmoid(convert_to_tensor(x))


@_operation("Tanh")
def tanh(x: Any) -> torch.Tensor:
    return torch.tanh(convert_to_tensor(x))


@_operation("Relu", module=NN)
def relu(x: Any) -> torch.Tensor:
    return torch.relu(convert_to_tensor(x))


@_operation("Relu6", module=NN)
def relu6(x: Any) -> torch.Tensor:
    return F.relu6(convert_to_tensor(x))


@_operation("Elu", module=NN)
def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    return F.elu(convert_to_tensor(x), alpha)


@_operation("Selu", module=NN)
def selu(x: Any) -> torch.Tensor:
    return F.selu(convert_to_tensor(x))


@_operation("Gelu", module=NN)
def gelu(x: Any, approximate: bool = True) -> torch.Tensor:
    """Keras's default is the tanh approximation."""
    return F.gelu(convert_to_tensor(x), approximate="tanh" if approximate else "none")


@_operation("Silu", module=NN)
def silu(x: Any) -> torch.Tensor:
    return F.silu(convert_to_tensor(x))


swish = silu


@_operation("Softplus", module=NN)
def softplus(x: Any) -> torch.Tensor:
    return F.softplus(convert_to_tensor(x))


@_operation("Softsign", module=NN)
def softsign(x: Any) -> torch.Tensor:
    return F.softsign(convert_to_tensor(x))


@_operation("HardSigmoid", module=NN)
def hard_sigmoid(x: Any) -> torch.Tensor:
    """``relu6(x + 3) / 6``, Keras 3's hard sigmoid."""
    return F.relu6(convert_to_tensor(x) + 3.0) / 6.0


@_operation("LeakyRelu", module=NN)
def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    return F.leaky_relu(convert_to_tensor(x), negative_slope)


@_operation("Softmax", module=NN)
def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.softmax(convert_to_tensor(x), dim=axis)


@_operation("LogSoftmax", module=NN)
def log_softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.log_softmax(convert_to_tensor(x), dim=axis)


__all__ = [
    "abs",
    "add",
    "argmax",
    "cast",
    "clip",
    "concatenate",
    "convert_to_tensor",
    "divide",
    "elu",
    "exp",
    "expand_dims",
    "gelu",
    "hard_sigmoid",
    "leaky_relu",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "ones",
    "ones_like",
    "relu",
    "relu6",
    "reshape",
    "selu",
    "shape",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "subtract",
    "sum",
    "swish",
    "tanh",
    "transpose",
    "where",
    "zeros",
    "zeros_like",
]
