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
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in description["config"].items()}
    accepted = inspect.signature(cls).parameters
    params = list(params)
    if "fused" in accepted and "fused" not in config and _fusable(params):
        config["fused"] = True  # one kernel for all tensors instead of a loop of small ops per tensor
    return cls(params, **{k: v for k, v in config.items() if k in accepted})


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    """Whether torch's fused optimizer implementations take these parameters (CPU or CUDA floats)."""
    return bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") and not p.is_sparse for p in params
    )
