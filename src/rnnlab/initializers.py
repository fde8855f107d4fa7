"""Weight initialisers by Keras name, filling a tensor in place from torch's RNG."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch

Initializer = Callable[[torch.Tensor], object]  # fills its argument in place


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's fan computation: the last axis is fan_out, the one before it fan_in."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    def init(t: torch.Tensor) -> None:
        fan_in, fan_out = _fans(tuple(t.shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            t.uniform_(-limit, limit)
        else:  # truncated normal at two standard deviations, as Keras does
            std = math.sqrt(variance) / 0.87962566103423978
            torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)

    return init


def orthogonal(t: torch.Tensor) -> None:
    """A (rows, cols) matrix whose rows (or columns, whichever are fewer) are orthonormal."""
    torch.nn.init.orthogonal_(t)


INITIALIZERS: dict[str, Initializer] = {
    "zeros": lambda t: t.zero_(),
    "ones": lambda t: t.fill_(1.0),
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "orthogonal": orthogonal,
    "random_uniform": lambda t: t.uniform_(-0.05, 0.05),
    "random_normal": lambda t: t.normal_(0.0, 0.05),
    "truncated_normal": lambda t: torch.nn.init.trunc_normal_(t, 0.0, 0.05, -0.1, 0.1),
    "identity": lambda t: torch.nn.init.eye_(t),
}
ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "zero": "zeros", "one": "ones"}


def canonical_name(identifier: str | dict[str, Any]) -> str:
    """'GlorotUniform', {'class_name': 'GlorotUniform', ...} and 'glorot_uniform' -> 'glorot_uniform'."""
    if isinstance(identifier, dict):
        identifier = identifier.get("class_name", "")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", str(identifier)).lower()
    return ALIASES.get(snake, snake)


def get(identifier: str | dict[str, Any] | Initializer) -> Initializer:
    if callable(identifier):
        return identifier
    name = canonical_name(identifier)
    if name not in INITIALIZERS:
        raise ValueError(
            f"Unknown initializer {identifier!r}. Expected one of "
            f"{sorted(INITIALIZERS) + sorted(ALIASES)} or a callable filling a tensor in place."
        )
    return INITIALIZERS[name]


@torch.no_grad()
def initialize(t: torch.Tensor, identifier: str | dict[str, Any] | Initializer) -> None:
    get(identifier)(t)
