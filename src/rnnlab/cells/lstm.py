"""The long short-term memory cell."""

from __future__ import annotations

from typing import Any

import torch

from ..core.layer import Shape
from .fused_form import FusedForm, NativeCell, gated_unfused
from .recurrent_cell import Gates, Mask, RecurrentCell, States, Tensor, masked_matmul


class LSTMCell(RecurrentCell):
    r"""One step of an LSTM (Keras ``LSTMCell``, Hochreiter & Schmidhuber 1997).

    .. math::
        \begin{aligned}
        i_t &= \sigma(x_t W_i + h_{t-1} U_i + b_i) \\
        f_t &= \sigma(x_t W_f + h_{t-1} U_f + b_f) \\
        \tilde c_t &= \tanh(x_t W_c + h_{t-1} U_c + b_c) \\
        o_t &= \sigma(x_t W_o + h_{t-1} U_o + b_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot \tilde c_t \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    with :math:`\sigma` = ``recurrent_activation`` and tanh = ``activation``. States
    ``[h, c]``. Weights, gates packed in the order i, f, c, o:
    ``kernel (input_dim, 4*units) = [W_i|W_f|W_c|W_o]``, ``recurrent_kernel (units, 4*units)``,
    ``bias (4*units,)``; initialised glorot_uniform, orthogonal, zeros, and with
    ``unit_forget_bias=True`` the forget-gate bias starts at 1.
    Parameters: ``4 * units * (units + input_dim + 1)``.
    ``gate_values()`` returns ``i, f, c_tilde, o, c, h`` by name (:math:`\tilde c_t` is ``c_tilde``).

    >>> cell = LSTMCell(10)
    >>> h, (h, c) = cell(torch.zeros(2, 1), cell.get_initial_state(2, torch.zeros(1)))
    >>> cell.count_params()
    480
    >>> list(cell.gate_values(torch.zeros(2, 1), [h, c]))
    ['i', 'f', 'c_tilde', 'o', 'c', 'h']
    """

    kind = "lstm"
    gates = 4
    state_names = ("h", "c")

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def declare_fused_form(self) -> FusedForm:
        unfused = gated_unfused(self.activation, self.recurrent_activation)
        native, torch_op = (None, None) if unfused else (NativeCell.LSTM, "lstm")
        gates, torch_order = ("i", "f", "c", "o"), (0, 1, 2, 3)  # PyTorch's i, f, g, o: the same order
        return FusedForm(gates, torch_order, 1, self.state_names, native, torch_op, unfused)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        if self.bias is not None and self.unit_forget_bias:
            with torch.no_grad():
                self.bias[self.units : 2 * self.units].fill_(1.0)  # f gate

    def gate_values(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Gates:
        h_prev, c_prev = states
        z = masked_matmul(x_t, self.kernel, input_masks) + masked_matmul(
            h_prev, self.recurrent_kernel, recurrent_masks
        )  # (B, 4U)
        if self.bias is not None:
            z = z + self.bias
        z_i, z_f, z_c, z_o = z.chunk(4, dim=-1)  # each (B, U)
        i = self._recurrent_activation(z_i)
        f = self._recurrent_activation(z_f)
        c_tilde = self._activation(z_c)
        o = self._recurrent_activation(z_o)
        c = f * c_prev + i * c_tilde
        h = o * self._activation(c)
        return {"i": i, "f": f, "c_tilde": c_tilde, "o": o, "c": c, "h": h}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
