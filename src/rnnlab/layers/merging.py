"""Layers that merge a list of tensors into one: Concatenate, Add, Subtract, Multiply, Average,
Maximum, Minimum, Dot, and their functional forms (``concatenate([a, b])``, ``add``, ...).

They are called on a list, ``Add()([a, b])``; masks come as a list too, one per input (None
where an input has none): ``Add()([a, b], mask=[mask_a, None])``, and ``compute_mask`` merges
them as Keras does: the elementwise layers OR them (None if any input has none), Concatenate
joins them along its axis, Dot drops them. Maximum, Minimum and Multiply also use them in
the numbers, as Keras's do: a masked step of one input takes the other input's value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..core import symbolic
from ..core.layer import Layer, Shape, to_tensor

Masks = Sequence[torch.Tensor | None] | None


class Merge(Layer):
    """Base of the merging layers: takes a list of tensors of shapes that broadcast, returns one."""

    supports_masking = True

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(inputs, list | tuple):
            raise ValueError(
                f"A merge layer should be called on a list of inputs. Received: inputs={inputs} (not a list of tensors)"
            )
        if symbolic.is_symbolic(inputs, args, kwargs):  # building a functional model: record the call
            return symbolic.call_layer(self, list(inputs), args, kwargs)
        tensors = [to_tensor(x) for x in inputs]
        if not self.built:
            self.ensure_built(tuple(tuple(t.shape) for t in tensors))
        outputs: torch.Tensor = nn.Module.__call__(self, tensors, *args, **kwargs)
        if self.activity_regularizer is not None:  # Keras: the penalty over the batch size
            self._activity_losses = [self.activity_regularizer(outputs) / (outputs.shape[0] if outputs.dim() else 1)]
        return outputs

    def build(self, input_shape: Shape) -> None:
        check_shape_list(input_shape)
        batch_sizes = {s[0] for s in input_shape if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(
                f"Cannot merge tensors with different batch sizes. Received tensors with shapes {input_shape}"
            )
        self.compute_output_shape(input_shape)  # raises for shapes that do not broadcast
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        output: Shape | None = None if input_shape[0] is None else tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            output = broadcast_shape(output, None if shape is None else tuple(shape[1:]))
        batch_sizes = {s[0] for s in input_shape if s is not None} - {None}
        return (batch_sizes.pop() if len(batch_sizes) == 1 else None, *(output or ()))

    def forward(self, inputs: list[torch.Tensor], mask: Masks = None) -> torch.Tensor:
        rank = max(x.dim() for x in inputs)
        inputs = [x.reshape(x.shape[0], *[1] * (rank - x.dim()), *x.shape[1:]) for x in inputs]  # (B, 1.., ...)
        return self.merge(inputs, list(mask) if mask is not None else [None] * len(inputs))

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        masks = check_masks(inputs, mask)
        if masks is None or any(m is None for m in masks):
            return None
        merged = torch.as_tensor(masks[0]).bool()
        for m in masks[1:]:
            merged = merged | torch.as_tensor(m).bool()
        return merged


def check_shape_list(input_shape: Any) -> None:
    if not isinstance(input_shape, list | tuple) or not input_shape or not isinstance(input_shape[0], list | tuple):
        raise ValueError(
            f"A merge layer should be called on a list of inputs. Received: input_shape={input_shape} "
            "(not a list of shapes)"
        )


def check_masks(inputs: Any, mask: Any) -> list[Any] | None:
    """Keras's checks of ``compute_mask(inputs, mask)`` for a merging layer: two lists of one length."""
    if mask is None:
        return None
    if not isinstance(mask, list | tuple):
        raise ValueError(f"`mask` should be a list. Received: mask={mask}")
    if not isinstance(inputs, list | tuple):
        raise ValueError(f"`inputs` should be a list. Received: inputs={inputs}")
    if len(mask) != len(inputs):
        raise ValueError(
            "The lists `inputs` and `mask` should have the same length. "
            f"Received: inputs={inputs} of length {len(inputs)}, and mask={mask} of length {len(mask)}"
        )
    return list(mask)


def broadcast_shape(shape1: Shape | None, shape2: Shape | None) -> Shape | None:
    """The shape of an elementwise result (without the batch axis); None where unknown."""
    if shape1 is None or shape2 is None:
        return None
    if len(shape1) < len(shape2):
        return broadcast_shape(shape2, shape1)
    if not shape2:
        return shape1
    output = list(shape1[: -len(shape2)])
    for i, j in zip(shape1[-len(shape2) :], shape2, strict=True):
        if i is None or j is None:
            output.append(None)
        elif i == 1 or j == 1:
            output.append(j if i == 1 else i)
        elif i != j:
            raise ValueError(f"Inputs have incompatible shapes. Received shapes {shape1} and {shape2}")
        else:
            output.append(i)
    return tuple(output)


def _spread(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """A (batch, time) mask over every feature of ``x``: (B, T) -> (B, T, F)."""
    return None if mask is None else torch.as_tensor(mask, device=x.device).bool().unsqueeze(-1).expand(x.shape)


def _merge_or_masks(
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: list[torch.Tensor],
    masks: list[torch.Tensor | None],
) -> torch.Tensor:
    """Keras's merge for operations without an identity (max, min): a masked entry takes the other
    input's value, so where only one input is valid the result is that input."""
    output, output_mask = inputs[0], _spread(masks[0], inputs[0])
    for x, m in zip(inputs[1:], masks[1:], strict=True):
        mask = _spread(m, x)
        if mask is not None:
            x = torch.where(mask, x, output)
        if output_mask is not None:
            output = torch.where(output_mask, output, x)
        output_mask = output_mask | mask if mask is not None and output_mask is not None else None
        output = op(output, x)
    return output


class Add(Merge):
    """The sum of the inputs: ``Add()([a, b]) == a + b``."""

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        output = inputs[0]
        for x in inputs[1:]:
            output = output + x
        return output


class Subtract(Merge):
    """The difference of exactly two inputs: ``Subtract()([a, b]) == a - b``."""

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError(
                f"A `Subtract` layer should be called on exactly 2 inputs. Received: input_shape={input_shape}"
            )

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        if len(inputs) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. Received: inputs={inputs}")
        return inputs[0] - inputs[1]


class Multiply(Merge):
    """The elementwise product. With a mask on every input, masked entries count as 1 and
    entries masked in all inputs are 0 (Keras's rule)."""

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        all_masked = all(m is not None for m in masks)
        output: torch.Tensor | None = None
        output_mask: torch.Tensor | None = None
        for x, m in zip(inputs, masks, strict=True):
            mask = _spread(m, x)
            if mask is not None:
                x = torch.where(mask, x, torch.ones((), dtype=x.dtype, device=x.device))
                if all_masked:
                    output_mask = mask if output_mask is None else output_mask | mask
            output = x if output is None else output * x
        assert output is not None  # a merge has one input or more
        if output_mask is not None:
            output = torch.where(output_mask, output, torch.zeros((), dtype=output.dtype, device=output.device))
        return output


class Average(Merge):
    """The elementwise mean of the inputs."""

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        output = inputs[0]
        for x in inputs[1:]:
            output = output + x
        return output / len(inputs)


class Maximum(Merge):
    """The elementwise maximum of the inputs."""

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        return _merge_or_masks(torch.maximum, inputs, masks)


class Minimum(Merge):
    """The elementwise minimum of the inputs."""

    def merge(self, inputs: list[torch.Tensor], masks: list[torch.Tensor | None]) -> torch.Tensor:
        return _merge_or_masks(torch.minimum, inputs, masks)


class Concatenate(Merge):
    """Joins the inputs along ``axis``; they must match on every other axis.

    >>> Concatenate()([torch.ones(2, 3), torch.zeros(2, 4)]).shape
    torch.Size([2, 7])
    """

    def __init__(self, axis: int = -1, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        self.axis = axis

    def build(self, input_shape: Shape) -> None:
        if not isinstance(input_shape, list | tuple) or not input_shape or not isinstance(input_shape[0], list | tuple):
            raise ValueError(
                "A `Concatenate` layer should be called on a list of at least 1 input. "
                f"Received: input_shape={input_shape}"
            )
        if any(shape is not None for shape in input_shape):
            self._check_matching(input_shape)
        Layer.build(self, input_shape)

    def _check_matching(self, input_shape: Shape) -> None:
        """Every axis but the concatenation axis agrees where its size is known (Keras's check)."""
        others = []
        for shape in input_shape:
            shape = list(shape)
            if len(shape) > self.axis:
                del shape[self.axis]
            others.append(tuple(shape))
        ranks = {len(shape) for shape in others}
        agree = len(ranks) == 1 and all(
            len({shape[axis] for shape in others} - {None}) <= 1 for axis in range(ranks.pop())
        )
        if not agree:
            raise ValueError(
                "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
                f"Received: input_shape={input_shape}"
            )

    def forward(self, inputs: list[torch.Tensor], mask: Masks = None) -> torch.Tensor:
        self._check_matching(tuple(tuple(x.shape) for x in inputs))
        return torch.cat(inputs, dim=self.axis)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if not isinstance(input_shape, list | tuple) or not isinstance(input_shape[0], list | tuple):
            raise ValueError(
                f"A `Concatenate` layer should be called on a list of inputs. Received: input_shape={input_shape}"
            )
        output = list(input_shape[0])
        for shape in input_shape[1:]:
            if output[self.axis] is None or shape[self.axis] is None:
                output[self.axis] = None
                break
            output[self.axis] += shape[self.axis]
        return tuple(output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        masks = check_masks(inputs, mask)
        if masks is None or all(m is None for m in masks):
            return None
        full = []  # each input's mask over all its entries: all true where it has none
        for x, m in zip(inputs, masks, strict=True):
            x = to_tensor(x)
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            else:
                m = torch.as_tensor(m, device=x.device).bool()
                full.append(m.unsqueeze(-1).expand(x.shape) if m.dim() < x.dim() else m)
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of two inputs over ``axes`` (one axis each, never the batch axis), batch by
    batch: shapes ``(B, 3, 5)`` and ``(B, 10, 3)`` with ``axes=(1, 2)`` give ``(B, 5, 10)``.

    ``normalize=True`` L2-normalises both along their axes first, so the result is the cosine
    similarity. A result of one axis becomes ``(batch, 1)``.

    >>> Dot(axes=1)([torch.ones(2, 3), torch.ones(2, 3)]).tolist()
    [[3.0], [3.0]]
    """

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, list | tuple):
                raise TypeError(
                    f"Invalid type for argument `axes`: it should be a list or an int. Received: axes={axes}"
                )
            if len(axes) != 2:
                raise ValueError(
                    f"Invalid format for argument `axes`: it should contain two elements. Received: axes={axes}"
                )
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError(
                    f"Invalid format for argument `axes`: list elements should be integers. Received: axes={axes}"
                )
        self.axes = axes
        self.normalize = normalize

    def _axes(self, rank1: int, rank2: int) -> tuple[int, int]:
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        return axes[0] % rank1, axes[1] % rank2

    def build(self, input_shape: Shape) -> None:
        if not isinstance(input_shape[0], list | tuple) or len(input_shape) != 2:
            raise ValueError(
                f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape={input_shape}"
            )
        shape1, shape2 = input_shape
        a1, a2 = self._axes(len(shape1), len(shape2))
        if shape1[a1] != shape2[a2]:
            raise ValueError(
                f"Incompatible input shapes: axis values {shape1[a1]} (at axis {a1}) != {shape2[a2]} (at axis {a2}). "
                f"Full input shapes: {shape1}, {shape2}"
            )
        Layer.build(self, input_shape)

    def forward(self, inputs: list[torch.Tensor], mask: Masks = None) -> torch.Tensor:
        if len(inputs) != 2:
            raise ValueError(f"A `Dot` layer should be called on exactly 2 inputs. Received: inputs={inputs}")
        x, y = inputs
        a1, a2 = self._axes(x.dim(), y.dim())
        if 0 in (a1, a2):
            raise ValueError(
                "Cannot perform batch_dot over axis 0. If your inputs are not batched, add a dummy batch "
                "dimension to your inputs."
            )
        if self.normalize:
            x, y = _l2_normalize(x, a1), _l2_normalize(y, a2)
        return batch_dot(x, y, a1, a2)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if not isinstance(input_shape, list | tuple) or len(input_shape) != 2:
            raise ValueError(
                f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape={input_shape}"
            )
        shape1, shape2 = list(input_shape[0]), list(input_shape[1])
        a1, a2 = self._axes(len(shape1), len(shape2))
        shape1.pop(a1)
        shape2.pop(a2)
        output = shape1 + shape2[1:]
        return tuple(output + [1] if len(output) == 1 else output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Keras's ``x * min(rsqrt(sum(x**2)), 1/epsilon)``, epsilon 1e-7: a zero vector stays zero."""
    return x * torch.clamp(torch.rsqrt(x.square().sum(dim=axis, keepdim=True)), max=1.0 / 1e-7)


def batch_dot(x: torch.Tensor, y: torch.Tensor, x_axis: int, y_axis: int) -> torch.Tensor:
    """Sample by sample ``tensordot(x[b], y[b])`` over ``x_axis`` and ``y_axis``, as one batched matmul."""
    if x.shape[x_axis] != y.shape[y_axis]:
        raise ValueError(
            f"Cannot do batch_dot on inputs with shapes {tuple(x.shape)} and {tuple(y.shape)} with "
            f"axes={[x_axis, y_axis]}. x.shape[{x_axis}] != y.shape[{y_axis}] ({x.shape[x_axis]} != {y.shape[y_axis]})."
        )
    x = x.movedim(x_axis, -1)  # (B, ..., D)
    y = y.movedim(y_axis, 1)  # (B, D, ...)
    x_rest, y_rest = x.shape[1:-1], y.shape[2:]
    batch, depth = x.shape[0], x.shape[-1]
    out = torch.bmm(x.reshape(batch, -1, depth), y.reshape(batch, depth, -1))  # (B, X, Y)
    out = out.reshape(batch, *x_rest, *y_rest)
    return out.unsqueeze(-1) if out.dim() == 1 else out


# -- functional forms: build the layer and call it at once ----------------------------------------
def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def dot(inputs: Sequence[Any], axes: int | Sequence[int] = -1, **kwargs: Any) -> Any:
    """``Dot(axes=axes, **kwargs)(inputs)``; ``normalize=True`` gives the cosine similarity."""
    return Dot(axes=axes, **kwargs)(inputs)
