"""The smaller pieces Keras programs lean on: initial states given as arrays, Bidirectional's shapes and
reset, TimeDistributed's mask check, Embedding's argument errors, ``optimizer.apply_gradients``, the
``.weights.h5`` file of a subclassed model, ``utils.timeseries_dataset_from_array`` and ``rnnlab.ops``.
Where Keras (torch backend) is installed it is the oracle; elsewhere its expected values are ported."""

from __future__ import annotations

import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import constraints, ops
from rnnlab import optimizers as ro
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Embedding, Input, SimpleRNN, TimeDistributed
from rnnlab.utils import timeseries_dataset_from_array


def live_keras():
    keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
    if keras.backend.backend() != "torch":
        pytest.skip("the comparison needs Keras on the torch backend (KERAS_BACKEND=torch)")
    keras.backend.clear_session()
    return keras


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# -- initial_state as one array --------------------------------------------------------------
@pytest.mark.parametrize("layer_class", [SimpleRNN, GRU])
def test_one_array_is_the_one_state_not_a_list_of_rows(layer_class):
    layer = layer_class(3)
    x, h0 = random(2, 4, 5), random(2, 3, seed=1)
    from_array = layer(torch.as_tensor(x), initial_state=h0)
    np.testing.assert_array_equal(
        from_array.detach(), layer(torch.as_tensor(x), initial_state=[torch.as_tensor(h0)]).detach()
    )


def test_lstm_takes_a_list_of_two_arrays():
    layer = LSTM(3)
    x, h0, c0 = random(2, 4, 5), random(2, 3, seed=1), random(2, 3, seed=2)
    from_arrays = layer(torch.as_tensor(x), initial_state=[h0, c0])
    from_tensors = layer(torch.as_tensor(x), initial_state=[torch.as_tensor(h0), torch.as_tensor(c0)])
    np.testing.assert_array_equal(from_arrays.detach(), from_tensors.detach())


def test_one_array_initial_state_gives_keras_numbers():
    keras = live_keras()
    x, h0 = random(2, 4, 5), random(2, 3, seed=1)
    keras_layer, layer = keras.layers.SimpleRNN(3), SimpleRNN(3)
    expected = np.asarray(keras_layer(x, initial_state=h0).detach())
    layer(torch.as_tensor(x))  # builds the weights
    layer.set_weights(keras_layer.get_weights())
    np.testing.assert_allclose(layer(torch.as_tensor(x), initial_state=h0).detach(), expected, atol=1e-6)


# -- Bidirectional ----------------------------------------------------------------------------
def test_bidirectional_output_shape_is_flat_as_the_call_returns():
    layer = Bidirectional(LSTM(3, return_state=True), merge_mode=None)
    outputs = layer(torch.zeros(2, 4, 5))
    shapes = layer.compute_output_shape((2, 4, 5))
    assert [tuple(s) for s in shapes] == [tuple(t.shape) for t in outputs] == [(2, 3)] * 6


def test_bidirectional_output_shapes_equal_keras():
    keras = live_keras()
    for merge_mode in (None, "concat", "sum"):
        for return_sequences in (False, True):
            config = dict(return_state=True, return_sequences=return_sequences)
            keras_layer = keras.layers.Bidirectional(keras.layers.GRU(3, **config), merge_mode=merge_mode)
            layer = Bidirectional(GRU(3, **config), merge_mode=merge_mode)
            expected = keras_layer.compute_output_shape((None, 4, 5))
            assert [tuple(s) for s in layer.compute_output_shape((None, 4, 5))] == [tuple(s) for s in expected]


def test_bidirectional_reset_state_forgets_both_directions():
    layer = Bidirectional(GRU(3, stateful=True))
    x = torch.as_tensor(random(2, 4, 5))
    first = layer(x).detach()
    assert not torch.equal(layer(x).detach(), first)  # carried states change the second call
    layer.reset_state()
    np.testing.assert_array_equal(layer(x).detach(), first)
    layer.reset_states()
    model = rnnlab.Sequential([Input((4, 5), batch_size=2), layer])
    model.reset_states()  # a model resets its stateful Bidirectional layers too
    np.testing.assert_array_equal(layer(x).detach(), first)


def test_bidirectional_reset_state_of_a_stateless_layer_says_so():
    layer = Bidirectional(GRU(3), name="bi")
    with pytest.raises(AttributeError, match=re.escape("Bidirectional layer 'bi' is not stateful")):
        layer.reset_state()


# -- TimeDistributed, Embedding ---------------------------------------------------------------
def test_time_distributed_refuses_a_mask_of_another_shape():
    layer = TimeDistributed(Dense(2), name="td")
    x = torch.zeros(2, 4, 5)
    assert layer(x, mask=torch.ones(2, 4, dtype=torch.bool)).shape == (2, 4, 2)
    with pytest.raises(ValueError) as error:
        layer(x, mask=torch.ones(3, 4, dtype=torch.bool))
    assert str(error.value) == (
        "TimeDistributed layer 'td' expects a mask of shape (batch, time) = (2, 4), matching its input of "
        "shape (2, 4, 5); received a mask of shape (3, 4)."
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 4), "input_dim must be a positive integer (the vocabulary size, counting padding id 0), received 0."),
        ((10, -1), "output_dim must be a positive integer (the length of each embedding vector), received -1."),
        ((2.5, 4), "input_dim must be a positive integer (the vocabulary size, counting padding id 0), received 2.5."),
    ],
)
def test_embedding_names_the_bad_argument(arguments, message):
    with pytest.raises(ValueError) as error:
        Embedding(*arguments)
    assert str(error.value) == message


# -- optimizer.apply_gradients ----------------------------------------------------------------
def _custom_loop_model(library, constraint):
    return library.Sequential(
        [
            library.Input((5, 3)),
            library.layers.LSTM(4),
            library.layers.Dense(2, kernel_constraint=constraint),
        ]
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.optimizers.Adam(0.05, clipnorm=0.1),
        lambda lib: lib.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        lambda lib: lib.optimizers.RMSprop(0.01, global_clipnorm=0.5),
        lambda lib: lib.optimizers.AdamW(0.02),
    ],
    ids=["adam_clipnorm", "sgd_nesterov", "rmsprop_global_clipnorm", "adamw"],
)
def test_apply_gradients_steps_equal_keras(make):
    keras = live_keras()
    x, y = torch.as_tensor(random(8, 5, 3)), torch.as_tensor(random(8, 2, seed=1))
    keras_model = _custom_loop_model(keras, keras.constraints.MaxNorm(0.5))
    model = _custom_loop_model(rnnlab, constraints.MaxNorm(0.5))
    model.set_weights(keras_model.get_weights())
    keras_optimizer, optimizer = make(keras), make(rnnlab)
    for _ in range(3):
        for v in keras_model.trainable_weights:
            v.value.grad = None
        ((keras_model(x) - y) ** 2).mean().backward()
        keras_grads = [v.value.grad for v in keras_model.trainable_weights]
        keras_optimizer.apply_gradients(zip(keras_grads, keras_model.trainable_weights, strict=True))
        loss = ((model(x) - y) ** 2).mean()
        grads = torch.autograd.grad(loss, [v.value for v in model.trainable_weights])
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    for expected, got in zip(keras_model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert int(optimizer.iterations) == int(keras_optimizer.iterations) == 3


def test_apply_gradients_leaves_the_callers_gradients_and_skips_none():
    layer = Dense(2)
    layer(torch.zeros(1, 3))
    kernel, bias = layer.trainable_weights
    kernel.value.grad = torch.full((3, 2), 7.0)
    before = bias.numpy()
    optimizer = ro.SGD(0.5)
    assert int(optimizer.apply_gradients([(np.ones((3, 2)), kernel), (None, bias)])) == 1
    np.testing.assert_array_equal(kernel.value.grad, torch.full((3, 2), 7.0))
    np.testing.assert_array_equal(bias.numpy(), before)
    with pytest.raises(ValueError, match=r"A gradient of shape \(2,\) was given for a variable of shape \(3, 2\)"):
        optimizer.apply_gradients([(np.ones(2), kernel)])
    with pytest.raises(ValueError, match="every gradient is None"):
        optimizer.apply_gradients([(None, kernel)])


def test_apply_gradients_trains_a_model_in_a_custom_loop():
    rnnlab.set_seed(0)
    model = rnnlab.Sequential([Input((6, 1)), GRU(8), Dense(1)])
    x = torch.as_tensor(random(32, 6, 1))
    y = x.sum(dim=1)
    optimizer = ro.Adam(0.02)
    losses = []
    for _ in range(60):
        loss = ((model(x, training=True) - y) ** 2).mean()
        grads = torch.autograd.grad(loss, [v.value for v in model.trainable_weights])
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


# -- save_weights of a subclassed model ---------------------------------------------------------
def _subclassed(library):
    layers = library.layers

    class Head(library.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(5, activation="tanh")
            self.score = layers.Dense(2)

        def call(self, x):
            return self.score(self.hidden(x))

    class Tagger(library.Model):
        def __init__(self):
            super().__init__()
            self.embed = layers.Embedding(10, 4)
            self.rnn = layers.LSTM(3, return_sequences=True)
            self.both_ways = layers.Bidirectional(layers.GRU(2))
            self.head = Head()
            self.out = layers.Dense(1)  # attributes after "layers" sort into Keras's layers/ group
            self.skip = layers.Dense(1)

        def call(self, x):
            h = self.head(self.both_ways(self.rnn(self.embed(x))))
            return self.out(h) + self.skip(h)

    return Tagger()


TOKENS = np.random.default_rng(0).integers(0, 10, (3, 5)).astype("int32")


def test_subclassed_weights_file_loads_into_the_same_keras_class(tmp_path):
    keras = live_keras()
    model = _subclassed(rnnlab)
    expected = model(TOKENS).detach().numpy()
    model.save_weights(tmp_path / "tagger.weights.h5")
    keras_model = _subclassed(keras)
    keras_model(TOKENS)
    keras_model.load_weights(tmp_path / "tagger.weights.h5")
    np.testing.assert_allclose(np.asarray(keras_model(TOKENS).detach()), expected, atol=1e-6)


def test_keras_subclassed_weights_file_loads_into_rnnlab(tmp_path):
    keras = live_keras()
    keras_model = _subclassed(keras)
    expected = np.asarray(keras_model(TOKENS).detach())
    keras_model.save_weights(tmp_path / "tagger.weights.h5")
    model = _subclassed(rnnlab)
    model(TOKENS)
    model.load_weights(tmp_path / "tagger.weights.h5")
    np.testing.assert_allclose(model(TOKENS).detach().numpy(), expected, atol=1e-6)


def test_subclassed_weights_round_trip_in_rnnlab(tmp_path):
    pytest.importorskip("h5py")
    model, copy = _subclassed(rnnlab), _subclassed(rnnlab)
    expected = model(TOKENS).detach().numpy()
    copy(TOKENS)
    model.save_weights(tmp_path / "tagger.weights.h5")
    copy.load_weights(tmp_path / "tagger.weights.h5")
    np.testing.assert_array_equal(copy(TOKENS).detach().numpy(), expected)


def test_subclassed_weights_need_built_layers_and_registered_lists(tmp_path):
    pytest.importorskip("h5py")
    with pytest.raises(ValueError, match="has no weights yet: call the model on a batch of data once"):
        _subclassed(rnnlab).save_weights(tmp_path / "unbuilt.weights.h5")

    class Listed(rnnlab.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [Dense(2), Dense(1)]

        def call(self, x):
            return self.blocks[1](self.blocks[0](x))

    listed = Listed()
    listed(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"Listed.blocks holds layers in a plain list, which torch does not register"):
        listed.save_weights(tmp_path / "listed.weights.h5")
    assert not (tmp_path / "listed.weights.h5").exists()


# -- timeseries_dataset_from_array (Keras's own test cases, ported) --------------------------------
def test_timeseries_basics():
    data = np.arange(100)
    batches = list(timeseries_dataset_from_array(data, data * 2, sequence_length=9, batch_size=5))
    assert len(batches) == 19
    for i, (inputs, targets) in enumerate(batches):
        assert inputs.shape == ((5, 9) if i < 18 else (2, 9))
        np.testing.assert_array_equal(inputs[:, 0] * 2, targets)
        for j in range(len(inputs)):
            np.testing.assert_array_equal(inputs[j], np.arange(i * 5 + j, i * 5 + j + 9))


def test_timeseries_regression_and_no_targets():
    data = np.arange(10)
    batches = list(timeseries_dataset_from_array(data, data[3:], sequence_length=3, batch_size=1))
    assert len(batches) == 7
    for i, (inputs, targets) in enumerate(batches):
        assert inputs.shape == (1, 3) and targets[0] == data[3 + i]
        np.testing.assert_array_equal(inputs[0], data[i : i + 3])
    windows = list(timeseries_dataset_from_array(np.arange(50), None, sequence_length=10, batch_size=5))
    assert [w.shape for w in windows] == [(5, 10)] * 8 + [(1, 10)]
    np.testing.assert_array_equal(windows[8][0], np.arange(40, 50))


def test_timeseries_sampling_rate_stride_and_index_range():
    data = np.arange(100)
    sampled = list(timeseries_dataset_from_array(data, data * 2, sequence_length=9, batch_size=5, sampling_rate=2))
    assert len(sampled) == 17 and sampled[16][0].shape == (4, 9)
    np.testing.assert_array_equal(sampled[1][0][2], np.arange(7, 7 + 18, 2))
    strided = list(timeseries_dataset_from_array(data, data * 2, sequence_length=9, batch_size=5, sequence_stride=3))
    assert len(strided) == 7 and strided[6][0].shape == (1, 9)
    np.testing.assert_array_equal(strided[1][0][2], np.arange(21, 30))
    ranged = timeseries_dataset_from_array(
        data, None, 9, sequence_stride=3, sampling_rate=2, batch_size=5, start_index=10, end_index=90
    )
    values = np.concatenate([batch.ravel() for batch in ranged])
    assert values.min() == 10 and values.max() == 89


def test_timeseries_shuffles_window_starts_as_keras_does():
    data = np.arange(30)
    batches = timeseries_dataset_from_array(data, data, sequence_length=4, batch_size=100, shuffle=True, seed=7)
    starts = np.arange(27)
    np.random.RandomState(7).shuffle(starts)  # Keras's order of the window starts
    x, y = next(iter(batches))
    np.testing.assert_array_equal(y, starts)
    np.testing.assert_array_equal(x[:, 0], starts)
    again, _ = next(iter(batches))
    assert sorted(again[:, 0]) == list(range(27)) and not np.array_equal(again[:, 0], starts)  # a new epoch order


def test_timeseries_unbatched_windows():
    first = next(iter(timeseries_dataset_from_array(np.arange(100), None, sequence_length=9, batch_size=None)))
    np.testing.assert_array_equal(first, np.arange(9))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start_index": -1}, "`start_index` must be 0 or greater. Received: start_index=-1"),
        ({"start_index": 11}, "`start_index` must be lower than the length of the data."),
        ({"end_index": -1}, "`end_index` must be higher than 0. Received: end_index=-1"),
        ({"end_index": 11}, "`end_index` must be lower than the length of the data."),
        ({"sampling_rate": 0}, "`sampling_rate` must be higher than 0. Received: sampling_rate=0"),
        ({"sequence_stride": 0}, "`sequence_stride` must be higher than 0. Received: sequence_stride=0"),
    ],
)
def test_timeseries_refuses_what_keras_refuses(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        timeseries_dataset_from_array(np.arange(10), None, 3, **arguments)


def test_timeseries_batches_feed_fit_and_predict():
    rnnlab.set_seed(0)
    series = np.sin(np.arange(200) / 5).astype("float32")[:, None]  # (time, 1)
    train = timeseries_dataset_from_array(series[:-5], series[5:], sequence_length=5, batch_size=32)
    model = rnnlab.Sequential([Input((5, 1)), LSTM(8), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(train, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    windows = timeseries_dataset_from_array(series, None, sequence_length=5, batch_size=64)
    assert model.predict(windows, verbose=0).shape == (196, 1)


# -- rnnlab.ops against keras.ops ----------------------------------------------------------------
A, B, M = random(2, 3, 4), random(2, 3, 4, seed=1), random(4, 5, seed=2)
OPS = [
    ("matmul", (A, M), {}),
    ("add", (A, B), {}),
    ("add", (A, 2.0), {}),
    ("subtract", (A, B), {}),
    ("multiply", (A, B), {}),
    ("divide", (A, B + 3.0), {}),
    ("maximum", (A, B), {}),
    ("concatenate", ([A, B],), {"axis": -1}),
    ("stack", ([A, B],), {"axis": 1}),
    ("reshape", (A,), {"newshape": (6, -1)}),
    ("transpose", (A,), {}),
    ("transpose", (A,), {"axes": (0, 2, 1)}),
    ("expand_dims", (A,), {"axis": 1}),
    ("squeeze", (A[:, :1],), {"axis": 1}),
    ("sum", (A,), {}),
    ("sum", (A,), {"axis": (0, 2), "keepdims": True}),
    ("mean", (A,), {"axis": -1}),
    ("max", (A,), {"axis": 1}),
    ("min", (A,), {}),
    ("argmax", (A,), {"axis": -1}),
    ("cast", (A,), {"dtype": "int32"}),
    ("sigmoid", (A,), {}),
    ("tanh", (A,), {}),
    ("relu", (A,), {}),
    ("softmax", (A,), {"axis": 1}),
    ("log_softmax", (A,), {}),
    ("gelu", (A,), {}),
    ("elu", (A,), {}),
    ("selu", (A,), {}),
    ("silu", (A,), {}),
    ("softplus", (A,), {}),
    ("softsign", (A,), {}),
    ("hard_sigmoid", (A,), {}),
    ("leaky_relu", (A,), {}),
    ("relu6", (A * 4,), {}),
    ("exp", (A,), {}),
    ("square", (A,), {}),
    ("sqrt", (np.abs(A),), {}),
    ("clip", (A, -0.5, 0.5), {}),
    ("where", (A > 0, A, B), {}),
    ("zeros", ((2, 3),), {}),
    ("ones", ((2, 3),), {"dtype": "int32"}),
    ("zeros_like", (A,), {}),
    ("convert_to_tensor", (A.astype("float64"),), {}),
    ("convert_to_tensor", ([[1, 2], [3, 4]],), {}),
    ("convert_to_tensor", ([[1.5, 2.0]],), {}),
    ("convert_to_tensor", ([[1, 2], [3, 4]],), {"dtype": "float32"}),
    ("mean", (np.arange(6),), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), OPS, ids=[f"{n}{i}" for i, (n, _, _) in enumerate(OPS)])
def test_ops_equal_keras_ops(name, args, kwargs):
    keras = live_keras()
    expected = getattr(keras.ops, name)(*args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    assert isinstance(got, torch.Tensor)
    assert str(got.dtype).removeprefix("torch.") == keras.backend.standardize_dtype(expected.dtype)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(expected), rtol=1e-6, atol=1e-7)


def test_ops_shape_and_gradients_flow():
    x = torch.ones(2, 3, requires_grad=True)
    assert ops.shape(x) == (2, 3)
    ops.sum(ops.multiply(ops.tanh(x), 2.0)).backward()
    np.testing.assert_allclose(x.grad, 2 * (1 - np.tanh(1.0) ** 2) * np.ones((2, 3)), rtol=1e-6)
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == torch.float32  # Python floats become Keras's float32
    assert ops.convert_to_tensor(np.ones(2)).dtype == torch.float64  # arrays keep their dtype


def test_a_layers_own_weight_attributes_take_keras_variable_calls():
    dense = Dense(3)
    dense.build((None, 4))
    dense.kernel.assign(np.ones((4, 3)))
    dense.bias.assign_add(np.full(3, 0.5))
    dense.bias.assign_sub(np.full(3, 0.25))
    np.testing.assert_array_equal(dense.kernel.numpy(), np.ones((4, 3), "float32"))
    np.testing.assert_array_equal(np.asarray(dense.bias), np.full(3, 0.25, "float32"))
    assert dense.kernel.value is dense.kernel and dense.kernel.requires_grad  # still the trained parameter
    np.testing.assert_allclose(dense(torch.ones(1, 4)).detach().numpy(), np.full((1, 3), 4.25))
    lstm = LSTM(2)
    lstm.build((None, 5, 3))
    lstm.cell.recurrent_kernel.assign(np.zeros((2, 8)))
    assert not lstm.cell.recurrent_kernel.numpy().any()
    embedding = Embedding(10, 2)
    embedding.build((None, 4))
    embedding.embeddings.assign(np.arange(20).reshape(10, 2))
    assert embedding.embeddings.numpy()[9, 1] == 19
    with pytest.raises(ValueError, match=r"This weight has shape \(4, 3\); cannot assign a value of shape \(3, 4\)\."):
        dense.kernel.assign(np.ones((3, 4)))
