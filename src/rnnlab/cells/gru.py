"""The gated recurrent unit cell."""

from __future__ import annotations

from typing import Any

import torch

from .fused_form import FusedForm, NativeCell, gated_unfused
from .recurrent_cell import Gates, Mask, RecurrentCell, States, Tensor, masked_matmul

RESET_BEFORE = "GRU(reset_after=False) applies the reset gate before the matmul; PyTorch's GRU after it"


class GRUCell(RecurrentCell):
    r"""One step of a GRU (Keras ``GRUCell``, Cho et al. 2014).

    .. math::
        \begin{aligned}
        z_t &= \sigma(x_t W_z + b^x_z + h_{t-1} U_z + b^h_z) \\
        r_t &= \sigma(x_t W_r + b^x_r + h_{t-1} U_r + b^h_r) \\
        \tilde h_t &= \tanh(x_t W_h + b^x_h + r_t \odot (h_{t-1} U_h + b^h_h))
            && \text{reset\_after=True (default)} \\
        \tilde h_t &= \tanh(x_t W_h + (r_t \odot h_{t-1}) U_h + b_h)
            && \text{reset\_after=False} \\
        h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t
        \end{aligned}

    Weights, gates packed in the order z, r, h: ``kernel (input_dim, 3*units) =
    [W_z|W_r|W_h]``, ``recurrent_kernel (units, 3*units)``, and ``bias (2, 3*units)``
    (row 0 the input bias :math:`b^x`, row 1 the recurrent bias :math:`b^h`) when
    ``reset_after``, else ``bias (3*units,)`` with no recurrent bias. Initialised
    glorot_uniform, orthogonal, zeros. Parameters: ``3 * units * (units + input_dim + 2)``
    (``+ 1`` instead of ``+ 2`` without ``reset_after``).
    ``gate_values()`` returns ``z, r, h_tilde, h`` by name (:math:`\tilde h_t` is ``h_tilde``).

    >>> cell = GRUCell(10)
    >>> h, [h] = cell(torch.zeros(2, 1), [torch.zeros(2, 10)])
    >>> cell.count_params()
    390
    >>> list(cell.gate_values(torch.zeros(2, 1), [h]))
    ['z', 'r', 'h_tilde', 'h']
    """

    kind = "gru"
    gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def declare_fused_form(self) -> FusedForm:
        gates = ("z", "r", "h")
        unfused = gated_unfused(self.activation, self.recurrent_activation)
        if not self.reset_after:  # the native kernel has this GRU; PyTorch has none
            native = None if unfused else NativeCell.GRU_RESET_BEFORE
            return FusedForm(gates, None, 1, self.state_names, native, None, unfused, no_torch_op=RESET_BEFORE)
        native, torch_op = (None, None) if unfused else (NativeCell.GRU, "gru")
        torch_order = (1, 0, 2)  # z, r, h -> PyTorch's r, z, n
        return FusedForm(gates, torch_order, 2, self.state_names, native, torch_op, unfused)

    def gate_values(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Gates:
        h_prev = states[0]
        U = self.units
        if self.bias is None:
            input_bias = recurrent_bias = None
        elif self.reset_after:
            input_bias, recurrent_bias = self.bias  # rows, each (3U,)
        else:
            input_bias, recurrent_bias = self.bias, None

        x_proj = masked_matmul(x_t, self.kernel, input_masks)  # (B, 3U)
        if input_bias is not None:
            x_proj = x_proj + input_bias
        x_z, x_r, x_h = torch.split(x_proj, U, dim=-1)

        m_z, m_r, m_h = recurrent_masks if recurrent_masks is not None else (None, None, None)
        u_z, u_r, u_h = torch.split(self.recurrent_kernel, U, dim=-1)  # each (U, U)
        h_z = h_prev if m_z is None else h_prev * m_z
        h_r = h_prev if m_r is None else h_prev * m_r
        h_h = h_prev if m_h is None else h_prev * m_h
        rec_z, rec_r = h_z @ u_z, h_r @ u_r
        if recurrent_bias is not None:
            b_z, b_r, b_h = recurrent_bias.split(U)
            rec_z, rec_r = rec_z + b_z, rec_r + b_r

        z = self._recurrent_activation(x_z + rec_z)
        r = self._recurrent_activation(x_r + rec_r)
        if self.reset_after:
            rec_h = h_h @ u_h
            if recurrent_bias is not None:
                rec_h = rec_h + b_h
            h_tilde = self._activation(x_h + r * rec_h)
        else:
            h_tilde = self._activation(x_h + (r * h_h) @ u_h)
        h = z * h_prev + (1 - z) * h_tilde
        return {"z": z, "r": r, "h_tilde": h_tilde, "h": h}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}
