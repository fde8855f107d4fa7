"""`Model` (a Layer with Keras's workflow: compile, fit, summary, save) and `Sequential`."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from ..core import registration, symbolic
from ..core.devices import resolve_device
from ..core.layer import Layer, Shape, call_training, inside_model_call, resolve_training, to_tensor
from ..layers import RNN, Embedding, InputSpec, deserialize, input_layer_of
from ..saving import export, keras_h5, keras_subclassed, keras_write, native
from ..training.callbacks import History
from ..training.compiled import Compiled
from ..training.trainer import Trainer, predict
from .summary import format_summary


class Model(Layer):
    """Base of rnnlab models: Keras's workflow (``compile``/``fit``/``evaluate``/``predict``,
    ``summary``, ``save``) on a torch.nn.Module.

    Subclass it as in Keras (layers as attributes, ``call(self, inputs, training=None)``) or as
    in PyTorch (``forward``), or use ``Sequential``. Calling a model runs it in inference, as
    in Keras (dropout off), unless ``training=True`` is given; ``fit`` trains with
    ``training=True``. Layers called inside the model follow the model's call; used on their
    own, in a plain ``torch.nn.Module``, they follow ``train()`` / ``eval()``.
    ``get_weights()`` lists every parameter in registration order.
    """

    takes_call_options = True  # __call__ takes training= and return_mask= (what a Trainer uses)
    returns_mask = False  # forward(..., return_mask=True) gives (outputs, output mask)
    functional_class: type[Model]  # what Model(inputs, outputs) builds (models.functional sets it)

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        """``Model(inputs, outputs)`` builds a functional model, as in Keras; ``Model()`` a subclass's."""
        functional = cls is Model and (len(args) >= 2 or "inputs" in kwargs or "outputs" in kwargs)
        model: Model = super().__new__(cls.functional_class if functional else cls)
        return model

    def __init__(self, *, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.built = True  # subclassed models own built layers, or layers that build on first call
        self.trainer: Trainer | None = None
        self.compile_config: dict[str, Any] | None = None
        self.history: History | None = None

    def __call__(
        self, inputs: Any, *args: Any, training: bool | None = None, return_mask: bool = False, **kwargs: Any
    ) -> Any:
        if symbolic.is_symbolic(inputs, args, kwargs):  # a model used as a layer of a functional model
            return symbolic.call_layer(self, inputs, args, kwargs)
        args, training, return_mask = self._call_options_by_position(args, kwargs, training, return_mask)
        if training is None:
            training = resolve_training(self, None) if inside_model_call() else False
        inputs = self._prepare_inputs(inputs)
        if "training" in self._forward_parameters():
            kwargs["training"] = training
        for child in self.children():  # weight paths start with the model's name, as in Keras
            if isinstance(child, Layer) and not child._path_prefix:
                child._path_prefix = self.name
        with call_training(bool(training)):
            if return_mask and self.returns_mask:
                return nn.Module.__call__(self, inputs, *args, return_mask=True, **kwargs)
            outputs = nn.Module.__call__(self, inputs, *args, **kwargs)
        return (outputs, None) if return_mask else outputs

    def _call_options_by_position(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], training: bool | None, return_mask: bool
    ) -> tuple[tuple[Any, ...], bool | None, bool]:
        """``training`` and ``return_mask`` given by position, as tracers that fill in every default of
        ``forward`` pass them (torch.onnx.export calls ``model(x, None, None, False)``): taken out of
        ``args`` so that they reach ``forward`` once, by name; the arguments after them go by name too."""
        names = [name for name in self._forward_parameters() if name != "self"][1:]  # after the inputs
        if not {"training", "return_mask"} & set(names[: len(args)]):
            return args, training, return_mask
        kept: list[Any] = []
        for name, value in zip(names, args, strict=False):  # forward may take *args
            if name == "training":
                training = value if training is None else training
            elif name == "return_mask":
                return_mask = return_mask or bool(value)
            elif len(kept) < names.index(name):  # after an option: by name
                kwargs[name] = value
            else:
                kept.append(value)
        return tuple(kept), training, return_mask

    def _prepare_inputs(self, inputs: Any) -> Any:
        """What ``forward`` receives: one tensor (a functional model takes its inputs' structure)."""
        return to_tensor(inputs)

    def _forward_parameters(self) -> Mapping[str, inspect.Parameter]:
        method = getattr(type(self), "call", None) or type(self).forward
        return inspect.signature(method).parameters

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        call = getattr(self, "call", None)
        if call is None:
            raise NotImplementedError(
                f"{type(self).__name__} has neither call() nor forward(): define call(self, inputs, training=None) "
                "as in Keras, or forward(self, inputs) as in PyTorch."
            )
        return call(*args, **kwargs)

    @property
    def device(self) -> torch.device:
        """Where the weights are (CPU for a model without any)."""
        param = next(self.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @property
    def input_dtype(self) -> torch.dtype | None:
        """What integer and boolean arrays given to fit / evaluate / predict become, as Keras casts them to
        its input's dtype: the weights' float type, or None (kept as they are) where the first layer
        reads token ids (an Embedding)."""
        first = next((m for m in self.modules() if m is not self and isinstance(m, Layer)), None)
        if first is not None and first.integer_inputs:
            return None
        param = next(self.parameters(), None)
        return param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()

    def to(self, *args: Any, **kwargs: Any) -> Model:
        """``torch.nn.Module.to``, plus ``"auto"``: CUDA when available, else CPU."""
        if args and isinstance(args[0], str) and args[0] == "auto":
            args = (resolve_device("auto"), *args[1:])
        if kwargs.get("device") == "auto":
            kwargs["device"] = resolve_device("auto")
        return super().to(*args, **kwargs)

    @overload
    def summary(self, print_fn: None) -> str: ...

    @overload
    def summary(self, print_fn: Callable[[str], Any] = ...) -> None: ...

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str | None:
        """Print a Keras-style table of layers, shapes and parameters with ``print_fn`` and return None,
        as Keras does (so ``print(model.summary())`` prints the table once); ``print_fn=None`` returns it."""
        text = format_summary(self)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A direct sub-layer by ``name`` or by ``index`` (Keras's ``get_layer``)."""
        layers = [layer for layer, _ in self.summary_rows() if isinstance(layer, Layer)]  # no operations (a + b)
        if index is not None:
            if name is not None:
                raise ValueError("get_layer takes a name or an index, not both.")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. The model's layers are {[layer.name for layer in layers]}.")

    def summary_rows(self) -> list[tuple[Layer, Any]]:
        """(layer, output shape or None) for each direct sub-layer, in order."""
        return [(child, None) for child in self.children() if isinstance(child, Layer)]

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def reset_states(self) -> None:
        """Forget the carried states of every stateful layer (Keras's ``reset_states``)."""
        for module in self.modules():
            reset = getattr(module, "reset_states", None)
            if module is not self and getattr(module, "stateful", False) and callable(reset):
                reset()

    # -- the workflow -----------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        *,
        weighted_metrics: Sequence[Any] | None = None,
        learning_rate: float | None = None,
        from_logits: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        device: str | torch.device | None = None,
        per_output: dict[str, Any] | None = None,
    ) -> None:
        """Choose the optimizer, loss and metrics.

        Args:
            optimizer: "adam", "sgd", "rmsprop" or "adamw" with Keras's defaults (learning
                rate 1e-3; 1e-2 for SGD; ``learning_rate=`` overrides), or a torch optimizer.
            loss: "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
                "sparse_categorical_crossentropy", or a callable ``loss(y_true, y_pred)``
                returning one value per sample (Keras's argument order).
            metrics: "accuracy" (binary, categorical or sparse, chosen from the shapes as
                Keras does), "mae", "mse", or callables ``metric(y_true, y_pred)``.
                ``weighted_metrics`` are also weighted by ``sample_weight`` / ``class_weight``.
            from_logits: the crossentropy losses take logits instead of probabilities.
            clipnorm: clip each weight's gradient to this norm (Keras's ``clipnorm``);
                ``global_clipnorm`` clips all gradients together; ``clipvalue`` elementwise.
            device: move the model there ("auto": CUDA when available).
            per_output: the metrics and loss weights of each output of a model with several
                (``Functional.compile`` builds them from Keras's arguments).
        """
        if device is not None:
            self.to(resolve_device(device))
        compiled = Compiled.create(
            optimizer,
            loss,
            metrics,
            weighted_metrics,
            learning_rate,
            from_logits=from_logits,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            **(per_output or {}),
        )
        self.trainer = Trainer(self, compiled)
        self.compile_config = compiled.config()

    def _require_trainer(self) -> Trainer:
        if self.trainer is None:
            raise ValueError("Call model.compile(optimizer=..., loss=...) before fit or evaluate.")
        return self.trainer

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """The compiled optimizer (created once the weights exist); None before ``compile``."""
        return None if self.trainer is None else self.trainer.optimizer

    def build_optimizer(self) -> torch.optim.Optimizer:
        return self._require_trainer().optimizer

    @property
    def stop_training(self) -> bool:
        return self.trainer is not None and self.trainer.state.stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._require_trainer().state.stop_training = bool(value)

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        *,
        strategy: str | None = None,
    ) -> History:
        """Train for ``epochs`` epochs; returns a ``History`` (``history.history["loss"]``, ...).

        The arguments up to ``initial_epoch`` are Keras's, in Keras's order; ``strategy`` (rnnlab's
        own) is by name only. ``x, y``: arrays or tensors, or ``x`` an iterable of ``(x, y[, sample_weight])`` batches
        (a DataLoader). ``validation_split`` holds out the last fraction of the samples, before
        shuffling. ``validation_data``: ``(x_val, y_val[, sample_weight])`` or batches.
        ``sample_weight`` / ``class_weight`` weigh each sample's loss as in Keras. Stateful
        layers carry their states from batch to batch (pass ``shuffle=False``); reset them
        between epochs with a callback calling ``model.reset_states()``.

        ``strategy``: under ``torchrun`` (or with ``"ddp"``) each process trains a
        DistributedDataParallel copy on its share of the samples; ``batch_size`` is per process,
        losses and metrics are averaged over all processes, and only process 0 displays and
        writes. ``"single"`` trains in this process alone even under torchrun.
        """
        history = self._require_trainer().fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            class_weight=class_weight,
            sample_weight=sample_weight,
            initial_epoch=initial_epoch,
            strategy=strategy,
        )
        self.history = history
        return history

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        *,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) over the data, without building autograd graphs.

        Returns the loss alone when there are no metrics, else ``[loss, *metrics]``, as Keras.
        ``return_dict`` is by name only: Keras's sixth argument is ``steps``, which rnnlab does not take.
        """
        return self._require_trainer().evaluate(
            x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight, return_dict=return_dict
        )

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0) -> np.ndarray:
        """Outputs for ``x`` as a NumPy array, batch by batch, in inference mode."""
        return predict(self, x, batch_size=batch_size)

    # -- saving -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        raise ValueError(
            f"{type(self).__name__} has no config that rebuilds it: model.save() stores the "
            "architecture of Sequential models. Save this model's weights with save_weights() "
            "and rebuild it in code, or give the subclass get_config()/from_config()."
        )

    def save(self, path: str | os.PathLike[str], *, include_optimizer: bool = True) -> None:
        """Write the model, atomically, in the format its extension names.

        ``.keras``: a Keras 3 archive that real Keras loads (Sequential and functional models of the
        layers Keras has; the compile settings when Keras has them, not the optimizer state).
        ``.safetensors`` / ``.rnnlab``: rnnlab's file: architecture (JSON), weights and optimizer state.
        Any other extension is an error, raised before anything is written.
        """
        if _extension(path, "save") == ".keras":
            self._check_keras_file("written as a Keras file")
            keras_write.save_keras_model(self, path)
        else:
            native.save_model(self, path, include_optimizer=include_optimizer)

    def export(self, path: str | os.PathLike[str], format: str | None = None) -> None:
        """Write the model for other runtimes, atomically, as Keras 3's ``model.export``.

        ``format="onnx"`` (or a ``.onnx`` name): an ONNX graph of ONNX's own RNN/LSTM/GRU operators
        with dynamic batch and time axes (Sequential models of Embedding, SimpleRNN, LSTM, GRU,
        Bidirectional, Dense and Dropout; needs ``pip install 'rnnlab[export]'``).
        ``format="torch"`` (or a ``.pt2`` name): ``torch.export``'s program, for ``torch.export.load``.
        A layer or option that cannot be exported is a ValueError naming it, raised before anything is written.
        """
        export.export_model(self, path, format)

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        """The weights alone: ``.weights.h5`` as Keras writes them, ``.safetensors`` / ``.rnnlab`` as rnnlab does."""
        if _extension(path, "save_weights") == ".weights.h5" and self._written_as_class():
            keras_subclassed.save_weights(self, path)  # laid out by attribute, as Keras does for a subclass
        elif _extension(path, "save_weights") == ".weights.h5":
            self._check_keras_file("written as a Keras file")
            keras_write.save_keras_weights(self, path)
        else:
            native.save_weights(self, path)

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Weights from a Keras ``.weights.h5`` file, or from an rnnlab weights or model file."""
        if str(path).endswith(".weights.h5") and self._written_as_class():
            keras_subclassed.load_weights(self, path)
        elif str(path).endswith(".weights.h5"):
            self._check_keras_file("given Keras weights")
            keras_h5.load_keras_weights(self, path)
        else:
            native.load_weights(self, path)

    def _written_as_class(self) -> bool:
        """A subclass of Model with its own call/forward (neither Sequential nor functional)."""
        return not isinstance(self, (Sequential, getattr(Model, "functional_class", Sequential)))

    def _check_keras_file(self, what: str) -> None:
        if self._written_as_class():
            raise ValueError(
                f"{type(self).__name__} cannot be {what}: rnnlab does so for Sequential and functional models only. "
                "Use an rnnlab file (.safetensors) for this model instead."
            )


RNNLAB_EXTENSIONS = (".safetensors", ".rnnlab")


def layer_spec(layer: Layer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a layer in a model's config; a registered class of your own also
    gives its ``registered_name`` (``"package>name"``), by which loading finds it."""
    spec = {"class_name": type(layer).__name__, "config": layer.get_config()}
    if registration.is_registered(type(layer)):
        spec["registered_name"] = registration.get_registered_name(type(layer))
    return spec


def layer_from_spec(spec: dict[str, Any]) -> Layer:
    """The layer a model's config entry describes: a layer, or a model used as a layer."""
    models: dict[str, Any] = {"Sequential": Sequential, "Functional": getattr(Model, "functional_class", None)}
    model = models.get(spec.get("class_name", ""))
    if model is not None and not spec.get("registered_name"):
        return model.from_config(spec["config"])  # type: ignore[no-any-return]
    return deserialize(spec)


def _extension(path: str | os.PathLike[str], method: str) -> str:
    """The format a file name asks for, or a ValueError saying which ones ``method`` writes."""
    name = os.fspath(path)
    keras = ".keras" if method == "save" else ".weights.h5"
    for extension in (keras, *RNNLAB_EXTENSIONS):
        if name.endswith(extension):
            return extension
    raise ValueError(
        f"{method}() does not know the file type of {name!r}: name it *{keras} for Keras 3's format or "
        f"*{' / *'.join(RNNLAB_EXTENSIONS)} for rnnlab's (weights, optimizer state and architecture)."
    )


class Sequential(Model):
    """A stack of layers, each feeding the next; masks flow from layer to layer as in Keras.

    >>> from rnnlab.layers import LSTM, Dense, Input
    >>> model = Sequential([Input((3, 1)), LSTM(10), Dense(1)])
    >>> model.count_params()
    491
    """

    def __init__(self, layers: Iterable[Any] | None = None, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self.layers = torch.nn.ModuleList()
        self.input_spec: InputSpec | None = None
        self.built = False
        self._output_shapes: list[Any] = []
        for layer in layers or []:  # built once at the end: building after each add costs O(layers^2)
            self._append(layer)
        if self.input_spec is not None and len(self.layers):
            self.build((self.input_spec.batch_size, *(self.input_spec.shape or ())))

    @property
    def input_dtype(self) -> torch.dtype | None:
        """As ``Model.input_dtype``; ``Input(..., dtype="int32")`` keeps integers too."""
        spec = self.input_spec
        if spec is not None and spec.dtype is not None and "float" not in str(spec.dtype):
            return None
        return super().input_dtype

    @property
    def stack(self) -> list[Layer]:
        """The layers, in order (``self.layers`` is the ModuleList that registers them)."""
        return [layer for layer in self.layers if isinstance(layer, Layer)]

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, ``Input(...)`` / an InputLayer, which builds the model)."""
        self._append(layer)
        if self.input_spec is not None and input_layer_of(layer) is None and not isinstance(layer, InputSpec):
            self.build((self.input_spec.batch_size, *(self.input_spec.shape or ())))

    def _append(self, layer: Any) -> None:
        input_layer = input_layer_of(layer)
        if input_layer is not None or isinstance(layer, InputSpec):
            if len(self.layers) or self.input_spec is not None:
                raise ValueError("rnnlab.Input(...) must come first in a Sequential model.")
            self.input_spec = input_layer.spec if input_layer is not None else layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential takes rnnlab layers; received {type(layer).__name__}. "
                "Wrap plain torch modules in a Model subclass instead."
            )
        if not len(self.layers) and self.input_spec is None and layer.input_shape is not None:
            self.input_spec = InputSpec(layer.input_shape, batch_size=layer.batch_size)
        layer._path_prefix = self.name
        self.layers.append(layer)

    def pop(self) -> Layer:
        layer = self.stack[-1]
        del self.layers[-1]
        self._output_shapes = self._output_shapes[:-1]
        return layer

    def build(self, input_shape: Shape) -> None:
        """Build every layer from the input shape (batch axis included) and record output shapes."""
        shape: Any = tuple(input_shape)
        shapes = []
        for previous, layer in zip([None, *self.stack[:-1]], self.stack, strict=True):
            if not isinstance(shape, tuple) or (shape and isinstance(shape[0], (tuple, list))):
                raise ValueError(
                    f"Layer '{getattr(previous, 'name', '?')}' returns several tensors (return_state=True or "
                    f"merge_mode=None), which Sequential cannot feed to '{layer.name}'."
                )
            layer.check_input_shape(shape, previous)
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        self._output_shapes = shapes
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Any:
        if not self.built:
            self.build(input_shape)
        return self._output_shapes[-1] if self._output_shapes else tuple(input_shape)

    def summary_rows(self) -> list[tuple[Layer, Any]]:
        shapes = self._output_shapes + [None] * (len(self.layers) - len(self._output_shapes))
        return list(zip(self.stack, shapes, strict=True))

    returns_mask = True

    def forward(self, inputs: Any, mask: Any = None, training: bool | None = None, return_mask: bool = False) -> Any:
        """The stack's output (with ``return_mask``: and the mask the last layer passes on, which
        the loss honours as Keras does)."""
        x = to_tensor(inputs)
        if self.input_spec is None and not self.built:
            self.input_spec = InputSpec(tuple(x.shape[1:]))
            self.build((None, *x.shape[1:]))
            self.to(x.device)
        ids = x  # the last layer's input
        for previous, layer in zip([None, *self.stack[:-1]], self.stack, strict=True):
            layer.check_input_shape(tuple(x.shape), previous)
            kwargs: dict[str, Any] = {}
            if layer.supports_masking and mask is not None:
                kwargs["mask"] = mask
            if layer.uses_training and training is not None:
                kwargs["training"] = training
            if type(previous) is Embedding and isinstance(layer, RNN) and previous.looks_up_plainly():  # not a subclass
                y = layer.from_token_ids(ids, previous.embeddings, x, **kwargs)
            else:
                y = layer(x, **kwargs)
            mask = layer.compute_mask(x, mask)
            ids, x = x, y
        return (x, mask) if return_mask else x

    def get_config(self) -> dict[str, Any]:
        spec = self.input_spec
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input": None
            if spec is None
            else {"shape": list(spec.shape or ()), "dtype": spec.dtype, "batch_size": spec.batch_size},
            "layers": [layer_spec(layer) for layer in self.stack],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers: list[Any] = []
        if config.get("input") is not None:
            spec = config["input"]
            layers.append(InputSpec(tuple(spec["shape"]), spec.get("dtype"), batch_size=spec.get("batch_size")))
        layers += [layer_from_spec(spec) for spec in config["layers"]]
        return cls(layers, name=config.get("name"), trainable=config.get("trainable", True))
