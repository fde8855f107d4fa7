"""Run directories and result tables shared by every experiment."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from .. import __version__, saving
from ..training import distributed


def versions() -> dict[str, str]:
    return {
        "rnnlab": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


class RunDir:
    """A run directory, built under a hidden temporary name and renamed into place when the run
    completes, so a directory under its final name always holds a whole run.

    If the run fails after it started writing, what was written is kept as ``<name>.incomplete``
    (with the error in ``status.json``) rather than lost.
    """

    def __init__(self, task: str, out: str | os.PathLike | None = None) -> None:
        self.scratch: Path | None = None
        if not distributed.current().is_main:  # one process of a data-parallel run: process 0 writes
            self.scratch = Path(tempfile.mkdtemp(prefix="rnnlab-worker-"))
            out = self.scratch / task
        if out is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{task}-{stamp}"
            n = 1
            while out.exists():
                out, n = Path("runs") / f"{task}-{stamp}-{n}", n + 1
        self.final = Path(out)
        if self.final.exists() and any(self.final.iterdir()):
            raise ValueError(
                f"Run directory {self.final} already exists and is not empty; choose another --out or remove it."
            )
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = self.final.parent / f".{self.final.name}.partial-{os.getpid()}"
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            return
        if error is None:
            if self.final.exists():
                self.final.rmdir()  # empty, checked in __init__
            os.replace(self.path, self.final)
            return
        if any(p.name != "config.json" for p in self.path.iterdir()):
            self.write_json("status.json", {"status": "incomplete", "error": f"{kind.__name__}: {error}"})
            kept = self.final.with_name(self.final.name + ".incomplete")
            shutil.rmtree(kept, ignore_errors=True)
            os.replace(self.path, kept)
            print(f"The run stopped early; what it finished is in {kept}", file=sys.stderr)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        saving.write_text(self.file(name), json.dumps(data, indent=2, default=_json_default) + "\n")
        return self.file(name)

    def write_config(self, config: Any, **extra: Any) -> Path:
        options = asdict(config) if is_dataclass(config) else dict(config)
        process = distributed.current()
        if process.world > 1:
            extra["processes"] = process.world
            if "batch_size" in options:
                extra["global_batch_size"] = options["batch_size"] * process.world
        return self.write_json(
            "config.json",
            {
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
        saving.write_text(self.file(name), buffer.getvalue())
        return self.file(name)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


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
