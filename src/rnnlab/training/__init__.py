"""compile / fit / evaluate / predict, callbacks, losses, metrics, history.

Training knows nothing of layers or tasks: it drives any torch module with a ``forward``.
"""

from . import callbacks, losses, metrics, optimizers
from .trainer import Trainer

__all__ = ["Trainer", "callbacks", "losses", "metrics", "optimizers"]
