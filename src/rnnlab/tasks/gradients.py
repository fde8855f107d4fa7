"""Vanishing gradients made visible: how much of the loss's gradient reaches each time step.

For each cell, the model of the multiplication experiment (two stacked 30-unit layers +
Dense(1)) is measured on held-out sequences at initialisation and again after ``--epochs`` of
training: the norm of the gradient of each sample's loss with respect to the input at every
step (and to the first layer's hidden state), averaged over ``--probe`` sequences. The table
gives the ratio between the first step and the last, the share of the error signal that
reaches back across the whole sequence. The loss is computed after the last step, so the last
step always gets the strongest gradient.

``--model`` measures saved models instead of training new ones: a run directory of
``rnnlab multiplication`` or ``rnnlab gradients`` (its ``model-<cell>.safetensors``, measured on
that run's own test sequences), or one model file.

``--activation relu`` makes the recurrence unbounded. With Keras's orthogonal recurrent weights
the gradient still fades (relu passes about half the units), but with ``--recurrent-gain 1.5`` it
grows step by step and the first step's share rises far above 1: the exploding gradient. Plain
SGD then takes steps as large as the gradient and the loss overflows; ``--clipnorm`` rescales each
weight's gradient to at most that norm before the update and keeps training finite. (Adam's steps
are about the learning rate whatever the gradient's size, which hides the explosion.) The report
says in a sentence what the measured ratios and losses show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..models.model import Sequential
from ..saving.load import load_model
from ..viz import plot_histories
from . import flow
from .experiment import Figure, Run
from .multiplication import CELLS, LABELS, PROBLEMS, build_model
from .options import counted, option
from .saved import find_models


@dataclass
class GradientsConfig:
    cells: list[str] = option(["simple_rnn", "lstm", "gru"], "cells to compare", choices=sorted(CELLS))
    length: int = option(100, "time steps per sequence")
    task: str = option("multiplication", "which marked problem the models learn", choices=sorted(PROBLEMS))
    positions: str = option("anywhere", "where the two markers go", choices=["anywhere", "paper"])
    model: str | None = option(
        None, "measure saved models instead: a run directory (model-<cell>.safetensors) or a model file"
    )
    epochs: int = option(20, "training epochs between the two measurements (0: initialisation only)", minimum=0)
    probe: int = option(flow.PROBE, "held-out sequences the gradient norms are averaged over")
    samples: int = option(3000, "sequences generated")
    train_samples: int = option(2560, "the first ones train (20%% of them validate); the probe comes after them")
    units: int = option(30, "units in each of the two recurrent layers")
    activation: str = option(
        "tanh",
        "activation of the recurrent cells (relu: unbounded, the gradient can explode)",
        choices=["tanh", "relu"],
    )
    recurrent_gain: float = option(
        1.0, "the recurrent weights start orthogonal times this gain (above 1 with relu: the gradient grows)", minimum=0
    )
    clipnorm: float | None = option(
        None, "clip each weight's gradient to this norm before the update (the cure for exploding gradients)"
    )
    batch_size: int = option(32, "samples per gradient step")
    optimizer: str = option(
        "adam",
        "adam (steps of about the learning rate whatever the gradient) or sgd (steps as big as the gradient)",
        choices=["adam", "sgd"],
    )
    learning_rate: float = option(1e-3, "learning rate of the optimizer")
    seed: int = option(0, "random seed for data, initial weights and shuffling")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available)")


def validate(config: GradientsConfig) -> None:
    if config.length < 2:
        raise ValueError(f"--length must be at least 2, received {config.length}.")
    if not 0 < config.train_samples < config.samples:
        raise ValueError(f"--train-samples must be between 1 and --samples - 1, received {config.train_samples}.")
    if config.probe < 1 or config.epochs < 0:
        raise ValueError(f"--probe must be positive and --epochs not negative: {config.probe}, {config.epochs}.")
    if not config.cells:
        raise ValueError("--cells needs at least one of " + ", ".join(CELLS))
    if config.clipnorm is not None and not config.clipnorm > 0:
        raise ValueError(f"--clipnorm must be a positive norm such as 1.0, received {config.clipnorm}.")


def gradients_model(cell: str, config: GradientsConfig) -> Sequential:
    """The marked problems' model with the chosen recurrent activation and optimizer, clipped or not."""
    model = build_model(
        cell, config.units, config.length, activation=config.activation, recurrent_gain=config.recurrent_gain
    )
    model.compile(
        optimizer=config.optimizer,
        loss="mse",
        learning_rate=config.learning_rate,
        clipnorm=config.clipnorm,
        device=config.device,
    )
    return model


def saved_models(config: GradientsConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models ``--model`` names (label -> model) and the options of the run that made them."""
    files, options = find_models(str(config.model), config.cells if Path(str(config.model)).is_dir() else ())
    return {label: load_model(f) for label, f in files.items()}, options


def probe_data(config: GradientsConfig, options: dict[str, Any], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out sequences: the test part of the run that made the model when it is known, else fresh ones."""
    task = options.get("task", config.task)
    if task not in PROBLEMS:
        raise ValueError(
            f"{config.model} comes from a run of another experiment; rnnlab gradients measures models of the "
            f"marked {' and '.join(PROBLEMS)} problems. rnnlab inspect --model {config.model} shows its gates."
        )
    samples = int(options.get("samples", config.samples))
    start = int(options.get("train_samples", config.train_samples))
    positions = options.get("positions", config.positions)
    x, y = PROBLEMS[task](samples, length, rng=options.get("seed", config.seed), positions=positions)
    return x[start : start + config.probe], y[start : start + config.probe]


def run(config: GradientsConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    validate(config)
    if config.model is not None:
        models, options = saved_models(config)
        with Run("gradients", config, out, quiet, source_options=options) as run:
            stages = {"saved model": measure_saved(run, config, models, options)}
            finish(run, config, stages, histories={})
    else:
        x, y = PROBLEMS[config.task](config.samples, config.length, rng=config.seed, positions=config.positions)
        with Run("gradients", config, out, quiet) as run:
            stages, histories = train_and_measure(run, config, x, y)
            finish(run, config, stages, histories)
    return {"results": flow.rows(stages), "run_dir": str(run.final)}


def measure_saved(
    run: Run, config: GradientsConfig, models: dict[str, Any], options: dict[str, Any]
) -> dict[str, flow.Flow]:
    flows: dict[str, flow.Flow] = {}
    for label, model in models.items():
        spec = getattr(model, "input_spec", None)
        shape = tuple(spec.shape) if spec is not None else (options.get("length", config.length), 2)
        if shape[-1] != 2:
            raise ValueError(
                f"{config.model}: the model reads {shape[-1]} features per step; rnnlab gradients measures "
                "models of the marked problems (2 features: marker, value). "
                f"rnnlab inspect --model {config.model} shows its gates."
            )
        x, y = probe_data(config, options, int(shape[0] or options.get("length", config.length)))
        flows[label] = flow.measure(model, x, y)
        run.keep(label, model, save=False)
    return flows


def train_and_measure(
    run: Run, config: GradientsConfig, x: np.ndarray, y: np.ndarray
) -> tuple[dict[str, dict[str, flow.Flow]], dict[str, Any]]:
    x_train, y_train = x[: config.train_samples], y[: config.train_samples]
    x_probe = x[config.train_samples : config.train_samples + config.probe]
    y_probe = y[config.train_samples : config.train_samples + config.probe]
    trained = f"after {counted(config.epochs, 'epoch')}"
    stages: dict[str, dict[str, flow.Flow]] = {"at initialisation": {}, **({trained: {}} if config.epochs else {})}
    histories = {}
    for cell in config.cells:
        label = LABELS[cell]
        model = run.model(gradients_model, cell, config)
        stages["at initialisation"][label] = flow.measure(model, x_probe, y_probe)
        history = None
        if config.epochs:
            fitted = run.fit(
                model,
                label,
                x_train,
                y_train,
                batch_size=config.batch_size,
                epochs=config.epochs,
                validation_split=0.2,
            )
            if not run.quiet:
                print(f"{label}: trained {counted(config.epochs, 'epoch')} in {fitted.seconds:.1f} s")
            stages[trained][label] = flow.measure(model, x_probe, y_probe)
            history = histories[label] = fitted.history
        run.keep(label, model, history, name=cell, at_once=True)
    return stages, histories


def finish(
    run: Run, config: GradientsConfig, stages: dict[str, dict[str, flow.Flow]], histories: dict[str, Any]
) -> None:
    flow.write_csv(run.file("gradients.csv"), stages)
    length = len(next(iter(next(iter(stages.values())).values())).input)
    figures = [flow.figure(stages, None, title=f"gradient flow over {counted(length, 'step')}")]
    if histories:
        figures.append(
            Figure(
                "loss.png",
                None,
                lambda path: plot_histories(histories, path, log_scale=True, title="training and validation loss"),
            )
        )
    results = flow.table("How much gradient reaches the first step", stages)
    sentences = explain(config, stages, histories)
    run.finish(
        "Gradient flow",
        {"results": results.rows, "table": results.text},
        tables=[results],
        figures=figures,
        intro="The norm of the gradient of each sample's loss with respect to the input at every time step "
        "(solid) and to the first recurrent layer's hidden state (dashed), averaged over held-out sequences. "
        "first/last: the share of the error signal that reaches back to the first step.",
        findings=sentences,
    )
    run.say("\n" + results.text, "", *sentences)


def explain(config: GradientsConfig, stages: dict[str, dict[str, flow.Flow]], histories: dict[str, Any]) -> list[str]:
    """A sentence per model from its own numbers: the widest first/last ratio measured, then its training loss."""
    activation = "saved models" if config.model is not None else config.activation
    sentences = []
    for label in next(iter(stages.values())):
        ratios = {stage: flows[label].ratio for stage, flows in stages.items() if label in flows}
        sentences.append(f"{label} ({activation}): {gradient_sentence(ratios)}")
        stage = extreme_stage(ratios)
        crossing = crossing_sentence(stages[stage][label].input)
        if crossing:
            sentences.append(f"{label} {stage}: {crossing}")
        if label in histories:
            sentences.append(loss_sentence(label, histories[label].history["loss"], config.clipnorm))
    return sentences


def gradient_sentence(ratios: dict[str, float]) -> str:
    """What the first/last ratios say: the stage where the gradient reaching the first step is farthest from 1."""
    broken = [stage for stage, ratio in ratios.items() if not math.isfinite(ratio)]
    if broken:
        return f"the gradient is not a finite number {broken[0]}: it overflowed, the exploding gradient."
    stage = extreme_stage(ratios)
    ratio = ratios[stage]
    if ratio == 0:
        return f"{stage} no gradient reaches the first step (it underflowed to 0): it vanishes."
    verdict = "it explodes" if ratio > 10 else "it vanishes" if ratio < 0.01 else "it reaches back"
    return f"{stage} the gradient reaching the first step is {ratio:.1e} times the last step's: {verdict}."


def extreme_stage(ratios: dict[str, float]) -> str:
    """The stage whose first/last ratio lies farthest from 1 (a ratio of 0 or not finite: farthest of all)."""
    return max(ratios, key=lambda stage: abs(math.log10(ratios[stage])) if 0 < ratios[stage] < math.inf else math.inf)


FADED = 1e-3  # a step whose gradient is below this share of the last step's has lost the signal


def crossing_sentence(norms: np.ndarray) -> str | None:
    """Going back from the last step, where the gradient first falls below ``FADED`` of the last
    step's (vanishes) or rises above its inverse (explodes); None when it does neither, or is not finite."""
    last = float(norms[-1])
    if not (math.isfinite(last) and last > 0 and np.isfinite(norms).all()):
        return None
    steps = len(norms)
    for back, norm in enumerate(norms[::-1]):
        position = steps - back  # 1-based step
        if norm < FADED * last:
            said = "falls below 1e-3 of"
        elif norm > last / FADED:
            said = "rises above 1e3 times"
        else:
            continue
        return (
            f"going back from the last step, the gradient {said} the last step's at step {position} of {steps}, "
            f"{counted(back, 'step')} back."
        )
    return None


def loss_sentence(label: str, losses: list[float], clipnorm: float | None) -> str:
    """Whether training stayed finite, and what clipping had to do with it."""
    clipping = f"with clipping at norm {clipnorm:g}" if clipnorm is not None else "without clipping"
    diverged = next((epoch for epoch, loss in enumerate(losses, 1) if not math.isfinite(loss)), None)
    if diverged is not None:
        return f"{label} {clipping}: the training loss became {losses[diverged - 1]} in epoch {diverged}."
    if len(losses) == 1:
        return f"{label} {clipping}: the training loss stayed finite ({losses[0]:.4g})."
    trend = "fell" if losses[-1] <= losses[0] else "rose"
    return f"{label} {clipping}: the training loss stayed finite and {trend} from {losses[0]:.4g} to {losses[-1]:.4g}."
