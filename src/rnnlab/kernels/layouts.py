"""Weight layouts between Keras cells and PyTorch's nn.RNN / nn.LSTM / nn.GRU.

Keras packs gates along the columns of ``kernel (F, G*U)``; PyTorch packs them along the
rows of ``weight_ih (G*U, F)``, and keeps two biases ``b_ih``, ``b_hh`` where Keras keeps
one (LSTM, SimpleRNN) or a ``(2, 3U)`` pair (GRU with ``reset_after``).

Gate order: LSTM i,f,c,o (Keras) == i,f,g,o (PyTorch); GRU z,r,h (Keras) -> r,z,n (PyTorch).
Each cell's ``fused_form`` states its gates, PyTorch's order of them and its bias rows.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..cells import FusedForm


class TorchWeights(NamedTuple):
    weight_ih: torch.Tensor  # (G*U, F)
    weight_hh: torch.Tensor  # (G*U, U)
    bias_ih: torch.Tensor | None  # (G*U,)
    bias_hh: torch.Tensor | None  # (G*U,)


class KerasWeights(NamedTuple):
    kernel: torch.Tensor  # (F, G*U)
    recurrent_kernel: torch.Tensor  # (U, G*U)
    bias: torch.Tensor | None  # (G*U,), or (2, 3U) for GRU with reset_after


def _reorder(w: torch.Tensor, order: tuple[int, ...], units: int) -> torch.Tensor:
    """The gate blocks of ``w`` along dim 0 taken in ``order``: GRU z,r,h -> r,z,n is (1, 0, 2)."""
    if order == tuple(sorted(order)):
        return w  # LSTM i,f,c,o == i,f,g,o: a view, no copy
    return torch.cat([w[k * units : (k + 1) * units] for k in order], dim=0)


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    """The order that undoes ``order``: Keras's blocks from PyTorch's."""
    return tuple(sorted(range(len(order)), key=order.__getitem__))


def keras_to_torch(
    form: FusedForm, kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None
) -> TorchWeights:
    """Keras cell weights -> PyTorch's single-layer weights (views where possible, so gradients flow)."""
    units = recurrent_kernel.shape[0]
    order = form.torch_layout()
    weight_ih = _reorder(kernel.t(), order, units)  # (G*U, F)
    weight_hh = _reorder(recurrent_kernel.t(), order, units)  # (G*U, U)
    if bias is None:
        return TorchWeights(weight_ih, weight_hh, None, None)
    if form.bias_rows == 2:
        assert bias.shape == (2, len(form.gates) * units), bias.shape
        return TorchWeights(weight_ih, weight_hh, _reorder(bias[0], order, units), _reorder(bias[1], order, units))
    bias_ih = _reorder(bias, order, units)
    return TorchWeights(weight_ih, weight_hh, bias_ih, torch.zeros_like(bias_ih))  # Keras has one bias: b_hh is 0


def torch_to_keras(form: FusedForm, weights: TorchWeights) -> KerasWeights:
    """PyTorch's single-layer weights -> Keras cell weights (new tensors)."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    units = weight_hh.shape[1]
    order = _inverse(form.torch_layout())
    kernel = _reorder(weight_ih, order, units).t().contiguous()  # (F, G*U)
    recurrent_kernel = _reorder(weight_hh, order, units).t().contiguous()  # (U, G*U)
    if bias_ih is None or bias_hh is None:
        return KerasWeights(kernel, recurrent_kernel, None)
    if form.bias_rows == 2:
        bias = torch.stack([_reorder(bias_ih, order, units), _reorder(bias_hh, order, units)])  # (2, G*U)
    else:
        bias = _reorder(bias_ih + bias_hh, order, units)  # the two biases always appear summed
    return KerasWeights(kernel, recurrent_kernel, bias.contiguous())
