"""Weight layouts between Keras cells and PyTorch's nn.RNN / nn.LSTM / nn.GRU.

Keras packs gates along the columns of ``kernel (F, G*U)``; PyTorch packs them along the
rows of ``weight_ih (G*U, F)``, and keeps two biases ``b_ih``, ``b_hh`` where Keras keeps
one (LSTM, SimpleRNN) or a ``(2, 3U)`` pair (GRU with ``reset_after``).

Gate order: LSTM i,f,c,o (Keras) == i,f,g,o (PyTorch); GRU z,r,h (Keras) -> r,z,n (PyTorch).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class TorchWeights(NamedTuple):
    weight_ih: torch.Tensor  # (G*U, F)
    weight_hh: torch.Tensor  # (G*U, U)
    bias_ih: torch.Tensor | None  # (G*U,)
    bias_hh: torch.Tensor | None  # (G*U,)


class KerasWeights(NamedTuple):
    kernel: torch.Tensor  # (F, G*U)
    recurrent_kernel: torch.Tensor  # (U, G*U)
    bias: torch.Tensor | None  # (G*U,), or (2, 3U) for GRU with reset_after


def fused_activation_incompatibility(kind: str, activation: str | None, recurrent_activation: str | None) -> str | None:
    """Why the fused kernels (PyTorch's nn.RNN/LSTM/GRU ops and rnnlab's native kernel) cannot
    compute this Keras cell's activations, or None when they can."""
    if kind == "simple_rnn":
        return None if activation in ("tanh", "relu") else f"SimpleRNN activation {activation!r} (fused: tanh or relu)"
    if kind not in ("lstm", "gru"):
        return f"cell kind {kind!r} has no fused op"
    if (activation, recurrent_activation) != ("tanh", "sigmoid"):
        return f"activation={activation!r}, recurrent_activation={recurrent_activation!r} (fused: tanh and sigmoid)"
    return None


def fused_incompatibility(
    kind: str, activation: str | None, recurrent_activation: str | None, reset_after: bool = True
) -> str | None:
    """Why PyTorch's fused cells (nn.RNN/LSTM/GRU and every kernel sharing their layout) cannot
    compute this Keras cell, or None when they can: the activations above, and PyTorch's GRU
    layout, which has the reset gate after the recurrent multiply only."""
    reason = fused_activation_incompatibility(kind, activation, recurrent_activation)
    if reason is None and kind == "gru" and not reset_after:
        return "GRU(reset_after=False) applies the reset gate before the matmul; PyTorch's GRU after it"
    return reason


def _swap_first_two_gates(w: torch.Tensor, units: int) -> torch.Tensor:
    """GRU gate blocks along dim 0: z,r,h <-> r,z,n (the swap is its own inverse)."""
    return torch.cat([w[units : 2 * units], w[:units], w[2 * units :]], dim=0)


def keras_to_torch(
    kind: str, kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None, reset_after: bool = True
) -> TorchWeights:
    """Keras cell weights -> PyTorch's single-layer weights (views where possible, so gradients flow)."""
    units = recurrent_kernel.shape[0]
    weight_ih, weight_hh = kernel.t(), recurrent_kernel.t()  # (G*U, F), (G*U, U)
    if kind in ("simple_rnn", "lstm"):
        bias_hh = None if bias is None else torch.zeros_like(bias)  # Keras has one bias: b_hh is 0
        return TorchWeights(weight_ih, weight_hh, bias, bias_hh)
    if kind != "gru":
        raise ValueError(f"Unknown cell kind {kind!r}; expected 'simple_rnn', 'lstm' or 'gru'.")
    if not reset_after:
        raise ValueError(
            "PyTorch's GRU applies the reset gate after the matmul; only GRU(reset_after=True) has a PyTorch layout."
        )
    weight_ih = _swap_first_two_gates(weight_ih, units)
    weight_hh = _swap_first_two_gates(weight_hh, units)
    if bias is None:
        return TorchWeights(weight_ih, weight_hh, None, None)
    assert bias.shape == (2, 3 * units), bias.shape
    return TorchWeights(
        weight_ih, weight_hh, _swap_first_two_gates(bias[0], units), _swap_first_two_gates(bias[1], units)
    )


def torch_to_keras(kind: str, weights: TorchWeights) -> KerasWeights:
    """PyTorch's single-layer weights -> Keras cell weights (new tensors)."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    units = weight_hh.shape[1]
    if kind == "gru":
        kernel = _swap_first_two_gates(weight_ih, units).t()
        recurrent_kernel = _swap_first_two_gates(weight_hh, units).t()
        bias = None
        if bias_ih is not None and bias_hh is not None:
            bias = torch.stack(
                [_swap_first_two_gates(bias_ih, units), _swap_first_two_gates(bias_hh, units)]
            )  # (2, 3U)
        return KerasWeights(kernel.contiguous(), recurrent_kernel.contiguous(), bias)
    if bias_ih is None or bias_hh is None:
        return KerasWeights(weight_ih.t().contiguous(), weight_hh.t().contiguous(), None)
    bias = bias_ih + bias_hh  # the two biases always appear summed
    return KerasWeights(weight_ih.t().contiguous(), weight_hh.t().contiguous(), bias)
