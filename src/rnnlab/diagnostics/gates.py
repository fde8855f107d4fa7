"""Gate values over time: what each recurrent layer computed at every step of a sequence."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .recording import model_inputs, recorded, recording

GATE_LABELS = {  # the names of gate_values() in each cell's docstring -> words for plots
    "i": "input gate i",
    "f": "forget gate f",
    "o": "output gate o",
    "c_tilde": "candidate c~",
    "c": "cell state c",
    "z": "update gate z",
    "r": "reset gate r",
    "h_tilde": "candidate h~",
    "h": "hidden state h",
}


def trace(model: nn.Module, x: Any, mask: Any = None) -> dict[str, dict[str, np.ndarray]]:
    """Every recurrent layer's gate values and states at every step of ``x``.

    Returns ``{layer name: {value name: array (batch, time, units)}}``, steps in input order
    (also for layers that read backwards), names as the cell's ``gate_values()`` gives them
    (LSTM ``i, f, c_tilde, o, c, h``; GRU ``z, r, h_tilde, h``; SimpleRNN ``h``). One sequence
    without the batch axis (``(time, features)``, or ``(time,)`` token ids) gives batch 1. Runs
    the model once, in eval mode, on a kernel that records.
    """
    with torch.no_grad(), recording(model) as layers:
        inputs = model_inputs(model, x)
        model(inputs) if mask is None else model(inputs, mask=mask)
        return {
            layer.name: {name: torch.stack(steps, dim=1).cpu().numpy() for name, steps in recorded(layer).items()}
            for layer in layers
        }
