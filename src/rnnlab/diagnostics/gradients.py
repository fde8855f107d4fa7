"""Gradient flow: how strongly the loss reaches back to each time step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..training import losses
from .recording import model_inputs, recorded, recording


def _loss_fn(model: nn.Module, loss: str | Callable[..., torch.Tensor] | None) -> Callable[..., torch.Tensor]:
    """``(y_pred, y_true) -> batch mean``: ``loss`` (Keras's argument order), else the model's
    compiled loss, else mean squared error, reduced as training reduces it."""
    if loss is not None:
        fn = losses.get(loss)
    else:
        trainer = getattr(model, "trainer", None)
        fn = trainer.compiled.loss_fn if trainer is not None else losses.get("mse")
    return lambda y_pred, y_true: losses.reduce(fn(y_true, y_pred))


def gradient_flows(
    model: nn.Module, x: Any, y: Any, loss: str | Callable[..., torch.Tensor] | None = None
) -> dict[str, np.ndarray]:
    """Per-step gradient norms of the loss: ``"input"`` and each recurrent layer's hidden state.

    ``flows["input"][t]`` is the L2 norm (over features) of ``d loss_b / d x_b[t]``, averaged over
    the samples ``b`` of the batch; ``flows[layer name][t]`` the same for that layer's hidden state
    ``h_t`` (the total derivative: through the next step and through the layers above). Each
    sample's own loss is used (the batch mean times the batch size), so the numbers do not
    depend on the batch size. ``loss``: a Keras loss name or callable; by default the model's
    compiled loss, else mean squared error. Arrays of shape ``(time,)``, first step first. Token
    ids (integer inputs) have no gradient: there, only the hidden states' flows are given.
    """
    loss_fn = _loss_fn(model, loss)
    with torch.enable_grad(), recording(model) as layers:
        inputs = model_inputs(model, x).detach()  # never the caller's tensor: it gets requires_grad
        differentiable = inputs.is_floating_point()
        inputs.requires_grad_(differentiable)
        targets = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).to(inputs.device)
        if targets.is_floating_point():
            targets = targets.to(inputs.dtype)
        value = loss_fn(model(inputs), targets) * inputs.shape[0]  # the sum of each sample's loss
        hidden = [recorded(layer)["h"] for layer in layers]
        wrt = [inputs] if differentiable else []
        grads = torch.autograd.grad(value, [*wrt, *(h for steps in hidden for h in steps)], allow_unused=True)
    flows = {"input": grads[0].norm(dim=-1).mean(dim=0)} if differentiable else {}  # (B, T, F) -> (T,)
    start = len(wrt)
    for layer, steps in zip(layers, hidden, strict=True):
        per_step = [g if g is not None else torch.zeros_like(h) for g, h in zip(grads[start:], steps, strict=False)]
        flows[layer.name] = torch.stack(per_step, dim=1).norm(dim=-1).mean(dim=0)  # (B, T, U) -> (T,)
        start += len(steps)
    return {name: flow.detach().double().cpu().numpy() for name, flow in flows.items()}


def gradient_flow(
    model: nn.Module, x: Any, y: Any, wrt: str = "input", loss: str | Callable[..., torch.Tensor] | None = None
) -> np.ndarray:
    """Per-step norm of the loss gradient with respect to the input (``wrt="input"``) or to a
    recurrent layer's hidden state (``wrt=layer name``), averaged over the batch: shape ``(time,)``,
    first step first. See ``gradient_flows`` for the definition."""
    flows = gradient_flows(model, x, y, loss)
    if wrt not in flows:
        hint = " (the inputs are token ids, which have no gradient: ask for a layer)" if wrt == "input" else ""
        raise ValueError(f"gradient_flow(wrt={wrt!r}): expected one of {sorted(flows)}{hint}.")
    return flows[wrt]
