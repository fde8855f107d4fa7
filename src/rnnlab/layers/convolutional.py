"""Conv1D and Conv2D with Keras's arguments, kernel layout ``(*kernel_size, in/groups, filters)`` and padding.

Inputs are channels-last ``(batch, *spatial, channels)`` by default, as in Keras; PyTorch's
convolutions want channels first, so the layer transposes around ``F.conv1d`` / ``F.conv2d``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..core import activations, initializers
from ..core.layer import Layer, Shape
from ..core.variables import new_weight

DATA_FORMATS = ("channels_last", "channels_first")


def standardize_tuple(value: Any, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """An int or n ints -> a tuple of n positive (or, with ``allow_zero``, non-negative) ints, as Keras checks it."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, numbers.Integral):
        values: tuple[Any, ...] = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n or not all(isinstance(v, numbers.Integral) for v in values):
            raise ValueError(message)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        raise ValueError(
            f"{message}, including values {bad} that do not satisfy `value {'>= 0' if allow_zero else '> 0'}`"
        )
    return tuple(int(v) for v in values)


def standardize_data_format(data_format: str | None) -> str:
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in DATA_FORMATS:
        raise ValueError(
            f"The `data_format` argument must be one of {set(DATA_FORMATS)}. Received: data_format={data_format}"
        )
    return data_format


def standardize_padding(value: Any, allow_causal: bool = False) -> str:
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    padding = str(value).lower()
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be one of {set(allowed)}. Received: {value}")
    return padding


def last_step_hint(previous: Layer | None) -> str:
    """The fix when the layer before returns only its last step."""
    if previous is not None and getattr(previous, "return_sequences", None) is False:
        return f" The previous layer '{previous.name}' returns only its last step: set return_sequences=True on it."
    return ""


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """(B, *S, C) -> (B, C, *S), contiguous as torch's kernels want it."""
    return x.movedim(-1, 1).contiguous()


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, *S) -> (B, *S, C)."""
    return x.movedim(1, -1)


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(left, right) padding that keeps ``ceil(length / stride)`` outputs; the odd one goes right, as in Keras."""
    effective = (kernel - 1) * dilation + 1
    if stride == 1:
        total = effective - 1
    else:
        outputs = (length + stride - 1) // stride
        total = max(0, (outputs - 1) * stride + effective - length)
    return total // 2, total - total // 2


def pad_same(
    x: torch.Tensor, kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int], mode: str
) -> tuple[torch.Tensor, list[int] | int]:
    """Channels-first ``x`` and the padding to hand torch: symmetric padding goes to the op, uneven
    padding is applied here (zeros for convolutions, the edge values for pooling, as Keras's torch backend)."""
    pads = [same_padding(n, k, s, d) for n, k, s, d in zip(x.shape[2:], kernel, strides, dilation, strict=True)]
    if all(left == right for left, right in pads):
        return x, [left for left, _ in pads]
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad lists the last axis first
    return F.pad(x, flat, mode=mode), 0


def output_length(length: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    """One spatial size of a convolution's or pooling's output (None stays None)."""
    if length is None:
        return None
    if padding == "valid":
        return (length - dilation * (kernel - 1) - 1) // stride + 1
    return (length - 1) // stride + 1


def spatial_output_shape(
    input_shape: Shape,
    channels: int,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
    padding: str,
    data_format: str,
) -> Shape:
    """(batch, *spatial, channels) of the output (channels first for ``channels_first``); a ValueError
    when a known size would become zero or negative."""
    spatial = input_shape[1:-1] if data_format == "channels_last" else input_shape[2:]
    sizes = [output_length(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)]
    if any(size is not None and size <= 0 for size in sizes):
        raise ValueError(
            f"Computed output size would be zero or negative. Received `inputs shape={tuple(input_shape)}`, "
            f"`kernel_size={tuple(kernel)}`, `dilation_rate={tuple(dilation)}`, `strides={tuple(strides)}`, "
            f"`padding={padding}`."
        )
    if data_format == "channels_last":
        return (input_shape[0], *sizes, channels)
    return (input_shape[0], channels, *sizes)


class Conv(Layer):
    """N-D convolution (Keras's ``BaseConv``): ``activation(conv(x, kernel) + bias)``.

    ``kernel (*kernel_size, input_channels // groups, filters)``, ``bias (filters,)``;
    defaults glorot_uniform and zeros. ``padding``: "valid", "same" (outputs ``ceil(n / stride)``,
    the odd padding at the end) or, for Conv1D, "causal" (``dilation * (kernel_size - 1)`` zeros
    in front, so step t sees steps <= t only).
    """

    rank = 0
    weight_options = {"kernel": "kernel", "bias": "bias"}

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        n = self.rank
        self.filters = filters
        self.groups = groups
        self.kernel_size = standardize_tuple(kernel_size, n, "kernel_size")
        self.strides = standardize_tuple(strides, n, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, n, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=n == 1)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.name_of(activation)
        self._activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)
        self._check_arguments()
        self.input_channels: int | None = None

    def _check_arguments(self) -> None:
        if not isinstance(self.filters, int) or self.filters <= 0:
            raise ValueError(
                "Invalid value for argument `filters`. Expected a strictly positive value. "
                f"Received filters={self.filters}."
            )
        if not isinstance(self.groups, int) or self.groups <= 0:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={self.groups}.")
        if self.filters % self.groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={self.groups}, filters={self.filters}."
            )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        layout = "(batch, " + ", ".join(["steps", "height, width"][self.rank - 1 : self.rank]) + ", channels)"
        if self.data_format == "channels_first":
            layout = "(batch, channels, " + layout[len("(batch, ") : -len(", channels)")] + ")"
        if len(shape) != self.rank + 2:
            message = (
                f"{type(self).__name__} layer '{self.name}' expects inputs of shape {layout}, "
                f"received shape {tuple(shape)}."
            )
            message += last_step_hint(previous)
            raise ValueError(message)
        channels = shape[self._channel_axis()]
        if self.built and channels != self.input_channels:
            raise ValueError(
                f"{type(self).__name__} layer '{self.name}' was built for {self.input_channels} input channels, "
                f"received input of shape {tuple(shape)}."
            )
        if not self.built and channels is not None and channels % self.groups:
            raise ValueError(
                "The number of input channels must be evenly divisible by the number of groups. "
                f"Received groups={self.groups}, but the input has {channels} channels "
                f"(full input shape is {tuple(shape)})."
            )

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)
        self.compute_output_shape(input_shape)  # a kernel larger than a known input is an error now
        self.input_channels = int(input_shape[self._channel_axis()])
        shape = (*self.kernel_size, self.input_channels // self.groups, self.filters)
        self.kernel = new_weight(shape, self.kernel_initializer)
        self.bias = new_weight((self.filters,), self.bias_initializer) if self.use_bias else None
        self._finish_build()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        if not self.built and prefix + "kernel" in state_dict:  # input channels = kernel's in-axis * groups
            channels = state_dict[prefix + "kernel"].shape[-2] * self.groups
            spatial = (None,) * self.rank
            shape = (None, *spatial, channels) if self.data_format == "channels_last" else (None, channels, *spatial)
            self.ensure_built(shape)
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return spatial_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            self.data_format,
        )

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        x = channels_first(inputs) if self.data_format == "channels_last" else inputs  # (B, C, *S)
        kernel = self.kernel.permute(-1, -2, *range(self.rank))  # (filters, C/groups, *kernel_size)
        padding: list[int] | int = 0
        if self.padding == "causal":
            x = F.pad(x, (self.dilation_rate[0] * (self.kernel_size[0] - 1), 0))
        elif self.padding == "same":
            x, padding = pad_same(x, self.kernel_size, self.strides, self.dilation_rate, "constant")
        conv = F.conv1d if self.rank == 1 else F.conv2d
        y = conv(x, kernel, None, self.strides, padding, self.dilation_rate, self.groups)  # (B, filters, *S')
        if self.data_format == "channels_last":
            y = channels_last(y)
            if self.bias is not None:
                y = y + self.bias
        elif self.bias is not None:
            y = y + self.bias.reshape(-1, *(1,) * self.rank)
        return self._activation(y)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class Conv1D(Conv):
    """1-D convolution over time: ``(batch, steps, channels) -> (batch, new_steps, filters)``.

    >>> Conv1D(8, 3, input_shape=(10, 4)).count_params()  # kernel (3, 4, 8) + bias (8,)
    104
    """

    rank = 1


class Conv2D(Conv):
    """2-D convolution: ``(batch, height, width, channels) -> (batch, new_height, new_width, filters)``.

    >>> Conv2D(8, (3, 3), input_shape=(10, 10, 2)).count_params()  # kernel (3, 3, 2, 8) + bias (8,)
    152
    """

    rank = 2
