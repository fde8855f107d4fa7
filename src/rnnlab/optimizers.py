"""Keras's ``optimizers`` module: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop`` with Keras's arguments and
update rules (defined in :mod:`rnnlab.training.optimizers` and :mod:`rnnlab.training.optim`)."""

from .training.optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "get"]
