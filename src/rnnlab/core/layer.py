"""`Layer`: a torch.nn.Module that builds its weights from the first input shape, Keras style."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import nn

from . import constraints, initializers, regularizers, symbolic
from .symbolic import snake_case as snake_case  # re-exported: layers and saving name things with them
from .symbolic import unique_name as unique_name
from .variables import Variable, Weight

Shape = tuple[Any, ...]  # (batch, ...) with None for unknown sizes

L = TypeVar("L", bound="Layer")

# The training flag of the model call under way, for layers called without one (Keras's call context).
_call_training: ContextVar[bool | None] = ContextVar("rnnlab_call_training", default=None)


class _TracedCall:
    """The enclosing call's ``training`` while torch.compile traces: it cannot trace a ContextVar."""

    training: bool | None = None


_traced_call = _TracedCall()


@contextlib.contextmanager
def call_training(training: bool) -> Iterator[None]:
    """Layers called inside the block without an explicit ``training`` use this one."""
    if torch.compiler.is_compiling():
        previous, _traced_call.training = _traced_call.training, training
        try:
            yield
        finally:
            _traced_call.training = previous
        return
    token = _call_training.set(training)
    try:
        yield
    finally:
        _call_training.reset(token)


def _enclosing_training() -> bool | None:
    return _traced_call.training if torch.compiler.is_compiling() else _call_training.get()


def inside_model_call() -> bool:
    return _enclosing_training() is not None


def resolve_training(module: nn.Module, training: bool | None) -> bool:
    """The explicit argument, else the enclosing model call's, else the module's train()/eval() mode."""
    if training is not None:
        return bool(training)
    inherited = _enclosing_training()
    return module.training if inherited is None else inherited


def reset_names() -> None:
    """Restart automatic layer, operation and symbolic tensor names (Keras's ``clear_session`` for names)."""
    symbolic.reset_names()


DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: Any) -> torch.dtype | None:
    """A layer's ``dtype=``: a name ("float64"), a torch dtype or a Keras ``DTypePolicy`` config -> torch dtype."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, dict):  # Keras's serialised DTypePolicy
        dtype = dtype.get("config", {}).get("name")
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(
        f"Unsupported dtype {dtype!r}: rnnlab layers compute in one precision, one of {sorted(DTYPES)} "
        "(Keras's mixed-precision policies are not supported)."
    )


def to_tensor(x: Any) -> torch.Tensor:
    """Arrays and lists become tensors; floating NumPy data becomes the default float dtype."""
    if isinstance(x, torch.Tensor):
        return x
    array = np.asarray(x)
    if array.dtype.kind == "f":
        return torch.as_tensor(array, dtype=torch.get_default_dtype())
    if array.dtype.kind in "iub":
        return torch.as_tensor(array)
    raise TypeError(f"Expected a tensor or a numeric array, received {type(x).__name__} of {array.dtype}.")


def _marks_built(build: Any) -> Any:
    """``build`` that leaves the layer built, as Keras's does: ``SimpleRNN(2).build((None, None, 5))``
    then has its weights, and ``Dense.build`` its ``set_weights``."""

    @functools.wraps(build)
    def built(self: Layer, input_shape: Any, *args: Any, **kwargs: Any) -> None:
        build(self, input_shape, *args, **kwargs)
        self._finish_build()

    return built


def _arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The constructor's arguments by name (``**kwargs`` spread out), or None where they do not bind."""
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own constructor
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None
    named = dict(list(bound.arguments.items())[1:])  # without self
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            named.update(named.pop(name, {}))
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            named.pop(name, None)
    return named


def _plain(value: Any) -> bool:
    """Whether a value stores in a JSON config as it is."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and _plain(v) for k, v in value.items())


class Layer(nn.Module):
    """Base of every rnnlab layer.

    Weights are created by ``build(input_shape)``: either up front, from
    ``input_shape=(time, features)`` (without the batch axis) or a leading
    ``rnnlab.Input``, or lazily from the first tensor the layer sees.
    """

    supports_masking = False  # passes a mask on (and uses it, if it can)
    integer_inputs = False  # reads token ids (Embedding): a model starting with it keeps integer arrays as they are
    uses_training = False  # behaves differently in training (dropout)
    # Keras argument prefix -> weight attribute, for ``<prefix>_regularizer`` / ``<prefix>_constraint``
    weight_options: dict[str, str] = {}
    # weights only the layer itself updates (BatchNormalization's moving statistics), never the optimizer
    non_trainable_names: tuple[str, ...] = ()
    in_weight_paths = True  # False: a wrapper whose weights Keras files under the layer it wraps

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        layer = super().__new__(cls)
        if not cls.__module__.startswith("rnnlab."):  # a layer of your own: Keras's automatic config
            layer.__dict__["_init_arguments"] = _arguments(cls, args, kwargs)
        return layer

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        name: str | None = None,
        input_shape: Sequence[int | None] | None = None,
        trainable: bool = True,
        dtype: Any = None,
        activity_regularizer: Any = None,
        batch_input_shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        input_dim: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.name = name or unique_name(snake_case(type(self).__name__))
        if batch_input_shape is not None:  # Keras 2: (batch, *input_shape)
            input_shape = tuple(batch_input_shape)[1:] if input_shape is None else input_shape
            batch_size = batch_input_shape[0] if batch_size is None else batch_size
        if input_dim is not None and input_shape is None:  # Keras 2: Dense(..., input_dim=8)
            input_shape = (input_dim,)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.batch_size = batch_size
        self._trainable = True
        self.trainable = trainable
        self.built = False
        self._dtype = resolve_dtype(dtype)
        self._path_prefix = ""  # the path of the model that holds this layer, for weight paths
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_losses: list[torch.Tensor] = []
        self._inbound_nodes: list[symbolic.Node] = []  # its calls on symbolic tensors (functional models)
        self.weight_regularizers: dict[str, Any] = {}
        self.weight_constraints: dict[str, Any] = {}
        self.added_weights: dict[str, tuple[Any, Any]] = {}  # add_weight's name -> (regularizer, constraint)
        for key, value in options.items():
            prefix, _, kind = key.rpartition("_")
            if kind not in ("regularizer", "constraint") or prefix not in self.weight_options:
                accepted = [f"{p}_{k}" for p in self.weight_options for k in ("regularizer", "constraint")]
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument '{key}'"
                    + (f" (its weight options are {accepted})" if accepted else "")
                )
            if kind == "regularizer" and value is not None:
                self.weight_regularizers[prefix] = regularizers.get(value)
            elif value is not None:
                self.weight_constraints[prefix] = constraints.get(value)

    @property
    def trainable(self) -> bool:
        """Whether training updates the weights; setting it sets every sub-layer's too, as in Keras."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = bool(value)
        for module in self.modules():
            if isinstance(module, Layer):
                module._trainable = value
            frozen = getattr(module, "non_trainable_names", ())
            for name, p in module.named_parameters(recurse=False):
                p.requires_grad_(value and name not in frozen)

    @property
    def dtype(self) -> str:
        """The weights' dtype name ("float32"), as Keras's ``layer.dtype``."""
        param = next(self.parameters(), None)
        dtype = self._dtype or (param.dtype if param is not None else torch.get_default_dtype())
        return str(dtype).removeprefix("torch.")

    # -- building -----------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Any:
        """The output's shape, or a list of shapes for a layer that returns several tensors."""
        return input_shape

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.supports_masking else None

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        """Raise a ValueError naming what was expected; ``previous`` is the layer feeding this one."""

    def _finish_build(self) -> None:
        self.built = True
        if self._dtype is not None:
            self.to(self._dtype)
        if not self.trainable:
            for p in self.parameters():
                p.requires_grad_(False)

    def ensure_built(self, input_shape: Shape) -> None:
        if not self.built:
            self.check_input_shape(input_shape)
            self.build(input_shape)
            self._finish_build()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # An unbuilt layer learns its input size from the saved weights, so a fresh model
        # can load a state_dict before seeing data.
        if not self.built:
            if prefix + "kernel" in state_dict:  # cells and Dense: kernel (input_dim, ...)
                self.ensure_built((None, state_dict[prefix + "kernel"].shape[0]))
            elif prefix + "embeddings" in state_dict:
                self.ensure_built((None, None))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call on symbolic tensors (a list for several), as Keras's."""
        return self._first_call("input").input_tensors_or_one

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call on symbolic tensors (a list for several), as Keras's."""
        return self._first_call("output").output_tensors_or_one

    def _first_call(self, what: str) -> symbolic.Node:
        node = next((node for node in self._inbound_nodes if isinstance(node, symbolic.Node)), None)
        if node is None:
            raise AttributeError(
                f"Layer '{self.name}' has no {what} yet: it has not been called on symbolic tensors "
                "(rnnlab.Input(...) or another layer's output)."
            )
        return node

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if symbolic.is_symbolic(inputs, args, kwargs):  # building a functional model: record the call
            return symbolic.call_layer(self, inputs, args, kwargs)
        inputs = to_tensor(inputs)
        if not self.built:
            self.ensure_built(tuple(inputs.shape))
            floating = inputs.dtype if inputs.is_floating_point() else None
            self.to(device=inputs.device, dtype=self._dtype or floating)
        inputs = self._cast_input(inputs)
        outputs = super().__call__(inputs, *args, **kwargs)
        if self.activity_regularizer is not None:  # Keras: the penalty of each output over its batch size
            flat = outputs if isinstance(outputs, (tuple, list)) else [outputs]
            self._activity_losses = [
                self.activity_regularizer(o) / (o.shape[0] if o.dim() else 1)
                for o in flat
                if isinstance(o, torch.Tensor)
            ]
        return outputs

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Runs ``call``, for layers written as Keras writes them (``training`` given where ``call`` takes it)."""
        call = getattr(self, "call", None)
        if call is None:
            raise NotImplementedError(
                f"{type(self).__name__} has neither call() nor forward(): define call(self, inputs) as in Keras, "
                "or forward(self, inputs) as in PyTorch."
            )
        if "training" in inspect.signature(call).parameters:
            kwargs["training"] = resolve_training(self, kwargs.get("training"))
        return call(*args, **kwargs)

    def add_weight(
        self,
        shape: Sequence[int] | None = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Variable:
        """Keras's ``add_weight``: a new weight of this layer, in ``build`` as Keras writes it.

        It is a ``torch.nn.Parameter`` registered under ``name`` (``"variable"``, ``"variable_1"``, ...
        without one), so ``state_dict``, the optimizer and ``layer.weights`` see it; what it returns is
        its ``Variable`` (``assign``, ``numpy()``, and usable in torch and ``rnnlab.ops`` expressions).
        ``initializer``: a name or ``rnnlab.initializers`` object (glorot_uniform for floats, zeros
        otherwise); ``regularizer`` joins ``layer.losses``; ``constraint`` projects the weight after each
        optimizer step. ``autocast``, ``aggregation`` and ``overwrite_with_gradient`` are accepted for
        Keras programs: rnnlab computes in one precision on one replica.
        """
        if shape is None:
            shape = ()
        if not all(isinstance(size, int) and size >= 0 for size in shape):
            raise ValueError(
                f"Layer '{self.name}': add_weight needs a fully defined shape of non-negative integers, "
                f"received shape={tuple(shape)!r}."
            )
        torch_dtype = initializers.torch_dtype(dtype if dtype is not None else self._dtype)
        floating = torch_dtype.is_floating_point
        value = torch.empty(tuple(shape), dtype=torch_dtype)
        default = "glorot_uniform" if floating else "zeros"
        initializers.initialize(value, default if initializer is None else initializer)
        name = self._free_weight_name(name or "variable")
        trainable = bool(trainable) and floating
        self.register_parameter(name, Weight(value, requires_grad=trainable and self.trainable))
        if not trainable:  # the layer's trainable flag never makes it trainable
            self.non_trainable_names = (*self.non_trainable_names, name)
        self.added_weights[name] = (regularizers.get(regularizer), constraints.get(constraint))
        parameter = cast(nn.Parameter, self._parameters[name])
        return Variable(parameter, f"{self.name}/{name}")

    def _free_weight_name(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... where the layer has a weight of that name already."""
        taken = set(self._parameters) | set(self._modules)
        free, count = name, 0
        while free in taken:
            count += 1
            free = f"{name}_{count}"
        return free

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Variable) and any(p is value.value for p in self._parameters.values()):
            object.__setattr__(self, name, value)  # add_weight's result: its parameter is registered already
            return
        super().__setattr__(name, value)

    def _cast_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """Float inputs follow the weights' dtype, as Keras casts to the layer's dtype."""
        param = next(self.parameters(), None)
        if param is not None and inputs.is_floating_point() and inputs.dtype != param.dtype:
            return inputs.to(param.dtype)
        return inputs

    # -- weights ------------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if not self.built and self.input_shape is not None:
            self.ensure_built((None, *self.input_shape))
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' has no weights yet, so {what} is not available. Build it first: "
                "give input_shape=(time, features) to the first layer, start the model with "
                "rnnlab.Input(...), or call it once on data."
            )

    def keras_weights(self) -> list[nn.Parameter]:
        """The weights in Keras's order (``get_weights()`` order)."""
        return list(self.parameters())

    def _parameter_paths(self) -> dict[int, str]:
        """Keras's variable path of each parameter: the names of the layers that hold it, then its own."""
        root = f"{self._path_prefix}/{self.name}" if self._path_prefix else self.name
        module_paths = {"": root}
        paths: dict[int, str] = {}
        for dotted, module in self.named_modules():
            if dotted:
                parent = module_paths[dotted.rpartition(".")[0]]
                named = isinstance(module, Layer) and module.in_weight_paths
                module_paths[dotted] = f"{parent}/{module.name}" if named else parent
            for name, param in module.named_parameters(recurse=False):
                paths.setdefault(id(param), f"{module_paths[dotted]}/{name}")
        return paths

    @property
    def weights(self) -> list[Variable]:
        """Keras's ``layer.weights``: a ``Variable`` view of each weight, in ``get_weights()`` order
        (empty before the layer is built)."""
        if not self.built:
            return []
        paths, constraints = self._parameter_paths(), self._parameter_constraints()
        return [Variable(p, paths[id(p)], constraints.get(id(p))) for p in self.keras_weights()]

    def _parameter_constraints(self) -> dict[int, Any]:
        """The constraint of each constrained parameter, from its layer's ``<weight>_constraint``."""
        found: dict[int, Any] = {}
        for module in self.modules():
            options = getattr(module, "weight_options", {})
            for prefix, constraint in getattr(module, "weight_constraints", {}).items():
                weight = getattr(module, options[prefix], None)
                if isinstance(weight, torch.Tensor):
                    found[id(weight)] = constraint
        return found

    @property
    def trainable_weights(self) -> list[Variable]:
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [v for v in self.weights if not v.trainable]

    @property
    def losses(self) -> list[torch.Tensor]:
        """Keras's ``layer.losses``: the weight penalties of this layer and the layers inside it (trainable
        weights only) and the activity penalties of their last call; training adds their sum to the loss."""
        found: list[torch.Tensor] = []
        for module in self.modules():
            if not isinstance(module, Layer):
                continue
            found += module._activity_losses
            for prefix, regularizer in module.weight_regularizers.items():
                weight = getattr(module, module.weight_options[prefix], None)
                if isinstance(weight, torch.Tensor) and weight.requires_grad:
                    found.append(regularizer(weight))
            for name, (regularizer, _) in module.added_weights.items():
                weight = module._parameters[name]
                if regularizer is not None and weight is not None and weight.requires_grad:
                    found.append(regularizer(weight))
        return found

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project every constrained weight (Keras applies constraints after each optimizer step)."""
        for module in self.modules():
            if not isinstance(module, Layer):
                continue
            for prefix, constraint in module.weight_constraints.items():
                weight = getattr(module, module.weight_options[prefix], None)
                if isinstance(weight, torch.Tensor) and weight.requires_grad:
                    weight.copy_(constraint(weight))
            for name, (_, constraint) in module.added_weights.items():
                weight = module._parameters[name]
                if constraint is not None and weight is not None and weight.requires_grad:
                    weight.copy_(constraint(weight))

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in Keras's order; ``[]`` for a layer not yet built, as in Keras."""
        if not self.built and self.input_shape is None:
            return []
        self._require_built("get_weights()")
        return [p.detach().cpu().numpy().copy() for p in self.keras_weights()]

    @torch.no_grad()
    def set_weights(self, weights: Sequence[Any]) -> None:
        self._require_built("set_weights()")
        params = self.keras_weights()
        if len(weights) != len(params):
            raise ValueError(
                f"Layer '{self.name}' expects {len(params)} weight arrays "
                f"(shapes {[tuple(p.shape) for p in params]}), received {len(weights)}."
            )
        for i, (p, w) in enumerate(zip(params, weights, strict=True)):
            w = torch.as_tensor(np.asarray(w))
            if tuple(w.shape) != tuple(p.shape):
                raise ValueError(
                    f"Layer '{self.name}': weight {i} should have shape {tuple(p.shape)}, received {tuple(w.shape)}."
                )
            p.copy_(w.to(dtype=p.dtype, device=p.device))

    def count_params(self) -> int:
        self._require_built("count_params()")
        return sum(p.numel() for p in self.parameters())

    # -- config -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        if self.batch_size is not None:
            config["batch_size"] = self.batch_size
        if self._dtype is not None:
            config["dtype"] = self.dtype
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        for prefix, regularizer in self.weight_regularizers.items():
            config[f"{prefix}_regularizer"] = regularizers.serialize(regularizer)
        for prefix, constraint in self.weight_constraints.items():
            config[f"{prefix}_constraint"] = constraints.serialize(constraint)
        own = {k: v for k, v in (self.__dict__.get("_init_arguments") or {}).items() if _plain(v)}
        return {**own, **config}

    @classmethod
    def from_config(cls: type[L], config: dict[str, Any]) -> L:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
