"""Loss curves and forecasts as PNG files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, LogFormatter, MaxNLocator

from ..core.files import atomic_path


def _history_dict(history: Any) -> dict[str, list[float]]:
    values = getattr(history, "history", history)
    if not isinstance(values, Mapping) or not values:
        raise ValueError(
            f"plot_history expects a History returned by fit (or its .history dict), received {type(history).__name__}."
        )
    return {k: list(v) for k, v in values.items()}


def _save(fig: Figure, path: str | os.PathLike[str]) -> str:
    FigureCanvasAgg(fig)
    for ax in fig.axes:
        for line in ax.get_lines():  # a curve of one epoch (one value) draws nothing without a marker
            if np.size(line.get_xdata()) == 1 and line.get_marker() in ("None", "", " ", None):
                line.set_marker("o")
        xs = {float(x) for line in ax.get_lines() for x in np.asarray(line.get_xdata(), dtype=float)}
        if len(xs) == 1:  # one point on the axis: a unit around it, not a sliver with fractional ticks
            (x,) = xs
            ax.set_xlim(x - 0.5, x + 0.5)
            ax.xaxis.set_major_locator(FixedLocator([x]))
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":  # matplotlib's default log labels are mathtext, shown raw below
                axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
                axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    for text in fig.findobj(Text):  # names come from users' files: "$" is a dollar sign, not mathtext
        text.set_parse_math(False)
    with atomic_path(path) as tmp, rc_context({"text.parse_math": False}):  # and in tick labels made now
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return str(path)


def _quantities(history: dict[str, list[float]]) -> list[str]:
    """Logged quantities without their val_ twins: loss first, then the metrics."""
    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    return sorted(names, key=lambda k: k != "loss")


def plot_history(history: Any, path: str | os.PathLike[str], title: str | None = None, log_scale: bool = False) -> str:
    """Loss and val_loss (and each metric with its val_ twin) per epoch, one panel each; returns the path."""
    return plot_histories({"": history}, path, title=title, log_scale=log_scale)


def plot_histories(
    histories: Mapping[str, Any], path: str | os.PathLike[str], title: str | None = None, log_scale: bool = False
) -> str:
    """Several models' curves in one figure: one panel per quantity, a colour per model,
    solid for training and dashed for validation."""
    dicts = {name: _history_dict(h) for name, h in histories.items()}
    quantities = list(dict.fromkeys(q for d in dicts.values() for q in _quantities(d)))
    fig = Figure(figsize=(6.4 * len(quantities), 4.2))
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    colors = [f"C{i}" for i in range(len(dicts))]
    for ax, quantity in zip(axes, quantities, strict=True):
        for color, (name, values) in zip(colors, dicts.items(), strict=True):
            prefix = f"{name} " if name else ""
            for key, style, label in ((quantity, "-", "train"), (f"val_{quantity}", "--", "validation")):
                if key in values:
                    epochs = np.arange(1, len(values[key]) + 1)
                    ax.plot(epochs, values[key], style, color=color, label=f"{prefix}{label}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(quantity)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_seed_curves(
    runs: Sequence[Mapping[str, Mapping[str, Sequence[float]]]],
    path: str | os.PathLike[str],
    title: str | None = None,
) -> str:
    """The same experiment over several seeds: ``runs`` holds each seed's histories (model ->
    quantity -> values per epoch). One panel per quantity, a colour per model, every seed's curve
    faint and the median per epoch (over the seeds that reached it) bold; returns the path."""
    models = list(dict.fromkeys(m for run in runs for m in run))
    quantities = list(dict.fromkeys(q for run in runs for h in run.values() for q in h if q != "learning_rate"))
    if not quantities:
        raise ValueError("plot_seed_curves needs at least one logged quantity; the runs kept no history.")
    fig = Figure(figsize=(6.4 * len(quantities), 4.2))
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    for ax, quantity in zip(axes, quantities, strict=True):
        for n, model in enumerate(models):
            curves = [np.asarray(run[model][quantity], dtype=float) for run in runs if quantity in run.get(model, {})]
            for curve in curves:
                ax.plot(np.arange(1, len(curve) + 1), curve, color=f"C{n}", alpha=0.25, linewidth=0.8)
            longest = max(map(len, curves), default=0)
            median = [np.nanmedian([c[e] for c in curves if len(c) > e]) for e in range(longest)]
            marker = "o" if longest == 1 else None  # a one-epoch run is a point
            ax.plot(np.arange(1, longest + 1), median, color=f"C{n}", linewidth=2.2, marker=marker, label=model)
        values = np.concatenate([line.get_ydata() for line in ax.get_lines()]).astype(float)
        if "loss" in quantity and np.all(values[np.isfinite(values)] > 0):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(quantity)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_series(
    x: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    path: str | os.PathLike[str],
    title: str | None = None,
    ylabel: str | None = None,
) -> str:
    """Lines over a shared x axis, e.g. actual vs predicted values on the test period."""
    fig = Figure(figsize=(10, 4.2))
    ax = fig.subplots()
    positions = np.arange(len(x))
    for i, (label, values) in enumerate(series.items()):
        ax.plot(positions, values, "-" if i == 0 else "--", label=label, linewidth=2 if i == 0 else 1.2)
    ticks = positions[:: max(1, len(x) // 8)]
    ax.set_xticks(ticks, [str(x[t]) for t in ticks], rotation=30, ha="right")
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_scatter(
    panels: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike[str],
    xlabel: str = "target",
    ylabel: str = "prediction",
    title: str | None = None,
) -> str:
    """One panel per entry, ``name: (targets, predictions)``, with the diagonal y = x."""
    fig = Figure(figsize=(4.2 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, (targets, predictions)) in zip(axes, panels.items(), strict=True):
        ax.scatter(targets, predictions, s=6, alpha=0.6)
        low = float(min(np.min(targets), np.min(predictions)))
        high = float(max(np.max(targets), np.max(predictions)))
        ax.plot([low, high], [low, high], "k--", linewidth=1)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
