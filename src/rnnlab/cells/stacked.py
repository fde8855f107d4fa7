"""``StackedRNNCells``: several cells run as one, each step feeding the next (Keras's ``RNN([c1, c2])``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..core.layer import Shape
from .fused_form import FusedForm
from .layer_cell import LayerCell, as_cell, cell_class, cell_spec
from .recurrent_cell import Gates, Mask, RecurrentCell, States, Tensor


class StackedRNNCells(RecurrentCell):
    """Runs ``cells`` one after the other at each time step: cell k's output is cell k+1's input.

    States are the cells' states in order, flat (``[h1, c1, h2]`` for LSTMCell then GRUCell), and
    with ``return_state`` grouped per cell as Keras returns them (``[[h1, c1], [h2]]``); the output
    is the last cell's. Weights: each cell's, in order. Dropout inside stacked cells
    is not supported: stack whole layers (``LSTM(..., dropout=...)``) instead. Cells written as
    Keras writes them (``state_size`` and ``call``) run in a ``LayerCell``; a cell whose
    ``state_size`` is an int returns its state bare, as Keras does (``[h1, h2]``).
    """

    cells: nn.ModuleList

    def __init__(self, cells: Sequence[Any], **layer_kwargs: Any) -> None:
        cells = [as_cell(c) if hasattr(c, "state_size") else c for c in cells]  # Keras's cells in LayerCells
        if not cells or not all(isinstance(c, RecurrentCell) for c in cells):
            raise TypeError(
                "RNN([...]) / StackedRNNCells takes a non-empty list of cells such as [LSTMCell(8), LSTMCell(4)], "
                f"received {[type(c).__name__ for c in cells]}."
            )
        dropping = [c.name for c in cells if c.dropout or c.recurrent_dropout]
        if dropping:
            raise ValueError(
                f"Cells {dropping} have dropout, which rnnlab does not apply inside stacked cells; stack layers "
                "instead: Sequential([LSTM(8, return_sequences=True, dropout=...), LSTM(4, dropout=...)])."
            )
        super().__init__(cells[-1].units, **layer_kwargs)
        self.cells = nn.ModuleList(cells)
        self.activation = self.recurrent_activation = None

    @property
    def members(self) -> list[RecurrentCell]:
        """The cells, in order."""
        return [cell for cell in self.cells if isinstance(cell, RecurrentCell)]

    @property
    def state_size(self) -> list[int]:
        return [size for cell in self.members for size in cell.state_size]

    def get_initial_state(self, batch_size: int, like: torch.Tensor) -> list[torch.Tensor]:
        return [s for cell in self.members for s in cell.get_initial_state(batch_size, like)]

    def build(self, input_shape: Shape) -> None:
        self.input_dim = int(input_shape[-1])
        dim = self.input_dim
        for cell in self.members:
            cell.ensure_built((input_shape[0], dim))
            dim = cell.units

    def declare_fused_form(self) -> FusedForm:
        return FusedForm.none("stacked cells run one after another within each step; stack layers to fuse them")

    def nest_states(self, states: Sequence[Any]) -> list[Any]:
        """Keras's grouping of the final states: per cell, the list of its states."""
        grouped: list[Any] = []
        start = 0
        for cell in self.members:
            own = list(states[start : start + len(cell.state_size)])
            start += len(cell.state_size)
            grouped.append(own[0] if isinstance(cell, LayerCell) and cell.single_state else own)
        return grouped

    @property
    def state_names(self) -> tuple[str, ...]:  # type: ignore[override]  # derived from the cells
        return tuple(f"{k}/{name}" for k, cell in enumerate(self.members) for name in cell.state_names)

    def gate_values(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Gates:
        """Each cell's values under ``"<k>/<name>"`` (cell k from 0), and ``"h"``: the last cell's output."""
        values: dict[str, torch.Tensor] = {}
        start = 0
        h = x_t
        for k, cell in enumerate(self.members):
            n = len(cell.state_size)
            own = cell.gate_values(h, states[start : start + n])  # cell k reads cell k-1's output
            values.update({f"{k}/{name}": value for name, value in own.items()})
            h = own["h"]  # (B, U_k)
            start += n
        values["h"] = h
        return values

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "cells": [cell_spec(c) for c in self.members],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> StackedRNNCells:
        from . import CELLS

        config = dict(config)
        cells = [
            cell_class(spec["class_name"], CELLS, custom_objects, spec.get("registered_name")).from_config(
                spec["config"]
            )
            for spec in config.pop("cells")
        ]
        return cls(cells, **config)

    def extra_repr(self) -> str:
        return f"cells={len(self.cells)}, units={self.units}"
