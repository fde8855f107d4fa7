"""Run directories and result tables shared by every experiment."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np
import torch

from .. import __version__
from ..core import files
from ..training import distributed


def versions() -> dict[str, str]:
    return {
        "rnnlab": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


PARTIAL = re.compile(r"\.(?P<name>.+)\.partial(?:-(?P<pid>\d+))?")  # .<name>.partial (older: -<pid>)
OWNER = ".owner.json"  # in a partial folder: the pid and host of the run writing it


class RunDir:
    """A run directory, built under a hidden temporary name and renamed into place when the run
    completes, so a directory under its final name always holds a whole run.

    While the run works its files are in ``.<name>.partial`` beside the final folder, with the
    run's pid and host in ``.owner.json``; creating that folder is atomic, and reserves ``<name>``:
    two runs started in the same second get ``<task>-<stamp>`` and ``<task>-<stamp>-1``. The
    folder becomes ``<name>`` when the run completes (``<name>-1`` if ``<name>`` was taken in the
    meantime), or ``<name>.incomplete`` (``.incomplete-1``, ...; never replacing one) with the error
    in ``status.json`` if it fails after writing results. A partial folder whose run was killed is
    turned into such an ``.incomplete`` folder (or removed, if it holds no results) by the next run
    started beside it.

    Values that are not finite are written to JSON as null; they, non-finite histories and rnnlab's
    RuntimeWarnings (a training stopped on a NaN loss) are listed in ``status.json`` (status
    "warned") and on stderr when the run completes.
    """

    def __init__(self, task: str, out: str | os.PathLike[str] | None = None) -> None:
        self.task = task
        self.warnings: list[str] = []
        self._catcher: warnings.catch_warnings[None] | None = None
        self.scratch: Path | None = None
        if not distributed.current().is_main:  # one process of a data-parallel run: process 0 writes
            self.scratch = Path(tempfile.mkdtemp(prefix="rnnlab-worker-"))
            out = self.scratch / task
        if out is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            parent = Path("runs")
            parent.mkdir(parents=True, exist_ok=True)
            clean_stale_runs(parent)
            for n in itertools.count():
                self.final = parent / (f"{task}-{stamp}" if n == 0 else f"{task}-{stamp}-{n}")
                if not self.final.exists() and self._reserve():
                    break
            return
        self.final = Path(out)
        if self.final.name in ("", ".", "..") or self.final.resolve() in (Path.cwd(), *Path.cwd().parents):
            raise ValueError(f"--out {out} names the current folder or one above it; give a new folder for the run.")
        if self.final.exists() and not self.final.is_dir():
            raise ValueError(f"--out {self.final} is a file, not a folder; give a new folder for the run.")
        if self.final.is_dir() and any(self.final.iterdir()):
            raise ValueError(
                f"Run directory {self.final} already exists and is not empty; choose another --out or remove it."
            )
        self.final.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_runs(self.final.parent)
        if not self._reserve():
            owner = read_owner(self.path) or {}
            raise ValueError(
                f"Another rnnlab run (pid {owner.get('pid', '?')}) is writing {self.final} now; "
                "wait for it to finish or choose another --out."
            )

    def _reserve(self) -> bool:
        """Create the partial folder of ``self.final``; False if another run holds it."""
        self.path = self.final.parent / f".{self.final.name}.partial"
        try:
            self.path.mkdir()
        except FileExistsError:
            return False
        files.write_text(self.path / OWNER, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        return True

    def __enter__(self) -> RunDir:
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        shown = warnings.showwarning

        def record(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, RuntimeWarning) and Path(filename).is_relative_to(PACKAGE):
                self.warn(str(message))
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._catcher is not None:
            self._catcher.__exit__(None, None, None)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            return
        (self.path / OWNER).unlink(missing_ok=True)
        if error is None:
            try:
                if self.warnings:
                    self.write_json("status.json", {"status": "warned", "warnings": self.warnings})
                self.final = move_into_place(self.path, self.final)
            except OSError as err:  # a full disk, a folder gone read-only: keep what is there
                keep_incomplete(self.path, self.final, f"{type(err).__name__}: {err}")
                raise
            if self.warnings:
                listed = "".join(f"\n  - {w}" for w in self.warnings)
                print(f"The run completed with warnings (in {self.final / 'status.json'}):{listed}", file=sys.stderr)
            return
        kept = keep_incomplete(self.path, self.final, f"{type(error).__name__}: {error}")
        if isinstance(error, OSError) and error.strerror:  # the command's one line says it all
            name_kept(error, self.path, self.final, kept)
        elif kept is not None:
            print(f"The run stopped early; what it finished is in {kept}", file=sys.stderr)

    def warn(self, message: str) -> None:
        """Record a problem of the run (listed in status.json and on stderr at the end)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        """Strict JSON: values that are not finite become null, and are reported as warnings."""
        replaced: list[str] = []
        clean = finite_json(data, "", replaced)
        if replaced:
            self.warn(f"{name}: {', '.join(replaced)} not finite, written as null")
        files.write_text(self.file(name), json.dumps(clean, indent=2, allow_nan=False) + "\n")
        return self.file(name)

    def write_config(self, config: Any, **extra: Any) -> Path:
        options = asdict(config) if is_dataclass(config) and not isinstance(config, type) else dict(config)
        process = distributed.current()
        if process.world > 1:
            extra["processes"] = process.world
            if "batch_size" in options:
                extra["global_batch_size"] = options["batch_size"] * process.world
        return self.write_json(
            "config.json",
            {
                "experiment": self.task,
                "options": options,
                **extra,
                "versions": versions(),
                "threads": torch.get_num_threads(),
                "command": sys.argv,
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    def write_history(self, name: str, history: Any) -> Path:
        values = getattr(history, "history", history)
        keys = list(values)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for epoch in range(len(values[keys[0]]) if keys else 0):
            writer.writerow([epoch + 1, *(values[k][epoch] for k in keys)])
        for key in keys:
            bad = [i for i, v in enumerate(values[key]) if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                self.warn(f"{name}: {key} is {values[key][bad[0]]} from epoch {bad[0] + 1}")
        files.write_text(self.file(name), buffer.getvalue())
        return self.file(name)


PACKAGE = Path(__file__).resolve().parents[1]


def finite_json(value: Any, where: str, replaced: list[str]) -> Any:
    """``value`` made JSON-ready: NumPy scalars as numbers, paths as text, non-finite numbers as
    None (their places appended to ``replaced``)."""
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        replaced.append(where or "the value")
        return None
    if isinstance(value, dict):
        return {k: finite_json(v, f"{where}.{k}" if where else str(k), replaced) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v, f"{where}[{i}]", replaced) for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# -- naming and leftovers ---------------------------------------------------------------------------


def move_into_place(partial: Path, final: Path) -> Path:
    """Rename ``partial`` to ``final`` (absent or an empty folder), else to a fresh ``final-N``."""
    try:
        os.rename(partial, final)
        return final
    except OSError:  # taken in the meantime: not empty, or not a folder
        pass
    fresh = files.claim(final.with_name(final.name + "-1"))
    os.replace(partial, fresh)
    print(f"{final} was taken while the run worked; the run is in {fresh}", file=sys.stderr)
    return fresh


def keep_incomplete(partial: Path, final: Path, why: str) -> Path | None:
    """Keep what a failed or killed run wrote as ``<final>.incomplete[-N]`` (status.json says why);
    remove it if it holds nothing but its config. Returns where it went."""
    for entry in list(partial.iterdir()) if partial.is_dir() else []:
        if entry.name == OWNER or (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            entry.unlink(missing_ok=True)
    if not partial.is_dir() or not any(p.name != "config.json" for p in partial.iterdir()):
        shutil.rmtree(partial, ignore_errors=True)
        return None
    with contextlib.suppress(OSError):  # a full disk must not hide the first error
        files.write_text(partial / "status.json", json.dumps({"status": "incomplete", "error": why}, indent=2) + "\n")
    try:
        kept = files.claim(final.with_name(final.name + ".incomplete"))
        os.replace(partial, kept)
    except OSError:
        return partial
    return kept


def take_over(previous: Path, partial: Path) -> None:
    """Move what an interrupted run kept (``previous``, an ``.incomplete`` folder) into ``partial``,
    the folder of the run that continues it, and remove ``previous``: a continued run that stops
    again is kept as one ``.incomplete`` folder, never beside a copy of the last one."""
    for entry in previous.iterdir():
        if entry.name not in (OWNER, "status.json"):  # the new run's owner; status said "incomplete"
            os.replace(entry, partial / entry.name)
    shutil.rmtree(previous)


def name_kept(error: OSError, partial: Path, final: Path, kept: Path | None) -> None:
    """Let the error of a run stopped by its disk say where things are now: the file it names
    moved with the folder, and the folder that keeps what the run finished."""
    if error.filename is not None:
        with contextlib.suppress(ValueError):
            error.filename = str((kept or final) / Path(error.filename).relative_to(partial))
    if kept is not None:
        error.strerror = f"{error.strerror}; what the run finished is in {kept}"


def read_owner(partial: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads((partial / OWNER).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def clean_stale_runs(parent: Path) -> None:
    """Turn the partial folders of killed runs in ``parent`` into ``.incomplete`` ones (or remove
    them when they hold no results). A folder is stale when its owner process is gone from this
    host; one without an owner record (a kill right after creating it) once it is a minute old."""
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        found = [(Path(e.path), m) for e in entries if (m := PARTIAL.fullmatch(e.name)) and e.is_dir()]
    for partial, match in found:
        owner = read_owner(partial) or ({"pid": int(match["pid"])} if match["pid"] else None)
        pid = owner.get("pid") if owner else None
        pid = pid if isinstance(pid, int) else None
        host = owner.get("host", socket.gethostname()) if owner else None  # older records: this host
        if files.abandoned(partial, pid, host):
            why = f"killed: its process ({pid or 'unknown'}) ended before the run completed"
            with contextlib.suppress(OSError):
                keep_incomplete(partial, parent / match["name"], why)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A plain text table. ``columns``: (key, header, format spec), e.g. ("mse", "test MSE", ".4f")."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([format(row[key], spec) if row.get(key) is not None else "-" for key, _, spec in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
