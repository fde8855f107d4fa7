"""Recurrent layers in ONNX: ONNX's own ``RNN``, ``LSTM`` and ``GRU`` operators where they state the
layer exactly, else a ``Scan`` over the cell's step (``onnx_loop``).

Keras's weights map onto the operators' as follows (per direction, ``G`` gates of ``U`` units):

- ``W (G*U, F)`` is the kernel transposed, ``R (G*U, U)`` the recurrent kernel transposed,
  ``B (2*G*U,)`` the input bias then the recurrent bias (zeros where Keras has none);
- gate order: LSTM Keras ``i, f, c, o`` -> ONNX ``i, o, f, c``; GRU ``z, r, h`` in both;
- GRU ``reset_after=True`` (Keras's default) is ONNX's ``linear_before_reset=1``, ``False`` is ``0``;
- Keras 3's ``hard_sigmoid`` is ``relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1)``: ONNX's
  ``HardSigmoid`` with ``alpha=1/6, beta=1/2`` (ONNX's default alpha is 0.2, Keras 2's slope).

The operators take SimpleRNNCell, LSTMCell and GRUCell with tanh, relu, sigmoid and hard_sigmoid.
The rest (other activations, user and stacked cells) and every masked layer run as a Scan, which
applies the mask step by step as the reference kernel does, whatever its pattern.
"""

from __future__ import annotations

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


def recurrent_problem(layer: RNN) -> str | None:
    """Why a recurrent layer cannot be exported at all, or None."""
    if layer.stateful:
        return "stateful=True carries states between calls; ONNX graphs keep none"
    return None


def recurrent(graph: Graph, layer: RNN, x: str, mask: str | None, initial: list[str] | None) -> tuple[str, list[str]]:
    """``layer`` over ``x (B, T, F)``: its output (``(B, T, U)`` or ``(B, U)``) and its final states."""
    if mask is None and operator_fits(layer):
        direction = "reverse" if layer.go_backwards else "forward"
        y, states = _operator(graph, [layer], x, None if initial is None else [initial], direction)
        states = [graph.op("Squeeze", [s, graph.const("axis", [0], np.int64)]) for s in states]  # (B, U)
        if not layer.return_sequences:
            return states[0], states  # without a mask the last output is the final h
        y = graph.op("Squeeze", [y, graph.const("axis", [1], np.int64)])  # (T, B, U)
        y = graph.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, U)
        return (flip_time(graph, y) if layer.go_backwards else y), states  # Keras keeps the computed order
    y, states = scan_layer(graph, layer, x, mask, initial, OPSET)
    if not layer.return_sequences:
        y = graph.op("Gather", [y, graph.const("last", -1, np.int64)], axis=1)  # (B, U): the last computed step
    return y, states


def bidirectional(
    graph: Graph, layer: Bidirectional, x: str, mask: str | None, initial: list[str] | None
) -> tuple[list[str], list[str]]:
    """The merged output (two with ``merge_mode=None``) and the forward then backward final states."""
    forward, backward = layer.forward_layer, layer.backward_layer
    half = None if initial is None else len(initial) // 2
    inits = None if initial is None else [initial[:half], initial[half:]]
    if mask is None and _one_operator(forward, backward):
        y, states = _operator(graph, [forward, backward], x, inits, "bidirectional")  # Y (T, 2, B, U)
        index = [graph.const("direction", d, np.int64) for d in (0, 1)]
        forward_states = [graph.op("Gather", [s, index[0]], axis=0) for s in states]  # (B, U)
        backward_states = [graph.op("Gather", [s, index[1]], axis=0) for s in states]
        if layer.return_sequences:
            y = graph.op("Transpose", [y], perm=[2, 0, 1, 3])  # (B, T, 2, U): the backward run realigned in time
            y_forward, y_backward = (graph.op("Gather", [y, i], axis=2) for i in index)
        else:
            y_forward, y_backward = forward_states[0], backward_states[0]
    else:
        y_forward, forward_states = recurrent(graph, forward, x, mask, None if inits is None else inits[0])
        y_backward, backward_states = recurrent(graph, backward, x, mask, None if inits is None else inits[1])
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
    graph: Graph, layers: list[RNN], x: str, initial: list[list[str]] | None, direction: str
) -> tuple[str, list[str]]:
    """The ONNX operator over ``x (B, T, F)``: its ``Y (T, D, B, U)`` and final ``Y_h`` (and ``Y_c``), each
    ``(D, B, U)``; ``initial``: per direction, the layer's initial states ``(B, U)``."""
    weights = [_direction_weights(layer) for layer in layers]
    W, R, B = (graph.const(name, np.stack([w[i] for w in weights])) for i, name in enumerate("WRB"))
    x_tbf = graph.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, F)
    n_states = 2 if layers[0].cell.kind == "lstm" else 1
    inputs = [x_tbf, W, R, B, ""]  # "": no sequence_lens
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
