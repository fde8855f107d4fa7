"""Activation functions by Keras name."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Activation = Callable[[torch.Tensor], torch.Tensor]


def linear(x: torch.Tensor) -> torch.Tensor:
    return x


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 3's hard sigmoid: ``relu6(x + 3) / 6``."""
    return F.relu6(x + 3.0) / 6.0


def softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


ACTIVATIONS: dict[str, Activation] = {
    "linear": linear,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "relu": torch.relu,
    "relu6": F.relu6,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "softmax": softmax,
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),  # Keras 3's default slope
}


def get(identifier: str | Activation | None) -> Activation:
    """Look up an activation by Keras name; ``None`` means linear, callables pass through."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in ACTIVATIONS:
        return ACTIVATIONS[identifier]
    raise ValueError(
        f"Unknown activation {identifier!r}. Expected one of {sorted(ACTIVATIONS)}, "
        "None, or a callable taking and returning a tensor."
    )


def name_of(identifier: str | Activation | None) -> str | None:
    """The name stored in a layer config: the string itself, 'linear' for None."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        get(identifier)  # validate early
        return identifier
    for name, fn in ACTIVATIONS.items():
        if fn is identifier:
            return name
    return getattr(identifier, "__name__", repr(identifier))
