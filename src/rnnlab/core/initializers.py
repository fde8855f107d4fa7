"""Weight initialisers by Keras name, filling a tensor in place from torch's RNG."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
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


def _zeros(t: torch.Tensor) -> None:
    t.zero_()


def _ones(t: torch.Tensor) -> None:
    t.fill_(1.0)


def _random_uniform(t: torch.Tensor) -> None:
    t.uniform_(-0.05, 0.05)


def _random_normal(t: torch.Tensor) -> None:
    t.normal_(0.0, 0.05)


def _truncated_normal(t: torch.Tensor) -> None:
    torch.nn.init.trunc_normal_(t, 0.0, 0.05, -0.1, 0.1)


def _identity(t: torch.Tensor) -> None:
    torch.nn.init.eye_(t)


INITIALIZERS: dict[str, Initializer] = {
    "zeros": _zeros,
    "ones": _ones,
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "orthogonal": orthogonal,
    "random_uniform": _random_uniform,
    "random_normal": _random_normal,
    "truncated_normal": _truncated_normal,
    "identity": _identity,
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


_skipped: ContextVar[bool] = ContextVar("rnnlab_initializers_skipped", default=False)


@contextlib.contextmanager
def skipped() -> Iterator[None]:
    """Weights created inside keep whatever memory they have: for models whose weights are about to
    be loaded (the orthogonal initialiser alone costs O(units^3))."""
    token = _skipped.set(True)
    try:
        yield
    finally:
        _skipped.reset(token)


@torch.no_grad()
def initialize(t: torch.Tensor, identifier: str | dict[str, Any] | Initializer) -> None:
    if not _skipped.get():
        get(identifier)(t)
