"""The tutorial toy: learn to continue a counting sequence, then extrapolate.

Training windows of three consecutive numbers (1,2,3 -> 4 ... 10,11,12 -> 13) plus three
windows of tens (20,30,40 -> 50; 30,40,50 -> 60; 40,50,60 -> 70); the model is
LSTM(64, return_sequences=True) -> SimpleRNN(64) -> Dense(64, relu) -> Dropout(0.2) -> Dense(1),
trained with batch size 1 and EarlyStopping(monitor="loss", patience=32, restore_best_weights).
The tutorial printed 80.20 for 50,60,70, but that was one lucky run: Keras 3 with exactly these
settings predicts 56-68 over ten seeds. A window beyond the training range asks the network to
extrapolate, which it does poorly; the output says how far outside the window lies.

``--models rnn,dnn,cnn`` adds the tutorial's other two nets on the same windows, each reading
them in its own shape: a Dense net takes a window as 3 numbers ``(3,)``, a Conv2D+Flatten net as
an image 3 high, 1 wide with 1 channel ``(3, 1, 1)``, the recurrent net as 3 steps of 1 value
``(3, 1)``. All end in the same Dense(64, relu) -> Dropout(0.2) -> Dense(1) head and are trained
the same way, each from the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..callbacks import EarlyStopping
from ..layers import LSTM, Conv2D, Dense, Dropout, Flatten, SimpleRNN
from ..models.model import Sequential
from ..preprocessing.arrays import split_x
from ..viz import plot_histories, plot_history
from .experiment import EPOCHS, Figure, Results, Run
from .options import counted, option, validate


@dataclass
class SequenceConfig:
    predict: list[float] = option([50.0, 60.0, 70.0], "the window whose next value to predict")
    models: list[str] = option(
        ["rnn"],
        "the nets to compare on the same windows: rnn, dnn (Dense), cnn (Conv2D+Flatten)",
        choices=["rnn", "dnn", "cnn"],
    )
    epochs: int = option(512, "maximum training epochs")
    patience: int = option(32, "early stopping patience on the training loss")
    batch_size: int = option(1, "samples per gradient step")
    units: int = option(64, "units of the LSTM, SimpleRNN and first Dense layer")
    seed: int = option(0, "random seed for initial weights, shuffling and dropout")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available)")

    def validate(self) -> None:
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(
                f"--models takes each of rnn, dnn, cnn at most once, at least one, received {','.join(self.models)}."
            )
        if len(self.predict) != 3:
            raise ValueError(
                f"--predict takes a window of 3 values (the model reads 3 steps), received "
                f"{len(self.predict)}: {self.predict}."
            )
        largest = float(np.finfo(np.float32).max)  # the model computes in float32
        outside = [v for v in self.predict if not abs(v) <= largest]
        if outside:
            raise ValueError(
                f"--predict takes finite values within float32's range (|v| <= {largest:.4g}), received "
                f"{', '.join(f'{v:g}' for v in outside)}. Give a window such as 50 60 70."
            )


def training_data() -> tuple[np.ndarray, np.ndarray]:
    windows = split_x(np.arange(1, 14), 4)  # (10, 4): 1..4, ..., 10..13
    tens = np.array([[20, 30, 40, 50], [30, 40, 50, 60], [40, 50, 60, 70]])
    rows = np.concatenate([windows, tens]).astype("float32")
    return rows[:, :3, None], rows[:, 3]  # x (13, 3, 1), y (13,)


def build_model(units: int) -> Sequential:
    return Sequential(
        [
            LSTM(units, return_sequences=True, input_shape=(3, 1)),
            SimpleRNN(units),
            Dense(units, activation="relu"),
            Dropout(0.2),
            Dense(1),
        ]
    )


def build_dense(units: int) -> Sequential:
    return Sequential(
        [Dense(units, activation="relu", input_shape=(3,)), Dense(units, activation="relu"), Dropout(0.2), Dense(1)]
    )


def build_conv(units: int) -> Sequential:
    return Sequential(
        [
            Conv2D(units, (2, 1), activation="relu", input_shape=(3, 1, 1)),  # a filter over 2 neighbouring values
            Flatten(),
            Dense(units, activation="relu"),
            Dropout(0.2),
            Dense(1),
        ]
    )


@dataclass(frozen=True)
class Net:
    label: str
    shape: tuple[int, ...]  # one window as this net reads it
    reads: str
    build: Callable[[int], Sequential]


NETS = {
    "rnn": Net("RNN", (3, 1), "a sequence of 3 steps of 1 value", build_model),
    "dnn": Net("Dense", (3,), "3 numbers side by side", build_dense),
    "cnn": Net("Conv2D", (3, 1, 1), "an image 3 high, 1 wide, 1 channel", build_conv),
}


def explain_shapes(config: SequenceConfig) -> list[str]:
    """How each compared net reads the same windows, and that they are trained alike."""
    reads = [f"{NETS[key].label} reads a window as {NETS[key].reads}, input {NETS[key].shape}" for key in config.models]
    return [
        "; ".join(reads) + ".",
        f"Each is trained the same way from seed {config.seed}: Adam on the MSE, batch size {config.batch_size}, "
        f"up to {counted(config.epochs, 'epoch')}, early stopping on the training loss with patience "
        f"{config.patience}.",
    ]


def run(config: SequenceConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    validate(config)
    x, y = training_data()
    window = np.asarray(config.predict, dtype="float32")
    beyond = float(max(0.0, window.max() - x.max(), x.min() - window.min()))
    compared = len(config.models) > 1
    with Run("sequence", config, out, quiet) as run:
        rows, histories = [], {}
        for key in config.models:
            net = NETS[key]
            result, history = train_one(run, config, net, x, y, window, beyond)
            label = net.label if compared else "Model"
            run.keep(label, model=result.pop("model"), history=history, name=key if compared else "")
            rows.append({"model": net.label, "input": str(net.shape), **result} if compared else result)
            histories[net.label] = history
        prediction = Results("Prediction", rows, ([MODEL, INPUT] if compared else []) + COLUMNS)
        losses = explain_losses(len(y)) + (explain_shapes(config) if compared else [])
        result = rows[0]
        figure = (
            (lambda path: plot_histories(histories, path, title="sequence toy: training loss", log_scale=True))
            if compared
            else (lambda path: plot_history(history, path, title="sequence toy: training loss", log_scale=True))
        )
        run.finish(
            "The tutorial toy: the next value of a counting sequence",
            {"results": rows, "table": prediction.text} if compared else {**result, "table": prediction.text},
            tables=[prediction],
            figures=[Figure("loss.png", "Training loss", figure)],
            notes=losses
            + ([f"The window {config.predict} lies {beyond:g} outside the training inputs."] if beyond > 0 else []),
            findings=explain(
                {NETS[key].label: row["prediction"] for key, row in zip(config.models, rows, strict=True)}, window
            ),
        )
        run.say("\n" + prediction.text, *losses)
        if beyond > 0:
            run.say(
                f"\nThe window {config.predict} lies {beyond:g} outside the training inputs "
                f"({x.min():g}..{x.max():g}): this is extrapolation, where recurrent nets are unreliable. "
                "Keras 3 predicts 56-68 for 50, 60, 70 over ten seeds (the tutorial's 80.20 was one lucky run)."
            )
    return {"results": rows, "run_dir": str(run.final)} if compared else {**result, "run_dir": str(run.final)}


def train_one(
    run: Run, config: SequenceConfig, net: Net, x: np.ndarray, y: np.ndarray, window: np.ndarray, beyond: float
) -> tuple[dict[str, Any], Any]:
    """Build ``net`` from the seed, train it on the windows in its own shape; its row (and the model)."""
    x = x.reshape((-1, *net.shape))
    model = run.model(net.build, config.units)
    model.compile(optimizer="adam", loss="mse", device=config.device)
    stop = EarlyStopping(monitor="loss", mode="min", patience=config.patience, restore_best_weights=True)
    label = net.label if len(config.models) > 1 else "sequence"
    history = run.fit(model, label, x, y, epochs=config.epochs, batch_size=config.batch_size, callbacks=[stop]).history
    result = {
        "window": config.predict,
        "prediction": float(model.predict(window.reshape((1, *net.shape)))[0, 0]),
        "epochs": len(history.epoch),
        "stopped_early": stop.stopped_epoch > 0,
        "best_epoch": stop.best_epoch + 1,
        "best_loss": float(min(history.history["loss"])),
        "train_loss": train_loss(model, x, y),
        "training_input_range": [float(x.min()), float(x.max())],
        "beyond_training_range": beyond,
        "model": model,
    }
    return result, history


def explain(predictions: dict[str, float], window: np.ndarray) -> list[str]:
    """Each net's prediction against the window's own continuation (its last step repeated), the closest named."""
    expected = float(window[-1] + (window[-1] - window[-2]))
    said = ", ".join(f"{v:g}" for v in window)
    misses = {label: abs(value - expected) for label, value in predictions.items()}
    sentences = [
        f"{label} predicted {value:.2f} for {said}; continuing the window's steps gives {expected:g}, "
        f"off by {misses[label]:.2f}."
        for label, value in predictions.items()
    ]
    if len(predictions) > 1:
        closest = min(misses, key=lambda label: misses[label])
        sentences.append(f"{closest} came closest.")
    return sentences


def explain_losses(windows: int) -> list[str]:
    """What the two losses of the table measure, so that neither is read as the other."""
    return [
        "best loss: the lowest training loss of an epoch (the mean MSE over its batches, while the weights "
        "changed and dropout was on); that epoch's weights are kept.",
        f"train MSE: the kept weights' MSE on the {windows} training windows afterwards, dropout off.",
    ]


def train_loss(model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    loss = model.evaluate(x, y, verbose=0)  # the loss alone: the model has no metrics
    assert isinstance(loss, float)
    return loss


MODEL = ("model", "model", "")
INPUT = ("input", "input shape", "")
COLUMNS = [
    ("window", "window", ""),
    ("prediction", "prediction", ".2f"),
    EPOCHS,
    ("best_epoch", "best epoch", "d"),
    ("best_loss", "best loss", ".3f"),
    ("train_loss", "train MSE", ".3f"),
]
