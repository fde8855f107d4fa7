"""The multiplication problem in rnnlab and in Keras 3 (TensorFlow), over seeds: two distributions
and a two-sample test per cell.

    python benchmarks/keras_seeds.py --seeds 5 --out bench/keras-seeds   # both sides, then the test

The rnnlab side is the command, ``rnnlab multiplication --seeds N --jobs J --threads 1``. The Keras
side is the same setting written as a plain Keras program (``keras_program`` below), run per seed by
the Python of a side environment with Keras and TensorFlow (``--keras-tf-python`` or
``$RNNLAB_BENCH_TF_PYTHON``; ``pip install tensorflow-cpu keras numpy`` there), one thread, on the
data of rnnlab's own generator for that seed (saved as ``data/seed-N.npz``; each side records a
digest of the data it trained on, and the comparison refuses digests that differ). Each side writes
``rnnlab.json`` / ``keras.json`` (a row per seed and cell: % correct, test MSE, seconds; the wall
time, the threads); once both are there, ``comparison.json`` and ``comparison.md`` hold per cell
the median [min, max] of each side and the exact Mann-Whitney U test of the two. ``--sides`` runs
one side (for example both at once in two processes); ``--sides none`` only compares.

Run with ``--keras-worker DATA CONFIG`` by the side environment's Python: that mode imports
neither rnnlab nor PyTorch.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
LABELS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
#: The setting both sides share: ``rnnlab multiplication``'s options of the same names.
SETTING = {
    "cells": ["simple_rnn", "lstm", "gru"],
    "length": 100,
    "samples": 3000,
    "train_samples": 2560,
    "validation_split": 0.2,
    "units": 30,
    "epochs": 100,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "tolerance": 0.04,
}
EXACT_SPLITS = 1_000_000  # beyond this many ways to split the pooled sample, the p-value is sampled


# -- the two-sample test ---------------------------------------------------------------------------


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + 1 + end) / 2  # mean of ranks start+1 .. end
            start = end
    return ranks


def mann_whitney(a: Sequence[float], b: Sequence[float], draws: int = 200_000) -> tuple[float, float]:
    """Mann-Whitney U of ``a`` against ``b`` and its two-sided p-value.

    U = (rank sum of ``a`` in the pooled sample) - n(n+1)/2, as ``scipy.stats.mannwhitneyu`` gives
    it. The p-value is a permutation test, two-sided as scipy's: twice the smaller share of the
    ways to deal the pooled ranks into groups of len(a) and len(b) whose U is at most, or at least,
    the observed one. It is exact (every split, ties kept as midranks) up to ``EXACT_SPLITS``
    splits, else estimated from ``draws`` random splits (seeded).
    """
    n, m = len(a), len(b)
    if n < 1 or m < 1:
        raise ValueError(f"each sample needs at least one value, received {n} and {m}.")
    ranks = midranks(np.concatenate([np.asarray(a, float), np.asarray(b, float)]))
    offset = n * (n + 1) / 2
    observed = ranks[:n].sum() - offset
    if math.comb(n + m, n) <= EXACT_SPLITS:
        groups = np.array(list(itertools.combinations(range(n + m), n)))  # (splits, n)
    else:
        rng = np.random.default_rng(0)
        groups = np.argsort(rng.random((draws, n + m)), axis=1)[:, :n]  # (draws, n)
    u = ranks[groups].sum(axis=1) - offset
    at_most, at_least = np.mean(u <= observed + 1e-9), np.mean(u >= observed - 1e-9)
    return float(observed), float(min(1.0, 2 * min(at_most, at_least)))


# -- the data ----------------------------------------------------------------------------------------


def digest(x: np.ndarray, y: np.ndarray) -> str:
    """A short fingerprint of a data set: the two sides must have trained on the same bytes."""
    sha = hashlib.sha256(np.ascontiguousarray(x, np.float32).tobytes())
    sha.update(np.ascontiguousarray(y, np.float32).tobytes())
    return sha.hexdigest()[:16]


def write_data(seed: int, setting: dict[str, Any], path: Path) -> str:
    """The seed's data exactly as ``rnnlab multiplication --seed SEED`` draws it, saved to ``path``."""
    from rnnlab.datasets import multiplication_problem

    x, y = multiplication_problem(setting["samples"], setting["length"], rng=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    return digest(x, y)


# -- the Keras side ------------------------------------------------------------------------------------


def keras_program(
    x: np.ndarray, y: np.ndarray, seed: int, setting: dict[str, Any], keras: Any = None
) -> list[dict[str, Any]]:
    """The multiplication problem as a plain Keras program: one model per cell, each seeded with ``seed``.

    ``keras``: the module that runs it, Keras itself unless given (``rnnlab`` runs the same program
    with its imports changed)."""
    if keras is None:
        import keras
    layers = keras.layers
    cells = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
    split = setting["train_samples"]
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
    rows = []
    for cell in setting["cells"]:
        keras.utils.set_random_seed(seed)
        recurrent = cells[cell]
        model = keras.Sequential(
            [
                keras.Input((setting["length"], 2)),
                recurrent(setting["units"], return_sequences=True),
                recurrent(setting["units"]),
                layers.Dense(1),
            ]
        )
        model.compile(optimizer=keras.optimizers.Adam(setting["learning_rate"]), loss="mse")
        started = time.perf_counter()
        history = model.fit(
            x_train,
            y_train,
            validation_split=setting["validation_split"],
            batch_size=setting["batch_size"],
            epochs=setting["epochs"],
            verbose=0,
        )
        seconds = time.perf_counter() - started
        errors = model.predict(x_test, batch_size=256, verbose=0)[:, 0] - y_test
        rows.append(
            {
                "seed": seed,
                "cell": LABELS[cell],
                "test_mse": float(np.mean(errors**2)),
                "correct_percent": float(100 * np.mean(np.abs(errors) <= setting["tolerance"])),
                "epochs": len(history.history["loss"]),
                "seconds": seconds,
            }
        )
    return rows


def keras_worker(data: str, config: str) -> None:
    """One seed of the Keras side, in the side environment: prints one JSON object.

    The result is kept beside the data (``seed-N.keras.json``), so that a benchmark run again, or
    one running beside it on the same folder, reuses a seed already trained with the same setting;
    a lock makes a second worker for the seed wait for the first's result instead of training too."""
    setting = json.loads(config)
    kept = Path(data).with_suffix(".keras.json")
    with open(Path(data).with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kept.exists() and json.loads(kept.read_text())["setting"] == setting:
            print(kept.read_text().strip())
            return
        result = {**keras_seed(data, setting), "setting": setting}
        temporary = kept.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(result) + "\n")
        temporary.replace(kept)
    print(json.dumps(result))


def keras_seed(data: str, setting: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    arrays = np.load(data)
    x, y = arrays["x"], arrays["y"]
    rows = keras_program(x, y, setting["seed"], setting)
    return {"keras": keras.__version__, "tensorflow": tf.__version__, "digest": digest(x, y), "rows": rows}


def run_keras_seed(python: str, data: Path, seed: int, setting: dict[str, Any]) -> dict[str, Any]:
    threads = dict.fromkeys(("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"), "1")
    env = {**os.environ, **threads, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [python, str(HERE / "keras_seeds.py"), "--keras-worker", str(data), json.dumps({**setting, "seed": seed})]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the Keras run of seed {seed} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def keras_side(seeds: list[int], setting: dict[str, Any], out: Path, python: str, jobs: int) -> dict[str, Any]:
    """Every seed's Keras run, ``jobs`` at a time, on rnnlab's data for that seed."""
    started = time.perf_counter()
    digests = {seed: write_data(seed, setting, out / "data" / f"seed-{seed}.npz") for seed in seeds}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(
            pool.map(lambda seed: run_keras_seed(python, out / "data" / f"seed-{seed}.npz", seed, setting), seeds)
        )
    for seed, result in zip(seeds, runs, strict=True):
        if result["digest"] != digests[seed]:
            raise RuntimeError(f"seed {seed}: Keras trained on data {result['digest']}, rnnlab drew {digests[seed]}")
    return {
        "side": f"Keras {runs[0]['keras']} (TensorFlow {runs[0]['tensorflow']})",
        "threads": 1,
        "jobs": jobs,
        "wall_seconds": time.perf_counter() - started,
        "digests": {str(seed): digests[seed] for seed in seeds},
        "rows": [row for result in runs for row in result["rows"]],
    }


# -- the rnnlab side -------------------------------------------------------------------------------------


def rnnlab_command(seeds: list[int], setting: dict[str, Any], out: Path, jobs: int) -> list[str]:
    """``rnnlab multiplication`` over ``seeds`` with the shared setting, one thread per seed."""
    options = [f"--{name.replace('_', '-')}={value}" for name, value in setting.items() if name != "cells"]
    return [
        "multiplication",
        f"--cells={','.join(setting['cells'])}",
        *options,
        *seed_options(seeds),
        f"--jobs={jobs}",
        "--threads=1",
        "--quiet",
        f"--out={out}",
    ]


def seed_options(seeds: list[int]) -> list[str]:
    """``--seed S --seeds N`` for consecutive seeds (the command reads a lone number as a count), else the list."""
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return [f"--seed={seeds[0]}", f"--seeds={len(seeds)}"]
    return [f"--seeds={','.join(map(str, seeds))}"]


def rnnlab_side(seeds: list[int], setting: dict[str, Any], out: Path, jobs: int) -> dict[str, Any]:
    """The command's rows per seed, read from its metrics.json."""
    import rnnlab
    from rnnlab.datasets import multiplication_problem

    names = itertools.chain(["rnnlab-run"], (f"rnnlab-run-{n}" for n in itertools.count(1)))
    run_dir = next(out / name for name in names if not (out / name).exists())  # a new run each time
    arguments = rnnlab_command(seeds, setting, run_dir, jobs)
    started = time.perf_counter()
    code = "import sys; from rnnlab.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"rnnlab multiplication failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    rows = json.loads((run_dir / "metrics.json").read_text())["results"]
    keep = ("seed", "cell", "test_mse", "correct_percent", "epochs", "seconds")
    digests = {}
    for seed in seeds:
        x, y = multiplication_problem(setting["samples"], setting["length"], rng=seed)
        digests[str(seed)] = digest(x, y)
    return {
        "side": f"rnnlab {rnnlab.__version__}",
        "command": "rnnlab " + " ".join(arguments),
        "threads": 1,
        "jobs": jobs,
        "wall_seconds": wall,
        "digests": digests,
        "rows": [{name: row[name] for name in keep} for row in rows],
    }


# -- the comparison ----------------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}, {max(values):.1f}]"


def compare(rnnlab_result: dict[str, Any], keras_result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per cell: each side's % correct over the seeds both ran, and the Mann-Whitney test of the two."""
    shared = sorted(set(rnnlab_result["digests"]) & set(keras_result["digests"]), key=int)
    differ = [seed for seed in shared if rnnlab_result["digests"][seed] != keras_result["digests"][seed]]
    if differ:
        raise ValueError(f"the two sides trained on different data for seeds {', '.join(differ)}")
    comparisons = []
    for cell in dict.fromkeys(row["cell"] for row in rnnlab_result["rows"]):

        def scores(result: dict[str, Any], cell: str = cell) -> list[float]:
            return [r["correct_percent"] for r in result["rows"] if r["cell"] == cell and str(r["seed"]) in shared]

        ours, theirs = scores(rnnlab_result), scores(keras_result)
        if not ours or not theirs:
            continue
        u, p = mann_whitney(ours, theirs)
        comparisons.append({"cell": cell, "seeds": len(shared), "rnnlab": ours, "keras": theirs, "u": u, "p": p})
    return comparisons


def table(comparisons: list[dict[str, Any]], rnnlab_name: str, keras_name: str) -> str:
    """A Markdown table: per cell, median [min, max] % correct of each side, the seeds, U and p."""
    lines = [
        f"| cell | {rnnlab_name}: % correct | {keras_name}: % correct | seeds | U | p (Mann-Whitney, two-sided) |",
        "|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c['cell']} | {spread(c['rnnlab'])} | {spread(c['keras'])} | {c['seeds']} | {c['u']:g} | {c['p']:.3f} |"
        )
    return "\n".join(lines)


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1) + "\n")


def write_comparison(out: Path) -> str:
    rnnlab_result = json.loads((out / "rnnlab.json").read_text())
    keras_result = json.loads((out / "keras.json").read_text())
    comparisons = compare(rnnlab_result, keras_result)
    text = table(comparisons, rnnlab_result["side"], keras_result["side"])
    write_json(out / "comparison.json", comparisons)
    (out / "comparison.md").write_text(text + "\n")
    return text


# -- the command -------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The processor's name as ``lscpu`` shows it (Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def seed_list(text: str) -> list[int]:
    """``5`` (seeds 0-4) or ``0,3,7``."""
    if "," in text:
        return [int(part) for part in text.split(",")]
    return list(range(int(text)))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=seed_list, default=seed_list("5"), help="a count (from 0) or a list")
    parser.add_argument("--sides", default="rnnlab,keras", help="rnnlab, keras, both (rnnlab,keras) or none")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once on each side (one thread each)")
    parser.add_argument("--keras-tf-python", default=os.environ.get("RNNLAB_BENCH_TF_PYTHON"))
    parser.add_argument("--out", type=Path, default=Path("bench/keras-seeds"))
    for name, value in SETTING.items():
        if name != "cells":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--cells", default=",".join(SETTING["cells"]))
    args = parser.parse_args(argv)
    setting = {name: getattr(args, name) for name in SETTING}
    setting["cells"] = args.cells.split(",")
    sides = [side for side in args.sides.split(",") if side != "none"]
    machine = {"cpu": cpu_model(), "cores": os.cpu_count()}
    summary: dict[str, Any] = {"setting": setting, "machine": machine}
    if "rnnlab" in sides:
        summary["rnnlab"] = rnnlab_side(args.seeds, setting, args.out, args.jobs)
        write_json(args.out / "rnnlab.json", {**summary["rnnlab"], "setting": setting, "machine": machine})
    if "keras" in sides:
        if not args.keras_tf_python:
            raise SystemExit("the Keras side needs --keras-tf-python PYTHON (or $RNNLAB_BENCH_TF_PYTHON)")
        summary["keras"] = keras_side(args.seeds, setting, args.out, args.keras_tf_python, args.jobs)
        write_json(args.out / "keras.json", {**summary["keras"], "setting": setting, "machine": machine})
    if (args.out / "rnnlab.json").exists() and (args.out / "keras.json").exists():
        summary["table"] = write_comparison(args.out)
        print(summary["table"])
    return summary


if __name__ == "__main__":
    if sys.argv[1:2] == ["--keras-worker"]:
        keras_worker(sys.argv[2], sys.argv[3])
    else:
        try:
            main()
        except (RuntimeError, ValueError) as error:  # a side that failed, data that differ: one line
            raise SystemExit(f"keras_seeds.py: {error}") from None
