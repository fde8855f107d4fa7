"""Array helpers from the Keras tutorials: windows for forecasting, padding, one-hot labels
(defined in :mod:`rnnlab.preprocessing.arrays`)."""

from .preprocessing.arrays import *  # noqa: F403
from .preprocessing.arrays import __all__  # noqa: F401
