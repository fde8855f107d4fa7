"""The Keras-style ``summary()`` table."""

from __future__ import annotations

from typing import Any

WIDTHS = (33, 24, 15)  # Layer (type) | Output Shape | Param #
CONNECTED_WIDTHS = (21, 19, 12, 19)  # ... | Connected to: Keras's table of a functional model that is no chain


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


def _wrap(text: str, width: int, ellipsis: bool = False) -> list[str]:
    """Break a cell at spaces, as Keras's table does; a word too long is cut mid-word (or, in the
    "Connected to" column, ends in an ellipsis)."""
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        if ellipsis and len(word) > width:
            lines.append(word[: width - 1] + "…")
            word = ""
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        line = word
    return lines + [line] if line or not lines else lines


def _row(cells: tuple[str, ...], widths: tuple[int, ...], edge: str = "│") -> str:
    columns = [_wrap(cell, w - 2, ellipsis=i == 3) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
    height = max(len(c) for c in columns)
    padded = [c + [""] * (height - len(c)) for c in columns]
    lines = []
    for parts in zip(*padded, strict=True):
        texts = [
            f"{p:>{w - 2}}" if i == 2 else f"{p:<{w - 2}}" for i, (p, w) in enumerate(zip(parts, widths, strict=True))
        ]
        lines.append(edge + edge.join(f" {t} " for t in texts) + edge)
    return "\n".join(lines)


def _rule(widths: tuple[int, ...], left: str, fill: str, mid: str, right: str) -> str:
    return left + mid.join(fill * w for w in widths) + right


def format_summary(model: Any) -> str:
    rows = model.summary_rows()
    connections = getattr(model, "summary_connections", lambda: None)()
    widths = WIDTHS if connections is None else CONNECTED_WIDTHS
    header: tuple[str, ...] = ("Layer (type)", "Output Shape", "Param #")
    lines = [
        f'Model: "{model.name}"',
        _rule(widths, "┏", "━", "┳", "┓"),
        _row(header if connections is None else (*header, "Connected to"), widths, "┃"),
        _rule(widths, "┡", "━", "╇", "┩"),
    ]
    for i, (layer, shape) in enumerate(rows):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        cells: tuple[str, ...] = (f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params)
        lines.append(_row(cells if connections is None else (*cells, connections[i]), widths))
        if i < len(rows) - 1:
            lines.append(_rule(widths, "├", "─", "┼", "┤"))
    lines.append(_rule(widths, "└", "─", "┴", "┘"))

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
