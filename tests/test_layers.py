"""Recurrent layers end to end against the NumPy oracle: masks, direction, states, Bidirectional."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from helpers import numpy_weights, ragged_mask, randomize
from numpy_reference import STEPS, run_sequence
from rnnlab.layers import GRU, LSTM, RNN, Bidirectional, LSTMCell, SimpleRNN

B, T, F, U = 4, 6, 3, 5
LAYERS = {
    "simple_rnn": (SimpleRNN, {}, "simple_rnn"),
    "lstm": (LSTM, {}, "lstm"),
    "gru": (GRU, {}, "gru"),
    "gru_reset_before": (GRU, {"reset_after": False}, "gru"),
}
MASKS = {
    "none": None,
    "right": ragged_mask([6, 4, 1, 3], T),
    "left_and_holes": np.array([[0, 0, 1, 1, 1, 1], [1, 1, 0, 1, 1, 0], [1] * 6, [0, 1, 0, 1, 0, 1]], dtype=bool),
}


def numpy_run(layer, x, mask, states=None, zero_output=False):
    cell = layer.cell
    weights = numpy_weights(cell)
    kwargs = {"activation": cell.activation}
    if cell.kind != "simple_rnn":
        kwargs["recurrent_activation"] = cell.recurrent_activation
    if cell.kind == "gru":
        kwargs["reset_after"] = cell.reset_after
    step = partial(STEPS[cell.kind], kernel=weights[0], recurrent_kernel=weights[1], bias=weights[2], **kwargs)
    step_fn = lambda x_t, s: step(x_t, s)  # noqa: E731
    if states is None:
        states = [np.zeros((x.shape[0], s)) for s in cell.state_size]
    return run_sequence(step_fn, x, states, mask, layer.go_backwards, zero_output)


@pytest.mark.parametrize("layer_name", LAYERS)
@pytest.mark.parametrize("mask_name", MASKS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_sequence_matches_numpy(layer_name, mask_name, go_backwards, rng):
    cls, kwargs, _ = LAYERS[layer_name]
    layer = cls(U, return_sequences=True, return_state=True, go_backwards=go_backwards, **kwargs)
    x = rng.normal(size=(B, T, F))
    layer(torch.zeros(1, T, F))
    randomize(layer, rng)
    mask = MASKS[mask_name]
    out, *states = layer(torch.as_tensor(x, dtype=torch.float32), mask=None if mask is None else torch.as_tensor(mask))
    want_out, want_states = numpy_run(layer, x, mask)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(states, want_states, strict=True):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_masked_steps_repeat_output_and_keep_state(rng):
    layer = LSTM(U, return_sequences=True, return_state=True)
    mask = torch.as_tensor(ragged_mask([6, 3, 6, 2], T))
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    out, h, c = layer(x, mask=mask)
    torch.testing.assert_close(out[1, 3:], out[1, 2].expand(3, U))  # repeats the last valid output
    torch.testing.assert_close(h[1], out[1, 2])  # final state = state of the last valid step
    last_only = LSTM(U)
    last_only.load_state_dict(layer.state_dict())
    torch.testing.assert_close(last_only(x, mask=mask), out[:, -1])
    # Padding content is ignored entirely.
    x_noise = x.clone()
    x_noise[1, 3:] = 100.0
    torch.testing.assert_close(layer(x_noise, mask=mask)[0], out)


def test_initial_state_and_return_state(rng):
    layer = GRU(U, return_sequences=True, return_state=True)
    x = rng.normal(size=(B, T, F))
    h0 = rng.normal(size=(B, U))
    layer(torch.zeros(1, T, F))
    randomize(layer, rng)
    out, h = layer(torch.as_tensor(x, dtype=torch.float32), initial_state=[torch.as_tensor(h0, dtype=torch.float32)])
    want_out, (want_h,) = numpy_run(layer, x, None, [h0])
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h.detach().numpy(), want_h, rtol=1e-5, atol=1e-5)
    with pytest.raises(
        ValueError,
        match=r"expects initial_state as 1 tensor\(s\) of shapes \[\(4, 5\)\], "
        r"received shapes \[\(4, 3\)\]",
    ):
        layer(torch.as_tensor(x, dtype=torch.float32), initial_state=[torch.zeros(B, 3)])


def test_go_backwards_keeps_reversed_order(rng):
    forward = SimpleRNN(U, return_sequences=True)
    backward = SimpleRNN(U, return_sequences=True, go_backwards=True)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    forward(x)
    backward(x)
    backward.load_state_dict(forward.state_dict())
    torch.testing.assert_close(backward(x), forward(x.flip(1)))


def test_stateful_carries_states_until_reset(rng):
    layer = LSTM(U, stateful=True, return_sequences=True)
    x1 = torch.as_tensor(rng.normal(size=(3, T, F)), dtype=torch.float32)
    x2 = torch.as_tensor(rng.normal(size=(3, T, F)), dtype=torch.float32)
    whole = LSTM(U, return_sequences=True)
    layer(x1)
    layer.reset_states()
    whole(x1)
    whole.load_state_dict(layer.state_dict())
    expected = whole(torch.cat([x1, x2], dim=1))
    out1, out2 = layer(x1), layer(x2)
    torch.testing.assert_close(torch.cat([out1, out2], dim=1), expected)
    layer.reset_states()
    torch.testing.assert_close(layer(x2), whole(x2))
    with pytest.raises(ValueError, match="carries states for a batch of 3, received a batch of 2"):
        layer(x2[:2])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(merge_mode, rng):
    layer = Bidirectional(LSTM(U, return_sequences=True), merge_mode=merge_mode)
    x = rng.normal(size=(B, T, F))
    mask = ragged_mask([6, 4, 2, 5], T)
    layer(torch.zeros(1, T, F))
    randomize(layer, rng)
    out = layer(torch.as_tensor(x, dtype=torch.float32), mask=torch.as_tensor(mask))
    fw, _ = numpy_run(layer.forward_layer, x, mask, zero_output=True)
    bw, _ = numpy_run(layer.backward_layer, x, mask, zero_output=True)
    bw = bw[:, ::-1]
    want = {
        "concat": np.concatenate([fw, bw], -1),
        "sum": fw + bw,
        "mul": fw * bw,
        "ave": (fw + bw) / 2,
        None: [fw, bw],
    }[merge_mode]
    if merge_mode is None:
        for got, w in zip(out, want, strict=True):
            np.testing.assert_allclose(got.detach().numpy(), w, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-5, atol=1e-5)
        assert not out[3, 5:].any()  # masked steps are zeros in both halves (Keras 3)


def test_bidirectional_names_weights_and_states():
    layer = Bidirectional(GRU(U, return_state=True, name="gru"))
    out, h_fw, h_bw = layer(torch.zeros(2, T, F))
    assert out.shape == (2, 2 * U) and h_fw.shape == h_bw.shape == (2, U)
    assert layer.forward_layer.name == "forward_gru" and layer.backward_layer.name == "backward_gru"
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    assert len(layer.get_weights()) == 6 and layer.count_params() == 2 * 3 * U * (U + F + 2)
    with pytest.raises(ValueError, match="Unknown merge_mode 'max'. Expected one of"):
        Bidirectional(GRU(U), merge_mode="max")
    with pytest.raises(TypeError, match="Bidirectional wraps a recurrent layer"):
        Bidirectional(torch.nn.Linear(2, 2))


def test_generic_rnn_with_cell(rng):
    layer = RNN(LSTMCell(U), return_sequences=True)
    reference = LSTM(U, return_sequences=True)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    layer(x), reference(x)
    reference.set_weights(layer.get_weights())
    torch.testing.assert_close(layer(x), reference(x))


def test_dropout_is_active_only_in_training(rng):
    layer = LSTM(U, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    assert layer.last_kernel == "native"
    layer.train()
    a, b = layer(x), layer(x)
    assert layer.last_kernel == "reference"  # recurrent dropout runs inside the step
    assert not torch.allclose(a, b)
    torch.testing.assert_close(layer(x, training=False), layer.eval()(x))


def test_input_dropout_mask_is_shared_across_steps():
    """Keras draws one input dropout mask per sequence: a dropped feature is dropped at every step."""
    layer = SimpleRNN(U, dropout=0.5, use_bias=False, activation="linear")
    layer(torch.zeros(1, 2, 6))
    with torch.no_grad():
        layer.cell.recurrent_kernel.zero_()
        layer.cell.kernel.copy_(torch.eye(6, U))
    x = torch.ones(200, 2, 6)
    layer.return_sequences = True
    out = layer(x, training=True)  # linear, no recurrence: out[:, t] = dropped x[:, t]
    torch.testing.assert_close(out[:, 0], out[:, 1])
    assert set(out.unique().tolist()) == {0.0, 2.0}


def test_integer_and_boolean_sequences_are_read_as_floats():
    """Keras casts inputs to the layer's dtype: a boolean one-hot array gives the float array's outputs."""
    layer = LSTM(3, return_sequences=True)
    one_hot = np.eye(4, dtype=bool)[[[0, 2, 1], [3, 3, 0]]]  # (2, 3, 4)
    expected = layer(torch.as_tensor(one_hot, dtype=torch.float32))
    torch.testing.assert_close(layer(one_hot), expected)
    torch.testing.assert_close(layer(one_hot.astype(np.int64)), expected)
    assert Bidirectional(GRU(2))(np.ones((2, 3, 4), dtype=np.int64)).dtype == torch.float32


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
def test_use_cudnn_is_kept_through_bidirectional_and_checked(layer_class):
    assert Bidirectional(layer_class(2, use_cudnn=False)).backward_layer.use_cudnn is False
    with pytest.raises(ValueError) as error:
        layer_class(2, use_cudnn="yes")
    assert str(error.value) == "use_cudnn must be one of 'auto', True or False, received use_cudnn='yes'."
