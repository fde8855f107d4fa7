"""Optimizers by Keras name with Keras's defaults, and their (de)serialisation."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch

# name -> (torch class, Keras's defaults expressed in torch's argument names)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "adam": (torch.optim.Adam, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7}),
    "sgd": (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.0}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "momentum": 0.0}),
    "adamw": (torch.optim.AdamW, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.004}),
}
KERAS_ARGS = {"learning_rate": "lr", "epsilon": "eps", "rho": "alpha"}  # Keras name -> torch name


def spec(name: str, **kwargs: Any) -> dict[str, Any]:
    """A serialisable description: ``{"class_name": "Adam", "config": {...torch kwargs}}``."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer {name!r}. Expected one of {sorted(OPTIMIZERS)}, or a torch.optim.Optimizer instance."
        )
    cls, defaults = OPTIMIZERS[key]
    config = dict(defaults)
    for k, v in kwargs.items():
        config[KERAS_ARGS.get(k, k)] = v
    return {"class_name": cls.__name__, "config": _json_ready(config)}


def from_object(optimizer: Any, learning_rate: float | None = None) -> dict[str, Any]:
    """The spec of an optimizer object that describes itself (``spec()``), e.g. a Keras-style one."""
    describe_self = getattr(optimizer, "spec", None)
    if not callable(describe_self):
        raise TypeError(
            f"optimizer must be a name ({', '.join(sorted(OPTIMIZERS))}), a torch.optim.Optimizer or an "
            f"rnnlab optimizer, received {type(optimizer).__name__}."
        )
    found: dict[str, Any] = describe_self()
    if learning_rate is not None:
        found = {**found, "config": {**found["config"], "lr": learning_rate}}
    return found


def describe(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The spec of an existing optimizer (its class and the hyper-parameters of its first group)."""
    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    return {"class_name": type(optimizer).__name__, "config": _json_ready(group)}


def _json_ready(config: dict[str, Any]) -> dict[str, Any]:
    """Tuples as lists, tensors as numbers: what survives a JSON round trip unchanged."""
    return {
        k: list(v) if isinstance(v, tuple) else (v.item() if isinstance(v, torch.Tensor) else v)
        for k, v in config.items()
    }


def build(description: dict[str, Any], params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    cls = getattr(torch.optim, description["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"Unknown optimizer class {description['class_name']!r}: not in torch.optim.")
    config: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in description["config"].items()}
    accepted = inspect.signature(cls).parameters
    optimizer: torch.optim.Optimizer = cls(params, **{k: v for k, v in config.items() if k in accepted})
    return optimizer
