"""Every weight tensor of a model with its Keras name, shape and statistics."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..cells import RecurrentCell
from ..core.layer import Layer, snake_case


@dataclass(frozen=True)
class WeightStats:
    name: str  # Keras 3's variable path: "lstm/lstm_cell/kernel", "dense/bias"
    shape: tuple[int, ...]
    mean: float
    std: float
    min: float
    max: float
    abs_mean: float


def _label(layer: Layer) -> str:
    # Keras names a layer's cell after its class ("lstm_cell"), whatever number rnnlab gave it.
    return snake_case(type(layer).__name__) if isinstance(layer, RecurrentCell) else layer.name


def weight_stats(model: nn.Module) -> list[WeightStats]:
    """One entry per weight tensor, in model order, named as Keras 3 names its variables."""
    rows: list[WeightStats] = []

    def visit(module: nn.Module, path: tuple[str, ...]) -> None:
        if isinstance(module, Layer) and module is not model:
            path = (*path, _label(module))
        for name, param in module.named_parameters(recurse=False):
            w = param.detach().double()
            rows.append(
                WeightStats(
                    "/".join((*path, name)),
                    tuple(param.shape),
                    float(w.mean()),
                    float(w.std(unbiased=False)),
                    float(w.min()),
                    float(w.max()),
                    float(w.abs().mean()),
                )
            )
        for child in module.children():
            visit(child, path)

    visit(model, ())
    return rows


def format_weights(rows: list[WeightStats]) -> str:
    """A plain text table of ``weight_stats``."""
    header = ("weight", "shape", "mean", "std", "min", "max", "mean |w|")
    cells = [header] + [
        (
            r.name,
            "(" + ", ".join(map(str, r.shape)) + ("," if len(r.shape) == 1 else "") + ")",
            *(f"{v:.4f}" for v in (r.mean, r.std, r.min, r.max, r.abs_mean)),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
