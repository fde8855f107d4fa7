"""Keras-style layers: recurrent layers over cells, and the layers around them."""

from __future__ import annotations

from typing import Any

from ..base import Layer
from ..cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell
from .bidirectional import Bidirectional
from .core import Dense, Dropout, Embedding, Input, TimeDistributed
from .recurrent import GRU, LSTM, SimpleRNN
from .rnn import RNN

CELLS: dict[str, type[RecurrentCell]] = {c.__name__: c for c in (SimpleRNNCell, LSTMCell, GRUCell)}
LAYERS: dict[str, type[Layer]] = {
    c.__name__: c for c in (RNN, SimpleRNN, LSTM, GRU, Bidirectional, Dense, Dropout, Embedding, TimeDistributed)
}


def deserialize(spec: dict[str, Any]) -> Layer:
    """``{"class_name": ..., "config": ...}`` -> a new layer (weights not included)."""
    name = spec.get("class_name")
    if name not in LAYERS:
        raise ValueError(f"Unknown layer class {name!r}; rnnlab has {sorted(LAYERS)}.")
    return LAYERS[name].from_config(spec["config"])


__all__ = [
    "Layer",
    "Input",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "TimeDistributed",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "deserialize",
]
