"""Data-parallel speed-up on the char-RNN model: 1 process vs N processes on this machine.

    python benchmarks/ddp_speedup.py [--nproc 2] [--steps 20]

Model: Embedding(65, 64) -> LSTM(256) x 2 -> Dense(65), sequences of 100 characters of tiny
shakespeare (synthetic ids if RNNLAB_DATA_DIR has no tinyshakespeare.txt), a global batch of 64,
Adam. One process uses all the cores' threads; N processes split the batch (64 / N each) and use
cores / N threads each. Prints the seconds per step (median of the timed steps) and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

GLOBAL_BATCH, SEQ, VOCAB = 64, 100, 65


def data(n_sequences: int) -> tuple[np.ndarray, np.ndarray]:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the repository, wherever it runs from
    path = Path(os.environ.get("RNNLAB_DATA_DIR", shared)) / "tinyshakespeare.txt"
    if path.exists():
        text = path.read_text()
        chars = sorted(set(text))
        ids = np.array([chars.index(c) for c in text[: n_sequences * SEQ + 1]], dtype=np.int64)
    else:
        ids = np.random.default_rng(0).integers(0, VOCAB, n_sequences * SEQ + 1)
    x = ids[:-1].reshape(n_sequences, SEQ)
    y = ids[1:].reshape(n_sequences, SEQ)
    return x, y


def worker(steps: int, out: str) -> None:
    import rnnlab
    from rnnlab.callbacks import LambdaCallback
    from rnnlab.layers import LSTM, Dense, Embedding

    rnnlab.set_seed(0)
    model = rnnlab.Sequential(
        [
            rnnlab.Input((SEQ,), dtype="int32"),
            Embedding(VOCAB, 64),
            LSTM(256, return_sequences=True),
            LSTM(256, return_sequences=True),
            Dense(VOCAB),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    x, y = data(GLOBAL_BATCH * (steps + 2))
    stamps: list[float] = []
    tick = LambdaCallback(on_train_batch_end=lambda batch, logs: stamps.append(time.perf_counter()))
    model.fit(x, y, batch_size=GLOBAL_BATCH // world, epochs=1, shuffle=False, verbose=0, callbacks=[tick])
    if int(os.environ.get("RANK", "0")) == 0:
        per_step = [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)]  # warm-up excluded
        Path(out).write_text(json.dumps({"median": statistics.median(per_step), "steps": len(per_step)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.worker)
        return
    cores = os.cpu_count() or 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for nproc in (1, args.nproc, 1, args.nproc):  # alternated
            out = f"{tmp}/{nproc}-{len(results)}.json"
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // nproc))}
            launcher = [sys.executable]
            if nproc > 1:
                launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
            subprocess.run([*launcher, __file__, "--steps", str(args.steps), "--worker", out], env=env, check=True)
            results.setdefault(nproc, []).append(json.loads(Path(out).read_text())["median"])
    one, many = min(results[1]), min(results[args.nproc])
    print(f"torch {torch.__version__}, {cores} cores; global batch {GLOBAL_BATCH} x {SEQ} characters")
    print(f"1 process ({cores} threads):  {one:.3f} s/step")
    print(f"{args.nproc} processes ({max(1, cores // args.nproc)} threads each): {many:.3f} s/step")
    print(f"speed-up: {one / many:.2f}x")


if __name__ == "__main__":
    main()
