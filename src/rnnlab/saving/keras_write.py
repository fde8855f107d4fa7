"""Writing Keras 3 files: ``model.save("x.keras")`` and ``model.save_weights("x.weights.h5")``.

A ``.keras`` file is a zip of ``metadata.json``, ``config.json`` (the architecture as Keras
serialises it, plus ``compile_config`` when the settings map to Keras's) and ``model.weights.h5``.
A functional model's architecture is Keras's functional config: each layer's Keras config with
the calls (``inbound_nodes``) that connect it.
The weights file is laid out as :mod:`rnnlab.saving.keras_h5` describes (and
:mod:`rnnlab.saving.keras_read` reads).
Everything is checked before anything is written; the file appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

from ..cells import StackedRNNCells
from ..core import constraints, registration, regularizers
from ..core.files import atomic_path, write_bytes
from ..core.layer import Layer
from ..layers import (
    CONVOLUTION_AND_NORMALIZATION,
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    InputLayer,
    Masking,
    SpatialDropout1D,
    TimeDistributed,
)
from ..training import optimizers
from . import keras_subclassed
from .keras_h5 import (
    MERGING,
    RECURRENT,
    RESHAPING,
    has_own_layers,
    is_model,
    is_own_class,
    keras_layers,
    weights_file,
)

KERAS_VERSION = "3.15.1"  # the Keras whose format this writes
# The arguments of the weightless layers, under Keras's names
RESHAPING_KEYS = {"RepeatVector": "n", "Flatten": "data_format", "Reshape": "target_shape", "Permute": "dims"}
MERGING_KEYS = {"Concatenate": ("axis",), "Dot": ("axes", "normalize")}
# rnnlab-only keys of a layer's get_config(); the options (regularizers, constraints) are written as Keras objects
NOT_KERAS_KEYS = ("name", "trainable", "dtype", "input_shape", "batch_size")
OPTION_KEYS = ("_regularizer", "_constraint")
KERAS_LOSS_CLASSES = {
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}


def _object(module: str, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def _check_writable(model: Any) -> None:
    for each in keras_layers(model, "written"):
        if is_own_class(each):  # its regularizers live in its code, not in the file
            continue
        for name, value in [*each.weight_regularizers.items(), ("activity", each.activity_regularizer)]:
            if value is not None and not isinstance(value, regularizers.Regularizer):
                raise ValueError(
                    f"Layer '{each.name}': the {name} regularizer is a plain function; Keras "
                    "files store only rnnlab.regularizers objects."
                )
        for name, value in each.weight_constraints.items():
            if not isinstance(value, constraints.Constraint):
                raise ValueError(
                    f"Layer '{each.name}': the {name} constraint is a plain function; Keras "
                    "files store only rnnlab.constraints objects."
                )


# -- the architecture -------------------------------------------------------------------------
def _options(layer: Layer) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for prefix, regularizer in layer.weight_regularizers.items():
        config[f"{prefix}_regularizer"] = _object("keras.regularizers", **_class_config(regularizer))
    for prefix, constraint in layer.weight_constraints.items():
        config[f"{prefix}_constraint"] = _object("keras.constraints", **_class_config(constraint))
    if layer.activity_regularizer is not None:
        config["activity_regularizer"] = _object("keras.regularizers", **_class_config(layer.activity_regularizer))
    return config


def _class_config(obj: Any) -> dict[str, Any]:
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def own_class_config(obj: Any) -> dict[str, Any]:
    """Keras's form of a layer or cell of the program's own: its registered name (``"package>name"``, or its
    class name: what ``custom_objects`` are keyed by), its ``get_config()`` and, as Keras writes it, no module."""
    config = {k: v for k, v in obj.get_config().items() if k not in ("input_shape", "batch_size")}
    found = {"module": None, "class_name": type(obj).__name__, "config": config}
    return {**found, "registered_name": registration.get_registered_name(type(obj))}


def _own_layer_config(layer: Layer) -> dict[str, Any]:
    """A layer of the program's own, or ``RNN(MyCell(...))``, in Keras's form."""
    if not isinstance(layer, RNN):
        return own_class_config(layer)
    config: dict[str, Any] = {"name": layer.name, "trainable": layer.trainable, "dtype": layer.dtype}
    config.update({k: v for k, v in layer.sequence_config().items() if k != "implementation"})
    config.update(unroll=False, cell=_own_cell_config(layer.cell))
    return _object("keras.layers", "RNN", config)


def _own_cell_config(cell: Any) -> dict[str, Any]:
    """A cell of the program's own (in the ``LayerCell`` that runs it), or Keras's StackedRNNCells of them."""
    if not isinstance(cell, StackedRNNCells):
        return own_class_config(cell.cell)
    config = {"name": cell.name, "trainable": cell.trainable, "dtype": cell.dtype}
    return _object(
        "keras.layers", "StackedRNNCells", {**config, "cells": [own_class_config(c.cell) for c in cell.members]}
    )


def layer_config(layer: Layer) -> dict[str, Any]:
    """Keras's serialised form of one rnnlab layer: ``{"module", "class_name", "config", ...}``; a model used
    as a layer gives its model config."""
    if is_model(layer):
        return model_config(layer, nested=True)
    if is_own_class(layer):
        return _own_layer_config(layer)
    config: dict[str, Any] = {"name": layer.name, "trainable": layer.trainable, "dtype": layer.dtype}
    if isinstance(layer, RECURRENT):
        cell, own = layer.cell, layer.get_config()
        keys = ["units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer"]
        keys += ["dropout", "recurrent_dropout", "return_sequences", "return_state", "go_backwards", "stateful"]
        keys += ["zero_output_for_mask"]
        keys += {LSTM: ["recurrent_activation", "unit_forget_bias"], GRU: ["recurrent_activation", "reset_after"]}.get(
            type(layer), []
        )
        config.update({k: own[k] for k in keys})
        config.update(_options(cell))
        config.update(_options(layer))
    elif isinstance(layer, Bidirectional):
        config["merge_mode"] = layer.merge_mode
        config["layer"] = layer_config(layer.forward_layer)
        config["backward_layer"] = layer_config(layer.backward_layer)
    elif isinstance(layer, TimeDistributed):
        config["layer"] = layer_config(layer.layer)
    elif isinstance(layer, Dense):
        own = layer.get_config()
        config.update({k: own[k] for k in ("units", "use_bias", "kernel_initializer", "bias_initializer")})
        config["activation"] = own["activation"] or "linear"
        config.update(_options(layer))
    elif isinstance(layer, Embedding):
        own = layer.get_config()
        config.update({k: own[k] for k in ("input_dim", "output_dim", "embeddings_initializer", "mask_zero")})
        config.update(_options(layer))
    elif isinstance(layer, Dropout):
        config.update(rate=layer.rate, noise_shape=None if layer.noise_shape is None else list(layer.noise_shape))
        config["seed"] = layer.seed
    elif isinstance(layer, Masking):
        config["mask_value"] = layer.mask_value
    elif isinstance(layer, SpatialDropout1D):  # Keras's takes rate, seed, name and dtype only
        config = layer.get_config()
    elif isinstance(layer, RESHAPING):
        key = RESHAPING_KEYS.get(type(layer).__name__, "activation")
        config[key] = layer.get_config()[key]
    elif isinstance(layer, MERGING):
        own = layer.get_config()
        config.update({key: own[key] for key in MERGING_KEYS.get(type(layer).__name__, ())})
    elif isinstance(layer, InputLayer):  # Keras's InputLayer takes no trainable
        config = layer.get_config()
    elif isinstance(layer, CONVOLUTION_AND_NORMALIZATION):  # their configs use Keras's keys throughout
        own = layer.get_config()
        config.update({k: v for k, v in own.items() if k not in NOT_KERAS_KEYS and not k.endswith(OPTION_KEYS)})
        if "activation" in config:
            config["activation"] = config["activation"] or "linear"
        config.update(_options(layer))
    return _object("keras.layers", type(layer).__name__, config)


def model_config(model: Any, nested: bool = False) -> dict[str, Any]:
    """Keras's config of a Sequential or functional model (``nested``: used as a layer, without compile settings)."""
    if hasattr(model, "inputs"):
        return _functional_config(model, nested)
    spec = model.input_spec
    batch_shape = [spec.batch_size, *spec.shape]
    input_layer = _object(
        "keras.layers",
        "InputLayer",
        {"batch_shape": batch_shape, "dtype": spec.dtype or "float32", "sparse": False, "name": "input_layer"},
    )
    config = _object(
        "keras",
        "Sequential",
        {
            "name": model.name,
            "trainable": model.trainable,
            "dtype": "float32",
            "layers": [input_layer, *(layer_config(layer) for layer in model.layers)],
        },
    )
    config["build_config"] = {"input_shape": batch_shape}
    compile_config = None if nested else _compile_config(getattr(model, "compile_config", None))
    if compile_config is not None:
        config["compile_config"] = compile_config
    return config


def _functional_config(model: Any, nested: bool = False) -> dict[str, Any]:
    """Keras's config of a functional model: its own functional form (``Functional.get_config``), each
    layer's entry carrying the layer's Keras config instead of rnnlab's."""
    own = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    for entry in own["layers"]:
        if entry["name"] in by_name:  # Keras's operations (a + b) are in Keras's form already
            entry.update(layer_config(by_name[entry["name"]]))
    config = _object("keras.src.models.functional", "Functional", own)
    config.update(registered_name="Functional", build_config={"input_shape": None})
    compile_config = None if nested else _compile_config(getattr(model, "compile_config", None))
    if compile_config is not None:
        config["compile_config"] = compile_config
    return config


def _compile_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """Keras's ``compile_config`` for rnnlab's compile settings, or None where they have no Keras form."""
    if not config:
        return None
    clipping = {k: config.get(k) for k in optimizers.CLIPPING}
    if sum(v is not None for v in clipping.values()) > 1:
        return None  # Keras allows one kind of clipping
    optimizer = optimizers.from_spec(config["optimizer"], **clipping)
    if optimizer is None:
        return None  # a torch.optim class: Keras has no name for it
    loss: Any = config["loss"]
    if config.get("from_logits"):
        named = loss.values() if isinstance(loss, dict) else [loss]
        if any(each not in KERAS_LOSS_CLASSES for each in named):
            return None
        from_logits = {"from_logits": True}
        loss = (
            {out: _object("keras.losses", KERAS_LOSS_CLASSES[each], from_logits) for out, each in loss.items()}
            if isinstance(loss, dict)
            else _object("keras.losses", KERAS_LOSS_CLASSES[loss], from_logits)
        )

    def metrics(kind: str) -> Any:  # a list, or a dict by output name for several outputs
        chosen = config.get(kind) or []
        return (dict(chosen) if isinstance(chosen, dict) else list(chosen)) or None

    return {
        "optimizer": optimizers.serialize(optimizer),
        "loss": loss,
        "loss_weights": config.get("loss_weights"),
        "metrics": metrics("metrics"),
        "weighted_metrics": metrics("weighted_metrics"),
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


# -- the weights ------------------------------------------------------------------------------


# -- entry points -----------------------------------------------------------------------------
def save_keras_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive that ``keras.saving.load_model`` opens."""
    _check_writable(model)
    config = model_config(model)
    weights = keras_subclassed.weights_file(model) if has_own_layers(model) else weights_file(model)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": "1980-01-01@00:00:00"}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)


def save_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Write the weights as Keras's ``.weights.h5`` (``keras_model.load_weights`` reads them)."""
    _check_writable(model)
    write_bytes(path, keras_subclassed.weights_file(model) if has_own_layers(model) else weights_file(model))
