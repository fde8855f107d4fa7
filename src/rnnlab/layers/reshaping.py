"""RepeatVector, Flatten, Reshape, Permute: layers that move numbers around without weights.

None of them passes a mask on (Keras's do not either): a mask downstream must be made again.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch

from ..core.layer import Layer, Shape


def _check_rank(layer: Layer, shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ValueError(
            f"{type(layer).__name__} layer '{layer.name}' expects {rank}-D inputs {what}, "
            f"received shape {tuple(shape)} ({len(shape)}-D)."
        )


class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features) -> (batch, n, features)``.

    The bridge from an encoder's last state to a decoder that reads one vector per step.

    >>> RepeatVector(3)(torch.ones(2, 5)).shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, n: int, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = n

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        _check_rank(self, shape, 2, "(batch, features)")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        return inputs.unsqueeze(1).repeat(1, self.n, 1)  # (B, F) -> (B, n, F)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


def _data_format(data_format: str | None) -> str:
    """Keras's ``data_format``: None means "channels_last" (rnnlab has no image_data_format setting)."""
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            'The `data_format` argument must be one of {"channels_first", "channels_last"}. '
            f"Received: data_format={data_format}"
        )
    return data_format


class Flatten(Layer):
    """Flattens each sample: ``(batch, d1, ..., dk) -> (batch, d1*...*dk)``; ``(batch,) -> (batch, 1)``.

    ``data_format="channels_first"`` moves axis 1 last before flattening, so the order of the
    numbers is the one a channels-last model would see.

    >>> Flatten()(torch.ones(2, 3, 4)).shape
    torch.Size([2, 12])
    """

    def __init__(self, data_format: str | None = None, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        self.data_format = _data_format(data_format)

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        if len(shape) < 1:
            raise ValueError(f"Flatten layer '{self.name}' expects inputs with a batch axis, received a scalar.")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        sizes = input_shape[1:]
        if not sizes:
            return (input_shape[0], 1)
        return (input_shape[0], None if any(d is None for d in sizes) else math.prod(sizes))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        if self.data_format == "channels_first" and inputs.dim() > 1:
            inputs = inputs.permute(0, *range(2, inputs.dim()), 1)  # (B, C, ...) -> (B, ..., C)
        return inputs.reshape(inputs.shape[0], -1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


def check_target_shape(target_shape: Sequence[int]) -> None:
    """Each size a non-negative integer, or a single -1 for the one to infer (Keras's rule)."""
    for size in target_shape:
        if isinstance(size, numbers.Integral) and size < -1:
            raise ValueError(
                "Each dimension in `target_shape` must be a non-negative integer, or `-1` for a single unknown "
                f"dimension. Received: target_shape={target_shape}."
            )
    if list(target_shape).count(-1) > 1:
        raise ValueError(
            "There must be at most one unknown dimension (-1) in `target_shape`. "
            f"Received: target_shape={target_shape}."
        )


def reshape_output_shape(input_shape: Shape, target_shape: tuple[int, ...]) -> Shape:
    """``target_shape`` with its -1 resolved from ``input_shape`` (both without the batch axis);
    None where a size is not known."""
    if None in input_shape:
        return tuple(None if size == -1 else size for size in target_shape)
    size = math.prod(input_shape)
    if -1 not in target_shape:
        if size != math.prod(target_shape):
            raise ValueError(
                "The total size of the tensor must be unchanged. Received: "
                f"input_shape={tuple(input_shape)}, target_shape={target_shape}"
            )
        return target_shape
    known = math.prod(s for s in target_shape if s != -1)
    if known == 0 or size % known:
        raise ValueError(
            "The total size of the tensor must be unchanged, however, the input size cannot by divided by the "
            f"specified dimensions in target_shape. Received: input_shape={tuple(input_shape)}, "
            f"target_shape={target_shape}"
        )
    return tuple(size // known if s == -1 else s for s in target_shape)


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (without the batch axis; one size may be -1).

    >>> Reshape((3, 4))(torch.ones(2, 12)).shape
    torch.Size([2, 3, 4])
    >>> Reshape((-1, 2, 2)).compute_output_shape((None, 12))
    (None, 3, 2, 2)
    """

    def __init__(self, target_shape: Sequence[int], **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        target_shape = tuple(target_shape)
        check_target_shape(target_shape)
        self.target_shape = target_shape
        self.built = type(self).build is Layer.build  # nothing to build, as Keras's

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *reshape_output_shape(tuple(input_shape[1:]), self.target_shape))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        shape = reshape_output_shape(tuple(inputs.shape[1:]), self.target_shape)
        return inputs.reshape(inputs.shape[0], *shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Reorders the axes of each sample: ``dims`` counts from 1 (the batch axis stays first).

    ``Permute((2, 1))``: ``(batch, time, features) -> (batch, features, time)``.

    >>> Permute((2, 1))(torch.ones(2, 10, 64)).shape
    torch.Size([2, 64, 10])
    """

    def __init__(self, dims: Sequence[int], **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must be "
                f"consecutive and start from 1. Received dims={dims}"
            )

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        _check_rank(self, shape, len(self.dims) + 1, f"(batch and the {len(self.dims)} axes of dims={self.dims})")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        return inputs.permute(0, *self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": self.dims}
