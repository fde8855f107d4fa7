"""Recurrent layers in ONNX: ONNX's own ``RNN``, ``LSTM`` and ``GRU`` operators where they state the
layer exactly, else a ``Scan`` over the cell's step (``onnx_loop``).

Keras's weights map onto the operators' as follows (per direction, ``G`` gates of ``U`` units):

- ``W (G*U, F)`` is the kernel transposed, ``R (G*U, U)`` the recurrent kernel transposed,
  ``B (2*G*U,)`` the input bias then the recurrent bias (zeros where Keras has none);
- gate order: LSTM Keras ``i, f, c, o`` -> ONNX ``i, o, f, c``; GRU ``z, r, h`` in both;
- GRU ``reset_after=True`` (Keras's default) is ONNX's ``linear_before_reset=1``, ``False`` is ``0``;
- Keras 3's ``hard_sigmoid`` is ``relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1)``: ONNX's
  ``HardSigmoid`` with ``alpha=1/6, beta=1/2`` (ONNX's default alpha is 0.2, Keras 2's slope).

The operators take SimpleRNNCell, LSTMCell and GRUCell with tanh, relu, sigmoid and hard_sigmoid;
the rest (other activations, user and stacked cells) runs as a Scan. Under a mask, a layer the
operators take is an ``If``: when every row's valid steps come first (padding on the right), the
operator with ``sequence_lens``, the rows' lengths; else the Scan, which applies the mask step by
step as the reference kernel does, whatever its pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..layers import RNN, Bidirectional
from .onnx_graph import Graph, numpy_of
from .onnx_loop import scan_layer

OPSET = 17
ONNX_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "hard_sigmoid": "HardSigmoid"}
HARD_SIGMOID = (1.0 / 6.0, 0.5)  # alpha, beta: Keras 3's relu6(x + 3) / 6
LSTM_ORDER = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c
OPS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def operator_fits(layer: RNN) -> bool:
    """Whether ONNX's own operator computes this layer's cell exactly."""
    cell = layer.cell
    if type(cell) not in (SimpleRNNCell, LSTMCell, GRUCell):
        return False
    activations = [cell.activation] + ([] if cell.kind == "simple_rnn" else [cell.recurrent_activation])
    return all(name in ONNX_ACTIVATIONS for name in activations)


def recurrent(
    graph: Graph, layer: RNN, x: str, mask: str | None, initial: list[str] | None, operator: bool = True
) -> tuple[str, list[str]]:
    """``layer`` over ``x (B, T, F)``: its output (``(B, T, U)`` or ``(B, U)``) and its final states.
    ``operator=False`` asks for the Scan whatever the layer."""
    if operator and operator_fits(layer):
        if mask is None:
            return _with_operator(graph, layer, x, None, initial)
        last_zeroed = layer.zero_output_for_mask and not layer.return_sequences and not layer.go_backwards
        if initial is None and not last_zeroed:  # what sequence_lens can say, when the padding is on the right
            ranks = [3 if layer.return_sequences else 2] + [2] * len(layer.cell.state_size)
            y, *states = right_padded_or_scan(
                graph,
                mask,
                ranks,
                lambda branch, lens: _flat(*_with_operator(branch, layer, x, lens, None)),
                lambda branch: _flat(*_with_scan(branch, layer, x, mask, None)),
            )
            return y, states
    return _with_scan(graph, layer, x, mask, initial)


def _flat(first: str | list[str], rest: list[str]) -> list[str]:
    return [*([first] if isinstance(first, str) else first), *rest]


def right_padded_or_scan(
    graph: Graph,
    mask: str,
    ranks: list[int],
    with_operator: Callable[[Graph, str], list[str]],
    with_scan: Callable[[Graph], list[str]],
) -> list[str]:
    """An ``If``: ONNX's operator with ``sequence_lens`` when every row of ``mask (B, T)`` is its first
    ``lens`` steps (padding on the right, the common case), else the Scan, exact for any mask."""
    from onnx import TensorProto

    zero, one = graph.const("zero", 0, np.int64), graph.const("one", 1, np.int64)
    axis_0, axis_1 = graph.const("axis", [0], np.int64), graph.const("axis", [1], np.int64)
    lens = graph.op("ReduceSum", [graph.op("Cast", [mask], to=TensorProto.INT64), axis_1], keepdims=0)  # (B,)
    time = graph.op("Shape", [mask], start=1, end=2)  # (1,)
    steps = graph.op("Range", [zero, graph.op("Squeeze", [time, axis_0]), one])  # (T,)
    steps = graph.op("Unsqueeze", [steps, axis_0])  # (1, T)
    padded_right = graph.op("Less", [steps, graph.op("Unsqueeze", [lens, axis_1])])  # (B, T): t < lens
    same = graph.op("Cast", [graph.op("Equal", [padded_right, mask])], to=TensorProto.INT32)
    condition = graph.op("Cast", [graph.op("ReduceMin", [same], keepdims=0)], to=TensorProto.BOOL)
    then_branch, else_branch = graph.branch(), graph.branch()
    then_outputs = with_operator(then_branch, graph.op("Cast", [lens], to=TensorProto.INT32))
    else_outputs = with_scan(else_branch)
    return graph.ops(
        "If",
        [condition],
        len(ranks),
        then_branch=then_branch.subgraph(then_outputs, ranks),
        else_branch=else_branch.subgraph(else_outputs, ranks),
    )


def _with_operator(
    graph: Graph, layer: RNN, x: str, lens: str | None, initial: list[str] | None
) -> tuple[str, list[str]]:
    direction = "reverse" if layer.go_backwards else "forward"
    y, states = _operator(graph, [layer], x, lens, None if initial is None else [initial], direction)
    states = [graph.op("Squeeze", [s, graph.const("axis", [0], np.int64)]) for s in states]  # (B, U)
    if not layer.return_sequences:
        return states[0], states  # the last valid output is the final h
    y = graph.op("Squeeze", [y, graph.const("axis", [1], np.int64)])  # (T, B, U)
    y = graph.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, U)
    if layer.go_backwards:  # Keras keeps the computed order: the padding, read first, outputs zeros
        return flip_time(graph, y), states
    if lens is not None and not layer.zero_output_for_mask:
        y = _repeat_last_valid(graph, y, lens)
    return y, states


def _with_scan(graph: Graph, layer: RNN, x: str, mask: str | None, initial: list[str] | None) -> tuple[str, list[str]]:
    y, states = scan_layer(graph, layer, x, mask, initial, OPSET)
    if not layer.return_sequences:
        y = graph.op("Gather", [y, graph.const("last", -1, np.int64)], axis=1)  # (B, U): the last computed step
    return y, states


def _repeat_last_valid(graph: Graph, y: str, lens: str) -> str:
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
    index = graph.op("Expand", [graph.op("Unsqueeze", [index, graph.const("axis", [2], np.int64)]), shape])
    return graph.op("GatherElements", [y, index], axis=1)  # (B, T, U)


def bidirectional(
    graph: Graph, layer: Bidirectional, x: str, mask: str | None, initial: list[str] | None
) -> tuple[list[str], list[str]]:
    """The merged output (two with ``merge_mode=None``) and the forward then backward final states."""
    half = None if initial is None else len(initial) // 2
    inits = None if initial is None else (initial[:half], initial[half:])
    if _one_operator(layer.forward_layer, layer.backward_layer):
        if mask is None:
            return _bidirectional_operator(graph, layer, x, None, inits)
        if inits is None:
            n_outputs = 2 if layer.merge_mode is None else 1
            output_rank = 3 if layer.return_sequences else 2
            ranks = [output_rank] * n_outputs + [2] * 2 * len(layer.forward_layer.cell.state_size)
            flat = right_padded_or_scan(
                graph,
                mask,
                ranks,
                lambda branch, lens: _flat(*_bidirectional_operator(branch, layer, x, lens, None)),
                lambda branch: _flat(*_two_layers(branch, layer, x, mask, None, operator=False)),
            )
            return flat[:n_outputs], flat[n_outputs:]
    return _two_layers(graph, layer, x, mask, inits, operator=True)


def _bidirectional_operator(
    graph: Graph, layer: Bidirectional, x: str, lens: str | None, inits: tuple[list[str], list[str]] | None
) -> tuple[list[str], list[str]]:
    """Both directions as one bidirectional operator: its ``Y (T, 2, B, U)`` aligns the backward run in time."""
    forward, backward = layer.forward_layer, layer.backward_layer
    y, states = _operator(graph, [forward, backward], x, lens, None if inits is None else list(inits), "bidirectional")
    index = [graph.const("direction", d, np.int64) for d in (0, 1)]
    forward_states = [graph.op("Gather", [s, index[0]], axis=0) for s in states]  # (B, U)
    backward_states = [graph.op("Gather", [s, index[1]], axis=0) for s in states]
    if layer.return_sequences:  # ONNX's zeros past each row's length: Bidirectional's zero_output_for_mask
        y = graph.op("Transpose", [y], perm=[2, 0, 1, 3])  # (B, T, 2, U)
        y_forward, y_backward = (graph.op("Gather", [y, i], axis=2) for i in index)
    else:
        y_forward, y_backward = forward_states[0], backward_states[0]
    return _merge(graph, layer.merge_mode, y_forward, y_backward), forward_states + backward_states


def _two_layers(
    graph: Graph,
    layer: Bidirectional,
    x: str,
    mask: str | None,
    inits: tuple[list[str], list[str]] | None,
    operator: bool,
) -> tuple[list[str], list[str]]:
    """The forward and backward layers each on its own, as Bidirectional runs them."""
    forward_init, backward_init = inits or (None, None)
    y_forward, forward_states = recurrent(graph, layer.forward_layer, x, mask, forward_init, operator)
    y_backward, backward_states = recurrent(graph, layer.backward_layer, x, mask, backward_init, operator)
    if layer.return_sequences:
        y_backward = flip_time(graph, y_backward)  # back to time order
    return _merge(graph, layer.merge_mode, y_forward, y_backward), forward_states + backward_states


def _one_operator(forward: RNN, backward: RNN) -> bool:
    """Whether ONNX's bidirectional operator, one set of attributes for both directions, fits."""
    configs = [{**layer.cell.get_config(), "name": None} for layer in (forward, backward)]
    same = type(forward.cell) is type(backward.cell) and configs[0] == configs[1]
    return same and not forward.go_backwards and operator_fits(forward)


def _merge(graph: Graph, mode: str | None, forward: str, backward: str) -> list[str]:
    if mode == "concat":
        return [graph.op("Concat", [forward, backward], axis=-1)]
    if mode == "sum":
        return [graph.op("Add", [forward, backward])]
    if mode == "mul":
        return [graph.op("Mul", [forward, backward])]
    if mode == "ave":
        return [graph.op("Div", [graph.op("Add", [forward, backward]), graph.const("two", 2.0)])]
    return [forward, backward]


def flip_time(graph: Graph, x: str) -> str:
    """``x (B, T, U)`` with its time axis reversed."""
    big = np.iinfo(np.int64).max
    starts, ends = graph.const("starts", [-1], np.int64), graph.const("ends", [-big], np.int64)
    axes, steps = graph.const("axes", [1], np.int64), graph.const("steps", [-1], np.int64)
    return graph.op("Slice", [x, starts, ends, axes, steps])


def _operator(
    graph: Graph, layers: list[RNN], x: str, lens: str | None, initial: list[list[str]] | None, direction: str
) -> tuple[str, list[str]]:
    """The ONNX operator over ``x (B, T, F)``: its ``Y (T, D, B, U)`` and final ``Y_h`` (and ``Y_c``), each
    ``(D, B, U)``; ``lens (B,)`` int32 the rows' lengths or None; ``initial``: per direction, the layer's
    initial states ``(B, U)``."""
    weights = [_direction_weights(layer) for layer in layers]
    W, R, B = (graph.const(name, np.stack([w[i] for w in weights])) for i, name in enumerate("WRB"))
    x_tbf = graph.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, F)
    n_states = 2 if layers[0].cell.kind == "lstm" else 1
    inputs = [x_tbf, W, R, B, lens or ""]  # "": every row the whole length
    if initial is not None:
        axis = graph.const("axis", [0], np.int64)
        for k in range(n_states):  # initial_h, then initial_c: (D, B, U)
            rows = [graph.op("Unsqueeze", [states[k], axis]) for states in initial]
            inputs.append(rows[0] if len(rows) == 1 else graph.op("Concat", rows, axis=0))
    attributes = _attributes(layers[0], len(layers))
    y, *states = graph.ops(OPS[layers[0].cell.kind], inputs, 1 + n_states, direction=direction, **attributes)
    return y, states


def _direction_weights(layer: RNN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction's ONNX ``W (G*U, F)``, ``R (G*U, U)`` and ``B (2*G*U,)`` from Keras's weights."""
    cell = layer.cell
    G, U = cell.gates, cell.units
    order = LSTM_ORDER if cell.kind == "lstm" else tuple(range(G))

    def reorder(matrix: np.ndarray) -> np.ndarray:  # (rows, G*U) Keras order -> (G*U, rows) ONNX order
        gates = np.split(matrix, G, axis=-1)  # G x (rows, U)
        onnx_order: np.ndarray = np.concatenate([gates[g] for g in order], axis=-1).T
        return onnx_order

    kernel, recurrent_kernel = numpy_of(cell.kernel), numpy_of(cell.recurrent_kernel)
    bias = np.zeros((2, G * U), np.float32)  # input bias row, recurrent bias row
    if cell.bias is not None:
        rows = numpy_of(cell.bias).reshape(-1, G * U)  # (1, G*U); (2, G*U) for GRU reset_after: input, recurrent
        bias[: len(rows)] = rows
    return reorder(kernel), reorder(recurrent_kernel), reorder(bias).T.reshape(-1)  # B = [Wb | Rb]


def _attributes(layer: RNN, directions: int) -> dict[str, Any]:
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
