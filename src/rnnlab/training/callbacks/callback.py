"""The callback protocol, the list that drives callbacks, and the simplest callbacks."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..trainer import Trainer

Logs = dict[str, float]
log = logging.getLogger("rnnlab.callbacks")


class Callback:
    """Hooks called by ``fit``: ``on_train_begin/end``, ``on_epoch_begin/end(epoch, logs)``,
    ``on_train_batch_begin/end(batch, logs)``. Epochs count from 0, as in Keras.

    A callback with state worth resuming (``BackupAndRestore``) implements ``state_dict()``
    and ``load_state_dict(state)``; tensors and NumPy arrays inside are saved exactly.

    ``self.model`` is the model being trained (as in Keras); ``self.trainer`` the loop, with its
    ``state`` (epochs done, steps, ``stop_training``), ``optimizer`` and ``is_main_process``. In a
    data-parallel run every process runs every callback on the same combined epoch logs, except
    those with ``main_process_only`` (writers and displays), which run in process 0 only.
    A callback with ``backed_up = False`` (a display) has no state and no place in a backup.
    """

    model: Any = None
    trainer: Trainer | None = None
    params: dict[str, Any] = {}
    main_process_only = False
    backed_up = True
    order = 0  # callbacks with a higher order run after the others

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_trainer(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` is the per-epoch loss."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        on_batch_begin: Callable[..., Any] | None = None,
        on_batch_end: Callable[..., Any] | None = None,
    ) -> None:
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin or on_batch_begin,
            "on_train_batch_end": on_train_batch_end or on_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            log.warning("Batch %d: Invalid loss, terminating training", batch)
            self.model.stop_training = True


class CallbackList:
    """Calls each hook on every callback, in order; callbacks that save state (``order = 1``)
    run after the others, so they save what the others have just updated."""

    def __init__(self, callbacks: Iterable[Callback], trainer: Trainer, params: dict[str, Any]) -> None:
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be rnnlab.callbacks.Callback instances, received {type(cb).__name__}.")
        ordered = sorted(callbacks, key=lambda cb: cb.order)
        # Keys by position among the backed-up callbacks, so that every process, whatever it
        # displays, reads the same backup entries.
        keyed = [(f"{i}:{type(cb).__name__}", cb) for i, cb in enumerate(c for c in ordered if c.backed_up)]
        self.keyed = [(k, cb) for k, cb in keyed if trainer.is_main_process or not cb.main_process_only]
        self.callbacks = [cb for cb in ordered if trainer.is_main_process or not cb.main_process_only]
        for cb in self.callbacks:
            cb.set_model(trainer.model)
            cb.set_trainer(trainer)
            cb.set_params(params)
            if hasattr(cb, "set_callback_list"):
                cb.set_callback_list(self)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_train_batch_end", batch, logs)

    def state_dict(self) -> dict[str, Any]:
        return {key: cb.state_dict() for key, cb in self.keyed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = [key for key, _ in self.keyed if key not in state]
        if missing:
            raise ValueError(
                f"The backup was made with the callbacks {sorted(state)}, this fit has {[k for k, _ in self.keyed]}: "
                "resume with the same callbacks (displays may differ); the backup keeps its epochs until then."
            )
        for key, cb in self.keyed:
            cb.load_state_dict(state[key])
