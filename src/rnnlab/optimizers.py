"""Keras's ``optimizers`` module: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Nadam``, ``Adagrad``,
``Adadelta``, ``Adamax``, ``Lion`` with Keras's arguments, configs and update rules (described in
:mod:`rnnlab.training.optimizers`, the update rules in :mod:`rnnlab.training.update_rules`)."""

from .training.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Nadam,
    Optimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "serialize",
]
