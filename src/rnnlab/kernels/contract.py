"""The kernel contract shared by every whole-sequence implementation.

A kernel runs one recurrent layer over a whole sequence::

    run(cell, inputs (B, T, F), initial states [(B, S)...], mask (B, T) bool | None, options)
        -> SequenceResult(outputs (B, T, U), final states [(B, S)...])

``outputs[:, -1]`` is the layer's last output. With ``options.last_output_only`` the caller
reads that alone, and a kernel may return outputs (B, 1, U) holding just it. With
``go_backwards`` the kernel reads the sequence from its end and the outputs stay in that
reversed order (Keras). A masked step keeps the states and repeats the previous output (zeros
before the first valid step, or always zeros with ``zero_output_for_mask``).

``why_not(cell, inputs, mask, options)`` returns ``None`` when the kernel can run this call,
else the reason it cannot. It sees the inputs (device, dtype, batch, length), so a kernel
can decline what it is not fast or correct for, and the dispatcher moves on to the next.

``options.record`` asks for every step's values (diagnostics): a kernel that can record fills
``options.trace`` with ``cell.gate_values()``'s names -> one ``(B, units)`` tensor per step, in
the order the kernel read the steps (reversed with ``go_backwards``), the values the cell
computed (at a masked step, what the layer then discarded). The tensors stay in the autograd
graph with their gradients retained. A kernel that cannot record declines the call in ``why_not``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import torch

if TYPE_CHECKING:
    from ..cells import RecurrentCell


@dataclass
class SequenceOptions:
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    training: bool = False
    input_masks: torch.Tensor | None = None  # per-gate dropout masks (G, B, F), with recurrent dropout
    recurrent_masks: torch.Tensor | None = None  # per-gate recurrent dropout masks (G, B, U)
    last_output_only: bool = False  # the caller reads outputs[:, -1] alone (return_sequences=False)
    record: bool = False  # keep every step's gate values and states (diagnostics): a step-by-step kernel
    trace: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # filled by a kernel when record is set


class SequenceResult(NamedTuple):
    outputs: torch.Tensor  # (B, T, U)
    states: list[torch.Tensor]


WhyNot = Callable[["RecurrentCell", torch.Tensor, "torch.Tensor | None", SequenceOptions], "str | None"]
Run = Callable[
    ["RecurrentCell", torch.Tensor, list[torch.Tensor], "torch.Tensor | None", SequenceOptions], SequenceResult
]


@dataclass(frozen=True)
class Kernel:
    name: str
    why_not: WhyNot
    run: Run
