"""compile / fit / evaluate / predict, callbacks, losses, metrics, history."""
from __future__ import annotations


class Trainer:
    """Placeholder until the training workflow lands."""
