"""One time step of each recurrent cell: the equations, nothing else."""

from .fused_form import FusedForm, NativeCell
from .gru import GRUCell
from .layer_cell import LayerCell, as_cell, cell_class, cell_spec
from .lstm import LSTMCell
from .recurrent_cell import RecurrentCell
from .simple_rnn import SimpleRNNCell
from .stacked import StackedRNNCells

CELLS: dict[str, type[RecurrentCell]] = {c.__name__: c for c in (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells)}

__all__ = [
    "CELLS",
    "FusedForm",
    "NativeCell",
    "RecurrentCell",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "StackedRNNCells",
    "LayerCell",
    "as_cell",
    "cell_class",
    "cell_spec",
]
