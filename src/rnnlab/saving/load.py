"""``load_model``: rnnlab model files and Keras 3 ``.keras`` files.

A file is checked before it costs anything: the architecture it declares is built with shapes
only (no memory, no initialisation), its sizes and dtypes are compared with the tensor table of
the file, and only then are weights allocated and read. Every way a file can be wrong is a
``ValueError`` that names it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from ..core import files, registration
from ..models.functional import Functional
from ..models.model import Model, Sequential
from . import native

MODELS: dict[str, type[Model]] = {"Sequential": Sequential, "Functional": Functional}


def load_model(path: files.StrPath, custom_objects: dict[str, Any] | None = None, compile: bool = True) -> Model:
    """Rebuild a saved model: same architecture, same weights, and (with ``compile``) the same
    optimizer, loss and metrics with the optimizer state, so training can resume.

    A Keras 3 ``.keras`` file of a Sequential or functional model built from layers rnnlab has is
    converted (needs h5py: ``pip install 'rnnlab[keras]'``). Layers and cells of your own are found in
    ``custom_objects`` (``{"MyLayer": MyLayer}``) or among the classes registered with
    ``@rnnlab.saving.register_keras_serializable()``, as in Keras.
    """
    with registration.custom_object_scope(custom_objects):
        return _load_model(files.regular_file(path), compile)


def _load_model(path: Path, compile: bool) -> Model:
    if zipfile.is_zipfile(path):
        from .keras_read import load_keras_model

        return load_keras_model(path, compile=compile)
    stored = native.StoredFile(path)
    native.check_format(path, stored.metadata, (native.MODEL_FORMAT,))
    keys = native.weight_keys(stored, native.MODEL_FORMAT)
    header = {k: stored.header[v] for k, v in keys.items()}
    model = rebuild(stored.json("model", "the architecture it stores"), header, path)
    native.check_fits(model, header, path)
    tensors = stored.tensors(keys.values())
    native.materialize(model)
    native.load_state(model, {k: tensors[v] for k, v in keys.items()}, path)
    if compile and "compile" in stored.metadata:
        restore_compiled_from(model, stored, path)
    return model


def rebuild(architecture: Any, header: native.Header, path: Any) -> Model:
    """The model an architecture describes, built with shapes only; layers without an input shape
    take their sizes from the stored tensors, as loading a state_dict builds them."""
    name = architecture.get("class_name") if isinstance(architecture, dict) else None
    if name is None:
        raise ValueError(
            f"{path}: the architecture it stores names no model class (expected a JSON object with 'class_name', "
            f"one of {sorted(MODELS)}, and 'config', as model.save writes it). The file is damaged: save the model "
            "again."
        )
    if name not in MODELS:
        raise ValueError(f"{path} holds a {name!r} model; load_model rebuilds {sorted(MODELS)} only.")
    native.check_layer_count(architecture.get("config"), path)
    with native.shapes_only():
        try:
            model = MODELS[name].from_config(architecture["config"])
            if any(not getattr(m, "built", True) for m in model.modules()):
                shapes = {k: torch.empty(shape, device="meta") for k, (_, shape) in header.items()}
                try:
                    model.load_state_dict(shapes, strict=False)
                except RuntimeError:
                    pass  # sizes that do not fit are reported, by name, by check_fits
        except files.MALFORMED + (RuntimeError,) as err:
            raise files.damaged(path, "the architecture it stores", err) from err
    return model


def restore_compiled_from(model: Model, stored: native.StoredFile, path: Any) -> None:
    """Compile ``model`` as the file says, with the optimizer state it stores (checked against the weights)."""
    config = stored.json("compile", "the compile settings it stores")
    state = None
    if "optimizer" in stored.metadata:
        keys = [k for k in stored.header if k.startswith("optimizer/")]
        if any(not native.is_floating(stored.header[k][0]) and stored.header[k][1] for k in keys):
            raise files.damaged(path, "the optimizer state it stores", "a tensor that is not floating point")
        try:
            state = native.unpack_tree(stored.metadata["optimizer"], stored.tensors(keys), "optimizer")
        except files.MALFORMED as err:
            raise files.damaged(path, "the optimizer state it stores", err) from err
    try:
        restore_compiled(model, config, state)
        if state is not None:
            check_optimizer_state(model)
    except files.MALFORMED + (RuntimeError,) as err:
        raise files.damaged(path, "the compile settings or optimizer state it stores", err) from err


def check_optimizer_state(model: Model) -> None:
    """Every per-weight tensor of the optimizer state is a number or has its weight's shape."""
    optimizer = model.optimizer
    assert optimizer is not None
    for param, slots in optimizer.state.items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                raise ValueError(f"optimizer slot {slot!r}: shape {tuple(value.shape)}, weight {tuple(param.shape)}")


def restore_compiled(model: Model, config: dict[str, Any], optimizer_state: Any) -> None:
    model.compile(
        optimizer=config["optimizer"],
        loss=config["loss"],
        metrics=config.get("metrics"),
        weighted_metrics=config.get("weighted_metrics"),
        from_logits=config.get("from_logits", False),
        clipnorm=config.get("clipnorm"),
        clipvalue=config.get("clipvalue"),
        global_clipnorm=config.get("global_clipnorm"),
        **({"loss_weights": config["loss_weights"]} if config.get("loss_weights") else {}),  # several outputs
    )
    if optimizer_state is not None:
        model.build_optimizer().load_state_dict(optimizer_state)
