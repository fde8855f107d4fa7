"""SpatialDropout1D: dropout of whole feature channels, the same ones at every time step."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ..core.layer import Layer, Shape, resolve_training


class SpatialDropout1D(Layer):
    """Drops whole channels of ``(batch, time, channels)`` inputs during training.

    Each sample keeps or zeroes each channel for all its steps at once (noise shape
    ``(batch, 1, channels)``) and scales what it keeps by ``1/(1-rate)``; outside training it
    passes its input through. Adjacent steps of a channel are strongly correlated (after a
    Conv1D or an Embedding), so dropping single entries would barely regularise.

    Arguments are Keras's: ``rate`` in [0, 1], ``seed``, ``name``, ``dtype``. Randomness follows
    ``rnnlab.set_seed``; ``seed`` is kept for Keras configs.

    >>> y = SpatialDropout1D(0.5)(torch.ones(4, 3, 8), training=True)
    >>> bool((y[:, 0] == y[:, 1]).all())
    True
    """

    supports_masking = True
    uses_training = True
    rate: float
    seed: int | None

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if not isinstance(rate, numbers.Real) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                f"Received: rate={rate}"
            )
        self.rate = float(rate)
        self.seed = seed
        self.built = type(self).build is Layer.build  # nothing to build, as Keras's

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        if len(shape) != 3:
            raise ValueError(
                f"SpatialDropout1D layer '{self.name}' expects 3-D inputs (batch, time, channels), "
                f"received shape {tuple(shape)}."
            )

    def forward(self, inputs: torch.Tensor, mask: Any = None, training: bool | None = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        if not resolve_training(self, training) or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        if keep == 0:
            return torch.zeros_like(inputs)
        kept = inputs.new_empty(inputs.shape[0], 1, inputs.shape[2]).bernoulli_(keep)  # (B, 1, C)
        dropped: torch.Tensor = inputs * kept / keep
        return dropped

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}
