"""Gradient flow measured the same way by every experiment: numbers, a table, a plot, a CSV."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import files
from ..diagnostics import gradient_flows
from ..viz import plot_gradient_flow
from .experiment import Figure, Results

PROBE = 256  # held-out sequences the norms are averaged over


@dataclass
class Flow:
    input: np.ndarray  # (T,) |d loss / d x_t|, batch mean
    hidden: np.ndarray  # (T,) |d loss / d h_t| of the first recurrent layer
    loss: float  # the model's loss on the probe batch

    @property
    def ratio(self) -> float:
        """First step over last step: how much of the gradient reaches back across the sequence."""
        return float(self.input[0] / self.input[-1]) if self.input[-1] > 0 else float("nan")

    @property
    def hidden_ratio(self) -> float:
        return float(self.hidden[0] / self.hidden[-1]) if self.hidden[-1] > 0 else float("nan")


def measure(model: Any, x: np.ndarray, y: np.ndarray) -> Flow:
    """Gradient flow of ``model`` on the batch ``(x, y)`` with its compiled loss (else MSE)."""
    flows = gradient_flows(model, x, y)
    first_layer = next(name for name in flows if name != "input")
    if getattr(model, "trainer", None) is not None:
        loss = float(model.evaluate(x, y, batch_size=PROBE, verbose=0, return_dict=True)["loss"])
    else:
        prediction = model.predict(x, batch_size=PROBE)
        loss = float(np.mean((prediction - np.asarray(y).reshape(prediction.shape)) ** 2))
    return Flow(flows["input"], flows[first_layer], loss)


def rows(flows: Mapping[str, Mapping[str, Flow]]) -> list[dict[str, Any]]:
    """One table row per (stage, model): ``flows = {stage: {model label: Flow}}``."""
    return [
        {
            "model": label,
            "stage": stage,
            "first": float(flow.input[0]),
            "last": float(flow.input[-1]),
            "ratio": flow.ratio,
            "hidden_ratio": flow.hidden_ratio,
            "loss": flow.loss,
        }
        for stage, models in flows.items()
        for label, flow in models.items()
    ]


COLUMNS = [
    ("model", "cell", ""),
    ("stage", "when", ""),
    ("first", "|dL/dx_1|", ".2e"),
    ("last", "|dL/dx_T|", ".2e"),
    ("ratio", "first/last", ".1e"),
    ("hidden_ratio", "h_1/h_T (layer 1)", ".1e"),
    ("loss", "loss", ".4f"),
]


def table(heading: str, flows: Mapping[str, Mapping[str, Flow]]) -> Results:
    """The flow table (``rows``) under ``heading``."""
    return Results(heading, rows(flows), COLUMNS)


def figure(flows: Mapping[str, Mapping[str, Flow]], caption: str | None, title: str) -> Figure:
    """``gradients.png``: the plot of ``plot`` as a figure of the run."""
    return Figure("gradients.png", caption, lambda path: plot(flows, path, title))


def plot(flows: Mapping[str, Mapping[str, Flow]], path: str | os.PathLike[str], title: str) -> str:
    """A panel per stage, a colour per model: input gradient solid, first layer's hidden state dashed."""
    panels = {
        stage: {label: {"x_t": flow.input, "h_t (layer 1)": flow.hidden} for label, flow in models.items()}
        for stage, models in flows.items()
    }
    return plot_gradient_flow(panels, path, title=title)


def write_csv(path: str | os.PathLike[str], flows: Mapping[str, Mapping[str, Flow]]) -> None:
    """Every per-step norm: a column per (model, stage, quantity), a row per step."""
    columns: dict[str, np.ndarray] = {}
    for stage, models in flows.items():
        for label, flow in models.items():
            columns[f"{label} {stage} x_t"] = flow.input
            columns[f"{label} {stage} h_t"] = flow.hidden
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", *columns])
    length = max((len(v) for v in columns.values()), default=0)
    for t in range(length):
        writer.writerow([t + 1, *(f"{v[t]:.6e}" if t < len(v) else "" for v in columns.values())])
    files.write_text(path, buffer.getvalue())
