"""Keras's initializers: objects that give a weight its first values (``Dense(kernel_initializer=...)``).

Each is Keras 3's class under Keras's name, arguments, defaults and ``get_config()``; called as
``initializer(shape, dtype=None)`` it returns a new tensor, and layers fill their weights in place
through ``initialize(weight, identifier)``.

The random ones draw from torch's RNG, so their values cannot equal Keras's (which draws with its
own); the distributions are Keras's:

- ``RandomNormal(mean, stddev)``, ``RandomUniform(minval, maxval)``, ``TruncatedNormal`` (redrawn
  outside two standard deviations), default scale 0.05;
- ``VarianceScaling(scale, mode, distribution)``: variance ``scale / max(1, n)`` with ``n`` the fan
  in, the fan out or their mean; ``"uniform"`` on ``±sqrt(3 variance)``, ``"truncated_normal"``
  with ``stddev = sqrt(variance) / 0.8796...`` (so the truncated values have that variance),
  ``"untruncated_normal"``; Glorot (fan_avg, scale 1), He (fan_in, 2) and LeCun (fan_in, 1) are
  its named cases. Fans as Keras computes them: ``(shape[-2], shape[-1])`` times the product of
  the leading axes (a convolution's receptive field);
- ``Orthogonal(gain)``: the Q of a QR factorisation of a normal matrix, signs fixed by R's
  diagonal, on the shape flattened to ``(prod(shape[:-1]), shape[-1])``.

Seeds: ``seed=`` an integer gives the same values at every call and in every process (a
generator of its own, on the CPU), as Keras's integer seed does. Unseeded, Keras draws one seed
when the initializer is made and repeats its values; rnnlab's unseeded initializers draw from
torch's global RNG at each call instead, so ``rnnlab.set_seed`` decides a model's first weights and
one initializer shared by several layers gives each its own values.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch

ShapeLike = Sequence[int]
KerasInitializer = Callable[..., Any]  # (shape, dtype=None) -> values, Keras's protocol


def torch_dtype(dtype: Any) -> torch.dtype:
    """``None`` (the default float type), a name ("float32") or a torch dtype -> torch dtype."""
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}: expected a name such as 'float32' or a torch dtype.")
    return resolved


class Initializer:
    """Base class: ``initializer(shape, dtype=None) -> tensor``; ``get_config`` / ``from_config`` rebuild it.

    rnnlab's own initializers fill a tensor in place (``fill_``); a subclass written as in Keras
    defines ``__call__(self, shape, dtype=None)`` instead, and layers copy what it returns.
    """

    def __call__(self, shape: ShapeLike, dtype: Any = None) -> torch.Tensor:
        values = torch.empty(tuple(int(size) for size in shape), dtype=torch_dtype(dtype))
        self.fill_(values)
        return values

    def fill_(self, t: torch.Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(self, shape, dtype=None).")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def clone(self) -> Initializer:
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


# -- constants -------------------------------------------------------------------------------
class Constant(Initializer):
    """Every value ``value`` (a scalar, or an array that broadcasts to the shape)."""

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def fill_(self, t: torch.Tensor) -> None:
        t.copy_(torch.as_tensor(np.asarray(self.value)).to(t.dtype).expand(t.shape))

    def get_config(self) -> dict[str, Any]:
        if isinstance(self.value, np.ndarray):  # Keras's serialised NumPy array
            return {
                "value": {
                    "class_name": "__numpy__",
                    "config": {"value": self.value.tolist(), "dtype": str(self.value.dtype)},
                }
            }
        return {"value": self.value}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constant:
        value = config["value"]
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":
            value = np.asarray(value["config"]["value"], dtype=value["config"]["dtype"])
        return cls(value)


class Zeros(Initializer):
    def fill_(self, t: torch.Tensor) -> None:
        t.zero_()


class Ones(Initializer):
    def fill_(self, t: torch.Tensor) -> None:
        t.fill_(1.0)


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D weights only; a non-square one gets ones on its diagonal)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def fill_(self, t: torch.Tensor) -> None:
        if t.dim() != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={tuple(t.shape)} of rank {t.dim()}."
            )
        torch.nn.init.eye_(t).mul_(self.gain)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


# -- random ----------------------------------------------------------------------------------
def _check_seed(seed: Any) -> int | None:
    if seed is None or (isinstance(seed, int) and not isinstance(seed, bool)):
        return seed
    raise ValueError(
        f"`seed` argument should be an integer or None, received seed={seed!r} "
        "(rnnlab seeds initializers with integers; unseeded ones follow rnnlab.set_seed)."
    )


class RandomInitializer(Initializer):
    """An initializer that draws: from a generator seeded with ``seed`` at every call, or, unseeded,
    from torch's global RNG."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = _check_seed(seed)

    def fill_(self, t: torch.Tensor) -> None:
        if self.seed is None:
            self.draw_(t, None)
            return
        generator = torch.Generator().manual_seed(self.seed)  # the same values on every device
        target = t if t.device.type == "cpu" else torch.empty(t.shape, dtype=t.dtype)
        self.draw_(target, generator)
        if target is not t:
            t.copy_(target)

    def draw_(self, t: torch.Tensor, generator: torch.Generator | None) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def draw_(self, t: torch.Tensor, generator: torch.Generator | None) -> None:
        t.normal_(self.mean, self.stddev, generator=generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal values, redrawn where they fall more than two standard deviations from the mean."""

    def draw_(self, t: torch.Tensor, generator: torch.Generator | None) -> None:
        low, high = self.mean - 2 * self.stddev, self.mean + 2 * self.stddev
        torch.nn.init.trunc_normal_(t, self.mean, self.stddev, low, high, generator=generator)


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def draw_(self, t: torch.Tensor, generator: torch.Generator | None) -> None:
        t.uniform_(self.minval, self.maxval, generator=generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def compute_fans(
    shape: ShapeLike, input_axes: Sequence[int] | None = None, output_axes: Sequence[int] | None = None
) -> tuple[int, int]:
    """Keras's (fan_in, fan_out): the last axis is fan_out, the one before it fan_in, each times the
    leading axes (a convolution's receptive field); or the products of the axes given."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


TRUNCATED_STDDEV = 0.87962566103423978  # the standard deviation of a unit normal truncated at ±2


class VarianceScaling(RandomInitializer):
    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        modes = ("fan_in", "fan_out", "fan_avg")
        if mode not in modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {set(modes)}")
        distribution = distribution.lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        distributions = ("uniform", "truncated_normal", "untruncated_normal")
        if distribution not in distributions:
            raise ValueError(f"Invalid `distribution` argument: {distribution}.Please use one of {set(distributions)}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def variance(self, shape: ShapeLike) -> float:
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def draw_(self, t: torch.Tensor, generator: torch.Generator | None) -> None:
        variance = self.variance(tuple(t.shape))
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            t.uniform_(-limit, limit, generator=generator)
        elif self.distribution == "untruncated_normal":
            t.normal_(0.0, math.sqrt(variance), generator=generator)
        else:
            std = math.sqrt(variance) / TRUNCATED_STDDEV
            torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, generator=generator)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _NamedVarianceScaling(VarianceScaling):
    """Glorot, He and LeCun: variance scaling with a fixed (scale, mode, distribution)."""

    fixed: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(
        self,
        seed: int | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        scale, mode, distribution = self.fixed
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_NamedVarianceScaling):
    fixed = (1.0, "fan_avg", "uniform")


class GlorotNormal(_NamedVarianceScaling):
    fixed = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_NamedVarianceScaling):
    fixed = (2.0, "fan_in", "uniform")


class HeNormal(_NamedVarianceScaling):
    fixed = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_NamedVarianceScaling):
    fixed = (1.0, "fan_in", "uniform")


class LecunNormal(_NamedVarianceScaling):
    fixed = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix times ``gain``: orthonormal rows or columns, whichever are fewer."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = gain
        super().__init__(seed)

    def draw_(self, t: torch.Tensor, generator: torch.Generator | None) -> None:
        if t.dim() < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={tuple(t.shape)} of rank {t.dim()}."
            )
        flat = t.view(-1, t.shape[-1])  # (prod(shape[:-1]), shape[-1]), Keras's flattening
        torch.nn.init.orthogonal_(flat, self.gain, generator=generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gain": self.gain}


# -- lookup ----------------------------------------------------------------------------------
CLASSES: tuple[type[Initializer], ...] = (
    Constant,
    Zeros,
    Ones,
    Identity,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal,
)


def snake_name(class_name: str) -> str:
    """Keras's snake_case of a class name: 'GlorotUniform' -> 'glorot_uniform'."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


INITIALIZERS: dict[str, type[Initializer]] = {c.__name__: c for c in CLASSES}
INITIALIZERS.update({snake_name(c.__name__): c for c in CLASSES})
INITIALIZERS.update(
    {
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
    }
)


def deserialize(config: dict[str, Any] | str) -> Initializer:
    """``{"class_name": "Constant", "config": {"value": 0.5}}`` (Keras's form, ``module`` optional) or a name."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    name = config.get("class_name")
    if name not in INITIALIZERS:
        raise ValueError(
            f"Unknown initializer {name!r}. Expected one of {sorted(INITIALIZERS)}, an Initializer, "
            "or a callable (shape, dtype=None) -> values."
        )
    return INITIALIZERS[name].from_config(dict(config.get("config") or {}))


def _from_values(values: Any) -> KerasInitializer:
    """Keras's initializer from an array: it gives those values, for that shape only."""
    tensor = torch.as_tensor(np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values))

    def initialize_fn(shape: ShapeLike, dtype: Any = None) -> torch.Tensor:
        if tuple(shape) != tuple(tensor.shape):
            raise ValueError(
                f"Expected `shape` to be {tuple(tensor.shape)} for direct tensor as initializer. "
                f"Received shape={tuple(shape)}"
            )
        return tensor.to(torch_dtype(dtype))

    return initialize_fn


def get(identifier: Any) -> Any:
    """An initializer from a name ("glorot_uniform", "GlorotUniform"), a Keras config dict, an
    ``Initializer`` (or its class), an array of the values, or a callable ``(shape, dtype=None)``;
    ``None`` stays None."""
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, (str, dict)):
        if isinstance(identifier, str) and identifier not in INITIALIZERS:
            raise ValueError(
                f"Unknown initializer {identifier!r}. Expected one of {sorted(INITIALIZERS)}, an Initializer, "
                "or a callable (shape, dtype=None) -> values."
            )
        return deserialize(identifier)
    if isinstance(identifier, (torch.Tensor, np.ndarray, np.generic)):
        return _from_values(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(initializer: Any) -> Any:
    """What a layer's config stores: a name stays a name; an ``Initializer`` becomes Keras's dict
    ``{"module": "keras.initializers", "class_name", "config", "registered_name"}``; None stays None."""
    if initializer is None or isinstance(initializer, str):
        return initializer
    if isinstance(initializer, dict):
        return serialize(deserialize(initializer))
    if not isinstance(initializer, Initializer) or type(initializer) not in CLASSES:
        raise ValueError(
            f"The initializer {initializer!r} is not one of rnnlab.initializers: it has no config to store. "
            "Use a name or an rnnlab.initializers object, or set the weights after building."
        )
    return {
        "module": "keras.initializers",
        "class_name": type(initializer).__name__,
        "config": initializer.get_config(),
        "registered_name": None,
    }


def compact(identifier: Any) -> Any:
    """A name where the initializer is a built-in one with its default arguments ('glorot_uniform'),
    else its serialised form: how a config read from a Keras file keeps its initializers."""
    initializer = get(identifier)
    cls = type(initializer)
    if cls in CLASSES and initializer.get_config() == cls().get_config():
        return snake_name(cls.__name__)
    return serialize(initializer)


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
def initialize(t: torch.Tensor, identifier: Any) -> None:
    """Fill ``t`` in place with ``identifier``'s values (None: glorot_uniform, Keras's default for weights)."""
    if _skipped.get():
        return
    initializer = get("glorot_uniform" if identifier is None else identifier)
    if isinstance(initializer, Initializer) and type(initializer).__call__ is Initializer.__call__:
        initializer.fill_(t)
        return
    values = initializer(tuple(t.shape), dtype=str(t.dtype).removeprefix("torch."))  # a Keras-style callable
    values = values.detach() if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    if tuple(values.shape) != tuple(t.shape):
        raise ValueError(
            f"The initializer {initializer!r} returned values of shape {tuple(values.shape)} for a weight of "
            f"shape {tuple(t.shape)}."
        )
    t.copy_(values.to(dtype=t.dtype, device=t.device))


# Keras's lower-case spellings of the classes
constant, zeros, ones, identity = Constant, Zeros, Ones, Identity
random_normal, random_uniform, truncated_normal, variance_scaling = (
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, orthogonal = LecunUniform, LecunNormal, Orthogonal

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "constant",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "truncated_normal",
    "variance_scaling",
    "zeros",
]
