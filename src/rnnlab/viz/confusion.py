"""A confusion matrix as a PNG file."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .plots import _save


def plot_confusion(
    matrix: np.ndarray, names: Sequence[str], path: str | os.PathLike[str], title: str | None = None
) -> str:
    """Counts of (true class, predicted class), rows normalised for the colour, counts written in."""
    matrix = np.asarray(matrix)
    n = len(names)
    size = max(4.0, 0.45 * n + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    ax.imshow(matrix / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                share = matrix[i, j] / max(rows[i, 0], 1)
                color = "white" if share > 0.5 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(n), list(names), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), list(names), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _save(fig, path)
