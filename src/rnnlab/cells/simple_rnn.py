"""The Elman cell."""

from __future__ import annotations

from typing import Any

from .fused_form import FusedForm, NativeCell
from .recurrent_cell import Gates, Mask, RecurrentCell, States, Tensor, masked_matmul

NATIVE = {"tanh": NativeCell.SIMPLE_TANH, "relu": NativeCell.SIMPLE_RELU}  # the activations the fused loops compute


class SimpleRNNCell(RecurrentCell):
    r"""One step of a fully connected recurrent network (Keras ``SimpleRNNCell``).

    .. math::
        h_t = \text{activation}(x_t W + b + h_{t-1} U)

    Weights: ``kernel W (input_dim, units)``, ``recurrent_kernel U (units, units)``,
    ``bias b (units,)``; initialised glorot_uniform, orthogonal, zeros. Parameters:
    ``units * (units + input_dim + 1)``. ``recurrent_activation`` is not used.
    ``gate_values()`` returns ``h`` alone: the cell has no gates.

    >>> import torch
    >>> cell = SimpleRNNCell(4)
    >>> h, states = cell(torch.zeros(2, 3), [torch.zeros(2, 4)])
    >>> tuple(h.shape), cell.count_params()
    ((2, 4), 32)
    >>> list(cell.gate_values(torch.zeros(2, 3), states))
    ['h']
    """

    kind = "simple_rnn"
    gates = 1

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        kwargs.pop("recurrent_activation", None)  # a SimpleRNN has no gates
        super().__init__(units, activation=activation, **kwargs)

    def declare_fused_form(self) -> FusedForm:
        native = NATIVE.get(str(self.activation))
        if native is None:
            unfused, torch_op = f"SimpleRNN activation {self.activation!r} (fused: tanh or relu)", None
        else:
            unfused, torch_op = None, f"rnn_{self.activation}"
        return FusedForm(("h",), (0,), 1, self.state_names, native, torch_op, unfused)

    def gate_values(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Gates:
        h_prev = states[0]
        z = masked_matmul(x_t, self.kernel, input_masks) + masked_matmul(
            h_prev, self.recurrent_kernel, recurrent_masks
        )  # (B, U)
        if self.bias is not None:
            z = z + self.bias
        h = self._activation(z)
        return {"h": h}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        return config
