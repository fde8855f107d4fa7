"""The reference kernel: a plain loop over the cell, one step a line. The oracle for every other kernel."""

from __future__ import annotations

import torch

from ..cells import RecurrentCell
from .contract import SequenceOptions, SequenceResult


def why_not(
    cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> str | None:
    return None  # runs every configuration


def run(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> SequenceResult:
    if options.go_backwards:  # read the sequence from its end; outputs stay in that order
        inputs = inputs.flip(1)
        mask = None if mask is None else mask.flip(1)
    B, T, _ = inputs.shape
    outputs = []
    prev_output = inputs.new_zeros(B, cell.units)  # what a masked step repeats before any valid one
    for t in range(T):
        values = cell.gate_values(inputs[:, t], states, options.input_masks, options.recurrent_masks)  # the step
        h, new_states = values["h"], [values[name] for name in cell.state_names]
        if options.record:
            keep(options.trace, values)
        if mask is not None:  # a masked step keeps the state and repeats the previous output
            m = mask[:, t, None]  # (B, 1)
            h = torch.where(m, h, torch.zeros_like(h) if options.zero_output_for_mask else prev_output)
            new_states = [torch.where(m, new, old) for new, old in zip(new_states, states, strict=True)]
        outputs.append(h)
        prev_output, states = h, new_states
    return SequenceResult(torch.stack(outputs, dim=1), states)  # (B, T, U)


def keep(trace: dict[str, list[torch.Tensor]], values: dict[str, torch.Tensor]) -> None:
    """Append one step's values to the trace, asking autograd to keep their gradients."""
    for name, value in values.items():
        if value.requires_grad:
            value.retain_grad()
        trace.setdefault(name, []).append(value)
