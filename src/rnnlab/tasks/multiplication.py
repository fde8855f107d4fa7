"""The marked multiplication (and adding) problem: why gated cells beat a plain RNN.

Hochreiter & Schmidhuber (1997), experiment 5: each sample is a sequence of (marker, value)
steps; two steps are marked, and the target is the product (or, for ``--task adding``, the
sum) of their values. The network must carry the first marked value until the end of the
sequence, often across dozens of steps: a plain RNN's gradient vanishes over that distance,
an LSTM's or GRU's gates let it through. Two stacked 30-unit layers + Dense(1), Adam, MSE,
batch 32, 100 epochs; 2,560 sequences train (20% of them validate) and 440 test. A test
prediction is correct when it lies within ``--tolerance`` of the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..callbacks import EarlyStopping
from ..datasets import adding_problem, multiplication_problem
from ..initializers import Orthogonal
from ..layers import GRU, LSTM, Dense, SimpleRNN
from ..models.model import Sequential
from ..viz import plot_histories, plot_scatter
from . import flow
from .experiment import PARAMS, TRAINED, Figure, Results, Run
from .options import counted, option, validate

CELLS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
LABELS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
PROBLEMS = {"multiplication": multiplication_problem, "adding": adding_problem}


@dataclass
class MultiplicationConfig:
    task: str = option(
        "multiplication", "which problem: the product or the sum of the marked values", choices=sorted(PROBLEMS)
    )
    cells: list[str] = option(["simple_rnn", "lstm", "gru"], "cells to compare", choices=sorted(CELLS))
    length: int = option(100, "time steps per sequence", minimum=2)
    positions: str = option(
        "anywhere",
        "where the two markers go: anywhere, or the 1997 paper's rule (the first "
        "in the first 10 steps, the second in the first half)",
        choices=["anywhere", "paper"],
    )
    samples: int = option(3000, "sequences generated", minimum=2)
    train_samples: int = option(
        2560, "the first ones train (the last --validation-split of them validate); the rest test"
    )
    validation_split: float = option(0.2, "fraction of the training samples held out for validation")
    units: int = option(30, "units in each of the two recurrent layers")
    epochs: int = option(100, "training epochs")
    batch_size: int = option(32, "samples per gradient step")
    learning_rate: float = option(1e-3, "Adam learning rate")
    patience: int | None = option(
        None,
        "stop a model after this many epochs without val_loss improvement "
        "(restoring its best weights); none: train every epoch",
    )
    tolerance: float = option(0.04, "a test prediction is correct when |prediction - target| <= tolerance", minimum=0)
    seed: int = option(0, "random seed for data, initial weights and shuffling")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available)")

    def validate(self) -> None:
        if not 0 < self.train_samples < self.samples:
            raise ValueError(
                f"--train-samples must be between 1 and --samples - 1 ({self.samples - 1}), "
                f"received {self.train_samples}."
            )
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"--validation-split must be in [0, 1), received {self.validation_split}.")
        if self.samples * self.length > MAX_STEPS:
            raise ValueError(
                f"--samples {self.samples} x --length {self.length} is {self.samples * self.length:,} time steps, "
                f"more than the {MAX_STEPS:,} this experiment generates (about 400 MB of inputs); "
                "lower --samples or --length."
            )
        if not self.cells:
            raise ValueError("--cells needs at least one of " + ", ".join(CELLS))


MAX_STEPS = 50_000_000  # samples x length: the inputs alone are 8 bytes a step


def build_model(
    cell: str, units: int, length: int, activation: str = "tanh", recurrent_gain: float = 1.0
) -> Sequential:
    """Two stacked recurrent layers and Dense(1); ``recurrent_gain`` scales the orthogonal recurrent weights."""
    layer = CELLS[cell]
    options: dict[str, Any] = {"activation": activation}
    if recurrent_gain != 1.0:  # Keras's default initializer stays untouched (and draws the same numbers)
        options["recurrent_initializer"] = Orthogonal(gain=recurrent_gain)
    return Sequential(
        [
            layer(units, return_sequences=True, input_shape=(length, 2), **options),
            layer(units, **options),
            Dense(1),
        ]
    )


class ModelOptions(Protocol):
    """What the model of the marked problems is built and compiled from (here and in ``gradients``)."""

    units: int
    length: int
    learning_rate: float
    device: str


def compiled_model(cell: str, options: ModelOptions) -> Sequential:
    """``build_model`` compiled for the marked problems: Adam on the mean squared error."""
    model = build_model(cell, options.units, options.length)
    model.compile(optimizer="adam", loss="mse", learning_rate=options.learning_rate, device=options.device)
    return model


def run(config: MultiplicationConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    validate(config)
    x, y = PROBLEMS[config.task](config.samples, config.length, rng=config.seed, positions=config.positions)
    x_train, y_train = x[: config.train_samples], y[: config.train_samples]
    x_test, y_test = x[config.train_samples :], y[config.train_samples :]
    x_probe, y_probe = x_test[: flow.PROBE], y_test[: flow.PROBE]  # gradient flow is measured on these

    rows, histories, scatter = [], {}, {}
    flows: dict[str, dict[str, flow.Flow]] = {"at initialisation": {}, "after training": {}}
    with Run(config.task, config, out, quiet) as run:
        for cell in config.cells:
            label = LABELS[cell]
            model = run.model(compiled_model, cell, config)
            flows["at initialisation"][label] = flow.measure(model, x_probe, y_probe)
            fitted = run.fit(
                model,
                label,
                x_train,
                y_train,
                callbacks=early_stopping(config.patience),
                validation_split=config.validation_split,
                batch_size=config.batch_size,
                epochs=config.epochs,
            )
            predictions = model.predict(x_test, batch_size=256)[:, 0]
            errors = predictions - y_test
            rows.append(
                {
                    "cell": label,
                    "params": model.count_params(),
                    "test_mse": float(np.mean(errors**2)),
                    "correct_percent": float(100 * np.mean(np.abs(errors) <= config.tolerance)),
                    **fitted.measures,
                }
            )
            histories[label] = fitted.history
            scatter[label] = (y_test.tolist(), predictions.tolist())
            flows["after training"][label] = flow.measure(model, x_probe, y_probe)
            run.keep(label, model, fitted.history, name=cell, at_once=True)
        flow.write_csv(run.file("gradients.csv"), flows)
        results = Results("Test results", rows, COLUMNS)
        gradients = flow.table("Gradient flow (first step vs last)", flows)
        losses = {label: history.history for label, history in histories.items()}
        findings = explain(rows, losses, constant_mse=float(np.var(y_train)), tolerance=config.tolerance)
        run.finish(
            f"The {config.task} problem, {config.length} steps",
            {
                "task": config.task,
                "tolerance": config.tolerance,
                "results": rows,
                "table": results.text,
                "gradient_flow": gradients.rows,
                "gradient_flow_table": gradients.text,
            },
            tables=[results, gradients],
            figures=figures(config, histories, scatter, flows, probes=len(y_probe)),
            findings=findings,
        )
        run.say(f"\nThe {config.task} problem, sequences of {config.length} steps, {len(y_test)} test samples:\n")
        run.say(results.text)
        run.say(
            "\nGradient flow (how much of the loss's gradient reaches the first step; gradients.png):\n\n"
            + gradients.text
        )
    return {"results": rows, "run_dir": str(run.final)}


def figures(
    config: MultiplicationConfig,
    histories: dict[str, Any],
    scatter: dict[str, tuple[list[float], list[float]]],
    flows: dict[str, dict[str, flow.Flow]],
    probes: int,
) -> list[Figure]:
    """The loss curves, test predictions against targets, and the gradient flow."""
    problem = f"{config.task} problem, {config.length} steps"
    return [
        Figure(
            "loss.png",
            "Training and validation MSE",
            lambda path: plot_histories(
                histories, path, log_scale=True, title=f"{problem}: training and validation MSE"
            ),
        ),
        Figure(
            "predictions.png",
            "Test predictions against targets",
            lambda path: plot_scatter(
                scatter, path, title=f"test set: prediction vs target (correct within ±{config.tolerance})"
            ),
        ),
        flow.figure(
            flows,
            f"Gradient of the loss at every step, averaged over {probes} test sequences",
            title=f"gradient flow over {config.length} steps",
        ),
    ]


def explain(
    rows: Sequence[Mapping[str, Any]],
    losses: Mapping[str, Mapping[str, Sequence[float]]],
    constant_mse: float,
    tolerance: float,
) -> list[str]:
    """Sentences from the run's numbers: when each cell left the plateau, and which cell won by how much.

    ``losses``: each cell's history (``loss`` and, with a validation split, ``val_loss`` per epoch);
    ``constant_mse``: the MSE of always guessing the mean target (the plateau a cell that learned
    nothing sits on). A cell leaves the plateau in the first epoch its loss falls below a tenth of it."""
    validated = all(history.get("val_loss") for history in losses.values())
    name = "validation MSE" if validated else "training MSE"
    bar = constant_mse / 10
    return [
        f"A cell is on the plateau while its {name} stays above {bar:.3g}, a tenth of the {constant_mse:.3g} "
        "that always guessing the mean scores.",
        *(plateau_sentence(label, h["val_loss" if validated else "loss"], bar) for label, h in losses.items()),
        winner_sentence(rows, tolerance),
    ]


def plateau_sentence(label: str, losses: Sequence[float], bar: float) -> str:
    """The first epoch the loss fell below ``bar``, or how close it came."""
    left = next((epoch for epoch, loss in enumerate(losses, 1) if loss <= bar), None)
    if left is not None:
        return f"{label} left it in epoch {left}."
    return f"{label} stayed on it for {counted(len(losses), 'epoch')} (at best {min(losses):.3g})."


def winner_sentence(rows: Sequence[Mapping[str, Any]], tolerance: float) -> str:
    """Which cell got the most test predictions right, and by how many points over the next."""
    ranked = sorted(rows, key=lambda row: -row["correct_percent"])
    best = ranked[0]
    said = f"{best['correct_percent']:.1f} % of the test predictions within ±{tolerance:g}"
    if len(ranked) == 1:
        return f"{best['cell']} got {said}."
    second = ranked[1]
    lead = best["correct_percent"] - second["correct_percent"]
    if lead < 0.05:
        return f"{best['cell']} and {second['cell']} did equally well: {said}."
    return (
        f"{best['cell']} did best with {said}, {lead:.1f} points more than "
        f"{second['cell']} ({second['correct_percent']:.1f} %)."
    )


def early_stopping(patience: int | None) -> list[EarlyStopping]:
    """Stop after ``patience`` epochs without a lower val_loss, keeping the best weights; none: never."""
    if patience is None:
        return []
    return [EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)]


COLUMNS = [
    ("cell", "cell", ""),
    PARAMS,
    ("test_mse", "test MSE", ".5f"),
    ("correct_percent", "correct %", ".1f"),
    *TRAINED,
]
