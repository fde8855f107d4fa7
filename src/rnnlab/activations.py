"""Keras's ``activations`` module: ``get`` and the activations rnnlab names (:mod:`rnnlab.core.activations`)."""

from .core.activations import get, hard_sigmoid, linear, softmax

__all__ = ["get", "hard_sigmoid", "linear", "softmax"]
