"""A training run for the data-parallel tests: ``[torchrun ...] python ddp_run.py OUT BATCH [options]``.

Trains an LSTM regressor on fixed data with shuffle=False, validation data and an EarlyStopping that
fires after the second epoch; every process writes OUT/rank<r>.json (its logs, stop epoch and a
weight checksum) and process 0 writes OUT/weights.safetensors. ``--weights-from FILE`` loads weights
first; ``--fail RANK`` makes that process raise in its second batch.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import rnnlab
from rnnlab.callbacks import EarlyStopping, LambdaCallback
from rnnlab.layers import LSTM, Dense


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("batch_size", type=int)
    parser.add_argument("--weights-from")
    parser.add_argument("--fail", type=int)
    args = parser.parse_args()

    rnnlab.set_seed(5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6, 3)).astype("float32")
    y = x.sum(axis=(1, 2)).astype("float32")[:, None] / 6
    model = rnnlab.Sequential([rnnlab.Input((6, 3)), LSTM(8), Dense(1)])
    if args.weights_from:
        model.load_weights(args.weights_from)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    stop = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)  # no epoch improves by 10
    callbacks = [stop]
    if args.fail is not None:

        def fail(batch, logs):
            if model.trainer.process.rank == args.fail and batch == 1:
                raise ValueError(f"process {args.fail} failed on purpose")

        callbacks.append(LambdaCallback(on_train_batch_end=fail))
    history = model.fit(
        x[:96],
        y[:96],
        batch_size=args.batch_size,
        epochs=5,
        shuffle=False,
        validation_data=(x[96:], y[96:]),
        callbacks=callbacks,
        verbose=0,
    )
    evaluated = model.evaluate(x[96:], y[96:], verbose=0)  # a collective: every process takes part
    process = model.trainer.process
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if process.is_main:
        model.save_weights(out / "weights.safetensors")
    report = {
        "history": history.history,
        "epochs": history.epoch,
        "stopped_epoch": stop.stopped_epoch,
        "evaluate": evaluated,
        "processes": process.world,
        "checksum": float(sum(np.abs(w).sum() for w in model.get_weights())),
    }
    (out / f"rank{process.rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
