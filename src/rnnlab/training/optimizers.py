"""Optimizers by Keras name with Keras's defaults and update rules, Keras-style optimizer objects,
and their (de)serialisation.

A *spec* ``{"class_name": ..., "config": {...}}`` describes an optimizer before the weights
exist; ``build`` makes it once they do. The names "sgd", "adam", "adamw" and "rmsprop" map to
the Keras-exact classes of :mod:`rnnlab.training.optim`; ``SGD(learning_rate=...)``,
``Adam(...)``, ``AdamW(...)`` and ``RMSprop(...)`` take Keras's arguments (clipping included)
and describe themselves with ``spec()``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch

from .optim import KERAS_OPTIMIZERS, KerasAdam, KerasAdamW, KerasRMSprop, KerasSGD

# name -> (class, Keras's defaults expressed in the class's (torch's) argument names)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "adam": (KerasAdam, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7}),
    "sgd": (KerasSGD, {"lr": 1e-2, "momentum": 0.0}),
    "rmsprop": (KerasRMSprop, {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "momentum": 0.0}),
    "adamw": (KerasAdamW, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.004}),
}
KERAS_ARGS = {"learning_rate": "lr", "epsilon": "eps", "rho": "alpha"}  # Keras name -> torch name
CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")


def spec(name: str, **kwargs: Any) -> dict[str, Any]:
    """A serialisable description: ``{"class_name": "KerasAdam", "config": {...torch kwargs}}``."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer {name!r}. Expected one of {sorted(OPTIMIZERS)}, or a torch.optim.Optimizer instance."
        )
    cls, defaults = OPTIMIZERS[key]
    config = dict(defaults)
    for k, v in kwargs.items():
        config[KERAS_ARGS.get(k, k)] = v
    if "beta_1" in config or "beta_2" in config:
        beta_1, beta_2 = config.pop("beta_1", config["betas"][0]), config.pop("beta_2", config["betas"][1])
        config["betas"] = (beta_1, beta_2)
    return {"class_name": cls.__name__, "config": _json_ready(config)}


def from_object(optimizer: Any, learning_rate: float | None = None) -> dict[str, Any]:
    """The spec of an optimizer object that describes itself (``spec()``), e.g. ``rnnlab.optimizers.Adam``."""
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
    """The optimizer a spec describes: a Keras-exact class of rnnlab's, else one of ``torch.optim``."""
    name = description["class_name"]
    cls = KERAS_OPTIMIZERS.get(name) or getattr(torch.optim, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"Unknown optimizer class {name!r}: neither rnnlab's {sorted(KERAS_OPTIMIZERS)} nor torch's.")
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in description["config"].items()}
    accepted = inspect.signature(cls).parameters
    params = list(params)
    if "fused" in accepted and "fused" not in config and _fusable(params):
        config["fused"] = True  # torch's own classes: one kernel for all tensors instead of a loop per tensor
    factory: Any = cls  # each class takes its own keyword arguments
    optimizer: torch.optim.Optimizer = factory(params, **{k: v for k, v in config.items() if k in accepted})
    return optimizer


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    """Whether torch's fused optimizer implementations take these parameters (CPU or CUDA floats)."""
    return bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") and not p.is_sparse for p in params
    )


# -- Keras-style optimizer objects ------------------------------------------------------------
class Optimizer:
    """A Keras-style optimizer: its hyper-parameters under Keras's names, before any weights exist.

    ``model.compile(optimizer=Adam(learning_rate=1e-3, clipnorm=1.0))`` builds the Keras-exact
    torch optimizer once the weights exist; ``clipnorm`` / ``clipvalue`` / ``global_clipnorm``
    clip the gradients as Keras does (only one of them, as Keras allows).
    """

    key = ""  # the name in OPTIMIZERS

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        unsupported = sorted(k for k, v in kwargs.items() if v not in (None, False))
        if unsupported:
            raise TypeError(
                f"{type(self).__name__} does not support {unsupported} in rnnlab (no EMA, loss scaling or gradient "
                "accumulation); remove them."
            )
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of clipnorm, clipvalue and global_clipnorm can be set (as in Keras); received "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}."
            )
        if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool):
            raise TypeError(
                f"learning_rate must be a number, received {type(learning_rate).__name__} (rnnlab has no "
                "learning-rate schedules: change it from a callback, ReduceLROnPlateau or a LambdaCallback that sets "
                "model.optimizer.param_groups[i]['lr'])."
            )
        self.learning_rate = float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or self.key

    def hyperparameters(self) -> dict[str, Any]:
        """The update rule's own arguments, Keras names."""
        return {}

    def spec(self) -> dict[str, Any]:
        kwargs = {"learning_rate": self.learning_rate, **self.hyperparameters()}
        if self.weight_decay is not None:
            kwargs["weight_decay"] = self.weight_decay
        return spec(self.key, **kwargs)

    def clipping(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in CLIPPING}

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            **self.clipping(),
            **self.hyperparameters(),
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None and k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Keras's ``SGD``: ``learning_rate=0.01``, ``momentum=0.0``, ``nesterov=False`` (see ``KerasSGD``)."""

    key = "sgd"

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras's ``Adam`` (see ``KerasAdam`` for the equations)."""

    key = "adam"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), amsgrad

    def hyperparameters(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Keras's ``AdamW``: ``Adam`` with decoupled ``weight_decay=0.004``."""

    key = "adamw"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, **kwargs: Any) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """Keras's ``RMSprop`` (see ``KerasRMSprop`` for the equations)."""

    key = "rmsprop"

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), centered

    def hyperparameters(self) -> dict[str, Any]:
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


KERAS_CLASSES: dict[str, type[Optimizer]] = {c.key: c for c in (SGD, Adam, AdamW, RMSprop)}


def get(identifier: Any) -> Optimizer:
    """Keras's ``optimizers.get``: an optimizer object from a name (or the object itself)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in KERAS_CLASSES:
        return KERAS_CLASSES[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}; expected one of {sorted(KERAS_CLASSES)}.")
