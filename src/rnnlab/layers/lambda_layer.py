"""Lambda: a Python function as a layer, saved the way Keras saves it."""

from __future__ import annotations

import base64
import binascii
import inspect
import marshal
import types
from collections.abc import Callable
from typing import Any

import torch

from ..core import activations, symbolic
from ..core.layer import Layer, Shape, inside_model_call, resolve_training, to_tensor

UNSAFE_LAMBDA = (
    "Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. This carries a "
    "potential risk of arbitrary code execution and thus it is disallowed by default. If you trust the source "
    "of the artifact, you can override this error by passing `safe_mode=False` to the loading function."
)


class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` as a layer.

    Args:
        function: takes the input tensor first; it also receives ``mask=`` and ``training=``
            when its signature names them.
        output_shape: the output's shape without the batch axis (a tuple), or a function of the
            whole input shape; without it ``compute_output_shape`` runs ``function`` on zeros.
        mask: None (the layer passes no mask on), a function ``(inputs, mask) -> mask``, or a
            tensor returned as the mask whatever the input.
        arguments: keyword arguments for ``function``.

    As in Keras, a lambda (``lambda x: x**2``) is saved as Python bytecode, which only the same
    Python version can load, and loading it runs code: ``from_config`` refuses it unless given
    ``safe_mode=False``. A named function is saved by name and found again through
    ``custom_objects`` (or among rnnlab's activations); prefer a ``Layer`` subclass for models
    that travel.

    >>> Lambda(lambda x: x**2)(torch.tensor([[2.0, 3.0]])).tolist()
    [[4.0, 9.0]]
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        if not callable(function):
            raise TypeError(f"Lambda takes a callable as its function, received {type(function).__name__}.")
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        parameters = _parameter_names(function)
        self._passes_mask = "mask" in parameters
        self.uses_training = "training" in parameters

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if symbolic.is_symbolic(inputs, args, kwargs):  # building a functional model: record the call
            return symbolic.call_layer(self, inputs, args, kwargs)
        if isinstance(inputs, list | tuple):  # a function of several tensors: Lambda(lambda xs: xs[0] + xs[1])
            return torch.nn.Module.__call__(self, [to_tensor(x) for x in inputs], *args, **kwargs)
        return super().__call__(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Any:
        if self._output_shape is None:
            return self._traced_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        first: Any = input_shape
        while first and isinstance(first[0], list | tuple):  # several inputs: the first one's batch
            first = first[0]
        return (first[0] if first else None, *self._output_shape)

    def _traced_output_shape(self, input_shape: Shape) -> Shape:
        """The function run on zeros of the input shape (unknown sizes taken as 1), on the meta device."""
        try:
            probe = torch.zeros([1 if size is None else size for size in input_shape], device="meta")
            out = self.function(probe, **self.arguments)
        except Exception as err:
            raise NotImplementedError(
                "We could not automatically infer the shape of the Lambda's output. Please specify the "
                f"`output_shape` argument for this Lambda layer ({type(err).__name__}: {err})."
            ) from None
        return (input_shape[0], *out.shape[1:])

    def forward(self, inputs: torch.Tensor, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if self._passes_mask:
            kwargs["mask"] = mask
        if self.uses_training:  # Keras: the argument, else the enclosing model call's, else None
            if training is None and inside_model_call():
                training = resolve_training(self, None)
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    # -- config, as Keras writes it ------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "function": serialize_function(self.function)}
        if self._output_shape is not None:
            shape = self._output_shape
            config["output_shape"] = serialize_function(shape) if callable(shape) else shape
        if self.mask is not None:
            config["mask"] = serialize_function(self.mask) if callable(self.mask) else _serialize_tensor(self.mask)
        config["arguments"] = self.arguments
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None, safe_mode: bool | None = None
    ) -> Lambda:
        """Rebuild from ``get_config()``; a lambda's bytecode loads only with ``safe_mode=False``."""
        config = dict(config)
        safe = safe_mode is not False
        config["function"] = deserialize_function(config["function"], custom_objects, safe)
        shape = config.get("output_shape")
        if isinstance(shape, dict):
            config["output_shape"] = deserialize_function(shape, custom_objects, safe)
        elif isinstance(shape, list) and all(isinstance(size, int | type(None)) for size in shape):
            config["output_shape"] = tuple(shape)
        mask = config.get("mask")
        if isinstance(mask, dict):
            config["mask"] = (
                _deserialize_tensor(mask)
                if mask.get("class_name") == "__tensor__"
                else deserialize_function(mask, custom_objects, safe)
            )
        return cls(**config)


def _parameter_names(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return set()


def serialize_function(fn: Callable[..., Any]) -> dict[str, Any]:
    """Keras's form of a function in a config: a lambda as base64 marshal bytecode
    (``{"class_name": "__lambda__", ...}``), any other function by its name."""
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        closure = tuple(cell.cell_contents for cell in fn.__closure__) if fn.__closure__ else None
        code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": fn.__defaults__, "closure": closure}}
    name = getattr(fn, "__name__", None)
    if name is None:
        raise ValueError(f"Invalid input type for serialization. Received: {fn} of type {type(fn)}.")
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def deserialize_function(spec: Any, custom_objects: dict[str, Any] | None, safe: bool) -> Callable[..., Any]:
    """The function a config names: a lambda's bytecode (only when not ``safe``), else a name looked up
    in ``custom_objects``, then in rnnlab's activations."""
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    if isinstance(spec, dict) and spec.get("class_name") == "__lambda__":
        if safe:
            raise ValueError(UNSAFE_LAMBDA)
        return _load_lambda(spec["config"])
    name = spec.get("config") if isinstance(spec, dict) else spec
    if isinstance(name, str):
        if custom_objects and name in custom_objects:
            return custom_objects[name]  # type: ignore[no-any-return]
        if name in activations.ACTIVATIONS:
            return activations.ACTIVATIONS[name]
    raise ValueError(
        f"Lambda function {name!r} is not known here: pass it as custom_objects={{{name!r}: {name}}} "
        "when loading (functions are saved by name only)."
    )


def _load_lambda(config: dict[str, Any]) -> Callable[..., Any]:
    try:
        code = marshal.loads(base64.decodebytes(str(config["code"]).encode("ascii")))
    except (binascii.Error, ValueError, EOFError, TypeError) as err:
        raise ValueError(
            f"The Lambda's bytecode cannot be loaded ({err}): it was saved by another Python version. "
            "Rebuild the layer from its source instead."
        ) from None
    defaults = config.get("defaults")
    closure = config.get("closure")
    cells = tuple(types.CellType(value) for value in closure) if closure is not None else None
    return types.FunctionType(code, globals(), code.co_name, tuple(defaults) if defaults else None, cells)


def _serialize_tensor(value: Any) -> dict[str, Any]:
    tensor = torch.as_tensor(value)
    return {
        "class_name": "__tensor__",
        "config": {"value": tensor.tolist(), "dtype": str(tensor.dtype).removeprefix("torch.")},
    }


TENSOR_DTYPES = {name: getattr(torch, name) for name in ("bool", "int32", "int64", "float16", "float32", "float64")}


def _deserialize_tensor(spec: dict[str, Any]) -> torch.Tensor:
    dtype = spec["config"].get("dtype", "float32")
    if dtype not in TENSOR_DTYPES:
        raise ValueError(f"A Lambda mask of dtype {dtype!r} is not supported; expected one of {sorted(TENSOR_DTYPES)}.")
    return torch.tensor(spec["config"]["value"], dtype=TENSOR_DTYPES[dtype])
