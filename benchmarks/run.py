"""rnnlab against PyTorch's nn.* and Keras 3, side by side: ``make bench`` or ``python benchmarks/run.py``.

rnnlab and PyTorch run in this process, same sizes, data and threads, warm-up excluded, their
repetitions alternating; Keras runs the same workloads in one subprocess per backend (a
backend is chosen per process): the torch backend when ``keras`` is importable here, the
TensorFlow backend with the Python of a side environment given by ``--keras-tf-python`` or
``$RNNLAB_BENCH_TF_PYTHON`` (``pip install tensorflow-cpu keras`` there). Missing competitors
are skipped with a note. W3 and W4's inference also runs in ONNX Runtime (``pip install
'rnnlab[export]'``): the same model written by ``model.export``, the same batches, its session on
as many intra-op threads as ``--threads``. Writes ``results.json`` and ``results.md`` to ``--out``; prints the
table: medians, and each competitor's time over rnnlab's (above 1: rnnlab is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads as wl  # noqa: E402

import rnnlab  # noqa: E402

WORKLOADS = ("W1", "W2", "W3", "W4")
COMPETITORS = ("PyTorch", "ONNX Runtime", "Keras (torch)", "Keras (TF)")
UNITS = {  # what one timed unit is, and how the table shows it
    "W1": ("s / epoch", None),
    "W2": ("s / step", "w2_steps"),
    "W3": ("chars / s", "w3_chars"),
    "W4": ("s / epoch", None),
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def side_by_side(units: dict[str, wl.Unit], repeats: int) -> dict[str, list[float]]:
    """Seconds per unit for each competitor, repetitions alternating (the order flips each round)."""
    times: dict[str, list[float]] = {name: [] for name in units}
    names = list(units)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            start = time.perf_counter()
            units[name]()
            times[name].append(time.perf_counter() - start)
    return times


def in_process(selected: list[str], s: wl.Sizes, repeats: int, threads: int, log) -> list[dict]:
    results = []
    onnx = wl.onnxruntime_missing() is None

    def add(workload: str, variant: str, units: dict[str, wl.Unit]) -> None:
        log(f"{workload} {variant}: " + ", ".join(units))
        for name, times in side_by_side(units, repeats).items():
            results.append({"workload": workload, "variant": variant, "competitor": name, "times": times})

    if "W1" in selected:
        for cell in wl.CELLS:
            add("W1", cell, {"rnnlab": wl.w1_rnnlab(cell, s), "PyTorch": wl.w1_torch(cell, s)})
    if "W2" in selected:
        for cell in ("LSTM", "GRU"):
            add("W2", cell, {"rnnlab": wl.w2_rnnlab(cell, s), "PyTorch": wl.w2_torch(cell, s)})
    if "W3" in selected:
        ort = {"ONNX Runtime": wl.w3_onnxruntime(s, threads)} if onnx else {}
        add("W3", "LSTM", {"rnnlab": wl.w3_rnnlab(s), "PyTorch": wl.w3_torch(s), **ort})
    if "W4" in selected:
        add("W4", "train", {"rnnlab": wl.w4_train_rnnlab(s), "PyTorch": wl.w4_train_torch(s)})
        ort = {"ONNX Runtime": wl.w4_predict_onnxruntime(s, threads)} if onnx else {}
        add("W4", "predict", {"rnnlab": wl.w4_predict_rnnlab(s), "PyTorch": wl.w4_predict_torch(s), **ort})
    return results


def keras_runs(selected: list[str], s: wl.Sizes, repeats: int, threads: int, tf_python: str | None, log):
    """Keras's results per backend, and a note for each backend that could not run."""
    config = json.dumps({"workloads": selected, "sizes": asdict(s), "repeats": repeats, "threads": threads})
    candidates = [("Keras (torch)", "torch", sys.executable), ("Keras (TF)", "tensorflow", tf_python)]
    results, notes, versions = [], [], {}
    for label, backend, python in candidates:
        if python is None:
            notes.append(f"{label}: skipped, no Python with Keras and TensorFlow given (--keras-tf-python)")
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        log(f"{label}: {python}")
        proc = subprocess.run(
            [python, str(HERE / "keras_worker.py"), config], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            notes.append(f"{label}: skipped ({last})")
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        versions[label] = f"Keras {out['keras']} ({out['backend']})"
        results += [{**r, "competitor": label} for r in out["results"]]
    return results, notes, versions


def summarise(results: list[dict], s: wl.Sizes) -> list[dict]:
    """One row per workload and variant: each competitor's median and its ratio to rnnlab's."""
    rows: dict[tuple[str, str], dict] = {}
    for r in results:
        row = rows.setdefault((r["workload"], r["variant"]), {"workload": r["workload"], "variant": r["variant"]})
        row[r["competitor"]] = statistics.median(r["times"])
    for row in rows.values():
        base = row.get("rnnlab")
        row["ratios"] = {c: row[c] / base for c in COMPETITORS if c in row and base}
    return list(rows.values())


def shown(workload: str, seconds: float, s: wl.Sizes) -> str:
    unit, per = UNITS[workload]
    if workload == "W3":
        return f"{s.w3_chars / seconds:,.0f}"
    if workload == "W2":
        return f"{seconds / s.w2_steps:.3f}"
    return f"{seconds:.3f}"


def markdown(rows: list[dict], machine: dict, notes: list[str], s: wl.Sizes) -> str:
    present = [c for c in COMPETITORS if any(c in row for row in rows)]
    head = ["workload", "unit", "rnnlab", *present, *(f"{c} / rnnlab" for c in present)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        w = row["workload"]
        unit = "samples / s" if row["variant"] == "predict" else UNITS[w][0]
        if row["variant"] == "predict":
            values = [f"{s.w4_test / row[c]:,.0f}" if c in row else "-" for c in ("rnnlab", *present)]
        else:
            values = [shown(w, row[c], s) if c in row else "-" for c in ("rnnlab", *present)]
        ratios = [f"{row['ratios'][c]:.2f}x" if c in row["ratios"] else "-" for c in present]
        lines.append("| " + " | ".join([f"{w} {row['variant']}", unit, *values, *ratios]) + " |")
    info = (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads; "
        f"PyTorch {machine['torch']}, rnnlab {machine['rnnlab']}"
        + (f", ONNX Runtime {machine['onnxruntime']}" if machine.get("onnxruntime") else "")
        + "".join(f", {v}" for v in machine["keras"].values())
        + f"; load average {machine['load_before']:.1f} before, {machine['load_after']:.1f} after; "
        f"medians of {machine['repeats']} repetitions."
    )
    return "\n".join([info, "", *lines, "", *(f"- {n}" for n in notes)]) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="default: every core")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, one repetition: a smoke test")
    parser.add_argument("--keras", choices=("auto", "off"), default="auto")
    parser.add_argument("--keras-tf-python", default=os.environ.get("RNNLAB_BENCH_TF_PYTHON"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    s = wl.TINY if args.tiny else wl.FULL
    repeats = 1 if args.tiny else args.repeats

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    results = in_process(args.workloads, s, repeats, args.threads, log)
    notes: list[str] = []
    missing = wl.onnxruntime_missing()
    if missing and {"W3", "W4"} & set(args.workloads):
        notes.append(missing)
    versions: dict[str, str] = {}
    if args.keras == "auto":
        keras_results, keras_notes, versions = keras_runs(
            args.workloads, s, repeats, args.threads, args.keras_tf_python, log
        )
        results += keras_results
        notes += keras_notes
    else:
        notes.append("Keras: skipped (--keras off)")
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "rnnlab": rnnlab.__version__,
        "python": platform.python_version(),
        "keras": versions,
        "onnxruntime": None if missing else wl.onnxruntime_version(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "repeats": repeats,
        "tiny": args.tiny,
    }
    rows = summarise(results, s)
    report = {"machine": machine, "sizes": asdict(s), "notes": notes, "rows": rows, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    table = markdown(rows, machine, notes, s)
    (args.out / "results.md").write_text(table)
    if not args.quiet:
        print(table)
    return report


if __name__ == "__main__":
    main()
