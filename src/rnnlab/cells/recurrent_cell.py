"""What every recurrent cell shares: units, activations, initialisers, dropout rates."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import torch
from torch import nn

from ..core import activations, initializers
from ..core.layer import Layer, Shape
from ..core.variables import new_weight
from .fused_form import FusedForm

Tensor = torch.Tensor
States = list[torch.Tensor]  # h (and c): each (batch, units)
Mask = torch.Tensor | None  # a dropout mask for the step's input or recurrent state, or none
Gates = dict[str, torch.Tensor]  # every value one step computes, by name
Step = tuple[torch.Tensor, States]  # the output and the next states


def check_units(units: Any) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"units must be a positive integer, received {units!r}.")
    return units


def check_rate(name: str, rate: Any) -> float:
    if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), received {rate!r}.")
    return float(rate)


def masked_matmul(x: torch.Tensor, kernel: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """``x @ kernel``, where gate g of the packed kernel sees ``x * masks[g]``.

    ``masks (G, B, F)`` are per-gate dropout masks, as Keras uses once recurrent dropout
    is on; ``None`` means no dropout.
    """
    if masks is None:
        return x @ kernel
    gate_kernels = kernel.chunk(masks.shape[0], dim=1)  # G x (F, U)
    return torch.cat([(x * m) @ k for m, k in zip(masks, gate_kernels, strict=True)], dim=-1)  # (B, G*U)


class RecurrentCell(Layer):
    """One time step of a recurrent network.

    Contract: ``forward(x_t, states, input_masks=None, recurrent_masks=None) -> (h_t, new_states)``
    with ``x_t (B, F)`` and ``states`` a list of ``(B, size)`` tensors (``state_size``).
    Each cell writes its equations once, in ``gate_values()``, which returns every value of the step
    by name (gates, candidate, new states); ``forward`` takes ``h`` and the entries named by
    ``state_names`` from it, so diagnostics that record the gates see exactly what the step computed.
    Dropout follows Keras: without recurrent dropout, the RNN layer multiplies the whole
    input sequence by one mask (the same for every step); with recurrent dropout, the cell
    receives per-gate masks ``input_masks (G, B, F)`` and ``recurrent_masks (G, B, U)``,
    drawn once per sequence.
    The whole-sequence kernels read the cell's ``fused_form``, which ``declare_fused_form()``
    states once, from the constructor's arguments.
    """

    kind: str = ""  # the family's short name ("simple_rnn", "lstm", "gru"); kernels read fused_form
    gates: int = 1  # G in kernel (F, G*units)
    state_names: tuple[str, ...] = ("h",)  # the values of gate_values() that are the new states, in state order
    weight_options = {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}

    def __init__(
        self,
        units: int,
        *,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        self.seed = seed  # accepted for Keras programs; dropout draws follow rnnlab.set_seed
        self.units = check_units(units)
        self.activation = activations.name_of(activation)
        self.recurrent_activation = activations.name_of(recurrent_activation)
        self._activation = activations.get(activation)
        self._recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        for init in (kernel_initializer, recurrent_initializer, bias_initializer):
            initializers.get(init)  # fail at construction, not at build
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.input_dim: int | None = None

    @property
    def state_size(self) -> list[int]:
        return [self.units]

    def get_initial_state(self, batch_size: int, like: torch.Tensor) -> list[torch.Tensor]:
        return [like.new_zeros(batch_size, size) for size in self.state_size]

    def nest_states(self, states: list[Any]) -> list[Any]:
        """The final states as ``return_state`` gives them: flat, one per ``state_size`` entry."""
        return states

    @cached_property
    def fused_form(self) -> FusedForm:
        """This cell as the fused kernels compute it, or why they cannot; fixed at construction,
        like the activation functions, and read on every call."""
        return self.declare_fused_form()

    def declare_fused_form(self) -> FusedForm:
        """The fused form of this configuration; a cell with one overrides this."""
        return FusedForm.none(f"{type(self).__name__} has no fused form")

    def gate_values(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Gates:
        """Every value one step computes, by name, each ``(B, units)``: the equations of the cell."""
        raise NotImplementedError(f"{type(self).__name__} must define gate_values()")

    def forward(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Step:
        values = self.gate_values(x_t, states, input_masks, recurrent_masks)
        return values["h"], [values[name] for name in self.state_names]

    def build(self, input_shape: Shape) -> None:
        self.input_dim = int(input_shape[-1])
        G, U = self.gates, self.units
        self.kernel = new_weight((self.input_dim, G * U), self.kernel_initializer)
        self.recurrent_kernel = new_weight((U, G * U), self.recurrent_initializer)
        self.bias: nn.Parameter | None = new_weight(self.bias_shape(), self.bias_initializer) if self.use_bias else None

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }

    def extra_repr(self) -> str:
        return f"units={self.units}, input_dim={self.input_dim}"
