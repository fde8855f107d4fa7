"""Diagnostics: traced gates against the cell equations, gradient flow against autograd, and the
vanishing gradient itself, measured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from helpers import randomize
from rnnlab import kernels
from rnnlab.datasets import multiplication_problem
from rnnlab.diagnostics import format_weights, gradient_flow, gradient_flows, recording, trace, weight_stats
from rnnlab.kernels import SequenceOptions
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from rnnlab.tasks.multiplication import build_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these small step-by-step loops run slower on two when the machine is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def layer_outputs(model, x):
    """Each layer's output from an ordinary call (the fast kernel where it applies)."""
    outputs, h = [], torch.as_tensor(x)
    with torch.no_grad():
        for layer in model.layers:
            h = layer(h)
            outputs.append(h.numpy())
    return outputs


# -- traced gates recombined with the cell equations -------------------------------------------
def lstm_check(values, x, weights, output, backwards=False):
    W, U, b = (w.astype(np.float64) for w in weights)
    B, T, _ = x.shape
    units = U.shape[0]
    h, c = np.zeros((B, units)), np.zeros((B, units))
    order = range(T - 1, -1, -1) if backwards else range(T)
    for t in order:
        z = x[:, t] @ W + h @ U + b  # gates from the previous step's traced state
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        np.testing.assert_allclose(values["i"][:, t], sigmoid(z_i), atol=1e-5)
        np.testing.assert_allclose(values["f"][:, t], sigmoid(z_f), atol=1e-5)
        np.testing.assert_allclose(values["c_tilde"][:, t], np.tanh(z_c), atol=1e-5)
        np.testing.assert_allclose(values["o"][:, t], sigmoid(z_o), atol=1e-5)
        c = values["f"][:, t] * c + values["i"][:, t] * values["c_tilde"][:, t]  # recombined from the trace
        h = values["o"][:, t] * np.tanh(c)
        np.testing.assert_allclose(values["c"][:, t], c, atol=1e-5)
        np.testing.assert_allclose(output[:, t], h, atol=1e-5)


def gru_check(values, x, weights, output, reset_after):
    W, U, b = (w.astype(np.float64) for w in weights)
    B, T, _ = x.shape
    units = U.shape[0]
    b_x, b_h = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))
    h = np.zeros((B, units))
    for t in range(T):
        x_z, x_r, x_h = np.split(x[:, t] @ W + b_x, 3, axis=-1)
        u_z, u_r, u_h = np.split(U, 3, axis=-1)
        bh_z, bh_r, bh_h = np.split(b_h, 3)
        z = sigmoid(x_z + h @ u_z + bh_z)
        r = sigmoid(x_r + h @ u_r + bh_r)
        h_tilde = np.tanh(x_h + r * (h @ u_h + bh_h)) if reset_after else np.tanh(x_h + (r * h) @ u_h)
        for name, expected in (("z", z), ("r", r), ("h_tilde", h_tilde)):
            np.testing.assert_allclose(values[name][:, t], expected, atol=1e-5)
        h = values["z"][:, t] * h + (1 - values["z"][:, t]) * values["h_tilde"][:, t]  # recombined
        np.testing.assert_allclose(output[:, t], h, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
def test_traced_gates_recombine_into_the_layer_outputs(rng, reset_after):
    T = 9
    model = rnnlab.Sequential(
        [
            LSTM(5, return_sequences=True, input_shape=(T, 3)),
            GRU(4, return_sequences=True, reset_after=reset_after),
            SimpleRNN(3, return_sequences=True),
        ]
    )
    randomize(model, rng)
    x = rng.normal(size=(4, T, 3)).astype("float32")
    traced = trace(model, x)
    assert list(traced) == ["lstm", "gru", "simple_rnn"]
    assert list(traced["lstm"]) == ["i", "f", "c_tilde", "o", "c", "h"]
    assert list(traced["gru"]) == ["z", "r", "h_tilde", "h"]
    assert {k: v.shape for k, v in traced["gru"].items()} == dict.fromkeys(traced["gru"], (4, T, 4))

    out_lstm, out_gru, out_rnn = layer_outputs(model, x)  # torch_fused where it applies
    lstm_check(traced["lstm"], x.astype(np.float64), model.layers[0].get_weights(), out_lstm)
    gru_check(traced["gru"], out_lstm.astype(np.float64), model.layers[1].get_weights(), out_gru, reset_after)
    W, U, b = model.layers[2].get_weights()
    h = np.zeros((4, 3))
    for t in range(T):
        h = np.tanh(out_gru[:, t] @ W + h @ U + b)
        np.testing.assert_allclose(traced["simple_rnn"]["h"][:, t], h, atol=1e-5)
    np.testing.assert_allclose(traced["simple_rnn"]["h"], out_rnn, atol=1e-5)


def test_trace_of_a_backward_layer_is_in_input_order(rng):
    model = rnnlab.Sequential([Bidirectional(LSTM(4, return_sequences=True), input_shape=(7, 2))])
    randomize(model, rng)
    x = rng.normal(size=(3, 7, 2)).astype("float32")
    traced = trace(model, x)
    assert list(traced) == ["forward_lstm", "backward_lstm"]
    output = layer_outputs(model, x)[0]
    bidirectional = model.layers[0]
    lstm_check(traced["forward_lstm"], x, bidirectional.forward_layer.get_weights(), output[..., :4])
    lstm_check(traced["backward_lstm"], x, bidirectional.backward_layer.get_weights(), output[..., 4:], True)


def test_trace_of_one_sequence():
    model = rnnlab.Sequential([GRU(3, input_shape=(5, 2))])
    traced = trace(model, np.ones((5, 2), "float32"))  # (time, features): one sequence
    assert traced["gru"]["z"].shape == (1, 5, 3)


# -- recording: routed to the reference kernel, visibly, and undone ------------------------------
def test_recording_runs_on_the_reference_kernel_and_leaves_the_layers_as_they_were(rng):
    model = rnnlab.Sequential([LSTM(3, input_shape=(6, 2)), Dense(1)])
    x = torch.as_tensor(rng.normal(size=(2, 6, 2)), dtype=torch.float32)
    before = model(x)
    layer = model.layers[0]
    fastest = layer.last_kernel
    assert fastest in ("native", "torch_fused")  # native unless no compiler was found
    with recording(model):
        recorded = model(x)
        assert layer.last_kernel == "reference"
        assert layer.last_kernel_skipped[fastest] == "recording gate values needs the step-by-step loop"
        assert len(layer.last_trace["f"]) == 6
    torch.testing.assert_close(recorded, before, atol=1e-6, rtol=1e-5)
    assert (layer.record, layer.last_trace, layer.last_kernel) == (False, {}, fastest)
    assert f"auto -> {fastest}" in model.summary(print_fn=None)


def test_a_layer_forced_onto_the_fused_kernel_can_still_be_traced():
    model = rnnlab.Sequential([GRU(3, implementation="torch_fused", input_shape=(4, 2))])
    cell, x = model.layers[0].cell, torch.zeros(1, 4, 2)
    with pytest.raises(ValueError, match="recording gate values needs the step-by-step loop"):
        kernels.select("torch_fused", cell, x, None, SequenceOptions(record=True))
    assert trace(model, x)["gru"]["h"].shape == (1, 4, 3)
    assert model.layers[0].implementation == "torch_fused"


def test_recorded_values_keep_their_gradients():
    layer = GRU(3, input_shape=(5, 2))
    layer.record = True
    layer(torch.randn(2, 5, 2)).sum().backward()
    steps = layer.last_trace["h"]
    torch.testing.assert_close(steps[-1].grad, torch.ones(2, 3))  # d sum(h_T) / d h_T
    assert all(z.grad is not None for z in layer.last_trace["z"])


# -- gradient flow against autograd ---------------------------------------------------------------
def test_gradient_flow_equals_autograd(rng):
    T, B = 12, 5
    model = rnnlab.Sequential([LSTM(6, return_sequences=True, input_shape=(T, 2)), GRU(5), Dense(1)])
    randomize(model, rng, scale=0.4)
    x = rng.normal(size=(B, T, 2)).astype("float32")
    y = rng.normal(size=(B, 1)).astype("float32")
    flows = gradient_flows(model, x, y)
    assert list(flows) == ["input", "lstm", "gru"] and all(f.shape == (T,) for f in flows.values())

    def per_sample_loss(prediction):  # mean squared error, each sample's own: batch mean times batch size
        return ((prediction - torch.as_tensor(y)) ** 2).mean() * B

    # The input: autograd through an ordinary call (the fused kernel).
    inputs = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(per_sample_loss(model(inputs)), inputs)
    expected = grad.norm(dim=-1).mean(dim=0).numpy()
    np.testing.assert_allclose(flows["input"], expected, rtol=1e-5)
    np.testing.assert_allclose(gradient_flow(model, x, y), expected, rtol=1e-5)

    # Hidden states: run each layer's cell by hand and ask autograd for d loss / d h_t.
    lstm, gru, dense = model.layers
    hs, states = [], lstm.cell.get_initial_state(B, inputs)
    for t in range(T):
        h, states = lstm.cell(inputs[:, t], states)
        hs.append(h)
    grads = torch.autograd.grad(per_sample_loss(dense(gru(torch.stack(hs, dim=1)))), hs)
    np.testing.assert_allclose(flows["lstm"], torch.stack(grads, 1).norm(dim=-1).mean(0).numpy(), rtol=1e-5)

    first = lstm(inputs).detach()
    hs, states = [], gru.cell.get_initial_state(B, first)
    for t in range(T):
        h, states = gru.cell(first[:, t], states)
        hs.append(h)
    grads = torch.autograd.grad(per_sample_loss(dense(hs[-1])), hs)
    np.testing.assert_allclose(flows["gru"], torch.stack(grads, 1).norm(dim=-1).mean(0).numpy(), rtol=1e-5)

    # The model is left as it was: no parameter gradients, no recording, the same kernels.
    assert all(p.grad is None for p in model.parameters())
    assert not any(layer.record for layer in (lstm, gru))


def test_gradient_flow_uses_the_compiled_loss_and_names_its_choices(rng):
    model = rnnlab.Sequential([SimpleRNN(4, input_shape=(6, 1)), Dense(1)])
    x, y = rng.normal(size=(3, 6, 1)).astype("float32"), np.zeros((3, 1), "float32")
    model.compile(loss="mae")
    inputs = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(model(inputs).abs().mean() * 3, inputs)
    np.testing.assert_allclose(gradient_flow(model, x, y), grad.norm(dim=-1).mean(0).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"expected one of \['input', 'simple_rnn'\]"):
        gradient_flow(model, x, y, wrt="lstm")
    with pytest.raises(ValueError, match="no recurrent layer"):
        gradient_flow(rnnlab.Sequential([Dense(1, input_shape=(2,))]), np.ones((1, 2, 2)), np.ones((1, 1)))


def test_token_ids_are_traced_and_give_hidden_state_flows_only(rng):
    model = rnnlab.Sequential([Embedding(10, 4, input_shape=(6,)), LSTM(3), Dense(1)])
    ids, y = rng.integers(1, 10, size=(2, 6)), np.zeros((2, 1), "float32")
    assert trace(model, ids)["lstm"]["h"].shape == (2, 6, 3)
    assert trace(model, ids[0])["lstm"]["h"].shape == (1, 6, 3)  # one sequence of ids
    assert list(gradient_flows(model, ids, y)) == ["lstm"]
    with pytest.raises(ValueError, match="token ids, which have no gradient"):
        gradient_flow(model, ids, y)


def test_gradient_flow_leaves_the_callers_tensor_alone():
    model = rnnlab.Sequential([GRU(2, input_shape=(3, 1))])
    x = torch.ones(1, 3, 1)
    gradient_flow(model, x, torch.zeros(1, 2))
    assert not x.requires_grad and x.grad is None


# -- the vanishing gradient, measured --------------------------------------------------------------
def first_over_last(cell, seed, x, y, gate_bias=None):
    """First-step over last-step gradient norm of the multiplication experiment's model (two
    30-unit layers + Dense), freshly initialised with ``seed``; ``gate_bias`` opens the forget
    (LSTM) or update (GRU) gate of both layers."""
    rnnlab.set_seed(seed)
    model = build_model(cell, 30, x.shape[1])
    if gate_bias is not None:
        with torch.no_grad():
            for layer in model.layers[:2]:
                bias, units = layer.cell.bias, layer.cell.units
                if cell == "lstm":
                    bias[units : 2 * units] = gate_bias  # f
                else:
                    bias[:, :units] = gate_bias / 2  # z: input row + recurrent row
    flow = gradient_flow(model, x, y)
    return flow[0] / flow[-1]


SEEDS = range(5)


@pytest.fixture(scope="module")
def hundred_steps():
    return multiplication_problem(64, 100, rng=0)


@pytest.fixture(scope="module")
def at_initialisation(hundred_steps):
    """First/last ratios of freshly initialised models with Keras's defaults, per cell, per seed."""
    return {cell: [first_over_last(cell, s, *hundred_steps) for s in SEEDS] for cell in ("simple_rnn", "lstm", "gru")}


def test_a_simple_rnn_loses_the_gradient_over_100_steps(at_initialisation):
    # Observed, seeds 0-4 (batch 64): 4.2e-3, 1.4e-4, 1.2e-3, 5.1e-4, 1.2e-4.
    ratios = at_initialisation["simple_rnn"]
    assert max(ratios) < 1e-2 and np.median(ratios) < 2e-3, ratios


def test_open_gates_carry_the_gradient_across_100_steps(hundred_steps):
    # With the forget gate (LSTM) or update gate (GRU) biased open (bias 5: sigmoid = 0.993),
    # h_t ~ h_{t-1}: nothing decays, and the first step's gradient is even larger than the last's
    # (it reaches the second layer at every later step). Observed, seeds 0-4: LSTM 19-170,
    # GRU 53-83, against SimpleRNN's 1e-4-4e-3 above.
    for cell in ("lstm", "gru"):
        ratios = [first_over_last(cell, seed, *hundred_steps, gate_bias=5.0) for seed in SEEDS]
        assert min(ratios) > 1, (cell, ratios)


def test_with_keras_default_biases_gated_cells_start_out_forgetting_faster(at_initialisation):
    # At initialisation the gates sit near sigmoid(0) = 0.5 (GRU's z) and sigmoid(1) = 0.73
    # (LSTM's f with unit_forget_bias), so each step scales the carried state, and its gradient,
    # by about that factor; an orthogonal recurrent kernel keeps SimpleRNN's gradient longer.
    # Gates help because training can open them, not at initialisation.
    # Observed, seeds 0-4: LSTM 9.5e-8-4.6e-6, GRU 5.5e-19-1.7e-17.
    simple, lstm, gru = (at_initialisation[cell] for cell in ("simple_rnn", "lstm", "gru"))
    assert max(lstm) < 1e-4 and max(gru) < 1e-12, (lstm, gru)
    assert max(lstm) < min(simple) and max(gru) < min(simple)


# -- weights ------------------------------------------------------------------------------------
def test_weight_listing_uses_keras_names_and_true_statistics(rng):
    model = rnnlab.Sequential([LSTM(4, return_sequences=True, input_shape=(5, 2)), Bidirectional(GRU(3)), Dense(1)])
    randomize(model, rng)
    stats = weight_stats(model)
    assert [(s.name, s.shape) for s in stats] == [
        ("lstm/lstm_cell/kernel", (2, 16)),
        ("lstm/lstm_cell/recurrent_kernel", (4, 16)),
        ("lstm/lstm_cell/bias", (16,)),
        ("bidirectional/forward_gru/gru_cell/kernel", (4, 9)),
        ("bidirectional/forward_gru/gru_cell/recurrent_kernel", (3, 9)),
        ("bidirectional/forward_gru/gru_cell/bias", (2, 9)),
        ("bidirectional/backward_gru/gru_cell/kernel", (4, 9)),
        ("bidirectional/backward_gru/gru_cell/recurrent_kernel", (3, 9)),
        ("bidirectional/backward_gru/gru_cell/bias", (2, 9)),
        ("dense/kernel", (6, 1)),
        ("dense/bias", (1,)),
    ]
    kernel = model.layers[0].get_weights()[0]
    first = stats[0]
    assert (first.mean, first.std, first.min, first.max) == pytest.approx(
        (kernel.mean(), kernel.std(), kernel.min(), kernel.max()), rel=1e-5
    )
    text = format_weights(stats)
    assert "lstm/lstm_cell/recurrent_kernel" in text and "(16,)" in text
