"""Optimizers by Keras name: one description each, with Keras's arguments, defaults and config.

``Adam(learning_rate=1e-3, clipnorm=1.0)`` and the others exist before the weights do. Each
names its Keras-exact torch optimizer (:mod:`rnnlab.training.update_rules`, which holds the update
rules) and the few arguments that optimizer names the torch way (``learning_rate`` -> ``lr``,
``epsilon`` -> ``eps``, ``beta_1, beta_2`` -> ``betas``): that is the only map between the two.

- ``get_config()`` is Keras's config; ``serialize`` / ``deserialize`` are Keras's
  ``{"class_name": "Adam", "config": ...}``, which the ``.keras`` reader and writer use as they are.
- ``spec()`` is what compile stores and rnnlab's files keep: ``{"class_name": "KerasAdam",
  "config": {torch arguments}}``; ``build`` makes the optimizer from it once the weights exist, and
  ``from_spec`` gives the description back. A spec may also name a class of ``torch.optim``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import torch

from .clipping import clip_gradients
from .update_rules import (
    KERAS_OPTIMIZERS,
    KerasAdadelta,
    KerasAdagrad,
    KerasAdam,
    KerasAdamax,
    KerasAdamW,
    KerasLion,
    KerasNadam,
    KerasOptimizer,
    KerasRMSprop,
    KerasSGD,
)

CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")
REFUSED = ("use_ema", "loss_scale_factor", "gradient_accumulation_steps")  # Keras features rnnlab has not


def spec(name: str, **kwargs: Any) -> dict[str, Any]:
    """The spec of the optimizer Keras calls ``name`` ("adam", "nadam", ...) with Keras's arguments."""
    return _class(name)(**kwargs).spec()


def from_object(optimizer: Any, learning_rate: float | None = None) -> dict[str, Any]:
    """The spec of an optimizer object that describes itself (``spec()``), e.g. ``rnnlab.optimizers.Adam``."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a name ({', '.join(sorted(CLASSES))}), a torch.optim.Optimizer or an "
            f"rnnlab optimizer, received {type(optimizer).__name__}."
        )
    found: Optimizer = optimizer
    if learning_rate is not None:
        found = type(optimizer).from_config({**optimizer.get_config(), "learning_rate": learning_rate})
    return found.spec()


def from_spec(description: dict[str, Any], **clipping: Any) -> Optimizer | None:
    """The Keras-named optimizer a spec describes (with the compiled ``clipping``), or None for a
    class of ``torch.optim``, which Keras has no name for."""
    cls = BY_TORCH_CLASS.get(description.get("class_name", ""))
    return None if cls is None else cls.from_torch(description.get("config") or {}, **clipping)


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


def _parameter(variable: Any) -> torch.nn.Parameter:
    """The torch parameter behind a ``layer.weights`` variable, or the parameter itself."""
    value = getattr(variable, "value", variable)
    if not isinstance(value, torch.Tensor) or not value.is_leaf:
        raise TypeError(
            "apply_gradients updates weights: pass layer.trainable_weights (or model.parameters()) as the "
            f"variables, received {type(variable).__name__}."
        )
    return value  # type: ignore[return-value]


def _gradient(grad: Any, param: torch.nn.Parameter) -> torch.Tensor:
    tensor = grad.detach() if isinstance(grad, torch.Tensor) else torch.as_tensor(np.asarray(grad))
    if tuple(tensor.shape) != tuple(param.shape):
        raise ValueError(
            f"A gradient of shape {tuple(tensor.shape)} was given for a variable of shape {tuple(param.shape)}; "
            "pair each gradient with its own variable, in the same order."
        )
    return tensor.to(dtype=param.dtype, device=param.device).clone()


@torch.no_grad()
def _apply_constraints(variables: list[Any]) -> None:
    """Keras projects each variable that has a constraint after the update."""
    for variable in variables:
        constraint = getattr(variable, "constraint", None)
        if constraint is not None:
            param = _parameter(variable)
            param.copy_(constraint(param))


# -- the descriptions, by Keras name ---------------------------------------------------------
class Optimizer:
    """A Keras optimizer: its hyper-parameters under Keras's names, before any weights exist.

    ``model.compile(optimizer=Adam(learning_rate=1e-3, clipnorm=1.0))`` builds ``torch_class``
    once the weights exist; ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` clip the gradients
    as Keras does (only one of them, as Keras allows), and ``weight_decay`` decays the weights
    decoupled, before the update, in every optimizer. EMA, loss scaling and gradient accumulation
    are stated in the config at Keras's defaults and refused otherwise.
    """

    torch_class: ClassVar[type[KerasOptimizer]]
    torch_names: ClassVar[dict[str, str]] = {"learning_rate": "lr", "epsilon": "eps"}  # where torch_class differs

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}; Keras's are "
                f"{sorted(type(self)().get_config())}."
            )
        refused = [
            k for k, v in zip(REFUSED, (use_ema, loss_scale_factor, gradient_accumulation_steps), strict=True) if v
        ]
        if refused:
            raise TypeError(
                f"{type(self).__name__} does not support {refused} in rnnlab (no EMA, loss scaling or gradient "
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
        self.name = name or _snake_case(type(self).__name__)
        self.learning_rate = float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.ema_momentum, self.ema_overwrite_frequency = ema_momentum, ema_overwrite_frequency
        self._rule: KerasOptimizer | None = None  # the update rule of a custom training loop, built on first use
        self._iterations = 0

    # -- custom training loops: Keras's apply_gradients --------------------------------------
    @property
    def iterations(self) -> torch.Tensor:
        """How many times ``apply_gradients`` has updated the weights (Keras's counter, an int64 scalar)."""
        return torch.tensor(self._iterations, dtype=torch.int64)

    def build(self, variables: Iterable[Any]) -> None:
        """Create the optimizer's state for these variables (``apply_gradients`` does it on first use)."""
        self._update_rule([_parameter(v) for v in variables])

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Any]]) -> torch.Tensor:
        """One Keras update of each variable from its gradient: ``optimizer.apply_gradients(zip(grads,
        model.trainable_weights))``. Gradients are clipped as this optimizer says, the update rule (weight
        decay included) runs, variables with a constraint are projected and ``iterations`` counts one;
        pairs whose gradient is None are left out. The variables are ``layer.weights`` entries or torch
        parameters; the gradients tensors or arrays of their shapes. Returns ``iterations``."""
        pairs = list(grads_and_vars)
        return self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads: Iterable[Any], trainable_variables: Iterable[Any]) -> torch.Tensor:
        """``apply_gradients`` with the gradients and the variables as two lists (Keras's ``apply``)."""
        pairs = [(g, v) for g, v in zip(grads, trainable_variables, strict=True) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable: every gradient is None.")
        params = [_parameter(v) for _, v in pairs]
        rule = self._update_rule(params)
        own_grads = {p: p.grad for group in rule.param_groups for p in group["params"]}
        try:  # the rule reads .grad: give it these gradients alone, and put the caller's back afterwards
            for p in own_grads:
                p.grad = None
            for (g, _), p in zip(pairs, params, strict=True):
                p.grad = _gradient(g, p)
            clip_gradients([p.grad for p in params if p.grad is not None], **self.clipping())
            for group in rule.param_groups:
                group["lr"] = self.learning_rate  # a learning rate changed on the object takes effect
            rule.step()
        finally:
            for p, grad in own_grads.items():
                p.grad = grad
        _apply_constraints([v for _, v in pairs])
        self._iterations += 1
        return self.iterations

    def _update_rule(self, params: list[torch.nn.Parameter]) -> KerasOptimizer:
        if self._rule is None:
            rule = build(self.spec(), params)
            assert isinstance(rule, KerasOptimizer)
            self._rule = rule
            return rule
        known = {id(p) for group in self._rule.param_groups for p in group["params"]}
        new = list({id(p): p for p in params if id(p) not in known}.values())
        if new:  # variables first seen now get their own state, as Keras builds them
            self._rule.add_param_group({"params": new})
        return self._rule

    def hyperparameters(self) -> dict[str, Any]:
        """The update rule's own arguments, Keras's names, in Keras's order."""
        return {}

    def clipping(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in CLIPPING}

    def get_config(self) -> dict[str, Any]:
        """Keras's config: the same keys, in the same order, with the same defaults."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": False,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
            **self.hyperparameters(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        return cls(**config)

    def spec(self) -> dict[str, Any]:
        """What compile stores: ``torch_class`` and its arguments under its own names."""
        arguments = {"learning_rate": self.learning_rate, **self.hyperparameters()}
        if self.weight_decay is not None:  # Keras's None is torch's 0.0, torch_class's default
            arguments["weight_decay"] = self.weight_decay
        config = {self.torch_names.get(k, k): v for k, v in arguments.items()}
        if "beta_1" in config:
            config["betas"] = [config.pop("beta_1"), config.pop("beta_2")]
        return {"class_name": self.torch_class.__name__, "config": config}

    @classmethod
    def from_torch(cls, arguments: dict[str, Any], **clipping: Any) -> Optimizer:
        """The description of ``torch_class(params, **arguments)`` (a spec's config, or a param group)."""
        keras_names = {torch_name: name for name, torch_name in cls.torch_names.items()}
        config = {keras_names.get(k, k): v for k, v in arguments.items()}
        if "betas" in config:
            config["beta_1"], config["beta_2"] = config.pop("betas")
        defaults = cls()
        accepted = {"learning_rate", "weight_decay", *defaults.hyperparameters()}
        config = {k: v for k, v in config.items() if k in accepted}
        if not config.get("weight_decay") and defaults.weight_decay is None:
            config.pop("weight_decay", None)  # torch's 0.0 is Keras's None
        return cls(**config, **clipping)

    def __repr__(self) -> str:
        defaults = type(self)().get_config()
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v != defaults[k] and k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Keras's ``SGD`` (the equations: ``KerasSGD``)."""

    torch_class = KerasSGD

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras's ``Adam`` (the equations: ``KerasAdam``)."""

    torch_class = KerasAdam

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

    torch_class = KerasAdamW

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, **kwargs: Any) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """Keras's ``RMSprop`` (the equations: ``KerasRMSprop``, which names ``rho`` ``alpha`` as torch does)."""

    torch_class = KerasRMSprop
    torch_names = {**Optimizer.torch_names, "rho": "alpha"}

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


class _Moments(Optimizer):
    """Adam's arguments without ``amsgrad``, which Nadam and Adamax take."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def hyperparameters(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(_Moments):
    """Keras's ``Nadam`` (the equations and the momentum schedule: ``KerasNadam``)."""

    torch_class = KerasNadam


class Adamax(_Moments):
    """Keras's ``Adamax`` (the equations: ``KerasAdamax``)."""

    torch_class = KerasAdamax


class Adagrad(Optimizer):
    """Keras's ``Adagrad`` (the equations: ``KerasAdagrad``)."""

    torch_class = KerasAdagrad

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def hyperparameters(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Keras's ``Adadelta`` (the equations: ``KerasAdadelta``; ``rho`` keeps its name, as in torch)."""

    torch_class = KerasAdadelta

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def hyperparameters(self) -> dict[str, Any]:
        return {"rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Keras's ``Lion`` (the equations: ``KerasLion``)."""

    torch_class = KerasLion

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def hyperparameters(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}


ALL = (SGD, Adam, AdamW, RMSprop, Nadam, Adagrad, Adadelta, Adamax, Lion)
CLASSES: dict[str, type[Optimizer]] = {c.__name__.lower(): c for c in ALL}  # Keras's names for compile
BY_TORCH_CLASS: dict[str, type[Optimizer]] = {c.torch_class.__name__: c for c in ALL}


def _snake_case(name: str) -> str:
    """Keras's default optimizer name: ``AdamW`` -> ``adam_w``, ``RMSprop`` -> ``rm_sprop``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _class(name: str) -> type[Optimizer]:
    key = name.lower().replace("_", "") if isinstance(name, str) else ""
    if key not in CLASSES:
        raise ValueError(
            f"Unknown optimizer {name!r}. Expected one of {sorted(CLASSES)}, or a torch.optim.Optimizer instance."
        )
    return CLASSES[key]


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """Keras's ``optimizers.serialize``: the form a ``.keras`` file's ``compile_config`` holds."""
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict[str, Any] | str) -> Optimizer:
    """Keras's ``optimizers.deserialize``: an optimizer from ``{"class_name": ..., "config": ...}`` or a name."""
    if isinstance(config, str):
        return _class(config)()
    return _class(config.get("class_name", "")).from_config(config.get("config") or {})


def get(identifier: Any) -> Optimizer:
    """Keras's ``optimizers.get``: an optimizer from a name, a serialised config or the object itself."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    raise ValueError(
        f"Unknown optimizer {identifier!r}; expected a name ({sorted(CLASSES)}), a config or an optimizer."
    )
