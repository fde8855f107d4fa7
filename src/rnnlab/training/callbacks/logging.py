"""Callbacks that report: the progress display, CSVLogger and TensorBoard."""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core import files
from .callback import Callback, Logs

if TYPE_CHECKING:
    from tqdm import tqdm


def _tqdm(**kwargs: Any) -> tqdm:
    from tqdm.auto import tqdm  # imported when a bar is first shown: `import rnnlab` stays light

    return tqdm(**kwargs)


def format_logs(logs: Logs) -> str:
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


def report_evaluation(logs: Logs) -> None:
    """evaluate's one-line display (the progress display prints; the library logs)."""
    print(format_logs(logs), flush=True)


class ProgressBar(Callback):
    """``verbose=1``: a bar per epoch with loss, metrics and ETA (one line per epoch when the output
    is not a terminal); ``verbose=2``: one line per epoch."""

    main_process_only = True
    backed_up = False

    def __init__(self, verbose: int = 1) -> None:
        self.verbose = verbose
        self.bar: tqdm | None = None

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self.started = time.perf_counter()
        self.title = f"Epoch {epoch + 1}/{self.params['epochs']}"
        if self.verbose == 1 and sys.stdout.isatty():
            self.bar = _tqdm(
                total=self.params.get("steps"),
                desc=self.title,
                unit="batch",
                leave=True,
                file=sys.stdout,
                dynamic_ncols=True,
            )

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - self.started
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float)})
            self.bar.close()
            self.bar = None
        else:
            print(f"{self.title} - {seconds:.2f}s - {format_logs(logs or {})}", flush=True)


class EpochProgress(Callback):
    """One progress bar over the epochs of a fit (to stderr), showing the latest logs."""

    main_process_only = True
    backed_up = False  # a display: a run resumes whether or not it shows the bar

    def __init__(self, description: str = "") -> None:
        self.description = description
        self.bar: tqdm | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        initial = self.trainer.state.epoch if self.trainer is not None else 0
        self.bar = _tqdm(
            total=self.params["epochs"],
            initial=initial,
            desc=self.description,
            unit="epoch",
            dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 10.0,
        )

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                {k: f"{v:.4g}" for k, v in (logs or {}).items() if isinstance(v, float)}, refresh=False
            )
            self.bar.update(epoch + 1 - self.bar.n)  # a resumed fit starts past epoch 0

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class CSVLogger(Callback):
    """Writes one row per epoch (``epoch`` from 0, then every logged value) to ``filename``."""

    main_process_only = True

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        self.filename, self.separator, self.append = Path(filename), separator, append
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.rows = []
        if self.append and self.filename.exists():
            with self.filename.open(newline="") as f:
                self.rows = list(csv.DictReader(f, delimiter=self.separator))

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.rows.append({"epoch": epoch, **(logs or {})})
        self._write()

    def _write(self) -> None:
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys, delimiter=self.separator, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        files.write_text(self.filename, buffer.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [{k: str(v) for k, v in row.items()} for row in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(row) for row in state["rows"]]
        self._write()  # drop rows written after the backup was taken


class TensorBoard(Callback):
    """Writes per-epoch scalars as TensorBoard event files: ``log_dir/train`` and ``log_dir/validation``
    (needs the optional ``tensorboard`` package: ``pip install rnnlab[tensorboard]``)."""

    main_process_only = True

    def __init__(self, log_dir: str = "logs") -> None:
        self.log_dir = Path(log_dir)
        self.writers: dict[str, Any] = {}

    def on_train_begin(self, logs: Logs | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError(
                "The TensorBoard callback needs the tensorboard package: pip install 'rnnlab[tensorboard]'"
            ) from err
        self.writers = {split: SummaryWriter(str(self.log_dir / split)) for split in ("train", "validation")}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self.writers[split].add_scalar(f"epoch_{name}", value, epoch)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        for writer in self.writers.values():
            writer.close()
