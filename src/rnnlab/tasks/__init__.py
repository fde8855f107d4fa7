"""One module per experiment: each builds data and models, trains, and writes a run directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    config: type
    run: Callable[..., dict[str, Any]]
    out_help: str = "run directory (default: runs/<experiment>-<timestamp>)"


def experiments() -> dict[str, Experiment]:
    from . import forecast, gradients, inspect, multiplication, sequence

    found = [
        Experiment(
            "multiplication",
            "SimpleRNN vs LSTM vs GRU on the long-range marked multiplication problem",
            multiplication.MultiplicationConfig,
            multiplication.run,
        ),
        Experiment(
            "sequence",
            "the tutorial toy: predict the next value of a counting sequence",
            sequence.SequenceConfig,
            sequence.run,
        ),
        Experiment(
            "forecast",
            "forecast a real time series (CSV, airline passengers, Beijing PM2.5) "
            "against persistence and seasonal-naive baselines",
            forecast.ForecastConfig,
            forecast.run,
        ),
        Experiment(
            "gradients",
            "vanishing gradients made visible: gradient norm at every time step, per cell, before and after training",
            gradients.GradientsConfig,
            gradients.run,
        ),
        Experiment(
            "inspect",
            "look inside a trained model: gate heatmaps over one input sequence, every weight's statistics",
            inspect.InspectConfig,
            inspect.run,
            out_help="output directory (default: a new inspect-<timestamp> folder beside the model)",
        ),
    ]
    return {e.name: e for e in found}
