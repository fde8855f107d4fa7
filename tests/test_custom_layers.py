"""Layers and cells written as Keras writes them (``build`` + ``add_weight`` + ``call``; cells with
``state_size``), ``layer.build(shape)``, and integer and boolean inputs, with real Keras 3 (torch
backend) as the oracle where it is installed: the same weights in give the same outputs, gradients
and three epochs of training."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import constraints, initializers, layers, ops, regularizers


# -- the classes, written once for either library (Keras's RNN guide and docstrings) ----------------------
def minimal_rnn_cell(lib):
    """Keras's MinimalRNNCell (the RNN layer's docstring), on ``lib`` (rnnlab or keras)."""

    class MinimalRNNCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
            )

        def call(self, inputs, states):
            prev_output = states[0]
            h = lib.ops.matmul(inputs, self.kernel)
            output = h + lib.ops.matmul(prev_output, self.recurrent_kernel)
            return output, [output]

    return MinimalRNNCell


def two_state_cell(lib):
    """A cell with two states of different sizes, an output size of its own and a training argument."""

    class TwoStateCell(lib.layers.Layer):
        def __init__(self, units, memory, **kwargs):
            super().__init__(**kwargs)
            self.units, self.memory = units, memory
            self.state_size = [units, memory]
            self.output_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.memory_kernel = self.add_weight(shape=(self.units, self.memory), name="memory_kernel")
            self.readout = self.add_weight(shape=(self.memory, self.units), name="readout")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, inputs, states, training=None):
            h, m = states
            m_new = lib.ops.tanh(lib.ops.matmul(h, self.memory_kernel)) + 0.5 * m
            h_new = lib.ops.tanh(lib.ops.matmul(inputs, self.kernel) + lib.ops.matmul(m_new, self.readout) + self.bias)
            return h_new, [h_new, m_new]

        def get_config(self):
            return {**super().get_config(), "units": self.units, "memory": self.memory}

    return TwoStateCell


def scaled_dense(lib):
    """A Dense of one's own: add_weight with a regularizer, a constraint and a non-trainable scale."""

    class ScaledDense(lib.layers.Layer):
        def __init__(self, units, l2=0.01, **kwargs):
            super().__init__(**kwargs)
            self.units, self.l2 = units, l2

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="glorot_uniform",
                regularizer=lib.regularizers.L2(self.l2),
                name="w",
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="zeros", constraint=lib.constraints.NonNeg(), name="b"
            )
            self.scale = self.add_weight(shape=(), initializer=lib.initializers.Constant(2.0), trainable=False)

        def call(self, inputs):
            return self.scale * lib.ops.tanh(lib.ops.matmul(inputs, self.w) + self.b)

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], self.units)

        def get_config(self):
            return {**super().get_config(), "units": self.units, "l2": self.l2}

    return ScaledDense


# -- rnnlab on its own ------------------------------------------------------------------------------------
MinimalRNNCell = minimal_rnn_cell(rnnlab)
TwoStateCell = two_state_cell(rnnlab)
ScaledDense = scaled_dense(rnnlab)


def test_add_weight_registers_parameters_and_returns_keras_variables():
    layer = ScaledDense(3)
    layer.build((None, 4))
    assert layer.built and [w.path for w in layer.weights] == [
        "scaled_dense/w",
        "scaled_dense/b",
        "scaled_dense/variable",
    ]
    assert [n for n, _ in layer.named_parameters()] == ["w", "b", "variable"]
    assert [w.name for w in layer.trainable_weights] == ["w", "b"] and layer.scale.numpy() == 2.0
    layer.b.assign([-1.0, 2.0, 3.0])
    layer.apply_constraints()
    np.testing.assert_array_equal(layer.b.numpy(), [0.0, 2.0, 3.0])  # NonNeg after an update
    assert float(layer.losses[0]) == pytest.approx(0.01 * float((layer.w.numpy() ** 2).sum()))
    layer.trainable = True
    assert not layer.scale.trainable  # trainable=False stays so when the layer is made trainable


def test_variables_act_as_tensors_and_gradients_reach_the_parameters():
    layer = ScaledDense(2)
    x = torch.ones(1, 3)
    y = layer(x)
    (y.sum() + (layer.w @ torch.ones(2)).sum() + (1 - layer.b).sum() + layer.w[0, 0]).backward()
    assert layer.w.value.grad is not None and layer.b.value.grad is not None
    assert torch.equal(layer.w.T, layer.w.value.T)


def test_custom_layer_builds_on_first_call_shapes_and_rebuilds_from_config():
    model = rnnlab.Sequential([layers.Input((5,)), ScaledDense(3, l2=0.1), layers.Dense(1)])
    assert model.layers[0].compute_output_shape((None, 5)) == (None, 3)
    assert model.count_params() == 5 * 3 + 3 + 1 + 3 + 1
    config = model.layers[0].get_config()
    assert config["units"] == 3 and config["l2"] == 0.1
    rebuilt = ScaledDense.from_config(config)
    rebuilt.build((None, 5))
    rebuilt.set_weights(model.layers[0].get_weights())
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_array_equal(rebuilt(x).detach().numpy(), model.layers[0](x).detach().numpy())


def test_keras_automatic_config_rebuilds_a_cell_without_get_config():
    cell = MinimalRNNCell(4, name="mine")
    assert cell.get_config() == {"units": 4, "name": "mine", "trainable": True}
    layer = layers.RNN([MinimalRNNCell(3), TwoStateCell(2, memory=5)], return_sequences=True)
    rebuilt = layers.RNN.from_config(layer.get_config())
    assert [type(c.cell).__name__ for c in rebuilt.cell.members] == ["MinimalRNNCell", "TwoStateCell"]
    assert rebuilt.cell.members[1].cell.memory == 5


def test_a_custom_cell_runs_on_the_reference_kernel_and_says_why():
    layer = layers.RNN(MinimalRNNCell(4))
    layer(np.zeros((2, 3, 5), "float32"))
    assert layer.last_kernel == "reference"
    assert layer.last_kernel_skipped["native"] == "MinimalRNNCell is a cell of your own: it runs step by step"
    assert layer.cell.kernel.shape == (5, 4)  # the cell's own attributes, through the RNN's cell
    with pytest.raises(ValueError, match="Kernel 'torch_fused' cannot run layer 'minimal_rnn_cell_1'"):
        layers.RNN(MinimalRNNCell(4), implementation="torch_fused")(np.zeros((2, 3, 5), "float32"))


def test_cells_without_state_size_are_refused_clearly():
    class NoState(layers.Layer):
        state_size = "four"

    with pytest.raises(TypeError, match=r"needs state_size: the size of its state \(an int\), or a list"):
        layers.RNN(NoState())
    with pytest.raises(TypeError, match="or a Layer with state_size and call"):
        layers.RNN(layers.Dense(3))


def test_a_cell_returning_the_wrong_number_of_states_is_named():
    class Forgetful(MinimalRNNCell):
        def call(self, inputs, states):
            return super().call(inputs, states)[0], []

    with pytest.raises(ValueError, match=r"Cell Forgetful has state_size 2 \(1 state\(s\)\), but its call returned 0"):
        layers.RNN(Forgetful(2))(np.zeros((1, 2, 3), "float32"))


# -- building (issue item 4) ------------------------------------------------------------------------------
def test_build_creates_the_weights_visibly():
    rnn = layers.SimpleRNN(2)
    rnn.build((None, None, 5))
    assert rnn.built and [w.name for w in rnn.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in rnn.weights] == [(5, 2), (2, 2), (2,)]
    dense = layers.Dense(3)
    dense.build((None, 4))
    dense.set_weights([np.ones((4, 3)), np.zeros(3)])
    np.testing.assert_array_equal(dense(np.ones((1, 4), "float32")).detach().numpy(), [[4.0, 4.0, 4.0]])
    model = rnnlab.Sequential([layers.LSTM(3), layers.Dense(1)])
    model.build((None, 7, 2))
    assert model.built and model.count_params() == 4 * 3 * (3 + 2 + 1) + 4


# -- integer and boolean inputs (issue item 5) -------------------------------------------------------------
def test_integer_and_boolean_arrays_become_the_float_type_and_token_ids_stay_integers():
    x = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]]).reshape(3, 3, 1)  # int64, as in the tutorials
    model = rnnlab.Sequential([layers.SimpleRNN(4), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, np.array([4, 5, 6]), epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(x), model.predict(x.astype("float32")))
    assert isinstance(model.evaluate(x, np.array([4, 5, 6]), verbose=0), float)

    one_hot = np.eye(6, dtype=bool)[np.random.default_rng(0).integers(0, 6, (8, 5))]  # the character examples
    chars = rnnlab.Sequential([layers.LSTM(4), layers.Dense(6, activation="softmax")])
    chars.compile("adam", "categorical_crossentropy")
    chars.fit(one_hot, one_hot[:, -1], epochs=1, verbose=0, validation_data=(one_hot, one_hot[:, -1]))
    np.testing.assert_allclose(chars.predict(one_hot), chars.predict(one_hot.astype("float32")))

    tokens = rnnlab.Sequential([layers.Embedding(10, 3), layers.LSTM(2)])
    assert tokens.input_dtype is None and chars.input_dtype == torch.float32
    assert tokens.predict(np.array([[1, 2, 9]])).shape == (1, 2)
    with pytest.raises(ValueError, match="received token id 10"):  # ids reach the Embedding as integers
        tokens.predict(np.array([[1, 2, 10]]))


# -- model files: classes of your own by custom_objects or by registration ---------------------------------
def own_classes_model():
    """ScaledDense (a frozen weight, a regularizer and a constraint) feeding RNN(MinimalRNNCell)."""
    inputs = layers.Input((6, 3))
    return rnnlab.Model(inputs, layers.RNN(MinimalRNNCell(4))(ScaledDense(5)(inputs)))


@pytest.mark.parametrize("name", ["own.keras", "own.safetensors"])
def test_own_layers_and_cells_load_with_custom_objects(tmp_path, name, rng):
    model = own_classes_model()
    model.save(tmp_path / name)
    given = {"ScaledDense": ScaledDense, "MinimalRNNCell": MinimalRNNCell}
    loaded = rnnlab.models.load_model(tmp_path / name, custom_objects=given)
    assert [type(layer).__name__ for layer in loaded.layers] == ["InputLayer", "ScaledDense", "RNN"]
    assert loaded.layers[1].scale.numpy() == 2.0 and not loaded.layers[1].scale.trainable
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_missing_class_is_named_with_how_to_make_it_known(tmp_path):
    own_classes_model().save(tmp_path / "own.keras")
    with pytest.raises(ValueError, match=r"Unknown layer class 'ScaledDense': .* custom_objects=\{'ScaledDense': "):
        rnnlab.models.load_model(tmp_path / "own.keras", custom_objects={"MinimalRNNCell": MinimalRNNCell})
    own_classes_model().save(tmp_path / "own.safetensors")
    with pytest.raises(ValueError, match=r"register_keras_serializable\(\) on its class before loading"):
        rnnlab.models.load_model(tmp_path / "own.safetensors")


@pytest.fixture
def registered():
    """Classes registered for one test, the registry as it was after it."""
    before = dict(rnnlab.saving.get_custom_objects())
    yield rnnlab.saving.register_keras_serializable
    rnnlab.saving.get_custom_objects().clear()
    rnnlab.saving.get_custom_objects().update(before)


@pytest.mark.parametrize("name", ["own.keras", "own.safetensors"])
def test_registered_classes_load_without_custom_objects(tmp_path, name, rng, registered):
    @registered(package="lab", name="Doubled")
    class DoubledDense(ScaledDense):
        pass

    registered(package="lab")(MinimalRNNCell)
    assert rnnlab.saving.get_registered_name(DoubledDense) == "lab>Doubled"
    inputs = layers.Input((6, 3))
    model = rnnlab.Model(inputs, layers.RNN(MinimalRNNCell(4))(DoubledDense(5)(inputs)))
    model.save(tmp_path / name)
    loaded = rnnlab.models.load_model(tmp_path / name)
    assert type(loaded.layers[1]) is DoubledDense
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_custom_object_scope_and_keras_utils_names(tmp_path, registered):
    own_classes_model().save(tmp_path / "own.safetensors")
    with rnnlab.utils.custom_object_scope({"ScaledDense": ScaledDense, "MinimalRNNCell": MinimalRNNCell}):
        assert type(rnnlab.models.load_model(tmp_path / "own.safetensors").layers[1]) is ScaledDense
    assert rnnlab.utils.register_keras_serializable is rnnlab.saving.register_keras_serializable
    with pytest.raises(ValueError, match="Cannot register Plain: a class in model files needs a get_config"):
        registered()(type("Plain", (), {}))


# -- against Keras ----------------------------------------------------------------------------------------
keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
if keras.backend.backend() != "torch":
    pytest.skip("these comparisons need Keras on the torch backend (KERAS_BACKEND=torch)", allow_module_level=True)

KerasMinimalRNNCell = minimal_rnn_cell(keras)
KerasTwoStateCell = two_state_cell(keras)
KerasScaledDense = scaled_dense(keras)


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def ragged_mask(batch, time, rng):
    lengths = rng.integers(1, time + 1, size=batch)
    return np.arange(time)[None, :] < lengths[:, None]  # (B, T), True = valid


def flatten(nested):
    return [t for item in nested for t in flatten(item)] if isinstance(nested, (list, tuple)) else [nested]


def run_both(keras_layer, layer, x, mask=None, **call):
    """Outputs and gradients (weights, then input) of both layers on the same weights."""
    keras_layer.build(x.shape) if not keras_layer.built else None
    layer.build(x.shape)
    layer.set_weights(keras_layer.get_weights())
    results = []
    for each, weights in ((keras_layer, [v.value for v in keras_layer.trainable_weights]), (layer, None)):
        xt = torch.tensor(x, requires_grad=True)
        kwargs = dict(call)
        if mask is not None:
            kwargs["mask"] = torch.tensor(mask)
        out = each(xt, **kwargs)
        flat = flatten(out)
        loss = sum((o * torch.linspace(0.5, 1.5, o.numel()).reshape(o.shape)).sum() for o in flat)
        params = weights if weights is not None else [v.value for v in layer.trainable_weights]
        grads = torch.autograd.grad(loss, [*params, xt])
        results.append(([o.detach().numpy() for o in flat], [g.numpy() for g in grads]))
    (keras_out, keras_grads), (out, grads) = results
    assert len(out) == len(keras_out)
    for a, b in zip(out, keras_out, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(grads, keras_grads, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    return out


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_minimal_rnn_cell_equals_keras(go_backwards, masked, rng):
    x = rng.normal(size=(4, 6, 5)).astype("float32")
    mask = ragged_mask(4, 6, rng) if masked else None
    options = {"return_sequences": True, "return_state": True, "go_backwards": go_backwards}
    out = run_both(
        keras.layers.RNN(KerasMinimalRNNCell(3), **options), layers.RNN(MinimalRNNCell(3), **options), x, mask
    )
    assert [o.shape for o in out] == [(4, 6, 3), (4, 3)]


@pytest.mark.parametrize("go_backwards", [False, True])
def test_stacked_custom_cells_with_masks_equal_keras(go_backwards, rng):
    x = rng.normal(size=(5, 7, 4)).astype("float32")
    mask = ragged_mask(5, 7, rng)
    options = {"return_sequences": True, "return_state": True, "go_backwards": go_backwards}
    keras_layer = keras.layers.RNN(
        [KerasMinimalRNNCell(3), KerasTwoStateCell(4, 2), keras.layers.GRUCell(2)], **options
    )
    layer = layers.RNN([MinimalRNNCell(3), TwoStateCell(4, 2), layers.GRUCell(2)], **options)
    out = run_both(keras_layer, layer, x, mask)
    assert [o.shape for o in out] == [(5, 7, 2), (5, 3), (5, 4), (5, 2), (5, 2)]  # the int state bare, as in Keras
    assert [w.path for w in layer.weights][:2] == [w.path for w in keras_layer.weights][:2]


def test_weight_paths_equal_keras():
    keras_layer = keras.layers.RNN([KerasMinimalRNNCell(3), KerasTwoStateCell(2, 4)])
    keras_layer.build((None, 5, 2))
    layer = layers.RNN([MinimalRNNCell(3), TwoStateCell(2, 4)])
    layer.build((None, 5, 2))
    assert [w.path for w in layer.weights] == [w.path for w in keras_layer.weights]


def test_custom_layer_outputs_and_gradients_equal_keras(rng):
    x = rng.normal(size=(6, 5)).astype("float32")
    keras_layer, layer = KerasScaledDense(3), ScaledDense(3)
    keras_layer.build(x.shape)
    keras_layer.b.assign(np.array([0.1, 0.2, 0.3], "float32"))
    run_both(keras_layer, layer, x)
    assert [w.path for w in layer.weights] == [w.path for w in keras_layer.weights]
    assert float(layer.losses[0]) == pytest.approx(float(keras_layer.losses[0]), rel=1e-6)


def train_both(keras_layers, rnnlab_layers, x, y):
    keras_model = keras.Sequential(keras_layers)
    model = rnnlab.Sequential(rnnlab_layers)
    model.set_weights(keras_model.get_weights())
    keras_model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    model.compile(optimizer=rnnlab.optimizers.Adam(0.02), loss="mse")
    keras_history = keras_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    for a, b in zip(model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_three_epochs_of_a_custom_cell_model_equal_keras(rng):
    x = rng.normal(size=(24, 6, 3)).astype("float32")
    y = rng.normal(size=(24, 1)).astype("float32")
    train_both(
        [
            keras.Input((6, 3)),
            keras.layers.RNN([KerasMinimalRNNCell(4), KerasTwoStateCell(3, 2)]),
            keras.layers.Dense(1),
        ],
        [layers.Input((6, 3)), layers.RNN([MinimalRNNCell(4), TwoStateCell(3, 2)]), layers.Dense(1)],
        x,
        y,
    )


def test_three_epochs_with_masks_regularizer_constraint_and_frozen_weight_equal_keras(rng):
    x = rng.normal(size=(24, 6, 3)).astype("float32")
    x[::3, 4:] = 0.0  # padded ends, masked by Masking
    y = rng.normal(size=(24, 2)).astype("float32")
    train_both(
        [
            keras.Input((6, 3)),
            keras.layers.Masking(),
            keras.layers.RNN(KerasMinimalRNNCell(4), go_backwards=True),
            KerasScaledDense(2, l2=0.05),
        ],
        [
            layers.Input((6, 3)),
            layers.Masking(),
            layers.RNN(MinimalRNNCell(4), go_backwards=True),
            ScaledDense(2, l2=0.05),
        ],
        x,
        y,
    )


def test_seeded_initializer_arguments_are_accepted_as_keras_accepts_them():
    cell = MinimalRNNCell(2)
    cell.build((None, 3))
    weight = cell.add_weight(shape=(2,), initializer=initializers.RandomNormal(seed=1), regularizer="l2", name="kernel")
    assert weight.path == "minimal_rnn_cell/kernel_1"  # a free name, as Keras numbers unnamed weights
    assert isinstance(cell.added_weights["kernel_1"][0], regularizers.L2)
    assert constraints.get(None) is None and ops is not None
