"""Keras's ``preprocessing.sequence``: ``pad_sequences`` (defined in :mod:`rnnlab.data`)."""

from ..data import pad_sequences

__all__ = ["pad_sequences"]
