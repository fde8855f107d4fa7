"""compile / fit / evaluate / predict, callbacks, losses, metrics, history.

Training knows nothing of layers or tasks: it drives any torch module with a ``forward``.
"""

from . import callbacks, distributed, losses, metrics, optimizers
from .compiled import Compiled
from .state import TrainState
from .trainer import Trainer, predict

__all__ = [
    "Compiled",
    "TrainState",
    "Trainer",
    "callbacks",
    "distributed",
    "losses",
    "metrics",
    "optimizers",
    "predict",
]
