"""Callbacks that watch a logged quantity: EarlyStopping and ReduceLROnPlateau."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .callback import Callback, Logs, log


def monitor_op(monitor: str, mode: str) -> Callable[[float, float], bool]:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', received {mode!r}.")
    if mode == "auto":  # Keras: accuracy-like quantities grow, everything else shrinks
        mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
    return operator.gt if mode == "max" else operator.lt


def monitored(monitor: str, logs: Logs | None, who: str) -> float | None:
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(
            f"{who} monitors '{monitor}', which is not logged. Available: "
            f"{', '.join(logs or {}) or 'nothing'} (val_* needs validation data).",
            stacklevel=3,
        )
    return value


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the model ends with the weights of the best epoch (Keras 3:
    also when training ran to the last epoch). ``baseline``: improvements only reset the
    patience counter once they beat it. ``start_from_epoch``: epochs of warm-up not watched.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.start_from_epoch = baseline, start_from_epoch
        self.restore_best_weights = restore_best_weights
        self.monitor_op = monitor_op(monitor, mode)
        self.min_delta = abs(min_delta) if self.monitor_op is operator.gt else -abs(min_delta)
        self.on_train_begin()

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        return reference is None or self.monitor_op(value - self.min_delta, reference)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = monitored(self.monitor, logs, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            log.info("Epoch %d: early stopping", self.stopped_epoch + 1)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                log.info("Restoring model weights from the end of the best epoch: %d.", self.best_epoch + 1)
            self.model.set_weights(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_weights": self.best_weights,
            "best_epoch": self.best_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau needs factor < 1, received {factor}.")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.monitor_op = monitor_op(monitor, mode)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = -np.inf if self.monitor_op is operator.gt else np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, value: float) -> bool:
        if self.monitor_op is operator.gt:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        groups = self.model.optimizer.param_groups
        if logs is not None:
            logs["learning_rate"] = float(groups[0]["lr"])
        current = monitored(self.monitor, logs, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(groups[0]["lr"])
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    for group in groups:
                        group["lr"] = new
                    if self.verbose > 0:
                        log.info("Epoch %d: ReduceLROnPlateau reducing learning rate to %s.", epoch + 1, new)
                    self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": float(self.best), "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
