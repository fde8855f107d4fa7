"""Callbacks that report: the progress display, CSVLogger and TensorBoard."""

from __future__ import annotations

import csv
import io
import math
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ...core import files
from .callback import Callback, Logs


def format_logs(logs: Logs) -> str:
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


def report_evaluation(logs: Logs) -> None:
    """evaluate's one-line display (the progress display prints; the library logs)."""
    print(format_logs(logs), flush=True)


# -- the progress display: Keras's Progbar layout ----------------------------------------------------
BOLD, GREEN, GREY, RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"
ESCAPES = re.compile(r"\x1b\[[0-9;]*m")


def format_value(value: float) -> str:
    """A loss or metric as Keras prints it: 4 decimals, scientific once it is 1e-3 or smaller."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_duration(seconds: float) -> str:
    """An ETA as Keras prints it: ``42s``, ``3:05``, ``1:02:03``."""
    whole = int(seconds)  # truncated, as Keras's %d
    if seconds > 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    if seconds > 60:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole}s"


def format_step_time(seconds: float, unit: str = "step") -> str:
    """`` 52ms/step``: the time per step in s, ms or us, as Keras prints it."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit}"
    return f" {seconds * 1e6:.0f}us/{unit}"


def _count(current: int, target: int) -> str:
    return f"{current:>{len(str(target))}}/{target}"


def progress_bar_line(
    current: int,
    target: int | None,
    per_step: float,
    elapsed: float,
    logs: Mapping[str, float],
    final: bool,
    width: int = 20,
    mark: str = "━",
) -> str:
    """The terminal line of Keras's Progbar (``verbose=1``) after ``current`` of ``target`` steps:
    ``  3/20 ━━━━━━━━━━━━━━━━━━━━ 1s 52ms/step - loss: 0.1234``, with Keras's colours; the ETA while
    the epoch runs, the seconds it took once ``final``."""
    if target:
        done = int(width * current / target)
        bar = f"{BOLD}{_count(current, target)}{RESET} "
        if done > 0:
            bar += f"{GREEN}{mark * done}{RESET}"
        bar += f"{GREY}{mark * (width - done)}{RESET}"
    else:
        bar = f"{current:7d}/Unknown"
    seconds = elapsed if final or not target else per_step * (target - current)
    shown = f"{elapsed:.0f}s" if final or not target else format_duration(seconds)
    info = f" {BOLD}{shown}{RESET}" + format_step_time(per_step)
    return bar + info + "".join(f" - {k}: {format_value(v)}" for k, v in logs.items())


def progress_plain_line(current: int, target: int, per_step: float, elapsed: float, logs: Mapping[str, float]) -> str:
    """The line of Keras's Progbar at the end of an epoch with ``verbose=2``:
    ``20/20 - 1s - 52ms/step - loss: 0.1234 - val_loss: 0.2345``."""
    line = f"{_count(current, target)} - {elapsed:.0f}s -{format_step_time(per_step)}"
    return line + "".join(f" - {k}: {format_value(v)}" for k, v in logs.items())


def interactive(stream: TextIO) -> bool:
    """Whether ``stream`` shows a line redrawn in place: a terminal, or a Jupyter notebook."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty()) or "ipykernel" in sys.modules


class ProgressBar(Callback):
    """The progress display of ``fit``, in Keras's layout.

    ``verbose=1`` in a terminal: an ``Epoch i/n`` line, then a bar redrawn in place as the steps
    run (steps done, the bar, ETA, time per step, the running loss and metrics), at most every
    ``interval`` seconds, ending as the epoch's line with its seconds and validation values.
    ``verbose=2``, or any output that is not a terminal (a file, a pipe, CI): one plain line per
    epoch, ``Epoch 3/20 - 20/20 - 1s - 52ms/step - loss: 0.1234 - val_loss: 0.2345`` (Keras's
    ``verbose=2`` line, its ``Epoch i/n`` header joined to it), never a carriage return.
    ``label`` names the model on every line (``LSTM - Epoch 3/20``), for runs that fit several.
    """

    main_process_only = True
    backed_up = False  # a display: a run resumes whether or not it shows the bar
    interval = 0.1  # seconds between two redraws: the display costs nothing measurable

    def __init__(self, verbose: int = 1, label: str = "") -> None:
        self.verbose, self.label = verbose, label
        self.live = False

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.stream = sys.stdout
        self.live = self.verbose == 1 and interactive(self.stream)
        self.mark = "━" if _encodes(self.stream, "━") else "="

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        epochs = self.params["epochs"]
        self.title = f"{self.label} - " * bool(self.label) + f"Epoch {epoch + 1}/{epochs}"
        self.started = time.perf_counter()
        self.after_first: float | None = None  # the first step (compiling, warming caches) is not timed
        self.seen, self.drawn_at, self.drawn_width = 0, -math.inf, 0
        if self.live and (epochs > 1 or self.label):
            self._write(self.title + "\n")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.seen = batch + 1
        now = time.perf_counter()
        if self.seen == 1:
            self.after_first = now
        if self.live and now - self.drawn_at >= self.interval:
            target = self.params.get("steps") or None
            per_step, elapsed = self._per_step(now), now - self.started
            self._draw(
                progress_bar_line(self.seen, target, per_step, elapsed, logs or {}, False, mark=self.mark), end=""
            )
            self.drawn_at = now

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        now = time.perf_counter()
        target = self.params.get("steps") or self.seen  # unknown in advance: the steps taken
        shown = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        per_step, elapsed = self._per_step(now), now - self.started
        if self.live:
            self._draw(progress_bar_line(self.seen, target, per_step, elapsed, shown, True, mark=self.mark), end="\n")
        else:
            self._write(f"{self.title} - {progress_plain_line(self.seen, target, per_step, elapsed, shown)}\n")

    def _per_step(self, now: float) -> float:
        """Seconds per step, as Keras estimates them: the first step left out once there are others."""
        if self.seen > 1 and self.after_first is not None:
            return (now - self.after_first) / (self.seen - 1)
        return (now - self.started) / self.seen if self.seen else 0.0

    def _draw(self, line: str, end: str) -> None:
        """Redraw the line in place, blanking what is left of a longer one drawn before."""
        width = len(ESCAPES.sub("", line))
        self._write("\r" + line + " " * max(0, self.drawn_width - width) + end)
        self.drawn_width = 0 if end else width

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class EpochProgress(ProgressBar):
    """The progress display of the commands: ``ProgressBar(verbose=1)`` with the model's name on
    its lines (``description``)."""

    def __init__(self, description: str = "") -> None:
        super().__init__(verbose=1, label=description)


def _encodes(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
