"""Weight constraints by Keras name, applied after every optimizer step as Keras applies them.

``MaxNorm``: ``w * clip(|w|, 0, max_value) / (eps + |w|)``; ``NonNeg``: ``max(w, 0)``;
``UnitNorm``: ``w / (eps + |w|)``; ``MinMaxNorm``: ``w * (rate * clip(|w|, min, max) + (1 - rate) |w|)
/ (eps + |w|)``, norms along ``axis`` (0: each unit's incoming weights), ``eps = 1e-7``.
"""

from __future__ import annotations

from typing import Any

import torch

EPSILON = 1e-7


class Constraint:
    """Base class: ``constraint(weight) -> projected weight``."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


def _norms(w: torch.Tensor, axis: int | list[int]) -> torch.Tensor:
    return w.square().sum(dim=axis, keepdim=True).sqrt()


class MaxNorm(Constraint):
    def __init__(self, max_value: float = 2.0, axis: int | list[int] = 0) -> None:
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        return w * (norms.clamp(0, self.max_value) / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w.clamp_min(0)


class UnitNorm(Constraint):
    def __init__(self, axis: int | list[int] = 0) -> None:
        self.axis = axis

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: int | list[int] = 0
    ) -> None:
        self.min_value, self.max_value, self.rate, self.axis = float(min_value), float(max_value), float(rate), axis

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm  # Keras's spellings
CLASSES: tuple[type[Constraint], ...] = (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
CONSTRAINTS: dict[str, type[Constraint]] = {c.__name__: c for c in CLASSES}
CONSTRAINTS.update({"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm})


def get(identifier: Any) -> Constraint | None:
    """A constraint from None, a name ("non_neg"), a Keras config dict, a Constraint or a callable."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str) and identifier in CONSTRAINTS:
        return CONSTRAINTS[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in CONSTRAINTS:
        return CONSTRAINTS[identifier["class_name"]].from_config(identifier.get("config") or {})
    if callable(identifier) and not isinstance(identifier, type):
        return identifier  # type: ignore[no-any-return]  # a function of the weight, as Keras allows
    raise ValueError(
        f"Unknown constraint {identifier!r}: expected None, one of {sorted(CONSTRAINTS)}, or a callable w -> w."
    )


def serialize(constraint: Any) -> dict[str, Any] | None:
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise ValueError(f"The constraint {constraint!r} is a plain callable: it has no config to store.")
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "max_norm", "min_max_norm"]
