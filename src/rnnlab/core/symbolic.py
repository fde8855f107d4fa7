"""Symbolic tensors for the functional API: ``KerasTensor`` (a shape and a dtype, no data) and the
``Node`` that records one layer call on them.

Calling a layer on symbolic tensors builds the layer from their shapes and returns symbolic
outputs of the shapes ``compute_output_shape`` gives; the calls form the graph a functional
``Model(inputs, outputs)`` runs, in topological order, on real tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

if TYPE_CHECKING:
    from .layer import Layer

_tensor_count = [0]


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


class Node:
    """One call of ``layer`` on symbolic tensors: its arguments (symbolic tensors in place) and outputs."""

    def __init__(self, layer: Layer, args: tuple[Any, ...], kwargs: dict[str, Any], outputs: Any) -> None:
        self.layer = layer
        self.args, self.kwargs = args, kwargs
        self.outputs = outputs
        self.output_tensors: list[KerasTensor] = flatten(outputs)
        for index, tensor in enumerate(self.output_tensors):
            tensor.node, tensor.index = self, index
        self.input_tensors: list[KerasTensor] = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        layer._inbound_nodes.append(self)

    @property
    def parents(self) -> list[Node]:
        return [t.node for t in self.input_tensors if t.node is not None]


# -- nested structures (a tensor, or lists, tuples and dicts of them) ---------------------------
def flatten(structure: Any) -> list[Any]:
    """The leaves of nested lists, tuples and dicts, in order (dicts by their keys' order)."""
    return list(_leaves(structure))


def _leaves(structure: Any) -> Iterator[Any]:
    if isinstance(structure, (list, tuple)):
        for item in structure:
            yield from _leaves(item)
    elif isinstance(structure, dict):
        for item in structure.values():
            yield from _leaves(item)
    else:
        yield structure


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, item) for key, item in structure.items()}
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
