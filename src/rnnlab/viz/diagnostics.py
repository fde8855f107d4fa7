"""Pictures of what happens inside a recurrent network: gradient flow over time and gate heatmaps."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .plots import _save

SIGMOID_GATES = ("i", "f", "o", "z", "r")  # values in [0, 1]
LINE_STYLES = ("-", "--", ":", "-.")


def plot_gradient_flow(
    panels: Mapping[str, Mapping[str, Mapping[str, Sequence[float] | np.ndarray]]],
    path: str | os.PathLike[str],
    title: str | None = None,
) -> str:
    """Per-step gradient norms on a log scale, one panel each: ``{panel: {model: {quantity: (time,)}}}``.

    A model keeps its colour in every panel; its first quantity (e.g. the input gradient) is
    drawn solid, the next ones dashed, dotted. Returns the path.
    """
    fig = Figure(figsize=(6.4 * len(panels), 4.4))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    models = list(dict.fromkeys(m for lines in panels.values() for m in lines))
    colors = {m: f"C{i}" for i, m in enumerate(models)}
    for ax, (panel, lines) in zip(axes, panels.items(), strict=True):
        for model, quantities in lines.items():
            for style, (quantity, values) in zip(LINE_STYLES, quantities.items(), strict=False):
                steps = np.arange(1, len(values) + 1)
                positive = np.maximum(np.asarray(values, dtype=float), np.finfo(float).tiny)  # log scale
                ax.plot(steps, positive, style, color=colors[model], label=f"{model} {quantity}", linewidth=1.6)
        ax.set_yscale("log")
        ax.set_xlabel("time step (the loss is computed after the last)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("gradient norm |d loss / d ·|, batch mean")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _color_range(name: str, values: np.ndarray) -> tuple[str, float | None, float | None]:
    """(colour map, low, high): gates on [0, 1] (closed .. open); candidates and states symmetric
    around 0 up to their largest magnitude; the input on its own range."""
    if name == "input":
        return "Greys", None, None
    if name in SIGMOID_GATES:
        return "viridis", 0.0, 1.0
    bound = float(np.abs(values).max()) if values.size else 0.0
    bound = bound if bound > 0 else 1.0
    return "RdBu_r", -bound, bound


MAX_STEP_NAMES = 120  # more labels than this overlap at the figure's width


def plot_gates(
    layers: Mapping[str, Mapping[str, np.ndarray]],
    path: str | os.PathLike[str],
    inputs: np.ndarray | None = None,
    input_names: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    marked: Sequence[int] = (),
    title: str | None = None,
    step_names: Sequence[str] | None = None,
) -> str:
    """Heatmaps over time of each layer's gate values and states for one sequence.

    ``layers``: ``{layer: {value name: array (time, units)}}`` (``diagnostics.trace`` for one
    sample); ``inputs (time, features)`` is drawn on top; ``marked`` steps (0-based indices)
    get a dashed line in every panel; ``labels`` turn value names into words. Steps are
    numbered from 1, as in ``plot_gradient_flow``; ``step_names`` (the words or characters of a
    text, one per step) label them instead, up to ``MAX_STEP_NAMES`` steps. Returns the path.
    """
    rows: list[tuple[str, str, np.ndarray]] = []
    if inputs is not None:
        rows.append(("input", "input", np.asarray(inputs)))
    for layer, values in layers.items():
        for name, value in values.items():
            rows.append((f"{layer}: {(labels or {}).get(name, name)}", name, np.asarray(value)))
    fig = Figure(figsize=(11, 0.6 + 1.3 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (heading, name, value) in zip(axes, rows, strict=True):
        cmap, low, high = _color_range(name, value)
        steps, units = value.shape
        image = ax.imshow(
            value.T,
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=low,
            vmax=high,
            origin="lower",
            extent=(0.5, steps + 0.5, -0.5, units - 0.5),  # step t centred on t, from 1
        )
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
        ax.set_title(heading, fontsize=9, loc="left")
        if name == "input" and input_names:
            ax.set_yticks(range(len(input_names)), list(input_names), fontsize=7)
        else:
            ax.set_ylabel("unit", fontsize=7)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        for t in marked:
            ax.axvline(t + 1, color="magenta", linewidth=1.0, linestyle="--")
    axes[-1].set_xlabel("time step" + (" (dashed: marked steps)" if marked else ""))
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if step_names is not None and 0 < len(step_names) <= MAX_STEP_NAMES:
        upright = all(len(name) <= 2 for name in step_names)  # characters read best upright
        axes[-1].set_xticks(range(1, len(step_names) + 1), list(step_names), rotation=0 if upright else 90, fontsize=8)
        axes[-1].set_xlabel("")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
