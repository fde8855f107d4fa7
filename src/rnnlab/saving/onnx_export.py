"""ONNX export of a Sequential or functional model, checked to run in ONNX Runtime.

The graph is written with ``onnx.helper``. Each layer becomes its ONNX form: Embedding a
``Gather``, Dense a ``MatMul`` (+ ``Add``, activation), Dropout the identity, Masking its mask and
zeroed steps, LayerNormalization ONNX's own, the merging layers their elementwise ops or
``Concat``, and the recurrent layers and Bidirectional their operator or ``Scan``
(``onnx_recurrent``, ``onnx_loop``), with ``initial_state`` and ``return_state`` as a functional
model wires them (an encoder's states starting a decoder).
A model used as a layer (a shared encoder, a Sequential inside) has its layers inlined, once per call.
Other layers without a mask on their inputs (Conv1D, pooling, Lambda, Attention, Dense with another
activation, ...) are their forward traced by ``torch.onnx`` (``onnx_trace``), checked at other sizes.

Masks (``Embedding(mask_zero=True)``, ``Masking``) are computed in the graph, ``(B, T)`` booleans
that follow Keras's rules from layer to layer, and any pattern of them is exact.

Batch and time are dynamic axes: one file serves every batch size and length. A Sequential model's
graph reads ``inputs`` and writes ``outputs``; a functional model's reads its Inputs by their names
and writes its outputs by ``model.output_names``. A stateful layer's states, which an ONNX graph
cannot keep between calls, are extra inputs ``<layer>_state_<k>`` and outputs ``<layer>_state_<k>_out``:
zeros for the first call, then each call's outputs, as the layer carries them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import torch

from ..core.files import atomic_path
from ..core.layer import Layer
from ..core.symbolic import KerasTensor, Operation, flatten, map_structure
from ..layers import RNN, Bidirectional, Dense, Dropout, Embedding
from ..layers.core import InputLayer, Masking
from ..layers.merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from ..layers.normalization import LayerNormalization
from .onnx_graph import Graph, Unsupported, numpy_of
from .onnx_recurrent import HARD_SIGMOID, ONNX_ACTIVATIONS, OPSET, bidirectional, recurrent
from .onnx_trace import inline, trace

MASKED = "Embedding, Masking, Dense, Dropout, LayerNormalization and the recurrent layers"
DENSE_ACTIVATIONS = ("linear", "softmax", *ONNX_ACTIVATIONS)
MERGES = {Add: "Sum", Maximum: "Max", Minimum: "Min", Average: "Mean"}


@dataclass
class Value:
    """A tensor of the graph under construction: its name, its mask's name and whether it holds ids."""

    name: str
    mask: str | None = None
    ids: bool = False
    shape: tuple[Any, ...] | None = None  # batch first, None where free; known for the layers' inputs


@dataclass
class Call:
    """One layer call (or operation): the keys of the values it reads and writes (``initial_state`` among
    its inputs)."""

    layer: Layer | OperationStep
    inputs: list[Any]
    outputs: list[Any]
    initial_state: list[Any] = field(default_factory=list)
    shapes: list[Any] = field(default_factory=list)  # of the outputs, where the model recorded them


def build_onnx(model: Any) -> Any:
    """The ONNX ``ModelProto`` of ``model``; a ValueError naming the first layer that cannot be exported."""
    import onnx
    from onnx import helper

    if not getattr(model, "built", False):
        raise ValueError("ONNX export needs a built model: give it Input((time, features)) or call it once first.")
    kind = _model_kind(model)
    if kind == "Functional":
        inputs, outputs, calls = _functional(model)
    elif kind == "Sequential" and model.stack:
        inputs, outputs, calls = _sequential(model)
    elif kind == "Sequential":
        raise ValueError("ONNX export needs a built model: give it Input((time, features)) or call it once first.")
    else:
        raise ValueError(
            f"ONNX export reads Sequential and functional models; received {type(model).__name__}. "
            "Rebuild it as Sequential([...]) or Model(inputs, outputs), or export it with format='torch'."
        )
    graph = Graph()
    values = {
        key: Value(info.name, ids=info.type.tensor_type.elem_type != onnx.TensorProto.FLOAT, shape=shape)
        for key, info, shape in inputs
    }
    for call in calls:
        try:
            produced = _call(graph, call, values)
        except Unsupported as err:
            layer = call.layer
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) cannot be exported to ONNX: {err}."
            ) from None
        for value, shape in zip(produced, call.shapes, strict=False):
            value.shape = value.shape or (tuple(shape) if isinstance(shape, (tuple, list)) else None)
        values.update(zip(call.outputs, produced, strict=True))
    for key, info in outputs:
        graph.nodes.append(helper.make_node("Identity", [values[key].name], [info.name]))
    onnx_graph = helper.make_graph(
        graph.nodes,
        model.name or "model",
        [info for _, info, _ in inputs] + graph.state_inputs,
        [info for _, info in outputs] + graph.state_outputs,
        graph.initializers,
    )
    proto = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rnnlab")
    onnx.checker.check_model(proto)
    return proto


def _refuse(layer: Layer, reason: str) -> NoReturn:
    raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) cannot be exported to ONNX: {reason}.")


def _tensor_info(name: str, shape: tuple[Any, ...], ids: bool, time: str = "time") -> Any:
    """An ONNX input or output: float (int64 for token ids), batch and a free time axis named."""
    from onnx import TensorProto, helper

    dims: list[Any] = ["batch", *shape[1:]]
    if len(dims) > 2 and dims[1] is None:
        dims[1] = time
    return helper.make_tensor_value_info(name, TensorProto.INT64 if ids else TensorProto.FLOAT, dims)


def _sequential(model: Any) -> tuple[list[Any], list[Any], list[Call]]:
    layers = list(model.stack)
    first = layers[0].forward_layer if isinstance(layers[0], Bidirectional) else layers[0]
    spec = getattr(model, "input_spec", None)
    spec_shape = getattr(spec, "shape", None)
    if spec_shape:
        shape: tuple[Any, ...] = (None, *spec_shape)
    elif isinstance(first, Embedding):
        shape = (None, None)
    else:  # built by a call: the first layer knows its features
        features = first.cell.input_dim if isinstance(first, RNN) else getattr(first, "input_dim", None)
        shape = (None, None, features)
    shapes = list(getattr(model, "_output_shapes", None) or [None])
    output = _tensor_info("outputs", (None,) * len(shapes[-1] or (None,) * 3), ids=False)
    ids = isinstance(first, Embedding) or "int" in str(getattr(spec, "dtype", ""))
    calls = _model_calls(model, [0], ["outputs"], ())
    return [(0, _tensor_info("inputs", shape, ids=ids), shape)], [("outputs", output)], calls


def _functional(model: Any) -> tuple[list[Any], list[Any], list[Call]]:
    inputs = [
        (id(t), _tensor_info(t.name, (None, *t.shape[1:]), "int" in str(t.dtype), time=f"{t.name}_time"), t.shape)
        for t in model.inputs
    ]
    outputs = [
        (id(t), _tensor_info(name, (None,) * len(t.shape), ids=False, time=f"{name}_time"))
        for t, name in zip(model.outputs, model.output_names, strict=True)
    ]
    calls = _model_calls(model, [id(t) for t in model.inputs], [id(t) for t in model.outputs], ())
    return inputs, outputs, calls


def _model_kind(model: Any) -> str | None:
    """The model's kind, Functional or Sequential (None for a layer), read from the class's ancestry: the
    models sit on a floor above this one."""
    names = {cls.__name__ for cls in type(model).__mro__}
    return next((kind for kind in ("Functional", "Sequential") if kind in names), None)


def _model_calls(model: Any, inputs: list[Any], outputs: list[Any], scope: tuple[Any, ...]) -> list[Call]:
    """The layer calls of ``model``, a nested model's expanded in place: ``inputs`` and ``outputs`` are the
    keys of the values it reads and writes, its inner values are keyed under ``scope`` (one per call)."""
    if _model_kind(model) == "Functional":
        return _functional_calls(model, inputs, outputs, scope)
    layers = list(model.stack)
    for layer in layers:  # a Sequential passes one tensor from layer to layer
        if isinstance(layer, Bidirectional) and layer.merge_mode is None:
            _refuse(layer, "merge_mode=None returns two outputs; use concat, sum, mul or ave")
        if isinstance(layer, (RNN, Bidirectional)) and layer.return_state:
            _refuse(layer, "return_state=True gives several outputs; export the model without it")
    shapes = list(getattr(model, "_output_shapes", None) or [None] * len(layers))
    keys = [inputs[0], *((*scope, k) for k in range(1, len(layers))), outputs[0]]
    calls = []
    for index, layer in enumerate(layers):
        calls += _layer_calls(layer, [keys[index]], [keys[index + 1]], [], [shapes[index]], (*scope, index))
    return calls


def _functional_calls(model: Any, inputs: list[Any], outputs: list[Any], scope: tuple[Any, ...]) -> list[Call]:
    known = {id(t): key for t, key in zip(model.outputs, outputs, strict=True)}
    known.update({id(t): key for t, key in zip(model.inputs, inputs, strict=True)})

    def key(tensor: Any) -> Any:
        return known.get(id(tensor), (*scope, id(tensor)))

    calls = []
    for index, node in enumerate(model._nodes):
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        if isinstance(layer, Operation):  # a + b, x[:, -1], ops.sum: traced on its tensor arguments
            step = OperationStep(layer, node.args, node.kwargs)
            read = [key(t) for t in flatten((node.args, node.kwargs)) if isinstance(t, KerasTensor)]
            calls.append(
                Call(step, read, [key(t) for t in node.output_tensors], [], [t.shape for t in node.output_tensors])
            )
            continue
        first, *rest = node.args
        extra = {key: value for key, value in node.kwargs.items() if key not in ("initial_state", "training")}
        if any(flatten(rest)) or extra:
            what = sorted(extra) or "more positional arguments"
            _refuse(layer, f"it is called with {what}; ONNX export reads the inputs and initial_state")
        initial = [key(t) for t in flatten(node.kwargs.get("initial_state")) if t is not None]
        shapes = [t.shape for t in node.output_tensors]
        calls += _layer_calls(
            layer,
            [key(t) for t in flatten(first)],
            [key(t) for t in node.output_tensors],
            initial,
            shapes,
            (*scope, index),
        )
    return calls


def _layer_calls(
    layer: Layer, inputs: list[Any], outputs: list[Any], initial: list[Any], shapes: list[Any], scope: tuple[Any, ...]
) -> list[Call]:
    """One call, or a nested model's calls (its own graph, inlined)."""
    if _model_kind(layer) is not None:
        return _model_calls(layer, inputs, outputs, scope)
    return [Call(layer, inputs, outputs, initial, shapes)]


def _call(graph: Graph, call: Call, values: dict[Any, Value]) -> list[Value]:
    """One layer's nodes: the values it produces, one per output of the call."""
    from onnx import TensorProto

    layer = call.layer
    inputs = [values[key] for key in call.inputs]
    if isinstance(layer, OperationStep):
        return _traced(graph, layer, inputs)
    if not isinstance(layer, Embedding):  # a layer other than Embedding reads ids as numbers, as in eager mode
        inputs = [Value(graph.op("Cast", [v.name], to=TensorProto.FLOAT), v.mask) if v.ids else v for v in inputs]
    if isinstance(layer, (RNN, Bidirectional)):
        return _recurrent_layer(graph, layer, inputs[0], [values[key].name for key in call.initial_state] or None)
    if len(inputs) > 1 or isinstance(layer, (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)):
        return _merge(graph, layer, inputs)
    (x,) = inputs
    if isinstance(layer, Embedding):
        return [_embedding(graph, layer, x)]
    if isinstance(layer, Masking):
        return [_masking(graph, layer, x)]
    if isinstance(layer, Dense) and (layer.activation in DENSE_ACTIVATIONS or x.mask is not None):
        y = graph.op("MatMul", [x.name, graph.const("kernel", numpy_of(layer.kernel))])
        if layer.bias is not None:
            y = graph.op("Add", [y, graph.const("bias", numpy_of(layer.bias))])
        return [Value(_activation(graph, y, layer.activation), x.mask)]
    if isinstance(layer, (Dropout, InputLayer)):  # the identity at inference
        return [x]
    first = _trailing_axes(layer, x) if isinstance(layer, LayerNormalization) else None
    if isinstance(layer, LayerNormalization) and first is not None:  # the mask passes through
        return [Value(_layer_normalization(graph, layer, x, first), x.mask, shape=x.shape)]
    return _traced(graph, layer, inputs)


def _masking(graph: Graph, layer: Masking, x: Value) -> Value:
    """Masking's mask, ``any(x != mask_value, axis=-1)``, and its output, the masked steps zeroed."""
    from onnx import TensorProto

    differs = graph.op(
        "Cast",
        [graph.op("Not", [graph.op("Equal", [x.name, graph.const("mask_value", layer.mask_value)])])],
        to=TensorProto.FLOAT,
    )
    kept = graph.op("ReduceMax", [differs], axes=[-1], keepdims=1)  # (B, T, 1): 1 where a feature differs
    mask = graph.op("Cast", [graph.op("Squeeze", [kept, graph.const("axis", [-1], np.int64)])], to=TensorProto.BOOL)
    return Value(graph.op("Mul", [x.name, kept]), mask, shape=x.shape)


def _trailing_axes(layer: LayerNormalization, x: Value) -> int | None:
    """The first normalised axis, counted from the end, where they are the trailing axes (ONNX's
    LayerNormalization normalises from one axis to the last); None for other axes or rms_scaling."""
    if layer.rms_scaling or not x.shape:
        return None
    rank = len(x.shape)
    axes = sorted(a - rank if a >= 0 else a for a in layer.axes)
    return axes[0] if axes == list(range(-len(axes), 0)) else None


def _layer_normalization(graph: Graph, layer: LayerNormalization, x: Value, first: int) -> str:
    """ONNX's LayerNormalization: ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` over the trailing axes."""
    sizes = tuple(x.shape or ())[first:]  # the normalised axes: fixed when the layer was built
    gamma = numpy_of(layer.gamma) if layer.gamma is not None else np.ones(sizes, np.float32)
    inputs = [x.name, graph.const("gamma", gamma.reshape(sizes))]
    if layer.beta is not None:
        inputs.append(graph.const("beta", numpy_of(layer.beta).reshape(sizes)))
    return graph.op("LayerNormalization", inputs, axis=first, epsilon=layer.epsilon)


def _traced(graph: Graph, layer: Layer | OperationStep, inputs: list[Value]) -> list[Value]:
    """A layer without an ONNX form of its own (Conv1D, pooling, Lambda, Attention, Dense with another
    activation, LayerNormalization over other axes, ...): its forward traced with the free axes dynamic,
    unmasked inputs only."""
    if any(isinstance(m, (RNN, Bidirectional)) for m in layer.modules()):
        raise Unsupported("it holds recurrent layers, which a trace would unroll to one length; call them in the model")
    if any(v.mask is not None for v in inputs):
        raise Unsupported(f"a mask reaches it, and ONNX export applies masks in {MASKED}")
    if any(v.shape is None for v in inputs):
        raise Unsupported("its input shape is unknown: build the model from Input(...)")
    generator = torch.Generator().manual_seed(0)
    examples = tuple(
        torch.ones(_example_shape(v.shape, k), dtype=torch.int64)
        if v.ids
        else torch.randn(_example_shape(v.shape, k), generator=generator)
        for k, v in enumerate(inputs)
    )
    dynamic = [[axis for axis, size in enumerate(v.shape or ()) if size is None] for v in inputs]
    traced, _ = trace(_Forward(layer), examples, dynamic, "its forward", OPSET)
    nodes, outputs = inline(graph, traced, {f"input_{k}": v.name for k, v in enumerate(inputs)})
    graph.nodes.extend(nodes)
    return [Value(name) for name in outputs]


def _example_shape(shape: tuple[Any, ...] | None, k: int) -> tuple[int, ...]:
    """Batch 2, each free axis a length of its own (3 + k), so that the trace ties none to another."""
    return tuple(2 if axis == 0 else size or 3 + k for axis, size in enumerate(shape or ()))


class OperationStep(torch.nn.Module):
    """A Keras operation of a functional graph (``a + b``, ``x[:, -1]``, ``ops.sum``) as a module of its
    tensor arguments, in the order the graph lists them; its other arguments stay as recorded."""

    def __init__(self, operation: Operation, args: Any, kwargs: Any) -> None:
        super().__init__()
        self.operation, self.args, self.kwargs = operation, args, kwargs
        self.name = operation.name

    def forward(self, tensors: Any) -> Any:
        given = iter([tensors] if isinstance(tensors, torch.Tensor) else tensors)
        args, kwargs = map_structure(
            lambda t: next(given) if isinstance(t, KerasTensor) else t, (self.args, self.kwargs)
        )
        return self.operation.compute(*args, **kwargs)


class _Forward(torch.nn.Module):
    """``layer`` called as a model calls it: on its input, or on the list of its inputs."""

    def __init__(self, layer: Layer | OperationStep) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.layer(inputs[0] if len(inputs) == 1 else list(inputs))


def _embedding(graph: Graph, layer: Embedding, ids: Value) -> Value:
    if not ids.ids:
        raise Unsupported("an Embedding must read a model input of token ids (an Input with an integer dtype)")
    mask = None
    if layer.mask_zero:  # id 0 is padding, wherever it stands
        mask = graph.op("Not", [graph.op("Equal", [ids.name, graph.const("pad", 0, np.int64)])])  # (B, T)
    vectors = graph.op("Gather", [graph.const("embeddings", numpy_of(layer.embeddings)), ids.name], axis=0)  # (B, T, D)
    return Value(vectors, mask)


def _recurrent_layer(graph: Graph, layer: RNN | Bidirectional, x: Value, initial: list[str] | None) -> list[Value]:
    """The layer's outputs as Keras returns them: the output(s), then the final states with ``return_state``;
    the output keeps the input's mask when it keeps the time axis."""
    stateful = (layer.forward_layer if isinstance(layer, Bidirectional) else layer).stateful
    if stateful and initial is None:
        initial = _carried_states(graph, layer)
    if isinstance(layer, Bidirectional):
        outputs, states = bidirectional(graph, layer, x.name, x.mask, initial)
    else:
        output, states = recurrent(graph, layer, x.name, x.mask, initial)
        outputs = [output]
    if stateful:
        _return_states(graph, layer, states)
    mask = x.mask if layer.return_sequences else None
    produced = [Value(y, mask) for y in outputs]
    return produced + [Value(s) for s in states] if layer.return_state else produced


def _state_sizes(layer: RNN | Bidirectional) -> list[int]:
    if isinstance(layer, Bidirectional):
        return _state_sizes(layer.forward_layer) + _state_sizes(layer.backward_layer)
    return list(layer.cell.state_size)


def _carried_states(graph: Graph, layer: RNN | Bidirectional) -> list[str]:
    """A stateful layer's initial states as graph inputs ``<layer>_state_<k> (batch, size)``: the states
    the layer carries between calls, which an ONNX graph cannot keep, are the caller's to feed back."""
    names = [f"{layer.name}_state_{k}" for k in range(len(_state_sizes(layer)))]
    for name, size in zip(names, _state_sizes(layer), strict=True):
        graph.state_inputs.append(_tensor_info(name, (None, size), ids=False))
    return names


def _return_states(graph: Graph, layer: RNN | Bidirectional, states: list[str]) -> None:
    """A stateful layer's final states as graph outputs ``<layer>_state_<k>_out``: the next call's inputs."""
    from onnx import helper

    for k, (state, size) in enumerate(zip(states, _state_sizes(layer), strict=True)):
        name = f"{layer.name}_state_{k}_out"
        graph.nodes.append(helper.make_node("Identity", [state], [name]))
        graph.state_outputs.append(_tensor_info(name, (None, size), ids=False))


def _merge(graph: Graph, layer: Layer, inputs: list[Value]) -> list[Value]:
    if any(v.mask is not None for v in inputs):
        raise Unsupported(f"a mask reaches it, and ONNX export applies masks in {MASKED}")
    names = [v.name for v in inputs]
    if isinstance(layer, Concatenate):
        return [Value(graph.op("Concat", names, axis=layer.axis))]
    if isinstance(layer, Subtract):
        return [Value(graph.op("Sub", names))]
    if isinstance(layer, Multiply):
        return [Value(graph.op("Mul", names) if len(names) == 2 else _chain(graph, "Mul", names))]
    for kind, op in MERGES.items():
        if isinstance(layer, kind):
            chained = _chain(graph, "Add", names) if op in ("Sum", "Mean") else graph.op(op, names)
            if op == "Mean":  # Keras's sum, then one division, as in eager mode
                chained = graph.op("Div", [chained, graph.const("count", float(len(names)))])
            return [Value(chained)]
    return _traced(graph, layer, inputs)


def _chain(graph: Graph, op: str, names: list[str]) -> str:
    """``((a op b) op c) ...``, in the order eager mode adds or multiplies."""
    result = names[0]
    for name in names[1:]:
        result = graph.op(op, [result, name])
    return result


def _activation(graph: Graph, x: str, name: Any) -> str:
    if name == "linear":
        return x
    if name == "softmax":
        return graph.op("Softmax", [x], axis=-1)
    if name == "hard_sigmoid":
        return graph.op("HardSigmoid", [x], alpha=HARD_SIGMOID[0], beta=HARD_SIGMOID[1])
    if name in ONNX_ACTIVATIONS:
        return graph.op(ONNX_ACTIVATIONS[name], [x])
    allowed = ("linear", "softmax", *ONNX_ACTIVATIONS)
    raise Unsupported(f"activation {name!r} has no exact ONNX form (exported: {', '.join(allowed)})")


def export_onnx(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as an ONNX file, atomically; an unexportable layer is an error before any write."""
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'rnnlab[export]'.") from None
    proto = build_onnx(model)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
