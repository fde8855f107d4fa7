"""``load_model``: rnnlab model files and Keras 3 ``.keras`` files."""

from __future__ import annotations

import os
import zipfile
from typing import Any

from . import saving
from .model import Model, Sequential

MODELS: dict[str, type[Model]] = {"Sequential": Sequential}


def load_model(path: str | os.PathLike, compile: bool = True) -> Model:
    """Rebuild a saved model: same architecture, same weights, and (with ``compile``) the same
    optimizer, loss and metrics with the optimizer state, so training can resume.

    A Keras 3 ``.keras`` file of a Sequential model built from layers rnnlab has is converted
    (needs h5py: ``pip install 'rnnlab[keras]'``).
    """
    if zipfile.is_zipfile(path):
        from .keras_format import load_keras_model

        return load_keras_model(path, compile=compile)
    architecture, weights, compile_config, optimizer_state = saving.read_model(path)
    name = architecture.get("class_name")
    if name not in MODELS:
        raise ValueError(f"{path} holds a {name!r} model; load_model rebuilds {sorted(MODELS)}.")
    model = MODELS[name].from_config(architecture["config"])
    saving.load_state(model, weights, path)
    if compile and compile_config is not None:
        restore_compiled(model, compile_config, optimizer_state)
    return model


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
    )
    if optimizer_state is not None:
        model.build_optimizer().load_state_dict(optimizer_state)
