"""Look inside recurrent models: gradient flow over time, gate values, weights. Reads models, never trains them.

>>> import numpy as np
>>> from rnnlab import Sequential
>>> from rnnlab.layers import LSTM, Dense
>>> model = Sequential([LSTM(4, input_shape=(6, 2), name="encoder"), Dense(1)])
>>> x, y = np.ones((3, 6, 2), "float32"), np.zeros((3, 1), "float32")
>>> gradient_flow(model, x, y).shape  # |d loss / d x_t|, one value per step, first step first
(6,)
>>> sorted(trace(model, x)["encoder"])  # layer name -> value name -> (batch, time, units)
['c', 'c_tilde', 'f', 'h', 'i', 'o']
"""

from .gates import GATE_LABELS, trace
from .gradients import gradient_flow, gradient_flows
from .recording import recording, recurrent_layers
from .weights import WeightStats, format_weights, weight_stats

__all__ = [
    "GATE_LABELS",
    "WeightStats",
    "format_weights",
    "gradient_flow",
    "gradient_flows",
    "recording",
    "recurrent_layers",
    "trace",
    "weight_stats",
]
