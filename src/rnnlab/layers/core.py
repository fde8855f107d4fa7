"""Dense, Dropout, Embedding, TimeDistributed, and ``Input`` / ``InputLayer``, which start a model."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..cells.recurrent_cell import check_rate, check_units
from ..core import activations, initializers, symbolic
from ..core.layer import Layer, Shape, resolve_training, unique_name
from ..core.variables import new_weight


@dataclass(frozen=True)
class InputSpec:
    """The shape of one sample, without the batch axis: ``InputSpec((time, features))``.

    ``dtype="int32"`` marks token ids (Embedding inputs); None means the float type.
    """

    shape: tuple[int | None, ...] | None = None
    dtype: str | None = None
    name: str | None = None
    batch_size: int | None = None
    batch_shape: tuple[int | None, ...] | None = None  # Keras's (batch, *shape) in one

    def __post_init__(self) -> None:
        shape = self.shape
        if self.batch_shape is not None:
            if shape is not None:
                raise ValueError("Input takes shape= or batch_shape=, not both.")
            if self.batch_size is not None:
                raise ValueError("Input takes batch_size= or batch_shape=, not both.")
            if not isinstance(self.batch_shape, list | tuple) or len(self.batch_shape) < 2:
                raise ValueError(
                    f"Input(batch_shape=...) takes (batch, *sample_shape), e.g. (32, 10, 3) or (None, 10, 3) "
                    f"for batches of 10 steps of 3 features; received {self.batch_shape!r}."
                )
            shape = tuple(self.batch_shape)[1:]
            object.__setattr__(self, "batch_size", self.batch_size or tuple(self.batch_shape)[0])
            object.__setattr__(self, "batch_shape", None)
        if shape is None:
            raise ValueError("Input needs the shape of one sample, e.g. Input(shape=(time, features)).")
        shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
        if not all(_is_size(size) for size in (*shape, self.batch_size)):
            raise ValueError(
                f"Input sizes must be positive integers or None (not known), received shape={shape!r}, "
                f"batch_size={self.batch_size!r}."
            )
        object.__setattr__(self, "shape", tuple(None if size is None else int(size) for size in shape))


class InputLayer(Layer):
    """The layer behind ``Input(...)``: it has no weights and outputs the model's input as given.

    ``output`` is the symbolic tensor that stands for that input.
    """

    def __init__(
        self,
        shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        ragged: bool | None = None,
        batch_shape: Any = None,
        name: str | None = None,
        optional: bool = False,
        **layer_kwargs: Any,
    ) -> None:
        if sparse or ragged:
            raise ValueError("rnnlab inputs are dense tensors: sparse and ragged inputs are not supported.")
        if isinstance(dtype, dict):  # Keras's serialised DTypePolicy
            dtype = dtype.get("config", {}).get("name")
        input_shape = layer_kwargs.pop("input_shape", None)
        if input_shape is not None:  # Keras 2's name, still read by Keras 3 with a warning
            warnings.warn("Argument `input_shape` is deprecated. Use `shape` instead.", UserWarning, stacklevel=2)
            if shape is None and batch_shape is None:
                shape = input_shape
        super().__init__(name=name or unique_name("input_layer"), **layer_kwargs)
        float_type = dtype in (None, "float32")
        self.spec = InputSpec(shape, None if float_type else str(dtype), self.name, batch_size, batch_shape)
        self.batch_shape = (self.spec.batch_size, *(self.spec.shape or ()))
        self.optional = bool(optional)  # a model's call may give None for it
        self.built = True
        output = symbolic.KerasTensor(self.batch_shape, self.spec.dtype or "float32", self.name)  # Keras: the name
        symbolic.Node(self, (), {}, output)  # layer.output reads it

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self.batch_shape

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self.spec.dtype or "float32",
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": self.optional,
        }


def Input(
    shape: Any = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    ragged: bool | None = None,
    batch_shape: Any = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> symbolic.KerasTensor:
    """A symbolic tensor standing for a model's input: ``Input(shape=(time, features))``, the batch axis
    left out (``batch_size=`` or ``batch_shape=`` fix it). Call layers on it and give it to
    ``Model(inputs, outputs)``, or put it first in a ``Sequential`` (built at once, so ``summary()``
    works before any data). ``dtype="int32"`` marks token ids (Embedding inputs).

    >>> Input(shape=(5, 3)).shape
    (None, 5, 3)
    """
    if tensor is not None:
        raise ValueError("Input(tensor=...) wraps a backend tensor in Keras; rnnlab inputs are symbolic only.")
    layer = InputLayer(shape, batch_size, dtype, sparse, ragged, batch_shape, name, optional)
    output: symbolic.KerasTensor = layer.output
    return output


def input_layer_of(value: Any) -> InputLayer | None:
    """The InputLayer behind ``Input(...)``'s tensor (or the layer itself); None for anything else."""
    if isinstance(value, symbolic.KerasTensor) and value.node is not None and isinstance(value.node.layer, InputLayer):
        return value.node.layer
    return value if isinstance(value, InputLayer) else None


def _is_size(size: Any) -> bool:
    return size is None or (isinstance(size, numbers.Integral) and not isinstance(size, bool) and int(size) > 0)


def _check_size(name: str, value: Any, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer ({meaning}), received {value!r}.")
    return int(value)


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis; ``kernel (input_dim, units)`` as in Keras.

    >>> Dense(3, input_shape=(4,)).count_params()
    15
    """

    supports_masking = True
    weight_options = {"kernel": "kernel", "bias": "bias"}

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        self.units = check_units(units)
        self.activation = activations.name_of(activation)
        self._activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)
        self.input_dim: int | None = None

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        if len(shape) < 2:
            raise ValueError(
                f"Dense layer '{self.name}' expects inputs of shape (batch, ..., features), "
                f"received shape {tuple(shape)}."
            )
        if self.built and shape[-1] != self.input_dim:
            raise ValueError(
                f"Dense layer '{self.name}' was built for {self.input_dim} input features, "
                f"received input of shape {tuple(shape)} with {shape[-1]} features."
            )

    def build(self, input_shape: Shape) -> None:
        self.input_dim = int(input_shape[-1])
        self.kernel = new_weight((self.input_dim, self.units), self.kernel_initializer)
        self.bias = new_weight((self.units,), self.bias_initializer) if self.use_bias else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        y = inputs @ self.kernel
        if self.bias is not None:
            y = y + self.bias
        return self._activation(y)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class Masking(Layer):
    """Marks the steps whose features all equal ``mask_value`` as padding, for the layers downstream.

    Output: the inputs with masked steps set to zero; mask ``any(x != mask_value, axis=-1)``
    (Keras's ``Masking``).

    >>> Masking()(torch.tensor([[[1.0], [0.0]]])).shape
    torch.Size([1, 2, 1])
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        self.mask_value = float(mask_value)
        self.built = type(self).build is Layer.build  # nothing to build, as Keras's

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return (torch.as_tensor(inputs) != self.mask_value).any(dim=-1)

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)  # (B, T, 1)
        return inputs * keep.to(inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


def checked_noise_shape(noise_shape: Any) -> tuple[int | None, ...] | None:
    """Dropout's ``noise_shape`` as a tuple of positive sizes or None, refused as Keras refuses it."""
    if noise_shape is None:
        return None

    def invalid(expected: str) -> ValueError:
        return ValueError(f"Invalid value received for argument `noise_shape`. {expected} Received: {noise_shape!r}")

    if isinstance(noise_shape, str) or not isinstance(noise_shape, Sequence):
        raise invalid("Expected a tuple or list of integers.")
    if not all(d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool)) for d in noise_shape):
        raise invalid("Expected all elements to be integers or None.")
    if any(d is not None and d <= 0 for d in noise_shape):
        raise invalid("Expected all dimensions to be positive integers or None.")
    return tuple(None if d is None else int(d) for d in noise_shape)


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs during training and scales the rest by ``1/(1-rate)``.

    ``noise_shape`` (Keras): the shape of the random mask, ``None`` entries taken from the
    input, e.g. ``(None, 1, None)`` drops the same features at every time step.
    """

    supports_masking = True
    uses_training = True

    def __init__(
        self, rate: float, noise_shape: Sequence[int | None] | None = None, seed: int | None = None, **layer_kwargs: Any
    ) -> None:
        super().__init__(**layer_kwargs)
        self.rate = check_rate("rate", rate)
        self.noise_shape = checked_noise_shape(noise_shape)
        self.seed = seed  # accepted for Keras configs; randomness follows rnnlab.set_seed
        self.built = type(self).build is Layer.build  # nothing to build, as Keras's

    def forward(self, inputs: torch.Tensor, mask: Any = None, training: bool | None = None) -> torch.Tensor:
        training = resolve_training(self, training)
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is None:
            return nn.functional.dropout(inputs, self.rate, training=True)
        shape = tuple(d if n is None else n for n, d in zip(self.noise_shape, inputs.shape, strict=True))
        keep = 1.0 - self.rate
        return inputs * inputs.new_empty(shape).bernoulli_(keep) / keep

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class Embedding(Layer):
    """Maps token ids ``(batch, time)`` to vectors ``(batch, time, output_dim)``.

    ``embeddings (input_dim, output_dim)``, initialised uniform in [-0.05, 0.05] (Keras).
    With ``mask_zero=True`` id 0 is padding: the layer emits a mask that recurrent layers
    downstream honour, so ``input_dim`` must count the padding id.

    >>> Embedding(1000, 100, input_shape=(None,)).count_params()
    100000
    """

    weight_options = {"embeddings": "embeddings"}
    integer_inputs = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        mask_zero: bool = False,
        input_length: int | None = None,
        **layer_kwargs: Any,
    ) -> None:
        if input_length is not None and layer_kwargs.get("input_shape") is None:
            layer_kwargs["input_shape"] = (input_length,)  # the Keras 2 way of giving the time axis
        super().__init__(**layer_kwargs)
        self.input_dim = _check_size("input_dim", input_dim, "the vocabulary size, counting padding id 0")
        self.output_dim = _check_size("output_dim", output_dim, "the length of each embedding vector")
        self.embeddings_initializer = embeddings_initializer
        initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero

    def build(self, input_shape: Shape) -> None:
        self.embeddings = new_weight((self.input_dim, self.output_dim), self.embeddings_initializer)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return torch.as_tensor(inputs) != 0 if self.mask_zero else None

    def looks_up_plainly(self) -> bool:
        """Whether its output is ``embeddings[ids]`` as it stands, no forward hook having changed it:
        then a recurrent layer after it may read the ids instead (``RNN.from_token_ids``)."""
        hooks = torch.nn.modules.module
        return not (
            self._forward_hooks
            or self._forward_pre_hooks
            or hooks._global_forward_hooks
            or hooks._global_forward_pre_hooks
        )

    def _cast_input(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.is_floating_point():
            if not bool((inputs == inputs.round()).all()):
                raise TypeError(
                    f"Embedding '{self.name}' expects integer token ids, "
                    f"received non-integer values of dtype {inputs.dtype}."
                )
            inputs = inputs.long()
        return inputs

    def forward(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        if inputs.numel() and not torch.compiler.is_compiling():  # a traced graph has no values to check
            low, high = int(inputs.min()), int(inputs.max())
            if low < 0 or high >= self.input_dim:
                bad = high if high >= self.input_dim else low
                raise ValueError(
                    f"Embedding '{self.name}' received token id {bad}, but input_dim is "
                    f"{self.input_dim}: ids must lie in [0, {self.input_dim - 1}]. Raise "
                    "input_dim to the vocabulary size (plus one for padding id 0)."
                )
        return nn.functional.embedding(inputs.long(), self.embeddings)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "mask_zero": self.mask_zero,
        }


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: ``(batch, time, ...) -> (batch, time, ...)``."""

    supports_masking = True

    def __init__(self, layer: Layer, **layer_kwargs: Any) -> None:
        super().__init__(**layer_kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed wraps an rnnlab layer, received {type(layer).__name__}.")
        self.layer = layer
        self.uses_training = layer.uses_training

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        if len(shape) < 3:
            message = (
                f"TimeDistributed layer '{self.name}' expects inputs of shape (batch, time, ...), "
                f"received shape {tuple(shape)}."
            )
            if previous is not None and getattr(previous, "return_sequences", None) is False:
                message += (
                    f" The previous layer '{previous.name}' returns only its last step: "
                    "set return_sequences=True on it."
                )
            raise ValueError(message)

    def build(self, input_shape: Shape) -> None:
        self.layer.ensure_built((None, *input_shape[2:]))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def check_mask_shape(self, mask: Any, input_shape: Shape) -> None:
        """A mask marks (batch, time) steps: its first two sizes must be the input's (Keras checks the same)."""
        shape = tuple(torch.as_tensor(mask).shape)
        if len(shape) < 2 or shape[:2] != tuple(input_shape[:2]):
            raise ValueError(
                f"TimeDistributed layer '{self.name}' expects a mask of shape (batch, time) = "
                f"{tuple(input_shape[:2])}, matching its input of shape {tuple(input_shape)}; "
                f"received a mask of shape {shape}."
            )

    def forward(self, inputs: torch.Tensor, mask: Any = None, training: bool | None = None) -> torch.Tensor:
        self.check_input_shape(tuple(inputs.shape))
        if mask is not None:
            self.check_mask_shape(mask, tuple(inputs.shape))
        B, T = inputs.shape[:2]
        kwargs = {"training": training} if self.uses_training and training is not None else {}
        y: torch.Tensor = self.layer(inputs.reshape(B * T, *inputs.shape[2:]), **kwargs)  # (B*T, ...)
        return y.reshape(B, T, *y.shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        from . import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
