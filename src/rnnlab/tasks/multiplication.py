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

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import set_seed
from ..callbacks import EarlyStopping, EpochProgress
from ..datasets import adding_problem, multiplication_problem
from ..layers import GRU, LSTM, Dense, SimpleRNN
from ..models.model import Sequential
from ..viz import plot_histories, plot_scatter
from . import flow
from .options import option, validate
from .report import write_report
from .runs import RunDir, format_table

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


def build_model(cell: str, units: int, length: int) -> Sequential:
    layer = CELLS[cell]
    return Sequential([layer(units, return_sequences=True, input_shape=(length, 2)), layer(units), Dense(1)])


def run(config: MultiplicationConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    validate(config)
    x, y = PROBLEMS[config.task](config.samples, config.length, rng=config.seed, positions=config.positions)
    x_train, y_train = x[: config.train_samples], y[: config.train_samples]
    x_test, y_test = x[config.train_samples :], y[config.train_samples :]
    x_probe, y_probe = x_test[: flow.PROBE], y_test[: flow.PROBE]  # gradient flow is measured on these

    rows, histories, scatter, summaries = [], {}, {}, {}
    flows: dict[str, dict[str, flow.Flow]] = {"at initialisation": {}, "after training": {}}
    with RunDir(config.task, out) as run_dir:
        run_dir.write_config(config)
        for cell in config.cells:
            set_seed(config.seed)
            model = build_model(cell, config.units, config.length)
            model.compile(optimizer="adam", loss="mse", learning_rate=config.learning_rate, device=config.device)
            flows["at initialisation"][LABELS[cell]] = flow.measure(model, x_probe, y_probe)
            callbacks: list[Any] = [] if quiet else [EpochProgress(LABELS[cell])]
            if config.patience is not None:
                callbacks.append(EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True))
            started = time.perf_counter()
            history = model.fit(
                x_train,
                y_train,
                batch_size=config.batch_size,
                epochs=config.epochs,
                validation_split=config.validation_split,
                callbacks=callbacks,
                verbose=0,
            )
            seconds = time.perf_counter() - started
            predictions = model.predict(x_test, batch_size=256)[:, 0]
            errors = predictions - y_test
            rows.append(
                {
                    "cell": LABELS[cell],
                    "params": model.count_params(),
                    "test_mse": float(np.mean(errors**2)),
                    "correct_percent": float(100 * np.mean(np.abs(errors) <= config.tolerance)),
                    "epochs": len(history.epoch),
                    "seconds": seconds,
                }
            )
            histories[LABELS[cell]] = history
            scatter[LABELS[cell]] = (y_test.tolist(), predictions.tolist())
            flows["after training"][LABELS[cell]] = flow.measure(model, x_probe, y_probe)
            summaries[LABELS[cell]] = model.summary(print_fn=None)
            run_dir.write_history(f"history-{cell}.csv", history)
            model.save(str(run_dir.file(f"model-{cell}.safetensors")))
        table = format_table(rows, COLUMNS)
        flow_rows = flow.rows(flows)
        flow_table = format_table(flow_rows, flow.COLUMNS)
        run_dir.write_json(
            "metrics.json",
            {
                "task": config.task,
                "tolerance": config.tolerance,
                "results": rows,
                "table": table,
                "gradient_flow": flow_rows,
                "gradient_flow_table": flow_table,
            },
        )
        plot_histories(
            histories,
            run_dir.file("loss.png"),
            log_scale=True,
            title=f"{config.task} problem, {config.length} steps: training and validation MSE",
        )
        plot_scatter(
            scatter,
            run_dir.file("predictions.png"),
            title=f"test set: prediction vs target (correct within ±{config.tolerance})",
        )
        flow.plot(flows, run_dir.file("gradients.png"), title=f"gradient flow over {config.length} steps")
        flow.write_csv(run_dir.file("gradients.csv"), flows)
        write_report(
            run_dir,
            f"The {config.task} problem, {config.length} steps",
            config,
            tables={"Test results": (rows, COLUMNS), "Gradient flow (first step vs last)": (flow_rows, flow.COLUMNS)},
            summaries=summaries,
            images=[
                ("Training and validation MSE", "loss.png"),
                ("Test predictions against targets", "predictions.png"),
                (f"Gradient of the loss at every step, averaged over {len(y_probe)} test sequences", "gradients.png"),
            ],
        )
    print(f"\nThe {config.task} problem, sequences of {config.length} steps, {len(y_test)} test samples:\n")
    print(table)
    print(f"\nGradient flow (how much of the loss's gradient reaches the first step; gradients.png):\n\n{flow_table}")
    print(f"\nRun directory: {run_dir.final}")
    return {"results": rows, "run_dir": str(run_dir.final)}


COLUMNS = [
    ("cell", "cell", ""),
    ("params", "params", ","),
    ("test_mse", "test MSE", ".5f"),
    ("correct_percent", "correct %", ".1f"),
    ("epochs", "epochs", "d"),
    ("seconds", "seconds", ".1f"),
]
