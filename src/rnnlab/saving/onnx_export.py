"""ONNX export of a Sequential model, with ONNX's own ``RNN``, ``LSTM`` and ``GRU`` operators.

The graph is written with ``onnx.helper``; torch.onnx is not involved. Keras's weights map onto
ONNX's as follows (per direction, ``G`` gates of ``U`` units):

- ``W (G*U, F)`` is the kernel transposed, ``R (G*U, U)`` the recurrent kernel transposed,
  ``B (2*G*U,)`` the input bias then the recurrent bias (zeros where Keras has none);
- gate order: LSTM Keras ``i, f, c, o`` -> ONNX ``i, o, f, c``; GRU ``z, r, h`` in both;
- GRU ``reset_after=True`` (Keras's default) is ONNX's ``linear_before_reset=1``, ``False`` is ``0``;
- Keras 3's ``hard_sigmoid`` is ``relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1)``: ONNX's
  ``HardSigmoid`` with ``alpha=1/6, beta=1/2`` (ONNX's default alpha is 0.2, Keras 2's slope).

Masks: ``Embedding(mask_zero=True)`` becomes ``sequence_lens``, the count of non-zero ids in each
row, computed in the graph. That is Keras's mask only when padding is on the right (every 0 after
the last token); a sequence with zeros in the middle gives other outputs.

Batch and time are dynamic axes (``batch``, ``time``): one file serves every batch size and length.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..core.files import atomic_path
from ..core.layer import Layer
from ..layers import GRU, LSTM, RNN, Bidirectional, Dense, Dropout, Embedding, SimpleRNN
from ..layers.core import InputLayer

OPSET = 17
ONNX_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "hard_sigmoid": "HardSigmoid"}
HARD_SIGMOID = (1.0 / 6.0, 0.5)  # alpha, beta: Keras 3's relu6(x + 3) / 6
LSTM_ORDER = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c
OPS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
RECURRENT_CLASSES = (SimpleRNN, LSTM, GRU, RNN)


def check_exportable(model: Any) -> list[Layer]:
    """The model's layers if ONNX can express every one exactly; else a ValueError naming the first that cannot."""
    layers = getattr(model, "stack", None)
    if layers is None or all(cls.__name__ != "Sequential" for cls in type(model).__mro__):
        raise ValueError(
            f"ONNX export reads Sequential models; received {type(model).__name__}. "
            "Rebuild it as Sequential([...]) or export it with format='torch'."
        )
    if not getattr(model, "built", False) or not layers:
        raise ValueError("ONNX export needs a built model: give it Input((time, features)) or call it once first.")
    for index, layer in enumerate(layers):
        reason = _why_not(layer, first=index == 0)
        if reason:
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) cannot be exported to ONNX: {reason}.")
    return list(layers)


def _why_not(layer: Layer, first: bool) -> str | None:
    if isinstance(layer, (Dropout, InputLayer)):
        return None
    if isinstance(layer, Dense):
        allowed = ("linear", "softmax", *ONNX_ACTIVATIONS)
        return _activation_problem("activation", layer.activation, allow=allowed)
    if isinstance(layer, Embedding):
        return None if first else "an Embedding must be the first layer (the model's input is the token ids)"
    if isinstance(layer, Bidirectional):
        if layer.merge_mode is None:
            return "merge_mode=None returns two outputs; use concat, sum, mul or ave"
        forward, backward = layer.forward_layer, layer.backward_layer
        if forward.go_backwards or not _same_cell(forward, backward):
            return "its backward_layer differs from the forward layer in more than the direction"
        return _recurrent_problem(forward)
    if isinstance(layer, RECURRENT_CLASSES):
        return _recurrent_problem(layer)
    return "ONNX export covers Embedding, SimpleRNN, LSTM, GRU, Bidirectional, Dense and Dropout"


def _same_cell(forward: RNN, backward: RNN) -> bool:
    """Whether ONNX's bidirectional operator, one set of attributes for both directions, fits."""
    configs = [{**layer.cell.get_config(), "name": None} for layer in (forward, backward)]
    return type(forward.cell) is type(backward.cell) and configs[0] == configs[1]


def _recurrent_problem(layer: RNN) -> str | None:
    cell = layer.cell
    if type(cell) not in (SimpleRNNCell, LSTMCell, GRUCell):
        return f"its cell {type(cell).__name__} has no ONNX operator (SimpleRNNCell, LSTMCell and GRUCell do)"
    if layer.stateful:
        return "stateful=True carries states between calls; ONNX graphs keep none"
    if layer.return_state:
        return "return_state=True gives several outputs; export the model without it"
    allowed = ("tanh", "relu", "sigmoid", "hard_sigmoid")
    problem = _activation_problem("activation", cell.activation, allow=allowed)
    if problem is None and cell.kind != "simple_rnn":
        problem = _activation_problem("recurrent_activation", cell.recurrent_activation, allow=allowed)
    return problem


def _activation_problem(what: str, name: Any, allow: tuple[str, ...]) -> str | None:
    if name in ONNX_ACTIVATIONS or name in allow:
        return None
    return f"{what} {name!r} has no exact ONNX form (exported: {', '.join(allow)})"


class _Graph:
    """Nodes and initializers of one ONNX graph, each value named once."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, value: Any, dtype: Any = np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """One node with one output; the output's name."""
        return self.ops(op_type, inputs, 1, **attributes)[0]

    def ops(self, op_type: str, inputs: list[str], outputs: int, **attributes: Any) -> list[str]:
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, inputs, names, **attributes))
        return names


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    array: np.ndarray = tensor.detach().cpu().to(torch.float32).numpy()
    return array


def _activation(graph: _Graph, x: str, name: str) -> str:
    if name == "linear":
        return x
    if name == "softmax":
        return graph.op("Softmax", [x], axis=-1)
    if name == "hard_sigmoid":
        return graph.op("HardSigmoid", [x], alpha=HARD_SIGMOID[0], beta=HARD_SIGMOID[1])
    return graph.op(ONNX_ACTIVATIONS[name], [x])


def _direction_weights(layer: RNN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction's ONNX ``W (G*U, F)``, ``R (G*U, U)`` and ``B (2*G*U,)`` from Keras's weights."""
    cell = layer.cell
    G, U = cell.gates, cell.units
    order = LSTM_ORDER if cell.kind == "lstm" else tuple(range(G))

    def reorder(matrix: np.ndarray) -> np.ndarray:  # (rows, G*U) Keras order -> (G*U, rows) ONNX order
        gates = np.split(matrix, G, axis=-1)  # G x (rows, U)
        onnx_order: np.ndarray = np.concatenate([gates[g] for g in order], axis=-1).T
        return onnx_order

    kernel, recurrent = _numpy(cell.kernel), _numpy(cell.recurrent_kernel)
    bias = np.zeros((2, G * U), np.float32)  # input bias row, recurrent bias row
    if cell.bias is not None:
        rows = _numpy(cell.bias).reshape(-1, G * U)  # (1, G*U); (2, G*U) for GRU reset_after: input, recurrent
        bias[: len(rows)] = rows
    return reorder(kernel), reorder(recurrent), reorder(bias).T.reshape(-1)  # B = [Wb | Rb]


def _rnn_attributes(layer: RNN, directions: int) -> dict[str, Any]:
    cell = layer.cell
    activation, recurrent_activation = str(cell.activation), str(cell.recurrent_activation)
    names = [activation] if cell.kind == "simple_rnn" else [recurrent_activation, activation]
    if cell.kind == "lstm":
        names.append(activation)  # f (gates), g (candidate), h (output of the cell state)
    names = names * directions
    attributes: dict[str, Any] = {"hidden_size": cell.units, "activations": [ONNX_ACTIVATIONS[n] for n in names]}
    if "hard_sigmoid" in names:  # alpha and beta are read by the activations that take them, in order
        attributes["activation_alpha"] = [HARD_SIGMOID[0] for n in names if n == "hard_sigmoid"]
        attributes["activation_beta"] = [HARD_SIGMOID[1] for n in names if n == "hard_sigmoid"]
    if isinstance(cell, GRUCell):
        attributes["linear_before_reset"] = int(cell.reset_after)
    return attributes


def _recurrent(graph: _Graph, x: str, lens: str | None, layers: list[RNN], direction: str) -> tuple[str, str]:
    """The ONNX operator over ``x (B, T, F)``: its ``Y (T, D, B, U)`` and ``Y_h (D, B, U)``."""
    weights = [_direction_weights(layer) for layer in layers]
    W, R, B = (graph.const(name, np.stack([w[i] for w in weights])) for i, name in enumerate("WRB"))
    x_tbf = graph.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, F)
    attributes = _rnn_attributes(layers[0], len(layers))
    y, y_h = graph.ops(OPS[layers[0].cell.kind], [x_tbf, W, R, B, lens or ""], 2, direction=direction, **attributes)
    return y, y_h


def _flip_time(graph: _Graph, x: str) -> str:
    """``x (B, T, U)`` with its time axis reversed."""
    big = np.iinfo(np.int64).max
    starts, ends = graph.const("starts", [-1], np.int64), graph.const("ends", [-big], np.int64)
    axes, steps = graph.const("axes", [1], np.int64), graph.const("steps", [-1], np.int64)
    return graph.op("Slice", [x, starts, ends, axes, steps])


def _repeat_last_valid(graph: _Graph, y: str, lens: str) -> str:
    """``y (B, T, U)`` with each step past a row's length showing that row's last valid output (Keras's
    masked steps repeat the previous output; ONNX writes zeros there). An empty row stays zero."""
    from onnx import TensorProto

    zero, one = graph.const("zero", 0, np.int64), graph.const("one", 1, np.int64)
    shape = graph.op("Shape", [y])
    steps = graph.op("Range", [zero, graph.op("Gather", [shape, one], axis=0), one])  # (T,): 0 .. T-1
    last = graph.op("Sub", [graph.op("Cast", [lens], to=TensorProto.INT64), one])  # (B,): each row's last valid step
    steps_row = graph.op("Unsqueeze", [steps, graph.const("axis", [0], np.int64)])  # (1, T)
    last_column = graph.op("Unsqueeze", [last, graph.const("axis", [1], np.int64)])  # (B, 1)
    index = graph.op("Max", [graph.op("Min", [steps_row, last_column]), zero])  # (B, T): min(t, last), 0 if empty
    index = graph.op("Expand", [graph.op("Unsqueeze", [index, graph.const("axis", [2], np.int64)]), shape])  # (B, T, U)
    return graph.op("GatherElements", [y, index], axis=1)


def _single(graph: _Graph, layer: RNN, x: str, lens: str | None) -> str:
    y, y_h = _recurrent(graph, x, lens, [layer], "reverse" if layer.go_backwards else "forward")
    if not layer.return_sequences:
        return graph.op("Squeeze", [y_h, graph.const("axis", [0], np.int64)])  # (B, U)
    y = graph.op("Squeeze", [y, graph.const("axis", [1], np.int64)])  # (T, B, U)
    y = graph.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, U)
    if layer.go_backwards:  # Keras keeps the outputs in the order they were computed
        return _flip_time(graph, y)
    if lens is not None and not layer.zero_output_for_mask:
        return _repeat_last_valid(graph, y, lens)
    return y


def _bidirectional(graph: _Graph, layer: Bidirectional, x: str, lens: str | None) -> str:
    y, y_h = _recurrent(graph, x, lens, [layer.forward_layer, layer.backward_layer], "bidirectional")
    if layer.return_sequences:
        both = graph.op("Transpose", [y], perm=[2, 0, 1, 3])  # (B, T, 2, U): the backward run realigned in time
        direction_axis, out_shape = 2, [0, 0, -1]
    else:
        both = graph.op("Transpose", [y_h], perm=[1, 0, 2])  # (B, 2, U)
        direction_axis, out_shape = 1, [0, -1]
    if layer.merge_mode == "concat":
        return graph.op("Reshape", [both, graph.const("shape", out_shape, np.int64)])
    if layer.merge_mode == "sum":
        axis = graph.const("axis", [direction_axis], np.int64)
        return graph.op("ReduceSum", [both, axis], keepdims=0)
    if layer.merge_mode == "ave":
        return graph.op("ReduceMean", [both], keepdims=0, axes=[direction_axis])
    forward, backward = (
        graph.op("Gather", [both, graph.const("index", i, np.int64)], axis=direction_axis) for i in (0, 1)
    )
    return graph.op("Mul", [forward, backward])


def build_onnx(model: Any) -> Any:
    """The ONNX ``ModelProto`` of ``model`` (checked with ``check_exportable`` first)."""
    import onnx
    from onnx import TensorProto, helper

    layers = check_exportable(model)
    graph = _Graph()
    if isinstance(layers[0], Embedding):  # token ids (B, T)
        inputs = helper.make_tensor_value_info("inputs", TensorProto.INT64, ["batch", "time"])
    else:
        features = _features(model, layers[0])
        inputs = helper.make_tensor_value_info("inputs", TensorProto.FLOAT, ["batch", "time", features])
    x, lens = "inputs", None
    for layer in layers:
        x, lens = _layer(graph, layer, x, lens)
    output_axes = ["batch", "time", None] if _keeps_time(layers) else ["batch", None]
    outputs = helper.make_tensor_value_info("outputs", TensorProto.FLOAT, output_axes)
    graph.nodes.append(helper.make_node("Identity", [x], ["outputs"]))
    onnx_graph = helper.make_graph(graph.nodes, model.name or "model", [inputs], [outputs], graph.initializers)
    proto = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rnnlab")
    onnx.checker.check_model(proto)
    return proto


def _layer(graph: _Graph, layer: Layer, x: str, lens: str | None) -> tuple[str, str | None]:
    """One layer's nodes over ``x``: its output and the sequence lengths that follow it (or None)."""
    from onnx import TensorProto

    if isinstance(layer, Embedding):
        if layer.mask_zero:  # right padding: the length is the count of non-zero ids
            is_pad = graph.op("Equal", [x, graph.const("pad", 0, np.int64)])  # (B, T)
            tokens = graph.op("Cast", [graph.op("Not", [is_pad])], to=TensorProto.INT32)
            lens = graph.op("ReduceSum", [tokens, graph.const("axis", [1], np.int64)], keepdims=0)  # (B,) int32
        return graph.op("Gather", [graph.const("embeddings", _numpy(layer.embeddings)), x], axis=0), lens  # (B, T, D)
    if isinstance(layer, Dense):  # over the last axis, as Keras's Dense; the mask passes through
        x = graph.op("MatMul", [x, graph.const("kernel", _numpy(layer.kernel))])
        if layer.bias is not None:
            x = graph.op("Add", [x, graph.const("bias", _numpy(layer.bias))])
        return _activation(graph, x, str(layer.activation)), lens
    if isinstance(layer, Bidirectional):
        return _bidirectional(graph, layer, x, lens), lens if layer.return_sequences else None
    if isinstance(layer, RNN):
        return _single(graph, layer, x, lens), lens if layer.return_sequences else None
    return x, lens  # Dropout and InputLayer: identity at inference


def _features(model: Any, layer: Layer) -> int | None:
    """The model's feature size: its Input's, else the one the first layer was built for."""
    shape = getattr(getattr(model, "input_spec", None), "shape", None)
    if shape and shape[-1]:
        return int(shape[-1])
    if isinstance(layer, Bidirectional):
        layer = layer.forward_layer
    if isinstance(layer, RNN):
        return layer.cell.input_dim
    return getattr(layer, "input_dim", None)


def _keeps_time(layers: list[Layer]) -> bool:
    keeps = True
    for layer in layers:
        if isinstance(layer, (RNN, Bidirectional)):
            keeps = layer.return_sequences
    return keeps


def export_onnx(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as an ONNX file, atomically; an unexportable layer is an error before any write."""
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'rnnlab[export]'.") from None
    proto = build_onnx(model)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
