"""BatchNormalization and LayerNormalization with Keras's arguments, weights and numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..core import initializers
from ..core.layer import Layer, Shape, resolve_training
from ..core.variables import new_weight

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): keeps a fully masked batch from dividing by zero


def _check_axes(axes: Sequence[int], input_shape: Shape, axis: Any) -> None:
    for each in axes:
        if each >= len(input_shape) or each < -len(input_shape):
            raise ValueError(
                f"Axis {each} is out of bounds for input shape {tuple(input_shape)}. Received: axis={axis}"
            )


class BatchNormalization(Layer):
    """Normalises each feature (along ``axis``) by the batch's statistics in training, by moving
    averages of them in inference:

        y = (x - mean) / sqrt(var + epsilon) * gamma + beta

    In training (and only while the layer is trainable) ``mean`` and ``var`` are the batch's
    (the biased variance, over every axis but ``axis``; over the valid steps only when a mask
    comes in) and the moving statistics move towards them:
    ``moving = moving * momentum + batch * (1 - momentum)``. In inference ``mean, var =
    moving_mean, moving_variance``. Weights in Keras's order: ``gamma`` and ``beta`` (trainable,
    when ``scale`` / ``center``), then ``moving_mean`` and ``moving_variance`` (non-trainable),
    each ``(features,)``.

    >>> BatchNormalization(input_shape=(5, 3)).count_params()  # 2 x 3 trainable + 2 x 3 non-trainable
    12
    """

    supports_masking = True
    uses_training = True
    weight_options = {"gamma": "gamma", "beta": "beta"}
    non_trainable_names = ("moving_mean", "moving_variance")

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        renorm: bool = False,
        renorm_clipping: dict[str, float] | None = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **layer_kwargs: Any,
    ) -> None:
        if synchronized:
            raise ValueError("Argument synchronized=True is only supported with the TensorFlow backend.")
        if renorm:
            raise ValueError(
                "BatchNormalization(renorm=True) (batch renormalization) is not supported by rnnlab; "
                "use renorm=False, the default."
            )
        super().__init__(**layer_kwargs)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        for each in (beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer):
            initializers.get(each)
        self.renorm_clipping, self.renorm_momentum = renorm_clipping, float(renorm_momentum)

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        _check_axes([self.axis], shape, self.axis)
        if self.built and shape[self.axis] != self.moving_mean.shape[0]:
            raise ValueError(
                f"BatchNormalization layer '{self.name}' was built for {self.moving_mean.shape[0]} features on axis "
                f"{self.axis}, received input of shape {tuple(shape)}."
            )

    def build(self, input_shape: Shape) -> None:
        _check_axes([self.axis], input_shape, self.axis)
        shape = (int(input_shape[self.axis]),)
        self.gamma = new_weight(shape, self.gamma_initializer) if self.scale else None
        self.beta = new_weight(shape, self.beta_initializer) if self.center else None
        self.moving_mean = new_weight(shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = new_weight(shape, self.moving_variance_initializer, trainable=False)
        self._finish_build()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        if not self.built and prefix + "moving_mean" in state_dict:
            features = state_dict[prefix + "moving_mean"].shape[0]
            self.ensure_built((None, features) if self.axis in (-1, 1) else self._shape_with(features))
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)

    def _shape_with(self, features: int) -> Shape:
        """An input shape with ``features`` on ``axis`` and unknown sizes elsewhere."""
        rank = self.axis + 1 if self.axis >= 0 else -self.axis
        shape: list[int | None] = [None] * (rank + (self.axis < 0))
        shape[self.axis] = features
        return tuple(shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes([self.axis], input_shape, self.axis)
        return input_shape

    def _along_axis(self, v: torch.Tensor, ndim: int) -> torch.Tensor:
        """(features,) -> broadcastable along ``axis`` of an ``ndim`` input."""
        shape = [1] * ndim
        shape[self.axis] = -1
        return v.reshape(shape)

    def moments(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean and biased variance per feature, as Keras computes them (E[x^2] - E[x]^2
        without a mask; over the valid steps only with one)."""
        axes = [a for a in range(x.dim()) if a != self.axis % x.dim()]
        if mask is None:
            mean = x.mean(dim=axes, keepdim=True)
            variance = x.square().mean(dim=axes, keepdim=True) - mean.square()
            return mean.reshape(-1), variance.reshape(-1)
        keep = torch.as_tensor(mask, device=x.device).bool().unsqueeze(-1).expand(x.shape)
        count = keep.to(x.dtype).sum(dim=axes, keepdim=True) + KERAS_EPSILON
        mean = torch.where(keep, x, 0).sum(dim=axes, keepdim=True) / count
        variance = torch.where(keep, x - mean, 0).square().sum(dim=axes, keepdim=True) / count
        return mean.reshape(-1), variance.reshape(-1)

    def forward(self, inputs: torch.Tensor, training: bool | None = None, mask: Any = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        if mask is not None and torch.as_tensor(mask).dim() != inputs.dim() - 1:
            raise ValueError(
                "The mask provided should be one dimension less than the inputs. Received: "
                f"mask.shape={tuple(torch.as_tensor(mask).shape)}, inputs.shape={tuple(inputs.shape)}"
            )
        if resolve_training(self, training) and self.trainable:
            mean, variance = self.moments(inputs, mask)
            with torch.no_grad():
                momentum = self.momentum
                self.moving_mean.copy_(self.moving_mean * momentum + mean.detach() * (1.0 - momentum))
                self.moving_variance.copy_(self.moving_variance * momentum + variance.detach() * (1.0 - momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        ndim = inputs.dim()
        scale = (variance + self.epsilon).rsqrt()
        if self.gamma is not None:
            scale = scale * self.gamma
        y = (inputs - self._along_axis(mean, ndim)) * self._along_axis(scale, ndim)
        return y if self.beta is None else y + self._along_axis(self.beta, ndim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "synchronized": False,
            "renorm": False,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }


class LayerNormalization(Layer):
    """Normalises each sample over ``axis`` (the features, by default):

        y = (x - mean) / sqrt(var + epsilon) * gamma + beta

    with the mean and biased variance over ``axis``. ``gamma`` and ``beta`` have the shape of
    the normalised axes; ``rms_scaling=True`` (deprecated in Keras, kept for its numbers):
    ``y = x / sqrt(var + epsilon) * gamma``, no ``beta``. Masks pass through unchanged.

    >>> LayerNormalization(input_shape=(5, 3)).count_params()
    6
    """

    supports_masking = True
    weight_options = {"gamma": "gamma", "beta": "beta"}

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        rms_scaling: bool = False,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis: int | list[int] = [int(a) for a in axis]
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        initializers.get(beta_initializer), initializers.get(gamma_initializer)

    @property
    def axes(self) -> list[int]:
        return sorted(self.axis) if isinstance(self.axis, list) else [self.axis]

    def build(self, input_shape: Shape) -> None:
        _check_axes(self.axes, input_shape, self.axis)
        self.axis = self.axes  # Keras keeps the sorted list once built
        shape = tuple(int(input_shape[a]) for a in self.axis)
        self.gamma = new_weight(shape, self.gamma_initializer) if self.scale or self.rms_scaling else None
        self.beta = new_weight(shape, self.beta_initializer) if self.center and not self.rms_scaling else None
        self._finish_build()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        weight = state_dict.get(prefix + "gamma", state_dict.get(prefix + "beta"))
        if not self.built and weight is not None:
            rank = max(a + 1 if a >= 0 else -a for a in self.axes) + 1
            shape: list[int | None] = [None] * rank
            for a, size in zip(self.axes, weight.shape, strict=True):
                shape[a] = int(size)
            self.ensure_built(tuple(shape))
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes(self.axes, input_shape, self.axis)
        return input_shape

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        ndim = inputs.dim()
        axes = sorted(a % ndim for a in self.axes)
        broadcast = [inputs.shape[a] if a in axes else 1 for a in range(ndim)]
        gamma = None if self.gamma is None else self.gamma.reshape(broadcast)
        if self.rms_scaling:
            variance = inputs.var(dim=axes, keepdim=True, correction=0)
            y = inputs * (variance + self.epsilon).rsqrt()
            return y if gamma is None else y * gamma
        if axes == list(range(ndim - len(axes), ndim)):  # the trailing axes: PyTorch's fused op, as Keras uses
            return F.layer_norm(inputs, inputs.shape[ndim - len(axes) :], self.gamma, self.beta, self.epsilon)
        mean = inputs.mean(dim=axes, keepdim=True)
        variance = inputs.square().mean(dim=axes, keepdim=True) - mean.square()
        inv = (variance + self.epsilon).rsqrt()
        if gamma is not None:
            inv = inv * gamma
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self.beta.reshape(broadcast)
        return inputs * inv + shift

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
        }
