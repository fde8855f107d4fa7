"""Keras-style layers: recurrent layers over cells, and the layers around them."""

from __future__ import annotations

from typing import Any

from ..cells import CELLS, GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell, StackedRNNCells
from ..core import registration
from ..core.layer import Layer
from .activation import Activation
from .attention import AdditiveAttention, Attention
from .bidirectional import Bidirectional
from .convolutional import Conv1D, Conv2D
from .core import Dense, Dropout, Embedding, Input, InputLayer, InputSpec, Masking, TimeDistributed, input_layer_of
from .lambda_layer import Lambda
from .merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    MaxPooling2D,
)
from .recurrent import GRU, LSTM, SimpleRNN
from .regularization import SpatialDropout1D
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .rnn import RNN

LAYERS: dict[str, type[Layer]] = {
    c.__name__: c
    for c in (RNN, SimpleRNN, LSTM, GRU, Bidirectional, Dense, Dropout, Embedding, Masking, TimeDistributed)
}
CONVOLUTION_AND_NORMALIZATION: tuple[type[Layer], ...] = (
    Conv1D,
    Conv2D,
    MaxPooling1D,
    MaxPooling2D,
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    BatchNormalization,
    LayerNormalization,
)
LAYERS.update({c.__name__: c for c in CONVOLUTION_AND_NORMALIZATION})
RESHAPING_AND_MERGING: tuple[type[Layer], ...] = (
    RepeatVector,
    Flatten,
    Reshape,
    Permute,
    Concatenate,
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
    Dot,
    Activation,
    Lambda,
    SpatialDropout1D,
)
LAYERS.update({c.__name__: c for c in RESHAPING_AND_MERGING})
LAYERS["InputLayer"] = InputLayer
LAYERS.update({c.__name__: c for c in (Attention, AdditiveAttention)})


def deserialize(spec: dict[str, Any]) -> Layer:
    """``{"class_name": ..., "config": ...}`` -> a new layer (weights not included)."""
    name = spec.get("class_name")
    registered = registration.get_registered_object(spec.get("registered_name"))  # a class of your own first
    cls = registered or LAYERS.get(str(name)) or registration.find_class(spec, "layer")
    layer: Layer = cls.from_config(spec["config"])
    return layer


__all__ = [
    "Layer",
    "Input",
    "InputLayer",
    "InputSpec",
    "input_layer_of",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "Masking",
    "TimeDistributed",
    "Conv1D",
    "Conv2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "BatchNormalization",
    "LayerNormalization",
    "RepeatVector",
    "Flatten",
    "Reshape",
    "Permute",
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Dot",
    "concatenate",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "dot",
    "Activation",
    "Lambda",
    "SpatialDropout1D",
    "Attention",
    "AdditiveAttention",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "StackedRNNCells",
    "CELLS",
    "RecurrentCell",
    "deserialize",
]
