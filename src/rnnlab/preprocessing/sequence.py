"""Keras's ``preprocessing.sequence``: ``pad_sequences`` (defined in :mod:`rnnlab.preprocessing.arrays`)."""

from .arrays import pad_sequences

__all__ = ["pad_sequences"]
