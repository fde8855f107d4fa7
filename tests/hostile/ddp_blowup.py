"""A data-parallel blow-up: ``torchrun --nproc-per-node=2 ddp_blowup.py OUT``.

Only process 1's loss turns infinite, at its fourth batch. Every process writes OUT/rank<r>.json:
its optimizer steps, the weights it ends with, the weights it held after each batch, and the
warnings it gave.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

import rnnlab
from rnnlab.callbacks import LambdaCallback
from rnnlab.layers import Dense, SimpleRNN


def main() -> None:
    out = Path(sys.argv[1])
    rnnlab.set_seed(0)
    x = (np.random.default_rng(0).normal(size=(64, 5, 1)) * 1e-3).astype("float32")
    y = x.sum(axis=(1, 2))
    model = rnnlab.Sequential([rnnlab.Input((5, 1)), SimpleRNN(8, activation="relu"), Dense(1)])
    calls = []

    def loss(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        error = (y_pred[:, 0] - y_true) ** 2
        return error * np.inf if torch.distributed.get_rank() == 1 and len(calls) == 4 else error

    model.compile(optimizer="sgd", loss=loss, learning_rate=0.1)
    held: list[list[list[float]]] = []
    keep = LambdaCallback(on_train_batch_end=lambda batch, logs: held.append(flat(model)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, callbacks=[keep])
    rank = model.trainer.process.rank
    report = {
        "steps": model.trainer.state.step,
        "weights": flat(model),
        "held": held,
        "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.json").write_text(json.dumps(report))


def flat(model: rnnlab.Sequential) -> list[float]:
    return [float(v) for w in model.get_weights() for v in np.ravel(w)]


if __name__ == "__main__":
    main()
