"""The loop's declared state: what a resumed run needs besides weights and optimizer state."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """Every random generator rnnlab draws from: shuffling, dropout, initialisation."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": list(np.random.get_state()),
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(tuple(state["numpy"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainState:
    """Where the loop stands. Callbacks read it (``self.trainer.state``) and may write it:
    ``stop_training`` ends the run after the current batch; BackupAndRestore saves and restores
    ``state_dict()`` so a resumed run continues exactly."""

    epoch: int = 0  # epochs completed: the index of the next epoch to run
    step: int = 0  # optimizer steps taken
    stop_training: bool = False
    seed: int = 0  # of the shuffles in a data-parallel run: process 0's, agreed by all

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "seed": self.seed, "rng": rng_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.seed = int(state.get("seed", 0))
        set_rng_state(state["rng"])
