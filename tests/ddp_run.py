"""A training run for the data-parallel tests: ``[torchrun ...] python ddp_run.py OUT BATCH [options]``.

Trains an LSTM regressor on fixed data with shuffle=False and validation data; every process writes
OUT/rank<r>.json (its logs, stop epoch and a weight checksum) and process 0 writes
OUT/weights.safetensors. ``--model``: ``plain``; ``masked`` (Masking, samples of 2-6 steps; samples 2k
and 2k+1 have the same length); ``stateful`` (states carried from batch to batch, the batch size fixed).
``--early-stop``: an EarlyStopping that fires after the second epoch. ``--weights-from FILE`` loads
weights first; ``--fail RANK`` makes that process raise in its second batch; ``--backup DIR`` adds
BackupAndRestore(DIR) and ``--crash-epoch E`` makes every process raise as epoch E begins.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import rnnlab
from rnnlab.callbacks import BackupAndRestore, EarlyStopping, LambdaCallback
from rnnlab.layers import LSTM, Dense, Masking


def build(kind: str, batch_size: int) -> rnnlab.Sequential:
    if kind == "masked":
        return rnnlab.Sequential([rnnlab.Input((6, 3)), Masking(), LSTM(8), Dense(1)])
    if kind == "stateful":
        return rnnlab.Sequential([rnnlab.Input((6, 3), batch_size=batch_size), LSTM(8, stateful=True), Dense(1)])
    return rnnlab.Sequential([rnnlab.Input((6, 3)), LSTM(8), Dense(1)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("batch_size", type=int)
    parser.add_argument("--weights-from")
    parser.add_argument("--fail", type=int)
    parser.add_argument("--model", choices=["plain", "masked", "stateful"], default="plain")
    parser.add_argument("--early-stop", action="store_true")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backup")
    parser.add_argument("--crash-epoch", type=int)
    args = parser.parse_args()

    rnnlab.set_seed(5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6, 3)).astype("float32")
    if args.model == "masked":
        lengths = np.repeat(rng.integers(2, 7, size=64), 2)  # each process sees as many steps as the other
        x[np.arange(6)[None, :] >= lengths[:, None]] = 0.0
    y = x.sum(axis=(1, 2)).astype("float32")[:, None] / 6
    model = build(args.model, args.batch_size)
    if args.weights_from:
        model.load_weights(args.weights_from)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    stop = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)  # no epoch improves by 10
    callbacks = [stop] if args.early_stop else []
    if args.backup:
        callbacks.append(BackupAndRestore(args.backup))
    if args.crash_epoch is not None:

        def crash(epoch, logs):
            if epoch == args.crash_epoch:
                raise RuntimeError(f"crashed as epoch {epoch} began")

        callbacks.append(LambdaCallback(on_epoch_begin=crash))
    if args.fail is not None:

        def fail(batch, logs):
            if model.trainer.process.rank == args.fail and batch == 1:
                raise ValueError(f"process {args.fail} failed on purpose")

        callbacks.append(LambdaCallback(on_train_batch_end=fail))
    history = model.fit(
        x[:96],
        y[:96],
        batch_size=args.batch_size,
        epochs=args.epochs,
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
