"""Activation: an activation function as a layer of its own."""

from __future__ import annotations

from typing import Any

import torch

from ..core import activations
from ..core.layer import Layer


class Activation(Layer):
    """Applies ``activation`` (a Keras name such as ``"relu"``, or a callable) to its input.

    Passes the mask on unchanged; has no weights, so it is built when made.

    >>> Activation("relu")(torch.tensor([-3.0, -1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 0.0, 2.0]
    """

    supports_masking = True

    def __init__(self, activation: Any, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        self._activation = activations.get(activation)
        self.activation = activations.name_of(self._activation)  # Keras's name: "swish" is saved as "silu"
        self.built = type(self).build is Layer.build  # nothing to build, as Keras's

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        return self._activation(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}
