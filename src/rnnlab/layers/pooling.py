"""Max and average pooling over windows (1-D, 2-D) and over the whole time axis (global), as Keras.

Windowed pooling runs PyTorch's ``max_pool`` / ``avg_pool`` on the channels-first view. With
``padding="same"`` an even padding is the op's own (average pooling leaves it out of the
count); an uneven one repeats the edge values, as Keras's torch backend does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from ..core.layer import Layer, Shape
from .convolutional import (
    channels_first,
    channels_last,
    last_step_hint,
    pad_same,
    spatial_output_shape,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)


class Pooling(Layer):
    """Keras's ``BasePooling``: the max or the mean of each ``pool_size`` window, every ``strides`` steps
    (default: ``pool_size``, windows that do not overlap)."""

    rank = 0
    mode = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = standardize_tuple(pool_size if strides is None else strides, self.rank, "strides", True)
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        if len(shape) != self.rank + 2:
            message = (
                f"{type(self).__name__} layer '{self.name}' expects inputs with {self.rank + 2} axes "
                f"(batch, {'steps' if self.rank == 1 else 'height, width'} and channels), "
                f"received shape {tuple(shape)}."
            )
            message += last_step_hint(previous)
            raise ValueError(message)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        ones = (1,) * self.rank
        return spatial_output_shape(
            input_shape, channels, self.pool_size, self.strides, ones, self.padding, self.data_format
        )

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        x = channels_first(inputs) if self.data_format == "channels_last" else inputs  # (B, C, *S)
        padding: list[int] | int = 0
        if self.padding == "same":
            x, padding = pad_same(x, self.pool_size, self.strides, (1,) * self.rank, "replicate")
        if self.mode == "max":
            max_pool = F.max_pool1d if self.rank == 1 else F.max_pool2d
            y = max_pool(x, self.pool_size, self.strides, padding)
        elif self.rank == 1:
            y = F.avg_pool1d(x, self.pool_size, self.strides, padding, count_include_pad=False)
        else:
            y = F.avg_pool2d(x, self.pool_size, self.strides, padding, count_include_pad=False)
        return channels_last(y) if self.data_format == "channels_last" else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(Pooling):
    """The largest value of each window of ``pool_size`` steps: ``(batch, steps, channels)`` -> ``(batch, new_steps,
    channels)``.

    >>> MaxPooling1D()(torch.tensor([[[1.0], [3.0], [2.0], [0.0]]])).flatten().tolist()
    [3.0, 2.0]
    """

    rank = 1

    def __init__(self, pool_size: int | Sequence[int] = 2, **kwargs: Any) -> None:
        super().__init__(pool_size, **kwargs)


class AveragePooling1D(Pooling):
    """The mean of each window of ``pool_size`` steps (``pool_size`` has no default, as in Keras)."""

    rank = 1
    mode = "average"


class MaxPooling2D(Pooling):
    """The largest value of each ``pool_size`` window of ``(batch, height, width, channels)``."""

    rank = 2

    def __init__(self, pool_size: int | Sequence[int] = (2, 2), **kwargs: Any) -> None:
        super().__init__(pool_size, **kwargs)


class AveragePooling2D(Pooling):
    """The mean of each ``pool_size`` window of ``(batch, height, width, channels)``."""

    rank = 2
    mode = "average"


class GlobalPooling1D(Layer):
    """Keras's ``BaseGlobalPooling`` over the time axis: ``(batch, steps, channels) -> (batch, channels)``
    (``keepdims=True``: ``(batch, 1, channels)``)."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    @property
    def steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        if len(shape) != 3:
            message = (
                f"{type(self).__name__} layer '{self.name}' expects inputs of shape (batch, steps, channels), "
                f"received shape {tuple(shape)}."
            )
            message += last_step_hint(previous)
            raise ValueError(message)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], channels)
        return (input_shape[0], 1, channels) if self.data_format == "channels_last" else (input_shape[0], channels, 1)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return None  # the time axis is gone

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(GlobalPooling1D):
    """The mean over time; with a mask, the mean over the valid steps only (masked steps left out, as Keras).

    >>> GlobalAveragePooling1D()(torch.ones(2, 5, 3)).shape
    torch.Size([2, 3])
    """

    supports_masking = True

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        if mask is None:
            return inputs.mean(dim=self.steps_axis, keepdim=self.keepdims)
        keep = torch.as_tensor(mask, device=inputs.device).bool().unsqueeze(2 if self.steps_axis == 1 else 1)
        total = torch.where(keep, inputs, 0).sum(dim=self.steps_axis, keepdim=self.keepdims)
        return total / keep.to(inputs.dtype).sum(dim=self.steps_axis, keepdim=self.keepdims)  # (B, C)


class GlobalMaxPooling1D(GlobalPooling1D):
    """The largest value over time (Keras takes it over every step, masked or not)."""

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        return inputs.amax(dim=self.steps_axis, keepdim=self.keepdims)
