"""The Keras-style ``summary()`` table."""

from __future__ import annotations

from typing import Any

WIDTHS = (33, 24, 15)  # Layer (type) | Output Shape | Param #


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _memory(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    raise AssertionError


def _wrap(text: str, width: int) -> list[str]:
    """Break a cell at spaces (or mid-word when a word is too long), as Keras's table does."""
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        line = word
    return lines + [line]


def _row(cells: tuple[str, str, str], edge: str = "│") -> str:
    w0, w1, w2 = WIDTHS
    columns = [_wrap(cell, w - 2) for cell, w in zip(cells, WIDTHS, strict=True)]
    height = max(len(c) for c in columns)
    name, shape, params = (c + [""] * (height - len(c)) for c in columns)
    return "\n".join(
        f"{edge} {n:<{w0 - 2}} {edge} {s:<{w1 - 2}} {edge} {p:>{w2 - 2}} {edge}"
        for n, s, p in zip(name, shape, params, strict=True)
    )


def _rule(left: str, fill: str, mid: str, right: str) -> str:
    return left + mid.join(fill * w for w in WIDTHS) + right


def format_summary(model: Any) -> str:
    rows = model.summary_rows()
    lines = [
        f'Model: "{model.name}"',
        _rule("┏", "━", "┳", "┓"),
        _row(("Layer (type)", "Output Shape", "Param #"), "┃"),
        _rule("┡", "━", "╇", "┩"),
    ]
    for i, (layer, shape) in enumerate(rows):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        lines.append(_row((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params)))
        if i < len(rows) - 1:
            lines.append(_rule("├", "─", "┼", "┤"))
    lines.append(_rule("└", "─", "┴", "┘"))

    weights = list(model.parameters())
    trainable = [p for p in weights if p.requires_grad]
    frozen = [p for p in weights if not p.requires_grad]
    for label, group in (("Total", weights), ("Trainable", trainable), ("Non-trainable", frozen)):
        count = sum(p.numel() for p in group)
        size = sum(p.numel() * p.element_size() for p in group)
        lines.append(f" {label} params: {count:,} ({_memory(size)})")
    recurrent = [(layer.name, layer.kernel_label()) for layer, _ in rows if hasattr(layer, "kernel_label")]
    if recurrent:
        lines.append(" Recurrent kernels: " + ", ".join(f"{name}: {label}" for name, label in recurrent))
    return "\n".join(lines)
