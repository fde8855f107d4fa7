"""Symbolic tensors for the functional API: ``KerasTensor`` (a shape and a dtype, no data), the
``Node`` that records one layer call on them, and the ``Operation`` that records one of Keras's ops.

Calling a layer on symbolic tensors builds the layer from their shapes and returns symbolic
outputs of the shapes ``compute_output_shape`` gives; an operator (``a + b``, ``x[:, -1]``) or an
``rnnlab.ops`` function on them records an ``Operation`` instead, as Keras 3 does. The calls form
the graph a functional ``Model(inputs, outputs)`` runs, in topological order, on real tensors.
"""

from __future__ import annotations

import inspect
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import torch

if TYPE_CHECKING:
    from .layer import Layer

_tensor_count = [0]
_name_counts: defaultdict[str, int] = defaultdict(int)


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """'lstm', then 'lstm_1', 'lstm_2', ... as Keras names layers and operations (one count for both)."""
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names() -> None:
    """Restart automatic layer, operation and symbolic tensor names (Keras's ``clear_session`` for names)."""
    _name_counts.clear()
    reset_tensor_names()


def reset_tensor_names() -> None:
    """Restart the symbolic tensors' names at 'keras_tensor' (with the layers' names, as Keras's ``clear_session``)."""
    _tensor_count[0] = 0


def _tensor_name() -> str:
    """'keras_tensor', 'keras_tensor_1', ... as Keras names symbolic tensors."""
    count = _tensor_count[0]
    _tensor_count[0] += 1
    return "keras_tensor" if count == 0 else f"keras_tensor_{count}"


class KerasHistory(NamedTuple):
    """Where a symbolic tensor comes from: the layer, which of its calls, which of that call's outputs."""

    operation: Any
    node_index: int
    tensor_index: int


class KerasTensor:
    """A tensor's shape and dtype without its data: what ``Input(...)`` and layers called on it return.

    ``shape`` includes the batch axis (``None`` where a size is not known); ``node`` is the layer
    call that produced it and ``index`` its place among that call's outputs.
    """

    def __init__(
        self, shape: tuple[int | None, ...], dtype: str = "float32", name: str | None = None, node: Node | None = None
    ) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name or _tensor_name()
        self.node = node
        self.index = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def _keras_history(self) -> KerasHistory:
        assert self.node is not None
        return KerasHistory(self.node.layer, self.node.layer._inbound_nodes.index(self.node), self.index)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, ragged=False, name={self.name}>"

    def __bool__(self) -> bool:
        raise TypeError(
            "A symbolic tensor has no value, so it cannot be used as a condition: it stands for the data a "
            "functional model receives later. Compute with layers (e.g. Lambda) instead."
        )

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self!r} is symbolic (it comes from rnnlab.Input): it cannot become an array. Build a "
            "Model(inputs, outputs) from it and call that model on data."
        )

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"{self!r} is symbolic: it cannot be iterated over, as its batch size is not known. Index it "
            "(x[:, 0]) or split it with rnnlab.ops.split(x, n, axis) instead."
        )

    # Keras's operators: each records one operation of the graph and returns its symbolic output.
    def __add__(self, other: Any) -> Any:
        return apply_operation("Add", self, other)

    def __radd__(self, other: Any) -> Any:
        return apply_operation("Add", other, self)

    def __sub__(self, other: Any) -> Any:
        return apply_operation("Subtract", self, other)

    def __rsub__(self, other: Any) -> Any:
        return apply_operation("Subtract", other, self)

    def __mul__(self, other: Any) -> Any:
        return apply_operation("Multiply", self, other)

    def __rmul__(self, other: Any) -> Any:
        return apply_operation("Multiply", other, self)

    def __matmul__(self, other: Any) -> Any:
        return apply_operation("Matmul", self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return apply_operation("Matmul", other, self)

    def __truediv__(self, other: Any) -> Any:
        return apply_operation("TrueDivide", self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return apply_operation("TrueDivide", other, self)

    def __floordiv__(self, other: Any) -> Any:
        return apply_operation("FloorDivide", self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return apply_operation("FloorDivide", other, self)

    def __mod__(self, other: Any) -> Any:
        return apply_operation("Mod", self, other)

    def __rmod__(self, other: Any) -> Any:
        return apply_operation("Mod", other, self)

    def __pow__(self, other: Any) -> Any:
        return apply_operation("Power", self, other)

    def __rpow__(self, other: Any) -> Any:
        return apply_operation("Power", other, self)

    def __neg__(self) -> Any:
        return apply_operation("Negative", self)

    def __abs__(self) -> Any:
        return apply_operation("Absolute", self)

    def __round__(self, ndigits: int | None = None) -> Any:
        return apply_operation("Round", self, decimals=ndigits or 0)

    def __lt__(self, other: Any) -> Any:
        return apply_operation("Less", self, other)

    def __le__(self, other: Any) -> Any:
        return apply_operation("LessEqual", self, other)

    def __gt__(self, other: Any) -> Any:
        return apply_operation("Greater", self, other)

    def __ge__(self, other: Any) -> Any:
        return apply_operation("GreaterEqual", self, other)

    def __ne__(self, other: Any) -> Any:  # no __eq__, as in Keras: == stays identity (tensors are dict keys)
        return apply_operation("NotEqual", self, other)

    def __and__(self, other: Any) -> Any:
        return apply_operation("LogicalAnd", self, other)

    def __rand__(self, other: Any) -> Any:
        return apply_operation("LogicalAnd", other, self)

    def __or__(self, other: Any) -> Any:
        return apply_operation("LogicalOr", self, other)

    def __ror__(self, other: Any) -> Any:
        return apply_operation("LogicalOr", other, self)

    def __xor__(self, other: Any) -> Any:
        return apply_operation("LogicalXor", self, other)

    def __rxor__(self, other: Any) -> Any:
        return apply_operation("LogicalXor", other, self)

    def __invert__(self) -> Any:
        return apply_operation("LogicalNot", self)

    def __getitem__(self, key: Any) -> Any:
        return apply_operation("GetItem", self, key)

    __hash__ = object.__hash__


class Node:
    """One call of ``layer`` (or of an ``Operation``) on symbolic tensors: its arguments (symbolic
    tensors in place) and outputs."""

    def __init__(self, layer: Layer | Operation, args: tuple[Any, ...], kwargs: dict[str, Any], outputs: Any) -> None:
        self.layer = layer
        self.args, self.kwargs = args, kwargs
        self.outputs = outputs
        self.output_tensors: list[KerasTensor] = flatten(outputs)
        for index, tensor in enumerate(self.output_tensors):
            tensor.node, tensor.index = self, index
        self.input_tensors: list[KerasTensor] = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        layer._inbound_nodes.append(self)

    @property
    def input_tensors_or_one(self) -> Any:
        return self.input_tensors[0] if len(self.input_tensors) == 1 else list(self.input_tensors)

    @property
    def output_tensors_or_one(self) -> Any:
        return self.output_tensors[0] if len(self.output_tensors) == 1 else list(self.output_tensors)

    @property
    def parents(self) -> list[Node]:
        return [t.node for t in self.input_tensors if t.node is not None]


# -- nested structures (a tensor, or lists, tuples and dicts of them) ---------------------------
def flatten(structure: Any) -> list[Any]:
    """The leaves of nested lists, tuples and dicts, in order (dicts by sorted key, as Keras's tree does)."""
    return list(_leaves(structure))


def sorted_keys(mapping: dict[Any, Any]) -> list[Any]:
    """A dict's keys in Keras's flattening order: sorted (insertion order where keys do not compare)."""
    try:
        return sorted(mapping)
    except TypeError:
        return list(mapping)


def _leaves(structure: Any) -> Iterator[Any]:
    if isinstance(structure, (list, tuple)):
        for item in structure:
            yield from _leaves(item)
    elif isinstance(structure, dict):
        for key in sorted_keys(structure):
            yield from _leaves(structure[key])
    else:
        yield structure


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, structure[key]) for key in sorted_keys(structure)}
    return fn(structure)


def is_symbolic(*structures: Any) -> bool:
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(structures))


def is_shape(value: Any) -> bool:
    """A shape is a tuple or list of sizes; a list of shapes is a structure."""
    return isinstance(value, (tuple, list)) and all(size is None or isinstance(size, int) for size in value)


# -- calling a layer on symbolic tensors --------------------------------------------------------
def call_layer(
    layer: Layer, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output_shape: Any = None
) -> Any:
    """Build ``layer`` from the symbolic inputs' shapes, record the call and return symbolic outputs.

    ``output_shape``: for a layer whose outputs depend on call arguments (Attention's
    ``return_attention_scores``); by default ``compute_output_shape`` of the inputs' shapes.
    """
    for leaf in flatten(inputs):
        if not isinstance(leaf, KerasTensor):
            raise TypeError(
                f"Layer '{layer.name}' was called on symbolic tensors mixed with {type(leaf).__name__}: in a "
                "functional model every input of a layer must come from rnnlab.Input(...) or another layer's "
                "output. Make constants part of a layer (e.g. Lambda) instead."
            )
    input_shape = map_structure(lambda t: t.shape, inputs)
    layer.ensure_built(input_shape)
    if output_shape is None:
        output_shape = layer.compute_output_shape(input_shape)
    dtype = _output_dtype(layer, flatten(inputs)[0])
    outputs = _shapes_to_tensors(output_shape, dtype)
    Node(layer, (inputs, *args), kwargs, outputs)
    return outputs


def _shapes_to_tensors(shape: Any, dtype: str) -> Any:
    if is_shape(shape):
        return KerasTensor(tuple(shape), dtype)
    if isinstance(shape, dict):
        return {key: _shapes_to_tensors(value, dtype) for key, value in shape.items()}
    if isinstance(shape, tuple):  # a model's tuple of outputs stays a tuple, as its eager call's does
        return tuple(_shapes_to_tensors(s, dtype) for s in shape)
    return [_shapes_to_tensors(s, dtype) for s in shape]


def _output_dtype(layer: Layer, first_input: KerasTensor) -> str:
    """The layer's own dtype when it has one or holds weights (Embedding turns ids into floats); else
    the input's (Reshape keeps token ids integers)."""
    weight = next(layer.parameters(), None)
    if layer._dtype is not None:
        return str(layer._dtype).removeprefix("torch.")
    if weight is not None:
        return str(weight.dtype).removeprefix("torch.")
    if first_input.dtype.startswith(("int", "uint", "bool")) and type(layer).__name__ not in _INTEGER_KEEPING:
        return str(torch.get_default_dtype()).removeprefix("torch.")
    return first_input.dtype


# Weightless layers that pass integer inputs on unchanged (others compute in floats).
_INTEGER_KEEPING = {"InputLayer", "Reshape", "Flatten", "Permute", "RepeatVector", "Lambda", "Masking"}


# -- Keras's operations on symbolic tensors ------------------------------------------------------
class Operation:
    """One of Keras's ops in a functional graph: ``Add`` for ``a + b``, ``Sum`` for ``ops.sum(x, axis=1)``.

    Each kind is a subclass named as Keras names it (``type(op).__name__ == "Add"``) whose ``function``
    computes on torch tensors; ``options`` are the op's Keras config (its arguments other than
    tensors, ``axis=1``). Called on symbolic tensors it records a ``Node`` and returns symbolic
    outputs whose shapes and dtypes come from running ``function`` on two small probes (the sizes
    that differ between them are the unknown ones); called on tensors it computes. It has no
    weights and is no layer: ``model.layers`` leaves it out and ``summary()`` lists it, as in Keras.
    """

    module = "keras.src.ops.numpy"  # where Keras defines it, as its .keras config says
    function: Callable[..., Any]
    built = True

    def __init__(self, name: str | None = None, **options: Any) -> None:
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.options = options
        self._inbound_nodes: list[Node] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not is_symbolic(args, kwargs):
            return self.compute(*args, **kwargs)
        args, kwargs = map_structure(_as_constant, (args, kwargs))
        outputs = self._symbolic_outputs(args, kwargs)
        Node(self, args, kwargs, outputs)
        return outputs

    def compute(self, *args: Any, **kwargs: Any) -> Any:
        device = next((t.device for t in flatten((args, kwargs)) if isinstance(t, torch.Tensor)), None)
        args, kwargs = map_structure(lambda t: t.to(device) if isinstance(t, torch.Tensor) else t, (args, kwargs))
        return type(self).function(*args, **kwargs, **self.options)

    def _symbolic_outputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        probes = [_probe((args, kwargs), size) for size in PROBE_SIZES]
        try:
            small, large = (self.compute(*probe_args, **probe_kwargs) for probe_args, probe_kwargs in probes)
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            shapes = [t.shape for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
            raise ValueError(
                f"Operation '{self.name}' ({type(self).__name__}) cannot take symbolic tensors of shapes {shapes}: "
                f"{err}"
            ) from None
        return _symbolic_like(small, large)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Operation:
        """The operation of a Keras config, less options Keras writes at their default of None that the
        rnnlab function has no parameter for (``Max``'s ``initial``)."""
        options = {k: v for k, v in config.items() if k != "name"}
        try:
            parameters: Any = inspect.signature(cls.function).parameters
        except ValueError:  # a builtin without a signature takes its tensors only
            parameters = {}
        unknown = {k: v for k, v in options.items() if k not in parameters}
        if any(value is not None for value in unknown.values()):
            raise ValueError(
                f"Keras's operation {cls.__name__} with {unknown} has no rnnlab form: rnnlab's {cls.__name__} "
                f"takes {[p for p in parameters if p not in ('x', 'x1', 'x2', 'xs')]}."
            )
        return cls(name=config.get("name"), **{k: v for k, v in options.items() if k not in unknown})

    def count_params(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<Operation {type(self).__name__} name={self.name}>"


OPERATIONS: dict[str, type[Operation]] = {}  # Keras's class name -> its rnnlab operation class


def operation_class(
    class_name: str, function: Callable[..., Any], module: str = "keras.src.ops.numpy"
) -> type[Operation]:
    """The operation class Keras names ``class_name``, computing ``function``: registered on first use,
    so that configs naming it can be read."""
    if class_name not in OPERATIONS:
        namespace = {"function": staticmethod(function), "module": module, "__doc__": f"Keras's ``{class_name}``."}
        OPERATIONS[class_name] = cast(type[Operation], type(class_name, (Operation,), namespace))
    return OPERATIONS[class_name]


def apply_operation(class_name: str, *args: Any, **options: Any) -> Any:
    return OPERATIONS[class_name](**options)(*args)


def is_operation_config(spec: dict[str, Any]) -> bool:
    """Whether a functional config's entry is one of Keras's ops (``"module": "keras.src.ops.numpy"``)."""
    return str(spec.get("module", "")).startswith("keras.src.ops.")


def operation_from_config(spec: dict[str, Any]) -> Operation:
    class_name = spec.get("class_name")
    if class_name not in OPERATIONS:
        raise ValueError(
            f"The config holds Keras's operation {class_name!r} (module {spec.get('module')!r}), which rnnlab does "
            f"not have; it has {sorted(OPERATIONS)}. Write that step as a layer (e.g. Lambda) in Keras."
        )
    return OPERATIONS[class_name].from_config(spec.get("config", {}))


def _as_constant(value: Any) -> Any:
    """A NumPy array beside symbolic tensors becomes the tensor the graph keeps (and saves)."""
    return torch.as_tensor(value) if isinstance(value, np.ndarray) else value


# The sizes an unknown axis takes in the two probes: large enough for the indices programs use
# (x[:, 5]), small enough that an operation on probes of a large layer costs little.
PROBE_SIZES = (13, 17)


def _probe(structure: Any, size: int) -> Any:
    """The structure with each symbolic tensor replaced by ones of its shape, ``size`` for unknown sizes."""

    def probe(item: Any) -> Any:
        if not isinstance(item, KerasTensor):
            return item
        shape = tuple(size if s is None else s for s in item.shape)
        return torch.ones(shape, dtype=getattr(torch, item.dtype))

    return map_structure(probe, structure)


def _symbolic_like(small: Any, large: Any) -> Any:
    """Symbolic tensors for an operation's results on the two probes: a size that differs is unknown."""
    if isinstance(small, (list, tuple)):
        return type(small)(_symbolic_like(a, b) for a, b in zip(small, large, strict=True))
    shape = tuple(a if a == b else None for a, b in zip(small.shape, large.shape, strict=True))
    return KerasTensor(shape, str(small.dtype).removeprefix("torch."))


def _get_item(x: torch.Tensor, key: Any) -> torch.Tensor:
    return x[tuple(key) if isinstance(key, list) else key]  # a config gives the key's tuple as a list


def _round(x: torch.Tensor, decimals: int = 0) -> torch.Tensor:
    return torch.round(x, decimals=decimals)


def _logical(function: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def logical(x1: Any, x2: Any = None) -> torch.Tensor:
        return function(*(torch.as_tensor(x) for x in (x1, x2) if x is not None))

    return logical


_OPERATORS: dict[str, Callable[..., Any]] = {  # Keras's operator classes: what each computes on tensors
    "Add": operator.add,
    "Subtract": operator.sub,
    "Multiply": operator.mul,
    "Matmul": operator.matmul,
    "TrueDivide": operator.truediv,
    "Divide": operator.truediv,
    "FloorDivide": operator.floordiv,
    "Mod": operator.mod,
    "Power": operator.pow,
    "Negative": operator.neg,
    "Absolute": operator.abs,
    "Round": _round,
    "Less": operator.lt,
    "LessEqual": operator.le,
    "Greater": operator.gt,
    "GreaterEqual": operator.ge,
    "NotEqual": operator.ne,
    "Equal": operator.eq,
    "LogicalAnd": _logical(torch.logical_and),
    "LogicalOr": _logical(torch.logical_or),
    "LogicalXor": _logical(torch.logical_xor),
    "LogicalNot": _logical(torch.logical_not),
    "GetItem": _get_item,
}
for _class_name, _function in _OPERATORS.items():
    operation_class(_class_name, _function)
