"""A cell's fused form: what the whole-sequence kernels and the PyTorch weight layouts read.

Each cell declares its form once (``RecurrentCell.declare_fused_form``); the weight layouts,
the kernels' ``why_not``, the native call and ``to_torch`` read it and never ask which cell
class they hold. A cell that no fused kernel computes (an activation the fused loops lack,
cells stacked within one step) says why in ``unfused``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class NativeCell(IntEnum):
    """The native kernel's ``enum Cell`` (``kernels/native_cpu.cpp``), value for value.

    A test compares these with the compiled library's own names and values.
    """

    SIMPLE_TANH = 0
    SIMPLE_RELU = 1
    LSTM = 2
    GRU = 3  # the reset gate after the recurrent multiply (reset_after=True, PyTorch's GRU)
    GRU_RESET_BEFORE = 4


@dataclass(frozen=True)
class FusedForm:
    """One cell as the fused kernels compute it, or why they cannot.

    Where ``native`` or ``torch_op`` is None, ``unfused`` (both kernels) or ``no_torch_op``
    (PyTorch's alone) says why.
    """

    gates: tuple[str, ...]  # the blocks of kernel (F, G*U), in Keras's order: ("i", "f", "c", "o")
    torch_order: tuple[int, ...] | None  # PyTorch's order of those blocks, None where PyTorch has no such cell
    bias_rows: int  # 1: bias (G*U,); 2: bias (2, G*U), the input row then the recurrent row
    state_names: tuple[str, ...]  # the states in order: ("h",) or ("h", "c")
    native: NativeCell | None  # the native kernel's cell
    torch_op: str | None  # PyTorch's fused op, torch._VF.<op>: "rnn_tanh", "rnn_relu", "lstm", "gru"
    unfused: str | None = None  # why no fused kernel computes this cell
    no_torch_op: str | None = None  # why PyTorch's ops cannot, where the native kernel can

    def __post_init__(self) -> None:
        if (self.native is None) != (self.unfused is not None):
            raise ValueError(f"a fused form has a native cell or says why not: {self}")
        if (self.torch_op is None) != (self.why_not_torch is not None):
            raise ValueError(f"a fused form has a PyTorch op or says why not: {self}")
        if self.torch_order is not None and sorted(self.torch_order) != list(range(len(self.gates))):
            raise ValueError(f"torch_order must reorder the gates {self.gates}, received {self.torch_order}")

    @classmethod
    def none(cls, reason: str) -> FusedForm:
        """The form of a cell no fused kernel computes, with the reason."""
        return cls((), None, 0, (), None, None, unfused=reason)

    @property
    def why_not_torch(self) -> str | None:
        """Why PyTorch's fused ops cannot compute this cell, or None when they can."""
        return self.unfused or self.no_torch_op

    def torch_layout(self) -> tuple[int, ...]:
        """``torch_order``, for the weight layouts: an error where PyTorch has no such cell."""
        if self.torch_order is None:
            raise ValueError(f"PyTorch has no layout for this cell: {self.why_not_torch}.")
        return self.torch_order


GATED_ACTIVATIONS = ("tanh", "sigmoid")  # (activation, recurrent_activation) the fused LSTM and GRU compute


def gated_unfused(activation: str | None, recurrent_activation: str | None) -> str | None:
    """Why the fused kernels cannot compute an LSTM or GRU with these activations, or None."""
    if (activation, recurrent_activation) == GATED_ACTIVATIONS:
        return None
    return f"activation={activation!r}, recurrent_activation={recurrent_activation!r} (fused: tanh and sigmoid)"
