"""Token ids: Sequential's Embedding -> recurrent layer on the native kernel reads a table of
embeddings @ kernel + bias (``native_tables.run_from_ids``) instead of multiplying every step's
embedded input, in inference and in training. Its outputs and gradients must be the layer's own on
the embedded inputs, which the reference kernel checks, for every cell, direction, mask and
row-block size; it must stand aside whenever dropout or tracing need the ordinary call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from helpers import randomize
from rnnlab.kernels import SequenceOptions, native_tables
from rnnlab.layers import GRU, LSTM, Dense, Embedding, SimpleRNN

LAYERS = {
    "simple_rnn": lambda u, **kw: SimpleRNN(u, **kw),
    "simple_rnn_relu": lambda u, **kw: SimpleRNN(u, activation="relu", **kw),
    "lstm": lambda u, **kw: LSTM(u, **kw),
    "lstm_no_bias": lambda u, **kw: LSTM(u, use_bias=False, **kw),
    "gru": lambda u, **kw: GRU(u, **kw),
    "gru_reset_before": lambda u, **kw: GRU(u, reset_after=False, **kw),
}
TOLERANCE = {torch.float32: 2e-6, torch.float64: 1e-12}


@pytest.fixture
def calls(monkeypatch):
    """How many layer calls read their token ids."""
    count = [0]
    original = native_tables.run_from_ids

    def counted(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(native_tables, "run_from_ids", counted)
    return count


def model_and_ids(name, rng, *, vocabulary=30, batch=9, time=11, units=20, dtype=torch.float32, **layer_kwargs):
    model = rnnlab.Sequential([Embedding(vocabulary, 6, mask_zero=True), LAYERS[name](units, **layer_kwargs), Dense(3)])
    ids = rng.integers(1, vocabulary, size=(batch, time))
    ids[1, :4] = 0  # padding: masked steps at the front of one row and the back of another
    ids[2, -3:] = 0
    model.build((None, time))
    randomize(model, rng)
    with torch.no_grad():  # weights of a trainable scale: a chaotic recurrence would amplify rounding
        for weights in model.parameters():
            weights.mul_(0.5)
    return model.to(dtype), ids


def unfused(model, ids):
    """The model's output with the recurrent layer called on the embedded inputs, on the reference kernel."""
    embedding, layer, dense = model.layers
    layer.implementation = "reference"
    try:
        with torch.no_grad():
            x = torch.as_tensor(ids)
            return dense(layer(embedding(x), mask=embedding.compute_mask(x, None))).numpy()
    finally:
        layer.implementation = "auto"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_reading_ids_gives_the_layers_own_outputs(name, go_backwards, dtype, calls, rng):
    model, ids = model_and_ids(name, rng, dtype=dtype, go_backwards=go_backwards)
    got = model.predict(ids, verbose=0)
    assert calls[0] == 1 and model.layers[1].last_kernel == "native"
    np.testing.assert_allclose(got, unfused(model, ids), rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [3, 40], ids=["few_rows", "packed"])
@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
def test_every_row_block_reads_its_own_ids(name, batch, threads, calls, rng, monkeypatch):
    """Blocks of a few rows read unpacked weights, larger ones packed; two threads split the rows."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    model, ids = model_and_ids(name, rng, batch=batch, time=25, units=24, return_sequences=True)
    got = model.predict(ids, batch_size=batch, verbose=0)  # Dense on every step's output
    assert calls[0] == 1
    np.testing.assert_allclose(got, unfused(model, ids), rtol=2e-6, atol=2e-6)


def test_states_carry_and_come_back_as_without_ids(calls, rng):
    """A stateful layer starts from its carried states and keeps the final ones, as on embedded inputs."""
    model, ids = model_and_ids("lstm", rng, vocabulary=12, batch=4, stateful=True)
    twin, _ = model_and_ids("lstm", np.random.default_rng(0), vocabulary=12, batch=4, stateful=True)
    twin.set_weights(model.get_weights())
    for part in (ids[:, :6], ids[:, 6:]):
        got = model.predict(part, batch_size=4, verbose=0)
        with torch.no_grad():
            embedding, layer, dense = twin.layers
            x = torch.as_tensor(part)
            want = dense(layer(embedding(x), mask=embedding.compute_mask(x, None))).numpy()
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    assert calls[0] == 2
    for carried, twins in zip(model.layers[1].states, twin.layers[1].states, strict=True):
        torch.testing.assert_close(carried, twins, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_training_from_ids_gives_the_reference_gradients(name, go_backwards, dtype, calls, rng):
    """The table's gradient gathers each token's d_gates; through it the embeddings, kernel and
    bias get what the reference kernel gives them on the embedded inputs."""
    model, ids = model_and_ids(name, rng, dtype=dtype, go_backwards=go_backwards, return_sequences=True)
    x = torch.as_tensor(ids)
    upstream = torch.as_tensor(rng.normal(size=(*ids.shape, 3)), dtype=dtype)

    def gradients():
        model.zero_grad()
        output = model(x, training=True)
        (output * upstream).sum().backward()
        return [output.detach(), *(w.grad.clone() for w in model.parameters())]

    got = gradients()
    assert calls[0] == 1 and model.layers[1].last_kernel == "native"
    model.layers[1].implementation = "reference"
    want = gradients()
    assert calls[0] == 1
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=TOLERANCE[dtype] * 10, atol=TOLERANCE[dtype] * 10)


def test_training_from_ids_changes_the_weights_as_without_ids(calls, rng):
    """A few steps of fit from ids give the weights a fit on the embedded inputs gives."""
    model, ids = model_and_ids("lstm", rng, units=16)
    twin, _ = model_and_ids("lstm", np.random.default_rng(0), units=16)
    twin.set_weights(model.get_weights())
    twin.layers[1].from_token_ids = lambda ids, embeddings, embedded, **kwargs: twin.layers[1](embedded, **kwargs)
    y = rng.normal(size=(len(ids), 3)).astype("float32")
    for m in (model, twin):
        m.compile(optimizer="adam", loss="mse", learning_rate=0.01)
        m.fit(ids, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    assert calls[0] == 6 and twin.layers[1].last_kernel == "native"
    for got, want in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_ids_are_not_read_where_the_ordinary_call_is_needed(calls, rng):
    model, ids = model_and_ids("lstm", rng, dropout=0.5)
    x = torch.as_tensor(ids)
    model(x, training=True)  # dropout changes the embedded inputs
    model.compile(optimizer="adam", loss="mse")
    model.fit(ids, np.zeros((len(ids), 3), "float32"), epochs=1, verbose=0)
    few, small = model_and_ids("lstm", rng, vocabulary=500, batch=3, time=5)
    few.predict(small, verbose=0)  # a table of 500 rows costs more than 15 tokens' multiplies
    assert calls[0] == 0
    model(x)  # no dropout in inference, with or without gradients
    model.predict(ids, verbose=0)
    assert calls[0] == 2


def test_ids_outside_the_table_are_refused(rng):
    model, ids = model_and_ids("lstm", rng)
    layer, embeddings = model.layers[1], model.layers[0].embeddings.detach()
    states = layer.cell.get_initial_state(2, embeddings)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 29\]"):
        native_tables.run_from_ids(layer.cell, torch.tensor([[3, 30]]), embeddings, states, None, SequenceOptions())


def test_the_table_follows_every_change_of_the_weights(calls, rng, monkeypatch):
    """The table is made once per predict (its batches change no weight) and again for the next,
    so every way of changing the weights shows, even storage swapped back and forth under the same
    address and version, as the optimizer's spares do."""
    model, ids = model_and_ids("gru", rng)
    embedding, layer, _ = model.layers
    y = np.zeros((len(ids), 3), "float32")
    made = []
    addmm = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **kw: made.append(1) or addmm(*a, **kw))

    def swapped_back():  # storage A -> B -> A, A written through .data as a spare is
        kernel = layer.cell.kernel
        first = kernel.data
        kernel.data = first.clone()
        torch.mul(first, 0.5, out=first)
        kernel.data = first

    def changes():
        with torch.no_grad():
            layer.cell.kernel.mul_(1.5)  # in place
        yield
        layer.cell.kernel.data = layer.cell.kernel.data * 0.5  # new storage under the same parameter
        yield
        swapped_back()
        yield
        model.set_weights([w * 0.9 for w in model.get_weights()])
        yield
        embedding.embeddings.assign(embedding.embeddings.numpy()[::-1].copy())
        yield
        model.compile(optimizer="adam", loss="mse", learning_rate=0.1)
        model.fit(ids, y, epochs=2, verbose=0)
        yield

    before = model.predict(ids, verbose=0)
    changed = 0
    for _ in changes():
        changed += 1
        got = model.predict(ids, verbose=0)
        assert not np.allclose(got, before)
        np.testing.assert_allclose(got, unfused(model, ids), rtol=2e-6, atol=2e-6)
        before = got
    trained = 2  # fit's two batches read ids too
    assert changed == 6 and calls[0] == 1 + changed + trained
    made.clear()
    model.predict(ids, batch_size=3, verbose=0)  # three batches, one table
    assert calls[0] == 4 + changed + trained and len(made) == 1


def test_a_functional_model_reads_ids_as_sequential_does(calls, rng):
    model, ids = model_and_ids("lstm", rng, return_sequences=True)
    inputs = rnnlab.Input((None,), dtype="int32")
    embedded = model.layers[0](inputs)
    outputs = model.layers[2](model.layers[1](embedded))
    functional = rnnlab.Model(inputs, [outputs, embedded])
    got, got_embedded = functional.predict(ids, verbose=0)
    assert calls[0] == 1
    np.testing.assert_allclose(got, model.predict(ids, verbose=0), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(got, unfused(model, ids), rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(got_embedded, model.layers[0](torch.as_tensor(ids)).detach().numpy())


def test_a_layer_named_native_projected_reads_ids_in_inference(calls, rng):
    """In inference native_projected is the native loop, token ids included."""
    model, ids = model_and_ids("lstm", rng, implementation="native_projected")
    got = model.predict(ids, verbose=0)
    assert calls[0] == 1 and model.layers[1].last_kernel == "native_projected"
    np.testing.assert_allclose(got, unfused(model, ids), rtol=TOLERANCE[torch.float32], atol=TOLERANCE[torch.float32])


def test_ids_are_not_read_past_a_hook_or_where_the_embedded_tensor_is_an_output(calls, rng):
    """A forward hook may change the Embedding's output, and a model output's gradient must see the
    recurrent layer's share: then the layer reads the embedded inputs, in inference and training."""
    model, ids = model_and_ids("lstm", rng)
    x = torch.as_tensor(ids)
    plain = model(x).detach()
    handle = model.layers[0].register_forward_hook(lambda module, args, output: output * 2.0)
    doubled = model(x)
    handle.remove()
    assert calls[0] == 1 and not torch.allclose(doubled, plain)

    inputs = rnnlab.Input((None,), dtype="int32")
    embedded = model.layers[0](inputs)
    functional = rnnlab.Model(inputs, [model.layers[2](model.layers[1](embedded)), embedded])
    output, embedded_output = functional(x)
    (d_embedded,) = torch.autograd.grad(output.sum(), embedded_output)
    assert calls[0] == 1 and d_embedded.abs().sum() > 0  # the recurrent layer's share reaches it
    functional.predict(ids, verbose=0)  # no gradient: the ids again
    assert calls[0] == 2


def test_training_from_ids_under_autocast_keeps_the_loop_in_float32(calls, rng):
    model, ids = model_and_ids("gru", rng, return_sequences=True)
    recurrent = rnnlab.Sequential(model.layers[:2])
    x = torch.as_tensor(ids)
    want = recurrent(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = recurrent(x, training=True)
    got.sum().backward()
    assert calls[0] == 2 and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)
