"""rnnlab: Keras-exact recurrent networks on PyTorch."""

from __future__ import annotations

import importlib
from typing import Any

from . import (
    activations,
    callbacks,
    constraints,
    data,
    datasets,
    diagnostics,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)
from .core import logs
from .core.seed import set_seed
from .layers import Input
from .models import Model, Sequential, load_model

__version__ = "0.1.0"

logs.configure()


def __getattr__(name: str) -> Any:
    if name == "plot_history":  # matplotlib is imported when the first plot is drawn
        from .viz import plot_history

        return plot_history
    if name == "text":  # the character-model helpers load with their experiment
        return importlib.import_module(".text", __name__)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "constraints",
    "data",
    "datasets",
    "diagnostics",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "plot_history",
    "preprocessing",
    "regularizers",
    "set_seed",
    "text",
    "utils",
    "__version__",
]
