"""rnnlab: Keras-exact recurrent networks on PyTorch."""

from __future__ import annotations

from . import callbacks, data, datasets, diagnostics, layers, losses
from .io import load_model
from .layers import Input
from .model import Model, Sequential
from .seed import set_seed
from .viz import plot_history

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "callbacks",
    "data",
    "datasets",
    "diagnostics",
    "layers",
    "load_model",
    "losses",
    "plot_history",
    "set_seed",
    "__version__",
]
