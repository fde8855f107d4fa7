"""``rnnlab runs`` and ``rnnlab compare``: the run directories of a folder as one table, and several
runs side by side (the options that differ, the results, the loss curves overlaid in compare.html)."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import files
from ..viz.plots import plot_histories
from .report import Table, escape, html_head, html_image, html_section, html_table
from .runs import PARTIAL, format_table, read_owner
from .seeds import read_histories

#: The result a run is known by, the first of these its rows have: key, format spec, how it reads.
HEADLINES = [
    ("correct_percent", ".1f", "{} % correct"),
    ("accuracy", ".4f", "accuracy {}"),
    ("val_bits", ".3f", "{} bits/char"),
    ("rmse", ".2f", "RMSE {}"),
    ("prediction", ".2f", "prediction {}"),
    ("ratio", ".1e", "first/last {}"),
]
LABELS = ("cell", "model")  # the key that names a row (a cell, a model), where a run has several


@dataclass(frozen=True)
class RunInfo:
    """What ``rnnlab runs`` shows of one run directory."""

    path: Path
    experiment: str
    started: str
    status: str
    seconds: float | None
    headline: str


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_folders(folder: Path) -> list[Path]:
    """The run directories in ``folder``: those with a config.json, finished or not."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; give the folder that holds the runs (default: runs).")
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / "config.json").is_file())


def status_of(path: Path) -> str:
    """complete, warned, incomplete (failed or stopped), running (a live partial) or killed."""
    match = PARTIAL.fullmatch(path.name)
    if match is not None:
        owner = read_owner(path) or {}
        pid, host = owner.get("pid"), owner.get("host")
        alive = isinstance(pid, int) and not files.abandoned(path, pid, host if isinstance(host, str) else None)
        return "running" if alive else "killed"
    status = read_json(path / "status.json").get("status")
    return status if isinstance(status, str) else "complete"


def experiment_of(path: Path, config: Mapping[str, Any]) -> str:
    if isinstance(config.get("experiment"), str):
        return str(config["experiment"])
    command = config.get("command")
    return str(command[1]) if isinstance(command, list) and len(command) > 1 else path.name.split("-")[0]


def seconds_of(path: Path, started: str) -> float | None:
    """From ``started`` to the last file the run wrote."""
    try:
        begun = time.mktime(time.strptime(started, "%Y-%m-%d %H:%M:%S"))
        last = max(p.stat().st_mtime for p in path.iterdir() if p.is_file())
    except (ValueError, OSError):
        return None
    return max(0.0, last - begun)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def rows_of(metrics: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A run's result rows and the number of seeds they summarise (1: a single run)."""
    seeds = metrics.get("seeds")
    if isinstance(seeds, dict) and isinstance(seeds.get("summary"), list):
        return [dict(r) for r in seeds["summary"]], len(seeds.get("seeds", []))
    results = metrics.get("results")
    if isinstance(results, list):
        return [dict(r) for r in results if isinstance(r, dict)], 1
    return ([dict(metrics)] if metrics else []), 1


def label(row: Mapping[str, Any]) -> str:
    return next((str(row[k]) for k in LABELS if isinstance(row.get(k), str)), "")


def headline(metrics: Mapping[str, Any]) -> str:
    """The run's main result, per cell or model: ``LSTM 95.2 % correct, GRU 97.0 % correct``;
    a run over seeds shows the medians."""
    rows, seeds = rows_of(metrics)
    for key, spec, reads in HEADLINES:
        parts = []
        for row in rows:
            value = row.get(key)
            if isinstance(value, str):  # a summary over seeds: "median [min, max]"
                value = value.split(" [")[0]
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                value = format(value, spec)
            else:
                continue
            parts.append(f"{label(row)} {reads.format(value)}".strip())
        if parts:
            return ", ".join(parts) + (f" (median of {seeds} seeds)" if seeds > 1 else "")
    return "-"


def read_run(path: Path) -> RunInfo:
    config = read_json(path / "config.json")
    started = str(config.get("started", "-"))
    return RunInfo(
        path=path,
        experiment=experiment_of(path, config),
        started=started,
        status=status_of(path),
        seconds=seconds_of(path, started),
        headline=headline(read_json(path / "metrics.json")),
    )


RUN_COLUMNS = [
    ("experiment", "experiment", ""),
    ("started", "started", ""),
    ("status", "status", ""),
    ("duration", "duration", ""),
    ("result", "result", ""),
    ("path", "path", ""),
]


def runs_table(folder: Path) -> str:
    """The runs of ``folder``, newest first, as ``rnnlab runs`` prints them."""
    infos = sorted((read_run(p) for p in run_folders(folder)), key=lambda i: (i.started, i.path.name), reverse=True)
    if not infos:
        return f"No runs in {folder}."
    rows = [
        {
            "experiment": i.experiment,
            "started": i.started,
            "status": i.status,
            "duration": duration(i.seconds),
            "result": i.headline,
            "path": str(i.path),
        }
        for i in infos
    ]
    return format_table(rows, RUN_COLUMNS)


# -- compare ----------------------------------------------------------------------------------------


def shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ",".join(map(str, value)) if value else "none"
    return "none" if value is None else str(value)


def check_run(path: Path) -> Path:
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no config.json); give folders that rnnlab runs wrote.")
    return path


def names_of(paths: Sequence[Path]) -> list[str]:
    """Column headers: the folders' names, or their paths where two share a name."""
    names = [p.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def differing_options(paths: Sequence[Path], names: Sequence[str]) -> Table:
    configs = [read_json(p / "config.json") for p in paths]
    options = [c.get("options", {}) for c in configs]
    extra = [{"experiment": experiment_of(p, c), "seeds": c.get("seeds")} for p, c in zip(paths, configs, strict=True)]
    keys = list(dict.fromkeys(["experiment", "seeds", *(k for o in options for k in o)]))
    rows = []
    for key in keys:
        values = [shown({**e, **o}.get(key)) for e, o in zip(extra, options, strict=True)]
        if len(set(values)) > 1:
            rows.append({"option": key, **dict(zip(names, values, strict=True))})
    if not rows:
        return "The runs have the same options."
    return rows, [("option", "option", ""), *((n, n, "") for n in names)]


def results_side_by_side(paths: Sequence[Path], names: Sequence[str]) -> Table:
    """One line per result (a row's label and a number it holds), one column per run."""
    values: dict[str, dict[str, str]] = {}
    for path, name in zip(paths, names, strict=True):
        rows, _ = rows_of(read_json(path / "metrics.json"))
        for row in rows:
            for key, value in row.items():
                if key in (*LABELS, "seed") or isinstance(value, (bool, list, dict)) or value is None:
                    continue
                if isinstance(value, str) and not value[:1].isdigit():
                    continue
                values.setdefault(f"{label(row)} {key}".strip(), {})[name] = shown(value)
    if not values:
        return "The runs have no results to compare."
    rows = [{"result": result, **by_run} for result, by_run in values.items()]
    return rows, [("result", "result", ""), *((n, n, "") for n in names)]


def text_of(table: Table) -> str:
    return table if isinstance(table, str) else format_table(*table)


def histories_of(path: Path) -> dict[str, dict[str, list[float]]]:
    """A run's histories; a run over seeds: the median of its seeds at each epoch."""
    own = read_histories(path)
    if own:
        return own
    per_seed = [read_histories(p) for p in sorted(path.glob("seed-*")) if p.is_dir()]
    median: dict[str, dict[str, list[float]]] = {}
    for model in dict.fromkeys(m for h in per_seed for m in h):
        for quantity in dict.fromkeys(q for h in per_seed for q in h.get(model, {})):
            curves = [h[model][quantity] for h in per_seed if quantity in h.get(model, {})]
            longest = max(map(len, curves))
            median.setdefault(model, {})[quantity] = [
                statistics.median(c[e] for c in curves if len(c) > e) for e in range(longest)
            ]
    return median


def draw_overlaid(paths: Sequence[Path], names: Sequence[str], target: Path) -> bool:
    """The runs' curves in one figure, a colour per run (and model); False when no run kept a history."""
    histories = {
        f"{name} {model}" if len(history) > 1 else name: values
        for name, history in zip(names, (histories_of(p) for p in paths), strict=True)
        for model, values in history.items()
    }
    if not histories:
        return False
    losses = [v for h in histories.values() for q, curve in h.items() if "loss" in q for v in curve]
    plot_histories(histories, target, title="the runs' curves overlaid", log_scale=all(v > 0 for v in losses))
    return True


def compare(paths: Sequence[Path], out: Path) -> str:
    """The options that differ and the results side by side (returned as printed); writes ``out``,
    a self-contained page with the same tables and the loss curves overlaid."""
    if len(paths) < 2:
        raise ValueError(f"compare needs at least two runs, received {len(paths)}.")
    runs = [check_run(p) for p in paths]
    names = names_of(runs)
    options, results = differing_options(runs, names), results_side_by_side(runs, names)
    curves = out.with_name(f".{out.stem}-curves.png")
    drawn = draw_overlaid(runs, names, curves)
    try:
        images = [html_image(out.parent, ("Loss curves overlaid (a colour per run)", curves))] if drawn else []
    finally:
        curves.unlink(missing_ok=True)
    listing = "".join(f"<li>{escape(name)}: {escape(path)}</li>" for name, path in zip(names, runs, strict=True))
    page = "\n".join(
        [
            *html_head(f"Comparing {len(runs)} runs", {}),
            f"<ul>{listing}</ul>",
            *html_section("options", "Options that differ", [html_table(options)]),
            *html_section("results", "Results", [html_table(results)]),
            *html_section("plots", "Plots", images),
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )
    files.write_text(out, page)
    return f"Options that differ:\n\n{text_of(options)}\n\nResults:\n\n{text_of(results)}"
