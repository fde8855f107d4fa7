"""Keras's ``preprocessing`` package: ``preprocessing.sequence.pad_sequences``."""

from . import sequence

__all__ = ["sequence"]
