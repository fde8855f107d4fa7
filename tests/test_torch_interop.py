"""Conversion between rnnlab layers and PyTorch's nn.RNN / nn.LSTM / nn.GRU: same outputs both ways."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import randomize
from rnnlab.layers import GRU, LSTM, SimpleRNN

B, T, F, U = 3, 6, 4, 5
PAIRS = [
    (SimpleRNN, lambda bf: nn.RNN(F, U, batch_first=bf)),
    (SimpleRNN, lambda bf: nn.RNN(F, U, nonlinearity="relu", batch_first=bf)),
    (LSTM, lambda bf: nn.LSTM(F, U, batch_first=bf)),
    (GRU, lambda bf: nn.GRU(F, U, batch_first=bf)),
    (LSTM, lambda bf: nn.LSTM(F, U, bias=False, batch_first=bf)),
]


def torch_outputs(module, x):
    """Batch-first outputs and final states (B, U) of a torch RNN module."""
    x_in = x if module.batch_first else x.transpose(0, 1)
    out, state = module(x_in)
    out = out if module.batch_first else out.transpose(0, 1)
    states = state if isinstance(state, tuple) else (state,)
    return out, [s[0] for s in states]


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("cls,make", PAIRS)
def test_from_torch(cls, make, batch_first, rng):
    module = make(batch_first)
    randomize(module, rng)
    layer = cls.from_torch(module, return_sequences=True, return_state=True)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    want_out, want_states = torch_outputs(module, x)
    out, *states = layer(x)
    torch.testing.assert_close(out, want_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(states, want_states, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("cls,make", PAIRS)
def test_to_torch(cls, make, batch_first, rng):
    template = make(batch_first)
    kwargs = {"use_bias": template.bias}
    if isinstance(template, nn.RNN):
        kwargs["activation"] = template.nonlinearity
    layer = cls(U, return_sequences=True, return_state=True, **kwargs)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    layer(x)
    randomize(layer, rng)
    module = layer.to_torch(batch_first=batch_first)
    assert type(module) is type(template) and module.batch_first == batch_first
    want_out, *want_states = layer(x)
    out, states = torch_outputs(module, x)
    torch.testing.assert_close(out, want_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(states, want_states, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_round_trip_keeps_keras_weights(rng):
    layer = GRU(U, input_shape=(T, F))
    randomize(layer, rng)
    back = GRU.from_torch(layer.to_torch())
    for a, b in zip(layer.get_weights(), back.get_weights(), strict=True):
        torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b))


def test_conversion_errors():
    with pytest.raises(TypeError, match="LSTM.from_torch expects an nn.LSTM, received GRU"):
        LSTM.from_torch(nn.GRU(2, 3))
    with pytest.raises(ValueError, match="converts one layer in one direction"):
        LSTM.from_torch(nn.LSTM(2, 3, num_layers=2))
    with pytest.raises(
        ValueError, match=r"has no PyTorch equivalent: GRU\(reset_after=False\) applies the reset gate before"
    ):
        GRU(3, reset_after=False, input_shape=(4, 2)).to_torch()
    with pytest.raises(
        ValueError, match="has no PyTorch equivalent: activation='tanh', recurrent_activation='hard_sigmoid'"
    ):
        LSTM(3, recurrent_activation="hard_sigmoid", input_shape=(4, 2)).to_torch()
