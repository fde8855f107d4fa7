"""What measuring the kernel choice costs the first call: W1's model (``workloads.py`` sizes), its
first training step and first epoch, in fresh processes with ``RNNLAB_KERNEL_CHOICE=order`` (no
measuring) and ``measure`` (the default) on an empty measurement file, and ``measure`` again with
the file the previous process wrote (nothing is measured).

Each process gets its own cache folder holding a copy of this machine's compiled kernel, so no
process compiles and each measuring process starts from no recorded answer. The modes take
turns; the medians over ``--repeats`` rounds are printed, with the time spent inside the
measurements themselves.

    python benchmarks/kernel_choice.py --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
import torch
torch.set_num_threads({threads})
sys.path.insert(0, {benchmarks!r})
import rnnlab
from rnnlab.kernels import build, choice
from rnnlab.layers import Dense
from workloads import CELLS, FULL, w1_data

build.library()
spent = []
measure = choice._measure
def timed(*call):
    start = time.perf_counter()
    try:
        return measure(*call)
    finally:
        spent.append(time.perf_counter() - start)
choice._measure = timed

s = FULL
x, y, xv, yv = w1_data(s)
layer = CELLS[{cell!r}][0]
model = rnnlab.Sequential(
    [layer(s.w1_units, return_sequences=True, input_shape=(s.w1_length, 2)), layer(s.w1_units), Dense(1)]
)
model.compile(optimizer="adam", loss="mse")
start = time.perf_counter()
model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0)
step, step_measuring = time.perf_counter() - start, sum(spent)
start = time.perf_counter()
model.fit(x, y, batch_size=32, epochs=1, validation_data=(xv, yv), verbose=0)
epoch = time.perf_counter() - start
print(json.dumps({{"step": step, "step_measuring": step_measuring, "epoch": epoch, "measuring": sum(spent),
    "measurements": len(spent), "kernels": [layer.last_kernel for layer in model.layers[:2]]}}))
"""


def run(mode: str, cache: Path, args: argparse.Namespace) -> dict:
    program = CHILD.format(threads=args.threads, benchmarks=str(Path(__file__).parent), cell=args.cell)
    environment = {**os.environ, "RNNLAB_KERNEL_CACHE": str(cache), "RNNLAB_KERNEL_CHOICE": mode}
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the {mode} process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def fresh_cache(scratch: Path, name: str) -> Path:
    """A private cache folder holding only the compiled kernel (no measurement file)."""
    from rnnlab.kernels import build

    library = build.library()
    if library is None:
        sys.exit(f"no native kernel: {build.unavailable_reason()}")
    folder = scratch / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    for file in (library.path.name, library.path.name + build.RECORD_SUFFIX):
        shutil.copy2(library.path.parent / file, folder / file)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cell", choices=("SimpleRNN", "LSTM", "GRU"), default="SimpleRNN")
    args = parser.parse_args()
    rounds: dict[str, list[dict]] = {"order": [], "measure": [], "measure, file written": []}
    with tempfile.TemporaryDirectory(prefix="rnnlab-choice-") as scratch:
        for _ in range(args.repeats):
            rounds["order"].append(run("order", fresh_cache(Path(scratch), "order"), args))
            cache = fresh_cache(Path(scratch), "measure")
            rounds["measure"].append(run("measure", cache, args))
            rounds["measure, file written"].append(run("measure", cache, args))
    print(f"W1 ({args.cell}), {args.threads} thread(s), medians of {args.repeats} rounds, seconds:")
    print(f"{'mode':24} {'first step':>10} {'measuring':>10} {'first epoch':>11} {'measuring':>10} measurements")
    for mode, results in rounds.items():
        median = {key: statistics.median(r[key] for r in results) for key in results[0] if key != "kernels"}
        print(
            f"{mode:24} {median['step']:10.3f} {median['step_measuring']:10.3f} {median['epoch']:11.3f} "
            f"{median['measuring']:10.3f} {int(median['measurements']):12d}  {results[-1]['kernels']}"
        )


if __name__ == "__main__":
    main()
