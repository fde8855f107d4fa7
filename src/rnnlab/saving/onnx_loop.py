"""A recurrent layer as ONNX's ``Scan`` over the time axis, its body the cell's own step.

For what ONNX's ``RNN``/``LSTM``/``GRU`` operators cannot state exactly: other activations, user
cells (``RNN(cell)``), stacked cells (``RNN([cells])``), and masks of any pattern (holes, left
padding), which those operators' ``sequence_lens`` cannot say. The body is the cell's
``gate_values`` traced by ``torch.onnx`` (the step only, so no length is baked in), then the
reference kernel's masking around it: a masked step keeps the states and repeats the previous
output (or outputs zeros with ``zero_output_for_mask``). ``go_backwards`` is the scan's input
direction; the outputs stay in the order they were computed, as in Keras.

    Scan(states..., [previous output], x (B, T, F), [mask (B, T)]) -> states..., [previous output], y (B, T, U)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..cells import RecurrentCell
from ..layers import RNN
from .onnx_graph import Graph
from .onnx_trace import inline, trace


class _Step(torch.nn.Module):
    """One step of ``cell``: ``(x_t, *states) -> (h_t, *new_states)``, the reference kernel's step."""

    def __init__(self, cell: RecurrentCell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, x_t: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = self.cell.gate_values(x_t, list(states))
        return (values["h"], *(values[name] for name in self.cell.state_names))


def traced_step(cell: RecurrentCell, opset: int) -> tuple[Any, int]:
    """The cell's step as an ONNX graph with inputs ``input_0`` (x_t), ``input_1, ...`` (the states) and
    outputs ``output_0`` (h), ``output_1, ...`` (the new states), batch a free axis; and the size of h."""
    sizes = list(cell.state_size)
    example = (torch.zeros(2, int(cell.input_dim or 1)), *(torch.zeros(2, s) for s in sizes))  # float32
    what = f"its cell {type(cell).__name__}'s step"
    graph, produced = trace(_Step(cell), example, [[0]] * len(example), what, opset)
    return graph, int(produced[0].shape[-1])


def scan_layer(
    graph: Graph, layer: RNN, x: str, mask: str | None, initial: list[str] | None, opset: int
) -> tuple[str, list[str]]:
    """``layer`` over ``x (B, T, F)`` as a Scan: its outputs ``(B, T, U)`` in computed order and final states."""
    from onnx import TensorProto, helper

    cell = layer.cell
    step, units = traced_step(cell, opset)
    n = len(cell.state_size)
    states_in = [graph.name("state_in") for _ in range(n)]
    x_t, m_t, previous_in = graph.name("x_t"), graph.name("mask_t"), graph.name("previous_in")
    renames = {"input_0": x_t, **{f"input_{k + 1}": states_in[k] for k in range(n)}}
    body, (h, *new) = inline(graph, step, renames)
    keeps_previous = mask is not None and not layer.zero_output_for_mask
    if mask is not None:  # the reference kernel: a masked step keeps the state, repeats (or zeroes) the output
        m = graph.name("m")
        body.append(helper.make_node("Unsqueeze", [m_t, graph.const("axis", [1], np.int64)], [m]))  # (B, 1)
        kept = [graph.name("kept") for _ in range(n)]
        for new_k, old_k, out_k in zip(new, states_in, kept, strict=True):
            body.append(helper.make_node("Where", [m, new_k, old_k], [out_k]))
        new = kept
        masked_output = previous_in if keeps_previous else graph.const("zero", 0.0)
        y = graph.name("y")
        body.append(helper.make_node("Where", [m, h, masked_output], [y]))
        h = y
    carried = new + ([h] if keeps_previous else [])
    body_outputs = [graph.name("carry") for _ in carried] + [graph.name("y_t")]
    for source, target in zip([*carried, h], body_outputs, strict=True):
        body.append(helper.make_node("Identity", [source], [target]))

    def value(name: str, kind: int = TensorProto.FLOAT, rank: int = 2) -> Any:  # (B, size); a mask step (B,)
        return helper.make_tensor_value_info(name, kind, [None] * rank)

    body_inputs = [value(s) for s in states_in] + ([value(previous_in)] if keeps_previous else [])
    body_inputs += [value(x_t)] + ([value(m_t, TensorProto.BOOL, rank=1)] if mask is not None else [])
    body_graph = helper.make_graph(body, graph.name("step_body"), body_inputs, [value(o) for o in body_outputs])

    states = initial or [graph.batch_zeros(x, size) for size in cell.state_size]
    carried_in = states + ([graph.batch_zeros(x, units)] if keeps_previous else [])
    scanned = [x] + ([mask] if mask is not None else [])
    direction = int(layer.go_backwards)
    results = graph.ops(
        "Scan",
        [*carried_in, *scanned],
        len(carried_in) + 1,
        body=body_graph,
        num_scan_inputs=len(scanned),
        scan_input_axes=[1] * len(scanned),
        scan_input_directions=[direction] * len(scanned),
        scan_output_axes=[1],
    )
    return results[-1], results[:n]
