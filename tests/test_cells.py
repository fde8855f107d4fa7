"""Each cell's step against the independent NumPy equations, and gradcheck in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import numpy_weights, randomize
from numpy_reference import gru_step, lstm_step, simple_rnn_step
from rnnlab.layers import GRUCell, LSTMCell, SimpleRNNCell

F, U, B = 3, 5, 4  # input_dim != units, so a transposed kernel cannot pass

CASES = [
    ("simple_rnn", lambda: SimpleRNNCell(U), simple_rnn_step, {}),
    ("simple_rnn_relu", lambda: SimpleRNNCell(U, activation="relu"), simple_rnn_step, {"activation": "relu"}),
    ("lstm", lambda: LSTMCell(U), lstm_step, {}),
    (
        "lstm_hard_sigmoid",
        lambda: LSTMCell(U, recurrent_activation="hard_sigmoid"),
        lstm_step,
        {"recurrent_activation": "hard_sigmoid"},
    ),
    ("gru", lambda: GRUCell(U), gru_step, {}),
    ("gru_reset_before", lambda: GRUCell(U, reset_after=False), gru_step, {"reset_after": False}),
    ("lstm_no_bias", lambda: LSTMCell(U, use_bias=False), lstm_step, {}),
    ("gru_no_bias", lambda: GRUCell(U, use_bias=False), gru_step, {}),
]


@pytest.mark.parametrize("name,make,step,kwargs", CASES, ids=[c[0] for c in CASES])
def test_step_matches_numpy_equations(name, make, step, kwargs, rng):
    cell = make()
    states = [torch.as_tensor(rng.normal(size=(B, s)), dtype=torch.float32) for s in cell.state_size]
    x = torch.as_tensor(rng.normal(size=(B, F)), dtype=torch.float32)
    cell(x, states)  # build
    randomize(cell, rng)
    h, new_states = cell(x, states)

    weights = numpy_weights(cell)
    if not cell.use_bias:
        weights.append(None)
    h_np, states_np = step(x.double().numpy(), [s.double().numpy() for s in states], *weights, **kwargs)
    np.testing.assert_allclose(h.detach().numpy(), h_np, rtol=1e-5, atol=1e-5)
    for got, want in zip(new_states, states_np, strict=True):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_weight_shapes_follow_keras_layout():
    lstm, gru, gru_before = LSTMCell(U), GRUCell(U), GRUCell(U, reset_after=False)
    for cell in (lstm, gru, gru_before):
        cell.ensure_built((None, F))
    assert [tuple(p.shape) for p in lstm.keras_weights()] == [(F, 4 * U), (U, 4 * U), (4 * U,)]
    assert [tuple(p.shape) for p in gru.keras_weights()] == [(F, 3 * U), (U, 3 * U), (2, 3 * U)]
    assert [tuple(p.shape) for p in gru_before.keras_weights()] == [(F, 3 * U), (U, 3 * U), (3 * U,)]
    assert [name for name, _ in lstm.named_parameters()] == ["kernel", "recurrent_kernel", "bias"]


def test_default_initialisers():
    cell = LSTMCell(8)
    cell.ensure_built((None, 6))
    bias = cell.bias.detach().numpy()
    np.testing.assert_array_equal(bias[8:16], 1.0)  # unit_forget_bias
    np.testing.assert_array_equal(np.delete(bias, np.s_[8:16]), 0.0)
    limit = np.sqrt(6 / (6 + 32))  # glorot_uniform over (fan_in, fan_out) = (6, 32)
    assert np.abs(cell.kernel.detach().numpy()).max() <= limit
    rk = cell.recurrent_kernel.detach().double().numpy()  # (8, 32): orthonormal rows
    np.testing.assert_allclose(rk @ rk.T, np.eye(8), atol=1e-5)
    no_forget = LSTMCell(8, unit_forget_bias=False)
    no_forget.ensure_built((None, 6))
    assert not no_forget.bias.detach().any()


# Smooth activations only: finite differences across relu / hard_sigmoid kinks are meaningless.
SMOOTH = [c for c in CASES if "relu" not in c[0] and "hard_sigmoid" not in c[0]]


@pytest.mark.parametrize("name,make,step,kwargs", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_gradcheck(name, make, step, kwargs, rng):
    cell = make()
    cell.ensure_built((None, F))
    cell.double()
    randomize(cell, rng)
    x = torch.tensor(rng.normal(size=(2, F)), requires_grad=True)
    states = [torch.tensor(rng.normal(size=(2, s)), requires_grad=True) for s in cell.state_size]
    names = [name for name, _ in cell.named_parameters()]
    n = len(states)

    def step_fn(x, *tensors):
        h, new = torch.func.functional_call(cell, dict(zip(names, tensors[n:], strict=True)), (x, list(tensors[:n])))
        return (h, *new)

    assert torch.autograd.gradcheck(step_fn, (x, *states, *cell.parameters()))
