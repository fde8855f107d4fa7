"""Callbacks for ``Model.fit`` (Keras names and behaviour)."""

from .training.callbacks import *  # noqa: F403
from .training.callbacks import __all__  # noqa: F401
