"""rnnlab: Keras-exact recurrent networks on PyTorch."""

from __future__ import annotations

from typing import Any

from . import (
    callbacks,
    constraints,
    data,
    datasets,
    diagnostics,
    layers,
    logs,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)
from .io import load_model
from .layers import Input
from .model import Model, Sequential
from .seed import set_seed

__version__ = "0.1.0"

logs.configure()


def __getattr__(name: str) -> Any:
    if name == "plot_history":  # matplotlib is imported when the first plot is drawn
        from .viz import plot_history

        return plot_history
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


__all__ = [
    "Input",
    "Model",
    "Sequential",
    "callbacks",
    "constraints",
    "data",
    "datasets",
    "diagnostics",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "plot_history",
    "preprocessing",
    "regularizers",
    "set_seed",
    "utils",
    "__version__",
]
