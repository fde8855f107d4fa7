"""One module per experiment: its data, its models and its measurements; ``experiment.Run`` does the
rest (seeds, fit, timing, the files of the run directory, figures, report.html, the printed table)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Experiment:
    """A command: ``name`` is one word, or two for a command of a group (``"charrnn train"``)."""

    name: str
    summary: str
    config: type
    run: Callable[..., dict[str, Any]]
    threads: int = 1  # the default of --threads: the faster on two cores for this workload
    out_help: str | None = "run directory (default: runs/<experiment>-<timestamp>)"  # None: no --out
    trains: bool = True  # takes --nproc
    description: str | None = None  # of --help; None: the docstring of the module of ``run``


#: One-line help of the commands that group several (``rnnlab charrnn train|sample``).
GROUPS = {"charrnn": "character-level language model: train on a text, then sample from it"}


def experiments() -> dict[str, Experiment]:
    from . import charrnn, classify, export, forecast, gradients, inspect, multiplication, sequence

    found = [
        Experiment(
            "multiplication",
            "SimpleRNN vs LSTM vs GRU on the long-range marked multiplication problem",
            multiplication.MultiplicationConfig,
            multiplication.run,
            threads=2,
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
            threads=2,
        ),
        Experiment(
            "inspect",
            "look inside a trained model: gate heatmaps over one input sequence, every weight's statistics",
            inspect.InspectConfig,
            inspect.run,
            out_help="output directory (default: a new inspect-<timestamp> folder beside the model)",
            trains=False,
        ),
        Experiment(
            "export",
            "write a run's trained models as ONNX (for ONNX Runtime) or as torch.export's program",
            export.ExportConfig,
            export.run,
            out_help="output directory (default: beside each model)",
            trains=False,
        ),
        Experiment(
            "classify",
            "sequence classification: Reuters, R8, R52, movie reviews, MNIST read row by row",
            classify.ClassifyConfig,
            classify.run,
        ),
        Experiment(
            "charrnn train",
            "train a character-level language model on a text (--text FILE or --dataset shakespeare)",
            charrnn.CharTrainConfig,
            charrnn.train,
            threads=2,
        ),
        Experiment(
            "charrnn sample",
            "stream text from a trained character model, one character at a time",
            charrnn.CharSampleConfig,
            charrnn.sample,
            out_help=None,
            trains=False,
            description=charrnn.SAMPLE_HELP,
        ),
    ]
    return {e.name: e for e in found}
