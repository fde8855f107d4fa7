"""Callbacks that write the model to disk: ModelCheckpoint and BackupAndRestore."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ...saving import native
from .callback import Callback, CallbackList, Logs, log
from .monitor import monitor_op, monitored


class ModelCheckpoint(Callback):
    """Saves the model (or only its weights) after every epoch, or only when ``monitor`` improves.

    ``filepath`` may hold ``{epoch}`` (1-based, as Keras) and any logged value, e.g.
    ``"ckpt/{epoch:02d}-{val_loss:.3f}.safetensors"``. Writes are atomic.
    """

    main_process_only = True

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        initial_value_threshold: float | None = None,
    ) -> None:
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.monitor_op = monitor_op(monitor, mode)
        self.best = initial_value_threshold
        self.saved: list[str] = []

    def _path(self, epoch: int, logs: Logs) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as err:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} uses {err}, which is not logged. "
                f"Available: epoch, {', '.join(logs)}."
            ) from None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        path = self._path(epoch, logs)
        if self.save_best_only:
            current = monitored(self.monitor, logs, "ModelCheckpoint")
            if current is None:
                return
            if self.best is not None and not self.monitor_op(current, self.best):
                if self.verbose > 0:
                    log.info(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                log.info(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {previous} to {current:.5f}, "
                    f"saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            log.info(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.saved.append(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "saved": self.saved}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.saved = state["best"], list(state["saved"])


class BackupAndRestore(Callback):
    """Makes ``fit`` resumable: a run killed at any moment and started again with the same call
    continues from the last completed epoch.

    After every epoch it saves, atomically, ``backup_dir/backup.safetensors``: the weights, the
    optimizer state, the loop's state (epochs done, steps, and the random states used for
    shuffling and dropout) and every callback's state (History included); so on CPU the resumed run
    ends with the same weights as one never interrupted. When training completes it deletes
    that file, and ``backup_dir`` too if it created the folder and nothing else is in it.
    """

    order = 1  # after every other callback: restore their state, save what they updated
    FILENAME = "backup.safetensors"

    def __init__(self, backup_dir: str | os.PathLike[str], delete_checkpoint: bool = True) -> None:
        self.backup_dir = Path(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self.callback_list: CallbackList | None = None
        self._created_dir = False

    @property
    def path(self) -> Path:
        return self.backup_dir / self.FILENAME

    def set_callback_list(self, callback_list: CallbackList) -> None:
        self.callback_list = callback_list

    def on_train_begin(self, logs: Logs | None = None) -> None:
        assert self.trainer is not None and self.callback_list is not None
        if self.backup_dir.exists() and not self.backup_dir.is_dir():
            raise ValueError(f"BackupAndRestore: {self.backup_dir} is a file; backup_dir must be a folder.")
        self._created_dir = self._created_dir or not self.backup_dir.exists()
        if not self.path.exists():
            return
        state = self.read(self.path)
        native.load_state(self.model, state["weights"], self.path)
        self.trainer.optimizer.load_state_dict(state["optimizer"])
        self.callback_list.load_state_dict(state["callbacks"])
        self.trainer.state.load_state_dict(state["loop"])  # process 0's random state, in every process
        self.trainer.seed_process()
        self._created_dir = bool(state.get("created_dir", False))  # by the run that was interrupted
        log.info("BackupAndRestore: resuming after epoch %d (%s).", self.trainer.state.epoch, self.path)

    @staticmethod
    def read(path: str | os.PathLike[str]) -> dict[str, Any]:
        """The state a backup file holds; a ValueError naming the file when it is damaged."""
        state = native.load_tree(path)
        parts = ("loop", "weights", "optimizer", "callbacks")
        missing = [part for part in parts if not isinstance(state, dict) or not isinstance(state.get(part), dict)]
        if missing:
            raise ValueError(f"Could not read {path}: it is damaged or not a backup (no {', '.join(missing)} in it).")
        return dict(state)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        assert self.trainer is not None and self.callback_list is not None
        if not self.trainer.is_main_process:
            return
        native.save_tree(
            self.path,
            {
                "loop": self.trainer.state.state_dict(),
                "weights": dict(self.model.state_dict().items()),
                "optimizer": self.trainer.optimizer.state_dict(),
                "callbacks": self.callback_list.state_dict(),
                "created_dir": self._created_dir,
            },
        )

    def on_train_end(self, logs: Logs | None = None) -> None:
        # fit calls on_train_end only when training completes, not when it is interrupted.
        if not self.delete_checkpoint or self.trainer is None or not self.trainer.is_main_process:
            return
        self.path.unlink(missing_ok=True)
        if self._created_dir:
            with contextlib.suppress(OSError):  # not empty: someone else's files stay
                self.backup_dir.rmdir()
