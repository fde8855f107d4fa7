"""Plots written as PNG files with matplotlib's Agg canvas (no display, no global pyplot state)."""

from .confusion import plot_confusion
from .diagnostics import plot_gates, plot_gradient_flow
from .plots import plot_histories, plot_history, plot_scatter, plot_series

__all__ = [
    "plot_confusion",
    "plot_gates",
    "plot_gradient_flow",
    "plot_histories",
    "plot_history",
    "plot_scatter",
    "plot_series",
]
