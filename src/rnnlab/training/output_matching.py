"""How ``compile`` pairs losses, loss weights and metrics with the outputs of a model with several,
as Keras 3 does (``keras/src/trainers/compile_utils.py``: ``CompileLoss``, ``CompileMetrics``).

Keras flattens a structure of outputs with dicts in sorted key order, so a *list* given for a model
whose outputs are a dict pairs with the outputs by sorted key, not in the order the dict was written;
a dict pairs by key (by output name for a model whose outputs are a list). Loss weights whose structure
differs from the losses' (a dict of weights with a list of losses) are flattened the same way, dicts
by sorted key, and paired by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outputs:
    """A model's outputs as Keras orders them: ``names`` (the names logs use, ``<name>_loss``) and, for
    outputs given as a dict, the dict's ``keys``, both in sorted key order."""

    names: list[str]
    keys: list[str] | None = None  # None: the outputs are a list

    @classmethod
    def of(cls, names: list[str], keys: list[str] | None) -> Outputs:
        """``names`` and ``keys`` paired position by position, put in Keras's order (sorted by key)."""
        if keys is None:
            return cls(list(names))
        order = sorted(range(len(keys)), key=lambda i: keys[i])
        return cls([names[i] for i in order], [keys[i] for i in order])

    def name_of(self, key: str, what: str) -> str:
        """The output name a key of a dict given to compile stands for."""
        self.check_keys([key], what)
        return self.names[self.known.index(key)]

    @property
    def known(self) -> list[str]:
        return self.keys if self.keys is not None else self.names

    def check_keys(self, keys: Any, what: str) -> None:
        unknown = sorted(set(keys) - set(self.known))
        if unknown:
            raise ValueError(
                f"compile({what}=...) names {unknown}, which are not outputs; the outputs are {self.known}."
            )


def losses(loss: Any, outputs: Outputs) -> dict[str, Any]:
    """Each output's loss (by output name): one loss for all, a list in Keras's order, or a dict by key."""
    return _per_output(loss, outputs, "loss")


def loss_weights(loss: Any, weights: Any, outputs: Outputs) -> dict[str, float] | None:
    """Each output's weight in the total loss, paired with the losses as Keras pairs them."""
    if weights is None:
        return None
    if not isinstance(weights, (list, tuple, dict)):
        if len(outputs.names) == 1:
            return {outputs.names[0]: float(weights)}
        raise ValueError(
            f"compile(loss_weights=...) takes a list or a dict for a model of {len(outputs.names)} outputs "
            f"{outputs.names}, received {weights!r}."
        )
    if not isinstance(loss, (list, tuple, dict)):
        raise ValueError(
            f"`loss_weights` must match the number of losses, got 1 losses and {len(weights)} weights: give one "
            "loss per output (a list or a dict) to weigh them, as in Keras."
        )
    if isinstance(weights, dict) and isinstance(loss, dict):
        return {outputs.name_of(key, "loss_weights"): float(w) for key, w in weights.items()}
    flat = [weights[key] for key in sorted(weights)] if isinstance(weights, dict) else list(weights)
    losses_in_order = [loss[key] for key in sorted(loss)] if isinstance(loss, dict) else list(loss)
    if len(flat) != len(losses_in_order):
        raise ValueError(
            f"`loss_weights` must match the number of losses, got {len(losses_in_order)} losses and "
            f"{len(flat)} weights."
        )
    if isinstance(loss, dict) and outputs.keys is not None:  # dict outputs: by the losses' sorted keys
        return {outputs.name_of(key, "loss"): float(w) for key, w in zip(sorted(loss), flat, strict=True)}
    # list outputs: Keras first lists a dict of losses in output order, so the weights pair in that order
    return dict(zip(outputs.names, map(float, flat), strict=True))


def metrics(given: Any, outputs: Outputs, what: str = "metrics") -> dict[str, list[Any]]:
    """Each output's metrics: a list with an entry per output (a metric, a list of them or None) in
    Keras's order, or a dict by key; outputs without an entry get none."""
    if given is None:
        return {}
    if not isinstance(given, (list, tuple, dict)):
        raise ValueError(f"compile({what}=...) takes a list or a dict, received {type(given).__name__}.")
    return {
        name: [] if spec is None else list(spec) if isinstance(spec, (list, tuple)) else [spec]
        for name, spec in _per_output(given, outputs, what, single_for_all=False).items()
    }


def _per_output(value: Any, outputs: Outputs, what: str, single_for_all: bool = True) -> dict[str, Any]:
    names = outputs.names
    if isinstance(value, dict):
        outputs.check_keys(value, what)
        return {outputs.name_of(key, what): each for key, each in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            order = ", sorted by key, as Keras flattens a dict" if outputs.keys is not None else ""
            raise ValueError(
                f"compile({what}=...) takes one entry per output ({len(names)}: {outputs.keys or names}{order}), "
                f"received {len(value)}."
            )
        return dict(zip(names, value, strict=True))
    if not single_for_all:
        raise ValueError(f"compile({what}=...) takes a list or a dict, received {type(value).__name__}.")
    return dict.fromkeys(names, value)
