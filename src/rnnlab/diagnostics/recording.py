"""Switching a model's recurrent layers to recording, and back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..layers import RNN


def recurrent_layers(model: nn.Module) -> list[RNN]:
    """Every recurrent layer in ``model`` (both directions of a ``Bidirectional``), in module order."""
    return [m for m in model.modules() if isinstance(m, RNN)]


@contextmanager
def recording(model: nn.Module) -> Iterator[list[RNN]]:
    """Inside the block, each recurrent layer of ``model`` keeps every step's values in ``last_trace``.

    Layers forced to a kernel other than ``reference`` are switched to ``"auto"`` meanwhile, so
    the dispatcher picks one that can record. On leaving, every layer is as it was: recording
    off, trace dropped, its ``implementation`` and the kernel it last ran (what ``summary()``
    shows) restored. The model is in eval mode (no dropout) inside the block.
    """
    layers = recurrent_layers(model)
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no recurrent layer (SimpleRNN, LSTM, GRU, RNN or Bidirectional) to look into."
        )
    saved = [(layer.implementation, layer.last_kernel, dict(layer.last_kernel_skipped)) for layer in layers]
    was_training = model.training
    model.train(False)
    try:
        for layer in layers:
            layer.record = True
            if layer.implementation != "reference":
                layer.implementation = "auto"
        yield layers
    finally:
        model.train(was_training)
        for layer, (implementation, kernel, skipped) in zip(layers, saved, strict=True):
            layer.record = False
            layer.last_trace = {}
            layer.implementation, layer.last_kernel, layer.last_kernel_skipped = implementation, kernel, skipped


def recorded(layer: RNN) -> dict[str, list[torch.Tensor]]:
    """The layer's trace from its last call, steps in input order; a clear error if it recorded nothing."""
    if not layer.last_trace:
        raise ValueError(
            f"Layer '{layer.name}' recorded no step: it ran on kernel {layer.last_kernel!r}, which does not "
            "record gate values (a kernel that cannot record must decline options.record in why_not)."
        )
    if layer.go_backwards:  # the kernel read the sequence from its end
        return {name: steps[::-1] for name, steps in layer.last_trace.items()}
    return layer.last_trace


def model_inputs(model: nn.Module, x: Any) -> torch.Tensor:
    """``x`` on the model's device with a batch axis; floats in the model's dtype, token ids kept integers.

    One sequence (``(time, features)``, or ``(time,)`` token ids) gets a batch axis of 1. The
    model's declared input shape, when it has one, tells a single sequence from a batch.
    """
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    device = param.device if param is not None else torch.device("cpu")
    tensor = torch.as_tensor(x).to(device=device)
    tensor = tensor.to(dtype) if tensor.is_floating_point() else tensor
    spec = getattr(model, "input_spec", None)
    rank = len(spec.shape) if spec is not None else (2 if tensor.is_floating_point() else 1)  # without batch
    if tensor.dim() == rank:
        tensor = tensor[None]
    if tensor.dim() != rank + 1:
        expected = "(batch, time, features)" if rank == 2 else "(batch, time) token ids"
        raise ValueError(
            f"Expected inputs of shape {expected}, or one sequence without the batch axis; "
            f"received shape {tuple(tensor.shape)}."
        )
    return tensor
