"""`Model` (a Layer that trains, summarises and saves itself) and `Sequential`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from . import saving
from .base import Layer, Shape, to_tensor
from .layers import Input, deserialize
from .summary import format_summary
from .training import Trainer
from .training.trainer import resolve_device


class Model(Trainer, Layer):
    """Base of rnnlab models: Keras's workflow (``compile``/``fit``/``evaluate``/``predict``,
    ``summary``, ``save``) on a torch.nn.Module.

    Subclass it like ``nn.Module`` (layers as attributes, ``forward``), or use ``Sequential``.
    ``get_weights()`` lists every parameter in registration order.
    """

    def __init__(self, *, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.built = True  # subclassed models own built layers, or layers that build on first call

    def to(self, *args: Any, **kwargs: Any) -> Model:
        """``torch.nn.Module.to``, plus ``"auto"``: CUDA when available, else CPU."""
        if args and isinstance(args[0], str) and args[0] == "auto":
            args = (resolve_device("auto"), *args[1:])
        if kwargs.get("device") == "auto":
            kwargs["device"] = resolve_device("auto")
        return super().to(*args, **kwargs)

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """Print (with ``print_fn``) and return a Keras-style table of layers, shapes and parameters."""
        text = format_summary(self)
        if print_fn is not None:
            print_fn(text)
        return text

    def summary_rows(self) -> list[tuple[Layer, Any]]:
        """(layer, output shape or None) for each direct sub-layer, in order."""
        return [(child, None) for child in self.children() if isinstance(child, Layer)]

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- saving -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        raise ValueError(
            f"{type(self).__name__} has no config that rebuilds it: model.save() stores the "
            "architecture of Sequential models. Save this model's weights with save_weights() "
            "and rebuild it in code, or give the subclass get_config()/from_config()."
        )

    def save(self, path: str, *, include_optimizer: bool = True) -> None:
        """Write the architecture (JSON) and weights (safetensors), plus the optimizer state, atomically."""
        saving.save_model(self, path, include_optimizer=include_optimizer)

    def save_weights(self, path: str) -> None:
        saving.save_weights(self, path)

    def load_weights(self, path: str) -> None:
        saving.load_weights(self, path)


class Sequential(Model):
    """A stack of layers, each feeding the next; masks flow from layer to layer as in Keras.

    >>> from rnnlab.layers import LSTM, Dense
    >>> model = Sequential([Input((3, 1)), LSTM(10), Dense(1)])
    >>> model.count_params()
    491
    """

    def __init__(
        self, layers: Iterable[Layer | Input] | None = None, name: str | None = None, trainable: bool = True
    ) -> None:
        super().__init__(name=name, trainable=trainable)
        self.layers = torch.nn.ModuleList()
        self.input_spec: Input | None = None
        self.built = False
        self._output_shapes: list[Any] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer | Input) -> None:
        if isinstance(layer, Input):
            if len(self.layers) or self.input_spec is not None:
                raise ValueError("rnnlab.Input(...) must come first in a Sequential model.")
            self.input_spec = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential takes rnnlab layers; received {type(layer).__name__}. "
                "Wrap plain torch modules in a Model subclass instead."
            )
        if not len(self.layers) and self.input_spec is None and layer.input_shape is not None:
            self.input_spec = Input(layer.input_shape)
        self.layers.append(layer)
        if self.input_spec is not None:
            self.build((self.input_spec.batch_size, *self.input_spec.shape))

    def pop(self) -> Layer:
        layer = self.layers[-1]
        del self.layers[-1]
        self._output_shapes = self._output_shapes[:-1]
        return layer

    def build(self, input_shape: Shape) -> None:
        """Build every layer from the input shape (batch axis included) and record output shapes."""
        shape: Any = tuple(input_shape)
        shapes = []
        for previous, layer in zip([None, *self.layers[:-1]], self.layers, strict=True):
            if not isinstance(shape, tuple) or (shape and isinstance(shape[0], (tuple, list))):
                raise ValueError(
                    f"Layer '{previous.name}' returns several tensors (return_state=True or "
                    f"merge_mode=None), which Sequential cannot feed to '{layer.name}'."
                )
            layer.check_input_shape(shape, previous)
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        self._output_shapes = shapes
        self.built = True

    def summary_rows(self) -> list[tuple[Layer, Any]]:
        shapes = self._output_shapes + [None] * (len(self.layers) - len(self._output_shapes))
        return list(zip(self.layers, shapes, strict=True))

    def forward(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        x = to_tensor(inputs)
        if self.input_spec is None and not self.built:
            self.input_spec = Input(tuple(x.shape[1:]))
            self.build((None, *x.shape[1:]))
            self.to(x.device)
        for previous, layer in zip([None, *self.layers[:-1]], self.layers, strict=True):
            layer.check_input_shape(tuple(x.shape), previous)
            kwargs: dict[str, Any] = {}
            if layer.supports_masking and mask is not None:
                kwargs["mask"] = mask
            if layer.uses_training and training is not None:
                kwargs["training"] = training
            y = layer(x, **kwargs)
            mask = layer.compute_mask(x, mask)
            x = y
        return x

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        # Skip Layer's lazy build: forward builds every layer from the first batch.
        return torch.nn.Module.__call__(self, to_tensor(inputs), *args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        spec = self.input_spec
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input": None
            if spec is None
            else {"shape": list(spec.shape), "dtype": spec.dtype, "batch_size": spec.batch_size},
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers: list[Any] = []
        if config.get("input") is not None:
            spec = config["input"]
            layers.append(Input(tuple(spec["shape"]), spec.get("dtype"), batch_size=spec.get("batch_size")))
        layers += [deserialize(spec) for spec in config["layers"]]
        return cls(layers, name=config.get("name"), trainable=config.get("trainable", True))
