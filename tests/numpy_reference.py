"""An independent NumPy implementation of the Keras recurrent equations, used as the tests' oracle.

Written from the Keras documentation's equations, not from the package: weights come in
Keras layout (kernel (F, G*U), recurrent_kernel (U, G*U), bias), gates i,f,c,o and z,r,h.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


ACT = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "hard_sigmoid": hard_sigmoid,
    "linear": lambda x: x,
}


def simple_rnn_step(x, states, kernel, recurrent_kernel, bias=None, activation="tanh"):
    (h,) = states
    z = x @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
    h = ACT[activation](z)
    return h, [h]


def lstm_step(x, states, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid"):
    h, c = states
    units = h.shape[-1]
    z = x @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
    i = ACT[recurrent_activation](z[:, :units])
    f = ACT[recurrent_activation](z[:, units : 2 * units])
    g = ACT[activation](z[:, 2 * units : 3 * units])
    o = ACT[recurrent_activation](z[:, 3 * units :])
    c = f * c + i * g
    h = o * ACT[activation](c)
    return h, [h, c]


def gru_step(
    x, states, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid", reset_after=True
):
    (h,) = states
    u = h.shape[-1]
    if bias is None:
        b_in, b_rec = np.zeros(3 * u), np.zeros(3 * u)
    elif reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, np.zeros(3 * u)
    W_z, W_r, W_h = kernel[:, :u], kernel[:, u : 2 * u], kernel[:, 2 * u :]
    U_z, U_r, U_h = recurrent_kernel[:, :u], recurrent_kernel[:, u : 2 * u], recurrent_kernel[:, 2 * u :]
    z = ACT[recurrent_activation](x @ W_z + b_in[:u] + h @ U_z + b_rec[:u])
    r = ACT[recurrent_activation](x @ W_r + b_in[u : 2 * u] + h @ U_r + b_rec[u : 2 * u])
    if reset_after:
        hh = ACT[activation](x @ W_h + b_in[2 * u :] + r * (h @ U_h + b_rec[2 * u :]))
    else:
        hh = ACT[activation](x @ W_h + (r * h) @ U_h + b_in[2 * u :])
    h = z * h + (1 - z) * hh
    return h, [h]


STEPS = {"simple_rnn": simple_rnn_step, "lstm": lstm_step, "gru": gru_step}


def run_sequence(step, x, states, mask=None, go_backwards=False, zero_output_for_mask=False):
    """Keras's masked loop: a masked step keeps the state and repeats the previous output
    (zeros before the first valid step, or always zeros with zero_output_for_mask)."""
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    B, T, _ = x.shape
    prev = None
    outputs = []
    for t in range(T):
        h, new_states = step(x[:, t], states)
        if prev is None:
            prev = np.zeros_like(h)
        if mask is not None:
            m = mask[:, t, None]
            h = np.where(m, h, 0.0 if zero_output_for_mask else prev)
            new_states = [np.where(m, n, s) for n, s in zip(new_states, states, strict=True)]
        outputs.append(h)
        prev, states = h, new_states
    return np.stack(outputs, axis=1), states
