"""The kernel contract shared by every whole-sequence implementation.

A kernel runs one recurrent layer over a whole sequence::

    run(cell, inputs (B, T, F), initial states [(B, S)...], mask (B, T) bool | None, options)
        -> SequenceResult(outputs (B, T, U), final states [(B, S)...])

``outputs[:, -1]`` is the layer's last output. With ``go_backwards`` the kernel reads the
sequence from its end and the outputs stay in that reversed order (Keras). A masked step
keeps the states and repeats the previous output (zeros before the first valid step, or
always zeros with ``zero_output_for_mask``). ``why_not(cell, mask, options)`` returns
``None`` when the kernel can run the configuration, else the reason it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch


@dataclass
class SequenceOptions:
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    training: bool = False
    input_masks: torch.Tensor | None = None  # per-gate dropout masks (G, B, F), with recurrent dropout
    recurrent_masks: torch.Tensor | None = None  # per-gate recurrent dropout masks (G, B, U)


class SequenceResult(NamedTuple):
    outputs: torch.Tensor  # (B, T, U)
    states: list[torch.Tensor]


@dataclass(frozen=True)
class Kernel:
    name: str
    why_not: Callable[..., str | None]
    run: Callable[..., SequenceResult]
