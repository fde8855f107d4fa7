"""`Layer`: a torch.nn.Module that builds its weights from the first input shape, Keras style."""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

Shape = tuple[Any, ...]  # (batch, ...) with None for unknown sizes

L = TypeVar("L", bound="Layer")

_name_counts: defaultdict[str, int] = defaultdict(int)


# The training flag of the model call under way, for layers called without one (Keras's call context).
_call_training: ContextVar[bool | None] = ContextVar("rnnlab_call_training", default=None)


@contextlib.contextmanager
def call_training(training: bool) -> Iterator[None]:
    """Layers called inside the block without an explicit ``training`` use this one."""
    token = _call_training.set(training)
    try:
        yield
    finally:
        _call_training.reset(token)


def inside_model_call() -> bool:
    return _call_training.get() is not None


def resolve_training(module: nn.Module, training: bool | None) -> bool:
    """The explicit argument, else the enclosing model call's, else the module's train()/eval() mode."""
    if training is not None:
        return bool(training)
    inherited = _call_training.get()
    return module.training if inherited is None else inherited


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """'lstm', then 'lstm_1', 'lstm_2', ... as Keras names layers."""
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names() -> None:
    """Restart automatic layer names (Keras's ``clear_session`` for names)."""
    _name_counts.clear()


def to_tensor(x: Any) -> torch.Tensor:
    """Arrays and lists become tensors; floating NumPy data becomes the default float dtype."""
    if isinstance(x, torch.Tensor):
        return x
    array = np.asarray(x)
    if array.dtype.kind == "f":
        return torch.as_tensor(array, dtype=torch.get_default_dtype())
    if array.dtype.kind in "iub":
        return torch.as_tensor(array)
    raise TypeError(f"Expected a tensor or a numeric array, received {type(x).__name__} of {array.dtype}.")


class Layer(nn.Module):
    """Base of every rnnlab layer.

    Weights are created by ``build(input_shape)``: either up front, from
    ``input_shape=(time, features)`` (without the batch axis) or a leading
    ``rnnlab.Input``, or lazily from the first tensor the layer sees.
    """

    supports_masking = False  # passes a mask on (and uses it, if it can)
    uses_training = False  # behaves differently in training (dropout)

    def __init__(
        self, *, name: str | None = None, input_shape: Sequence[int | None] | None = None, trainable: bool = True
    ) -> None:
        super().__init__()
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.trainable = trainable
        self.built = False

    # -- building -----------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Any:
        """The output's shape, or a list of shapes for a layer that returns several tensors."""
        return input_shape

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.supports_masking else None

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        """Raise a ValueError naming what was expected; ``previous`` is the layer feeding this one."""

    def _finish_build(self) -> None:
        self.built = True
        if not self.trainable:
            for p in self.parameters():
                p.requires_grad_(False)

    def ensure_built(self, input_shape: Shape) -> None:
        if not self.built:
            self.check_input_shape(input_shape)
            self.build(input_shape)
            self._finish_build()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # An unbuilt layer learns its input size from the saved weights, so a fresh model
        # can load a state_dict before seeing data.
        if not self.built:
            if prefix + "kernel" in state_dict:  # cells and Dense: kernel (input_dim, ...)
                self.ensure_built((None, state_dict[prefix + "kernel"].shape[0]))
            elif prefix + "embeddings" in state_dict:
                self.ensure_built((None, None))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        inputs = to_tensor(inputs)
        if not self.built:
            self.ensure_built(tuple(inputs.shape))
            floating = inputs.dtype if inputs.is_floating_point() else None
            self.to(device=inputs.device, dtype=floating)
        inputs = self._cast_input(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _cast_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """Float inputs follow the weights' dtype, as Keras casts to the layer's dtype."""
        param = next(self.parameters(), None)
        if param is not None and inputs.is_floating_point() and inputs.dtype != param.dtype:
            return inputs.to(param.dtype)
        return inputs

    # -- weights ------------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if not self.built and self.input_shape is not None:
            self.ensure_built((None, *self.input_shape))
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' has no weights yet, so {what} is not available. Build it first: "
                "give input_shape=(time, features) to the first layer, start the model with "
                "rnnlab.Input(...), or call it once on data."
            )

    def keras_weights(self) -> list[nn.Parameter]:
        """The weights in Keras's order (``get_weights()`` order)."""
        return list(self.parameters())

    def get_weights(self) -> list[np.ndarray]:
        self._require_built("get_weights()")
        return [p.detach().cpu().numpy().copy() for p in self.keras_weights()]

    @torch.no_grad()
    def set_weights(self, weights: Sequence[Any]) -> None:
        self._require_built("set_weights()")
        params = self.keras_weights()
        if len(weights) != len(params):
            raise ValueError(
                f"Layer '{self.name}' expects {len(params)} weight arrays "
                f"(shapes {[tuple(p.shape) for p in params]}), received {len(weights)}."
            )
        for i, (p, w) in enumerate(zip(params, weights, strict=True)):
            w = torch.as_tensor(np.asarray(w))
            if tuple(w.shape) != tuple(p.shape):
                raise ValueError(
                    f"Layer '{self.name}': weight {i} should have shape {tuple(p.shape)}, received {tuple(w.shape)}."
                )
            p.copy_(w.to(dtype=p.dtype, device=p.device))

    def count_params(self) -> int:
        self._require_built("count_params()")
        return sum(p.numel() for p in self.parameters())

    # -- config -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls: type[L], config: dict[str, Any]) -> L:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
