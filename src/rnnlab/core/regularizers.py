"""Weight penalties by Keras name: ``l1``, ``l2``, ``l1_l2`` (``kernel_regularizer=`` and friends).

A regularizer maps a weight to a scalar added to the training loss, as Keras adds
``model.losses``: ``L1: l1 * sum(|w|)``, ``L2: l2 * sum(w^2)`` (no 1/2), ``L1L2`` both.
The string names use Keras's defaults: ``"l1"`` and ``"l2"`` 0.01, ``"l1_l2"`` zeros.
"""

from __future__ import annotations

from typing import Any

import torch


class Regularizer:
    """Base class: ``regularizer(weight) -> scalar penalty``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(())

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


def _factor(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, received {value!r}.")
    return float(value)


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w^2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = _factor("l1", l1 or 0.0), _factor("l2", l2 or 0.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w^2)``."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2  # Keras's lower-case spellings
REGULARIZERS: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier: Any) -> Regularizer | None:
    """A regularizer from None, a name ("l2"), a Keras config dict, a Regularizer or a callable."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in REGULARIZERS:
        return REGULARIZERS[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in REGULARIZERS:
        return REGULARIZERS[identifier["class_name"]].from_config(identifier.get("config") or {})
    if callable(identifier) and not isinstance(identifier, type):
        return identifier  # type: ignore[no-any-return]  # a function of the weight, as Keras allows
    raise ValueError(
        f"Unknown regularizer {identifier!r}: expected None, 'l1', 'l2', 'l1_l2', rnnlab.regularizers.L2(0.01), "
        "or a callable weight -> scalar."
    )


def serialize(regularizer: Any) -> dict[str, Any] | None:
    """Keras's form ``{"class_name": "L2", "config": {"l2": 0.01}}`` (None stays None)."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(f"The regularizer {regularizer!r} is a plain callable: it has no config to store.")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


__all__ = ["L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2", "serialize"]
