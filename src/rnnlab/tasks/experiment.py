"""The run every experiment shares: seeds, fit with progress, timing, the files, the report, the output.

A task supplies its data, its models and its measurements; ``Run`` does the rest in one order::

    with Run("sequence", config, out, quiet) as run:
        model = run.model(build_model, config.units)    # seeded with config.seed
        model.compile(optimizer="adam", loss="mse")
        fitted = run.fit(model, "sequence", x, y, epochs=config.epochs)   # progress bar, seconds
        run.keep("Model", model, fitted.history)        # history.csv, model.safetensors, its summary
        results = Results("Prediction", [measure(model)], COLUMNS)
        run.finish("The tutorial toy", {"results": results.rows, "table": results.text},
                   tables=[results], figures=[Figure("loss.png", "Training loss", draw_loss)])
        run.say("\\n" + results.text)
    # printed now, after the run directory is in place, then "Run directory: <folder>" and
    # "Report: <folder>/report.html"

``Run.model`` is the one place a run seeds: every model of a run starts from the same seed, so
cells are compared on equal terms. Running an experiment over several seeds, to report each
measure as a median and a range, belongs there and in ``Run.finish``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..callbacks import Callback, EpochProgress, History
from ..core.devices import resolve_device
from ..core.seed import set_seed
from .report import Columns, Table, write_report
from .runs import RunDir, format_table, take_over

M = TypeVar("M")


@dataclass(frozen=True)
class Figure:
    """An image of the run, declared once: ``draw(path)`` writes it to ``file`` in the run
    directory, and the report shows it under ``caption`` (the file name when None)."""

    file: str
    caption: str | None
    draw: Callable[[Path], object]


@dataclass(frozen=True)
class Results:
    """Rows of results under a heading: ``text`` as printed and stored in metrics.json, the rows
    and columns as the report draws them."""

    heading: str
    rows: Sequence[Mapping[str, Any]]
    columns: Columns

    @property
    def text(self) -> str:
        return format_table(self.rows, self.columns)


@dataclass(frozen=True)
class Fitted:
    """What ``Run.fit`` returns: the history of the fit and the seconds it took."""

    history: History
    seconds: float

    @property
    def epochs(self) -> int:
        return len(self.history.epoch)

    @property
    def measures(self) -> dict[str, Any]:
        """The row entries of ``TRAINED``."""
        return {"epochs": self.epochs, "seconds": self.seconds}


# Columns that results tables share: (key, header, format spec), as format_table takes them.
PARAMS = ("params", "params", ",")
EPOCHS = ("epochs", "epochs", "d")
TRAINED = [EPOCHS, ("seconds", "seconds", ".1f")]  # how long a model trained: Fitted.measures


class Run:
    """One run of an experiment, from its config to its closing line.

    Opens the run directory (``runs/<task>-<time>`` or ``out``) and writes ``config.json`` with
    ``recorded`` beside the options (e.g. ``resolved={...}``: what was read from the data).
    ``continues``: the folder of an interrupted run whose files this run takes over first.
    When the run completes, the lines given to ``say`` are printed, then ``<closing>: <folder>`` and
    ``Report: <folder>/report.html``.
    """

    def __init__(
        self,
        task: str,
        config: Any,
        out: str | None = None,
        quiet: bool = False,
        *,
        continues: Path | None = None,
        closing: str = "Run directory",
        **recorded: Any,
    ) -> None:
        self.dir = RunDir(task, out)
        if getattr(config, "device", None) == "auto":  # the report shows which device auto chose
            recorded["resolved"] = {**recorded.get("resolved", {}), "device": f"auto: {resolve_device('auto')}"}
        self.config, self.quiet, self.continues, self.closing, self.recorded = (
            config,
            quiet,
            continues,
            closing,
            recorded,
        )
        self.summaries: dict[str, str] = {}
        self.unsaved: dict[str, Any] = {}  # model file -> model, saved after the results
        self.lines: list[str] = []

    def __enter__(self) -> Run:
        self.dir.__enter__()
        try:
            if self.continues is not None:
                take_over(self.continues, self.dir.path)
            self.dir.write_config(self.config, **self.recorded)
        except BaseException as error:
            self.dir.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.dir.__exit__(kind, error, tb)
        if error is None:
            for line in self.lines:
                print(line)
            print(f"\n{self.closing}: {self.final}")
            report = self.final / "report.html"
            if report.is_file():
                print(f"Report: {report}")  # the page to open next, as the last line

    @property
    def final(self) -> Path:
        """The run directory's name once the run completes."""
        return self.dir.final

    def file(self, name: str) -> Path:
        return self.dir.file(name)

    # -- models -------------------------------------------------------------------------------------
    def model(self, build: Callable[..., M], *args: Any, **kwargs: Any) -> M:
        """``build(*args, **kwargs)`` right after seeding with the config's seed."""
        set_seed(self.config.seed)
        return build(*args, **kwargs)

    def fit(self, model: Any, label: str, *args: Any, callbacks: Sequence[Callback] = (), **kwargs: Any) -> Fitted:
        """``model.fit(*args, **kwargs)`` with Keras's progress display, its lines named ``label``
        (unless quiet), timed.

        The bar comes after the task's callbacks, so it shows the values they add to the logs."""
        progress = [] if self.quiet else [EpochProgress(label)]
        started = time.perf_counter()
        history = model.fit(*args, callbacks=[*callbacks, *progress], verbose=0, **kwargs)
        return Fitted(history, time.perf_counter() - started)

    def keep(
        self,
        label: str,
        model: Any,
        history: History | None = None,
        name: str = "",
        save: bool = True,
        at_once: bool = False,
    ) -> None:
        """Keep a model of the run: its summary under ``label`` in the report, its history in
        ``history[-name].csv``, its weights in ``model[-name].safetensors`` (unless ``save`` is False).

        The model file is written after metrics.json and the figures, so that a disk filled by a
        large model leaves the results; ``at_once``: now (one of several models, kept as each is
        trained, so that an interrupted run keeps those it finished)."""
        suffix = f"-{name}" if name else ""
        if history is not None:
            self.dir.write_history(f"history{suffix}.csv", history)
        if save:
            self.unsaved[f"model{suffix}.safetensors"] = model
        if at_once:
            self.save_models()
        self.summaries[label] = model.summary(print_fn=None)

    def save_models(self) -> None:
        while self.unsaved:
            file, model = self.unsaved.popitem()
            model.save(str(self.file(file)))

    # -- results ------------------------------------------------------------------------------------
    def finish(
        self,
        title: str,
        metrics: Mapping[str, Any] | None,
        tables: Sequence[Results],
        figures: Sequence[Figure] = (),
        notes: Sequence[str] = (),
        intro: str | None = None,
        findings: Sequence[str] = (),
        examples: Mapping[str, Table] | None = None,
    ) -> None:
        """Write ``metrics.json`` (unless None), draw the figures, write ``report.html``: opened by
        ``findings`` (sentences computed from the results), ``examples`` under the results."""
        if metrics is not None:
            self.dir.write_json("metrics.json", metrics)
        for figure in figures:
            figure.draw(self.file(figure.file))
        self.save_models()
        write_report(
            self.dir,
            title,
            self.config,
            tables={table.heading: (table.rows, table.columns) for table in tables},
            summaries=self.summaries,
            images=[(figure.caption, figure.file) if figure.caption else figure.file for figure in figures],
            notes=notes,
            intro=intro,
            findings=findings,
            examples=examples,
        )

    def say(self, *lines: str) -> None:
        """Lines to print once the run completes, before its closing line."""
        self.lines += lines

    def note(self, notes: Sequence[str]) -> None:
        """Print the run's notes (what was done to the data) under its table."""
        self.say(*(f"  note: {note}" for note in notes))
