"""A training run for the BackupAndRestore test: ``python backup_run.py WORKDIR KILL_AT``.

KILL_AT = "epoch:batch" sends SIGKILL to this process at that point (1-based); "never" runs
to the end. The final weights are written to WORKDIR/final.safetensors.
"""

import os
import signal
import sys

import numpy as np

import rnnlab
from rnnlab.callbacks import BackupAndRestore, CSVLogger, EarlyStopping, LambdaCallback
from rnnlab.layers import GRU, LSTM, Dense, Dropout


def main(workdir: str, kill_at: str) -> None:
    rnnlab.set_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 3)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64")
    model = rnnlab.Sequential(
        [
            LSTM(8, return_sequences=True, dropout=0.2, input_shape=(6, 3)),
            GRU(6, recurrent_dropout=0.3),
            Dropout(0.3),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    state = {"epoch": 0}

    def maybe_kill(batch, logs):
        if kill_at != "never" and f"{state['epoch'] + 1}:{batch + 1}" == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    callbacks = [
        LambdaCallback(on_epoch_begin=lambda epoch, logs: state.update(epoch=epoch), on_train_batch_end=maybe_kill),
        EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
        CSVLogger(os.path.join(workdir, "log.csv")),
        BackupAndRestore(os.path.join(workdir, "backup")),
    ]
    history = model.fit(x, y, batch_size=16, epochs=6, validation_split=0.25, callbacks=callbacks, verbose=0)
    model.save_weights(os.path.join(workdir, "final.safetensors"))
    print("epochs", history.epoch)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
