"""One experiment over several seeds: each seed a whole run in its own worker process, the results
as a distribution (every seed, then the median with its range, and how many seeds reach the
task's bar), in one run directory::

    <run>/seed-0/ ...      the run of seed 0, exactly as ``rnnlab <experiment> --seed 0`` writes it
    <run>/seed-1/ ...
    <run>/metrics.json     "results" (a row per seed and model) and "seeds" (summary, bar, table)
    <run>/seeds.png        every seed's curves faintly, their median boldly
    <run>/report.html

A seed run depends on its seed alone (one PyTorch thread per worker unless ``--threads`` says
otherwise), so its row equals the single run of that seed whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import multiprocessing
import os
import re
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..viz.plots import plot_seed_curves
from . import experiments
from .options import SEED_MAX, counted
from .report import Columns, write_report
from .runs import PARTIAL, RunDir, clean_stale_runs, format_table


class SeedLost(RuntimeError):
    """A worker process died (killed, out of memory) before its seed's run completed."""


@dataclass(frozen=True)
class Bar:
    """A level a seed's result reaches or not: ``column`` at least (or, ``below``, at most) ``level``."""

    column: str
    level: float
    says: str  # e.g. ">= 90 % correct", after the row's label
    below: bool = False

    def reached(self, value: float) -> bool:
        return value <= self.level if self.below else value >= self.level


#: Each experiment's table (the columns of its results rows) and its bar, where it has a natural one.
TABLES: dict[str, tuple[str, str, Bar | None]] = {
    # experiment -> (module, name of its columns, bar)
    "multiplication": ("multiplication", "COLUMNS", Bar("correct_percent", 90, ">= 90 % correct")),
    "sequence": ("sequence", "COLUMNS", None),
    "forecast": ("forecast", "COLUMNS", None),
    "gradients": ("flow", "COLUMNS", None),
    "classify": ("classify", "COLUMNS", None),
    "charrnn train": ("charrnn", "COLUMNS", None),
}


def parse_seeds(text: str, first: int) -> list[int]:
    """``--seeds``: a count (``10``: ``first`` .. ``first + 9``) or a list (``0,1,2``)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [int(p) for p in parts if p]
    except ValueError:
        numbers = []
    if not numbers or any(not 0 <= n <= SEED_MAX for n in numbers):
        raise ValueError(f"--seeds takes a count (--seeds 10) or a list of seeds (--seeds 0,1,2), received {text!r}.")
    if "," not in text:
        if first + numbers[0] - 1 > SEED_MAX:
            raise ValueError(f"--seeds {text} from --seed {first} passes the largest seed, {SEED_MAX}.")
        return list(range(first, first + numbers[0]))
    if len(set(numbers)) < len(numbers):
        raise ValueError(f"--seeds lists a seed twice: {text!r}; give each seed once.")
    return numbers


def jobs_for(jobs: int | None, seeds: int) -> int:
    """Worker processes: ``--jobs``, else one per seed up to the number of cores."""
    if jobs is None:
        return max(1, min(os.cpu_count() or 1, seeds))
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, received {jobs}.")
    return min(jobs, seeds)


def one_seed(name: str, config: Any, out: str, threads: int) -> dict[str, Any]:
    """Run experiment ``name`` with ``config`` (its seed set) into ``out``, in a worker process; its result.

    The run's console output is dropped: the seeds' table says it all."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    with contextlib.redirect_stdout(io.StringIO()):
        return experiments()[name].run(config, out=out, quiet=True)


def rows_of(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A run's results rows (``sequence`` returns its one row as the result itself)."""
    if "results" in result:
        return [dict(row) for row in result["results"]]
    return [{k: v for k, v in result.items() if k != "run_dir"}]


def run_seeds(
    name: str, config: Any, seeds: Sequence[int], jobs: int, threads: int, out: str | None, quiet: bool
) -> dict[str, Any]:
    """Experiment ``name`` once per seed, ``jobs`` at a time, into one run directory; prints the tables."""
    module, columns_name, bar = TABLES[name]
    columns: Columns = getattr(importlib.import_module(f"{__package__}.{module}"), columns_name)
    results: dict[int, list[dict[str, Any]]] = {}
    with RunDir(name.replace(" ", "-"), out) as run_dir:
        run_dir.write_config(config, seeds=list(seeds), jobs=jobs, threads_per_seed=threads)
        started = time.perf_counter()
        context = multiprocessing.get_context("forkserver" if sys.platform == "linux" else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures: dict[int, Future[dict[str, Any]]] = {
                seed: pool.submit(
                    one_seed, name, replace(config, seed=seed), str(run_dir.file(f"seed-{seed}")), threads
                )
                for seed in seeds
            }
            try:
                for seed, future in futures.items():
                    results[seed] = rows_of(future.result())
                    if not quiet:
                        print(f"seed {seed}: done ({len(results)} of {len(seeds)})", file=sys.stderr)
            except BrokenProcessPool:
                running = running_seeds(run_dir.path)
                stop_workers(pool, run_dir.path)
                raise SeedLost(lost_seeds(running or [s for s in seeds if s not in results])) from None
            except BaseException:  # a seed's error, Ctrl-C, SIGTERM: no seed goes on without the run
                stop_workers(pool, run_dir.path)
                raise
        wall = time.perf_counter() - started  # all seeds, from the first worker's start to the last result
        summary = summarise(results, columns, bar)
        per_seed = [{"seed": seed, **row} for seed, rows in results.items() for row in rows]
        seed_columns = [("seed", "seed", "d"), *columns]
        table = format_table(per_seed, seed_columns)
        summary_columns = [(key, header, "") for key, header in summary["columns"]]
        summary_table = format_table(summary["rows"], summary_columns)
        each = "PyTorch's default threads" if threads == 0 else counted(threads, "thread")
        heading = f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), {jobs} at a time, {each} each"
        run_dir.write_json(
            "metrics.json",
            {
                "results": per_seed,
                "seeds": {
                    "seeds": list(seeds),
                    "jobs": jobs,
                    "threads_per_seed": threads,
                    "cpus": os.cpu_count(),
                    "wall_seconds": wall,
                    "summary": summary["rows"],
                    "bar": summary["bar"],
                    "table": table,
                    "summary_table": summary_table,
                },
            },
        )
        curves = draw_seed_curves(run_dir.path, seeds, run_dir.file("seeds.png"))
        write_report(
            run_dir,
            f"rnnlab {name} over {len(seeds)} seeds",
            config,
            tables={
                "Median [min, max] over the seeds": (summary["rows"], summary_columns),
                "Every seed": (per_seed, seed_columns),
            },
            images=[("Every seed's curves (faint) and their median (bold)", "seeds.png")] if curves else [],
            notes=summary["bar"],
            findings=explain(results, columns, bar),
            intro=f"{heading}, {wall:.1f} s in all on {counted(os.cpu_count() or 1, 'CPU')}; "
            "each seed's own run and report are in its seed-N folder.",
        )
    print(f"\n{heading}:\n\n{table}\n\nMedian [min, max] over the seeds:\n\n{summary_table}")
    if summary["bar"]:
        print("\n" + "\n".join(summary["bar"]))
    print(f"\nRun directory: {run_dir.final}\nReport: {run_dir.final / 'report.html'}")
    return {"results": per_seed, "summary": summary["rows"], "bar": summary["bar"], "run_dir": str(run_dir.final)}


def running_seeds(partial: Path) -> list[int]:
    """The seeds whose runs are under way in the run's folder (their ``.seed-N.partial`` folders)."""
    found = (PARTIAL.fullmatch(entry.name) for entry in partial.iterdir())
    return sorted(int(m["name"][5:]) for m in found if m and re.fullmatch(r"seed-\d+", m["name"]))


def stop_workers(pool: ProcessPoolExecutor, partial: Path) -> None:
    """End the pool now: no queued seed starts, the running ones are terminated, and what they were
    writing becomes ``seed-N.incomplete`` (or goes, when it held no results)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # the executor has no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(timeout=10)
    clean_stale_runs(partial)


def lost_seeds(seeds: Sequence[int]) -> str:
    """The error of a run whose worker died, naming the seed(s) it was running."""
    which = ", ".join(map(str, seeds))
    return (
        f"a worker process ended before its run completed (killed, or out of memory) while "
        f"seed{'s' if len(seeds) > 1 else ''} {which} ran; the run stopped there"
    )


def _number(value: float, spec: str) -> str:
    """``value`` in its column's format; an integer column's median may fall between two integers."""
    if spec in ("d", ","):
        return format(int(value), spec) if value.is_integer() else format(value, ".1f" if spec == "d" else ",.1f")
    return format(value, spec)


def summarise(results: Mapping[int, Sequence[Mapping[str, Any]]], columns: Columns, bar: Bar | None) -> dict[str, Any]:
    """Per row of a seed's table (a model, a cell): its text columns, then each number as
    ``median [min, max]``; and how many seeds reach ``bar``."""
    tables = list(results.values())
    text = [(k, h) for k, h, spec in columns if spec == ""]
    numbers = [(k, h, spec) for k, h, spec in columns if spec != ""]
    rows, lines = [], []
    for i, first in enumerate(tables[0]):
        same = [t[i] for t in tables if len(t) > i]
        row = {k: str(first.get(k, "")) for k, _ in text}
        for key, _, spec in numbers:
            values = [
                float(r[key]) for r in same if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
            ]
            if values:
                middle, low, high = (_number(v, spec) for v in (statistics.median(values), min(values), max(values)))
                row[key] = f"{middle} [{low}, {high}]"
        rows.append(row)
        if bar is not None and isinstance(first.get(bar.column), (int, float)):
            reached = sum(bar.reached(float(r[bar.column])) for r in same)
            label = " ".join(row[k] for k, _ in text[:1])
            lines.append(f"{label} {bar.says} in {reached} of {len(same)}".strip())
    return {"columns": [*text, *[(k, h) for k, h, _ in numbers]], "rows": rows, "bar": lines}


#: The measure a seed's row is known by, the first of these its columns have.
HEADLINES = ("correct_percent", "accuracy", "val_bits", "rmse", "prediction", "ratio")
NAMES = ("cell", "model", "stage")  # the keys that name a row of a seed's table, where it has several


def explain(results: Mapping[int, Sequence[Mapping[str, Any]]], columns: Columns, bar: Bar | None) -> list[str]:
    """A sentence per row of a seed's table (a cell, a model): the headline measure's median and range
    over the seeds and, with a bar, how many seeds reach it."""
    keys = [key for key, _, _ in columns]
    key = bar.column if bar is not None else next((k for k in HEADLINES if k in keys), None)
    if key is None:
        return []
    header, spec = next((h, sp) for k, h, sp in columns if k == key)
    tables = list(results.values())
    sentences = []
    for i, first in enumerate(tables[0]):
        values = [float(t[i][key]) for t in tables if len(t) > i and isinstance(t[i].get(key), (int, float))]
        if not values:
            continue
        middle, low, high = (format(v, spec) for v in (statistics.median(values), min(values), max(values)))
        label = "".join(f"{first[k]} " for k in NAMES if first.get(k))  # e.g. "LSTM ", "GRU after 2 epochs "
        sentence = f"Over {counted(len(values), 'seed')}, {label}{header}: median {middle}, from {low} to {high}"
        if bar is not None:
            sentence += f"; {bar.says} in {sum(bar.reached(v) for v in values)} of {len(values)}"
        sentences.append(sentence + ".")
    return sentences


def read_histories(folder: Path) -> dict[str, dict[str, list[float]]]:
    """``history[-name].csv`` of one seed's run: name -> quantity -> values per epoch."""
    histories = {}
    for path in sorted(folder.glob("history*.csv")):
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            values: dict[str, list[float]] = {k: [] for k in reader.fieldnames or [] if k != "epoch"}
            for line in reader:
                for key in values:
                    values[key].append(float(line[key]) if line[key] not in ("", None) else float("nan"))
        histories[path.stem.removeprefix("history").removeprefix("-") or "model"] = values
    return histories


def draw_seed_curves(folder: Path, seeds: Sequence[int], path: Path) -> bool:
    """``plot_seed_curves`` of the seeds' histories; False when the runs kept none."""
    per_seed = [read_histories(folder / f"seed-{seed}") for seed in seeds]
    if not any(per_seed):
        return False
    plot_seed_curves(per_seed, path, title=f"{len(seeds)} seeds: each faint, their median bold")
    return True
