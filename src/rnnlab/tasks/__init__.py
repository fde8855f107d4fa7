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


def experiments() -> dict[str, Experiment]:
    from . import forecast, multiplication, sequence

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
    ]
    return {e.name: e for e in found}
