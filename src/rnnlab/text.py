"""Character-level language models: the vocabulary, batches of shifted sequences, sampling
(defined with the char-RNN experiment, in :mod:`rnnlab.tasks.charmodel`)."""

from .tasks.charmodel import *  # noqa: F403
from .tasks.charmodel import __all__  # noqa: F401
