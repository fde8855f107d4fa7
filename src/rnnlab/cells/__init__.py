"""One time step of each recurrent cell: the equations, nothing else."""

from .base import RecurrentCell
from .gru import GRUCell
from .lstm import LSTMCell
from .simple_rnn import SimpleRNNCell

__all__ = ["RecurrentCell", "SimpleRNNCell", "LSTMCell", "GRUCell"]
