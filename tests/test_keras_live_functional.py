"""Real Keras 3 (torch backend) as the live oracle for functional models: random graphs (an encoder-decoder
passing its states, two inputs through a Concatenate, a shared layer) with the same weights give the same
outputs, gradients and trainings; the logs of several outputs; `.keras` files both ways. Skipped only when
keras is not installed (`pip install 'rnnlab[keras-oracle]'`)."""

from __future__ import annotations

import json
import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
if keras.backend.backend() != "torch":
    pytest.skip("these comparisons need Keras on the torch backend (KERAS_BACKEND=torch)", allow_module_level=True)

import rnnlab  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    keras.backend.clear_session()  # Keras numbers layer names per session, as rnnlab's conftest resets its own
    keras.utils.set_random_seed(0)


def two_outputs(lib):
    """Two inputs through a Concatenate into a regression output and a classification output."""
    a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
    merged = lib.layers.Concatenate()([a, b])
    hidden = lib.layers.Dense(4, activation="tanh")(merged)
    return lib.Model(
        [a, b],
        [lib.layers.Dense(1, name="reg")(hidden), lib.layers.Dense(3, activation="softmax", name="cls")(hidden)],
    )


def test_metrics_of_several_outputs_log_as_keras(rng):
    keras_model, model = two_outputs(keras), two_outputs(rnnlab)
    model.set_weights(keras_model.get_weights())
    x = [rng.random((24, 3)).astype("float32"), rng.random((24, 2)).astype("float32")]
    y = [rng.random((24, 1)).astype("float32"), rng.integers(0, 3, 24)]
    settings = {
        "loss": {"reg": "mse", "cls": "sparse_categorical_crossentropy"},
        "loss_weights": {
            "reg": 0.5,
            "cls": 2.0,
        },  # (Keras pairs a dict of weights with a list of losses by sorted name)
        "metrics": {"reg": ["mae", "mse"], "cls": "accuracy"},
        "weighted_metrics": [None, ["sparse_categorical_accuracy"]],
    }
    keras_model.compile(keras.optimizers.SGD(0.1), **settings)
    model.compile(rnnlab.optimizers.SGD(0.1), **settings)
    fit = {"epochs": 3, "batch_size": 8, "shuffle": False, "verbose": 0, "validation_data": (x, y)}
    keras_history, history = keras_model.fit(x, y, **fit).history, model.fit(x, y, **fit).history
    assert sorted(history) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(history[key], keras_history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0), rtol=1e-5)


# -- random graphs: one builder for both libraries, its sizes and kinds drawn from a seed --------------------
def encoder_decoder(lib, p):
    """The RNN guide's encoder-decoder: the encoder's return_state states are the decoder's initial_state."""
    rnn = getattr(lib.layers, p["kind"])
    encoder_inputs = lib.Input((None, p["features"]))
    _, *states = rnn(p["units"], return_state=True)(encoder_inputs)
    decoder_inputs = lib.Input((None, p["targets"]))
    decoded = rnn(p["units"], return_sequences=True)(decoder_inputs, initial_state=states)
    outputs = lib.layers.Dense(p["targets"], activation="softmax")(decoded)
    return lib.Model([encoder_inputs, decoder_inputs], outputs)


def two_inputs(lib, p):
    """A sequence and a vector, each through its own layer, joined by a Concatenate."""
    sequence, vector = lib.Input((p["steps"], p["features"]), name="sequence"), lib.Input((p["extra"],), name="vector")
    joined = lib.layers.Concatenate()(
        [getattr(lib.layers, p["kind"])(p["units"])(sequence), lib.layers.Dense(p["units"], activation="relu")(vector)]
    )
    return lib.Model([sequence, vector], lib.layers.Dense(p["targets"])(joined))


def shared_layer(lib, p):
    """Two token sequences read by the same Embedding (mask_zero) and the same recurrent layer, then added."""
    first, second = lib.Input((p["steps"],), dtype="int32"), lib.Input((p["steps"],), dtype="int32")
    embed = lib.layers.Embedding(p["vocabulary"], p["features"], mask_zero=True)
    read = getattr(lib.layers, p["kind"])(p["units"])
    added = lib.layers.Add()([read(embed(first)), read(embed(second))])
    return lib.Model([first, second], lib.layers.Dense(p["targets"])(added))


GRAPHS = {"encoder_decoder": encoder_decoder, "two_inputs": two_inputs, "shared_layer": shared_layer}


def draw(graph, seed):
    """The graph's sizes and kinds, its weights' scale, and data for it, all from ``seed``."""
    rng = np.random.default_rng(seed)
    p = {
        "kind": str(rng.choice(["SimpleRNN", "LSTM", "GRU"])),
        "units": int(rng.integers(2, 6)),
        "features": int(rng.integers(1, 5)),
        "targets": int(rng.integers(2, 4)),
        "steps": int(rng.integers(3, 7)),
        "extra": int(rng.integers(1, 4)),
        "vocabulary": 9,
    }
    n = 16
    if graph == "encoder_decoder":
        x = [rng.normal(size=(n, p["steps"], p["features"])), rng.normal(size=(n, p["steps"] - 1, p["targets"]))]
        y = np.eye(p["targets"])[rng.integers(0, p["targets"], (n, p["steps"] - 1))]
    elif graph == "two_inputs":
        x = [rng.normal(size=(n, p["steps"], p["features"])), rng.normal(size=(n, p["extra"]))]
        y = rng.normal(size=(n, p["targets"]))
    else:
        tokens = rng.integers(1, p["vocabulary"], (2, n, p["steps"]))
        lengths = rng.integers(1, p["steps"] + 1, (2, n))
        tokens[np.arange(p["steps"]) >= lengths[..., None]] = 0  # padded at the end, as Keras pads
        x = [tokens[0].astype("int32"), tokens[1].astype("int32")]
        y = rng.normal(size=(n, p["targets"]))
    x = [a.astype("float32") if a.dtype.kind == "f" else a for a in x]
    return p, x, y.astype("float32"), rng


def both(graph, seed):
    """The Keras model and the rnnlab model of one drawn graph, with the same random weights."""
    p, x, y, rng = draw(graph, seed)
    keras_model, model = GRAPHS[graph](keras, p), GRAPHS[graph](rnnlab, p)
    weights = [rng.normal(0, 0.5, size=w.shape).astype("float32") for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    model.set_weights(weights)
    return keras_model, model, x, y


CASES = [(graph, seed) for graph in GRAPHS for seed in range(4)]


@pytest.mark.parametrize(("graph", "seed"), CASES)
def test_random_graphs_match_keras_outputs_and_gradients(graph, seed):
    keras_model, model, x, _ = both(graph, seed)
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    outputs = []
    for net in (keras_model, model):
        inputs = [torch.tensor(a) for a in x]
        out = net(inputs)
        out.square().sum().backward()
        outputs.append(out.detach())
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    keras_grads = [v.value.grad for v in keras_model.trainable_weights]
    grads = [v.value.grad for v in model.trainable_weights]
    assert len(grads) == len(keras_grads)
    for ours, theirs in zip(grads, keras_grads, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("graph", "seed"), CASES)
def test_random_graphs_train_as_keras_for_three_epochs(graph, seed):
    keras_model, model, x, y = both(graph, seed)
    loss = "categorical_crossentropy" if graph == "encoder_decoder" else "mse"
    keras_model.compile(keras.optimizers.Adam(0.01), loss)
    model.compile(rnnlab.optimizers.Adam(0.01), loss)
    fit = {"epochs": 3, "batch_size": 4, "shuffle": False, "verbose": 0}
    keras_history, history = keras_model.fit(x, y, **fit).history, model.fit(x, y, **fit).history
    np.testing.assert_allclose(history["loss"], keras_history["loss"], rtol=1e-5)
    for ours, theirs in zip(model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


# -- .keras files both ways -------------------------------------------------------------------------------------
def predictions(net, x):
    out = net.predict(x, verbose=0) if isinstance(net, keras.Model) else net.predict(x)
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_keras_loads_the_functional_files_rnnlab_writes(graph, tmp_path):
    keras_model, model, x, y = both(graph, 7)
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # weights of rnnlab's own now
    model.save(tmp_path / "graph.keras")
    loaded = keras.saving.load_model(tmp_path / "graph.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(predictions(loaded, x)[0], predictions(model, x)[0], atol=1e-6)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)
    model.save_weights(tmp_path / "graph.weights.h5")
    keras_model.load_weights(tmp_path / "graph.weights.h5")
    np.testing.assert_allclose(predictions(keras_model, x)[0], predictions(model, x)[0], atol=1e-6)


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_rnnlab_loads_the_functional_files_keras_writes(graph, tmp_path):
    keras_model, model, x, y = both(graph, 8)
    keras_model.compile("adam", "mse", metrics=["mae"])
    keras_model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    keras_model.save(tmp_path / "graph.keras")
    loaded = rnnlab.models.load_model(tmp_path / "graph.keras")
    assert isinstance(loaded, rnnlab.models.Functional)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in keras_model.layers]
    np.testing.assert_allclose(predictions(loaded, x)[0], predictions(keras_model, x)[0], atol=1e-6)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(keras_model.evaluate(x, y, verbose=0), rel=1e-5)
    keras_model.save_weights(tmp_path / "graph.weights.h5")
    model.load_weights(tmp_path / "graph.weights.h5")
    np.testing.assert_allclose(predictions(model, x)[0], predictions(keras_model, x)[0], atol=1e-6)


def test_several_outputs_and_their_compile_settings_travel_both_ways(tmp_path, rng):
    x = [rng.random((24, 3)).astype("float32"), rng.random((24, 2)).astype("float32")]
    y = [rng.random((24, 1)).astype("float32"), rng.integers(0, 3, 24)]
    settings = {
        "loss": {"reg": "mse", "cls": "sparse_categorical_crossentropy"},
        "loss_weights": {"reg": 0.5, "cls": 2.0},
        "metrics": {"reg": ["mae"], "cls": ["accuracy"]},
    }
    keras_model = two_outputs(keras)
    keras_model.compile("sgd", **settings)
    keras_model.save(tmp_path / "keras.keras")
    loaded = rnnlab.models.load_model(tmp_path / "keras.keras")
    expected = keras_model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-5)
    loaded.save(tmp_path / "rnnlab.keras")
    reloaded = keras.saving.load_model(tmp_path / "rnnlab.keras")
    assert reloaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-5)


# -- operators and ops on symbolic tensors ------------------------------------------------------------------
def with_operators(lib, p):
    """A recurrent layer read by Keras's operators and ops instead of layers: dot-product attention over
    its steps (``@``, softmax, slicing), a residual ``+``, ``*``, ``-``, ``/``, ``**``, a comparison in a
    ``where``, then Dense."""
    ops = lib.ops
    sequence = lib.Input((p["steps"], p["features"]), name="sequence")
    query = lib.Input((p["units"],), name="query")
    states = getattr(lib.layers, p["kind"])(p["units"], return_sequences=True)(sequence)  # (B, T, U)
    scores = ops.squeeze(states @ ops.expand_dims(query, -1), axis=-1) / p["units"] ** 0.5  # (B, T)
    weights = ops.softmax(scores, axis=-1)
    attended = ops.sum(states * weights[:, :, None], axis=1)  # (B, U)
    last = states[:, -1]  # (B, U)
    mixed = (attended + last) * 0.5 - ops.tanh(query) ** 2
    leaky = ops.where(mixed > 0, mixed, 0.1 * mixed)
    pooled = ops.mean(states, axis=1) / (1.0 + ops.abs(ops.sum(states, axis=1)))
    joined = ops.concatenate([leaky, -pooled], axis=-1)  # (B, 2U)
    return lib.Model([sequence, query], lib.layers.Dense(p["targets"])(joined))


def operators_pair(seed):
    p, x, y, rng = draw("two_inputs", seed)
    x = [x[0], rng.normal(size=(len(x[0]), p["units"])).astype("float32")]
    keras_model, model = with_operators(keras, p), with_operators(rnnlab, p)
    weights = [rng.normal(0, 0.5, size=w.shape).astype("float32") for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    model.set_weights(weights)
    return keras_model, model, x, y


@pytest.mark.parametrize("seed", range(4))
def test_operators_on_symbolic_tensors_match_keras_outputs_and_gradients(seed):
    keras_model, model, x, _ = operators_pair(seed)
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    rows = [(layer.name, type(layer).__name__) for layer, _ in model.summary_rows()]
    assert rows == [(op.name, type(op).__name__) for op in keras_model.operations]
    outputs = []
    for net in (keras_model, model):
        out = net([torch.tensor(a) for a in x])
        out.square().sum().backward()
        outputs.append(out.detach())
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    keras_grads = [v.value.grad for v in keras_model.trainable_weights]
    for ours, theirs in zip([v.value.grad for v in model.trainable_weights], keras_grads, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def operation_entries(path):
    """The entries of a ``.keras`` file's functional config that are Keras's operations."""
    with zipfile.ZipFile(path) as archive:
        entries = json.loads(archive.read("config.json"))["config"]["layers"]
    return [entry for entry in entries if entry.get("module", "").startswith("keras.src.ops.")]


def test_keras_reads_the_operators_rnnlab_writes_and_the_reverse(tmp_path):
    keras_model, model, x, y = operators_pair(5)
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # weights of rnnlab's own now
    model.save(tmp_path / "rnnlab.keras")
    from_rnnlab = keras.saving.load_model(tmp_path / "rnnlab.keras")
    assert [type(op).__name__ for op in from_rnnlab.operations] == [type(op).__name__ for op in keras_model.operations]
    np.testing.assert_allclose(predictions(from_rnnlab, x)[0], predictions(model, x)[0], atol=1e-6)

    keras_model.compile("adam", "mse")
    keras_model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    keras_model.save(tmp_path / "keras.keras")
    operations = [operation_entries(tmp_path / name) for name in ("rnnlab.keras", "keras.keras")]
    assert operations[0] == operations[1]  # module, class, config and inbound nodes as Keras writes them
    from_keras = rnnlab.models.load_model(tmp_path / "keras.keras")
    assert [layer.name for layer, _ in from_keras.summary_rows()] == [op.name for op in keras_model.operations]
    np.testing.assert_allclose(predictions(from_keras, x)[0], predictions(keras_model, x)[0], atol=1e-6)
    from_keras.save(tmp_path / "again.rnnlab")
    np.testing.assert_allclose(
        predictions(rnnlab.models.load_model(tmp_path / "again.rnnlab"), x)[0],
        predictions(keras_model, x)[0],
        atol=1e-6,
    )


# -- models used as layers, and layers and cells of one's own, in files both ways --------------------------------
def nested_models(lib):
    """A Sequential and a functional model used as layers of a functional model."""
    inner = lib.Sequential([lib.Input((5, 3)), lib.layers.LSTM(4, return_sequences=True), lib.layers.Dense(2)])
    steps = lib.Input((5, 2))
    reader = lib.Model(steps, lib.layers.GRU(3)(steps), name="reader")
    inputs = lib.Input((5, 3))
    return lib.Model(inputs, lib.layers.Dense(1)(reader(inner(inputs))))


def sequential_in_sequential(lib):
    inner = lib.Sequential([lib.Input((5, 3)), lib.layers.SimpleRNN(4, return_sequences=True)], name="inner")
    return lib.Sequential([lib.Input((5, 3)), inner, lib.layers.GRU(2)])


def own_classes(lib):
    """A Layer subclass (build/add_weight/call/get_config) and a cell of one's own, on ``lib``."""

    class Scaled(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="w")
            self.scale = self.add_weight(shape=(), initializer=lib.initializers.Constant(2.0), trainable=False)

        def call(self, inputs):
            return self.scale * lib.ops.tanh(lib.ops.matmul(inputs, self.w))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class Minimal(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")

        def call(self, inputs, states):
            h = lib.ops.tanh(lib.ops.matmul(inputs, self.kernel) + lib.ops.matmul(states[0], self.recurrent_kernel))
            return h, [h]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return {"Scaled": Scaled, "Minimal": Minimal}


KERAS_OWN, OWN = own_classes(keras), own_classes(rnnlab)


def own_model(lib):
    classes = KERAS_OWN if lib is keras else OWN
    inputs = lib.Input((5, 3))
    return lib.Model(inputs, lib.layers.RNN(classes["Minimal"](4))(classes["Scaled"](3)(inputs)))


def own_stacked_cells(lib):
    classes = KERAS_OWN if lib is keras else OWN
    inputs = lib.Input((5, 3))
    return lib.Model(inputs, lib.layers.RNN([classes["Minimal"](3), classes["Minimal"](4)])(inputs))


FILE_MODELS = {
    "nested_models": nested_models,
    "sequential_in_sequential": sequential_in_sequential,
    "own": own_model,
    "own_stacked_cells": own_stacked_cells,
}


def same_model_pair(builder, rng):
    keras_model, model = builder(keras), builder(rnnlab)
    weights = [rng.normal(0, 0.5, size=w.shape).astype("float32") for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    model.set_weights(weights)
    return keras_model, model, rng.normal(size=(6, 5, 3)).astype("float32")


@pytest.mark.parametrize("builder", sorted(FILE_MODELS))
def test_models_in_models_and_own_classes_travel_both_ways(builder, tmp_path, rng):
    keras_model, model, x = same_model_pair(FILE_MODELS[builder], rng)
    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), atol=1e-6)
    keras_objects, objects = (KERAS_OWN, OWN) if builder.startswith("own") else (None, None)
    model.save(tmp_path / "rnnlab.keras")
    loaded = keras.saving.load_model(tmp_path / "rnnlab.keras", custom_objects=keras_objects)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in keras_model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x), atol=1e-6)
    keras_model.save(tmp_path / "keras.keras")
    ours = rnnlab.models.load_model(tmp_path / "keras.keras", custom_objects=objects)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(ours.predict(x), keras_model.predict(x, verbose=0), atol=1e-6)
    model.save(tmp_path / "rnnlab.safetensors")
    np.testing.assert_array_equal(
        rnnlab.models.load_model(tmp_path / "rnnlab.safetensors", custom_objects=objects).predict(x), model.predict(x)
    )


@pytest.fixture
def registered_in_both():
    """Scaled and Minimal registered as "lab>Scaled" / "lab>Minimal" in Keras and in rnnlab, for one test."""
    registries = [keras.saving.get_custom_objects(), rnnlab.saving.get_custom_objects()]
    before = [dict(each) for each in registries]
    for register, classes in ((keras.saving, KERAS_OWN), (rnnlab.saving, OWN)):
        for cls in classes.values():
            register.register_keras_serializable(package="lab")(cls)
    yield
    for each, kept in zip(registries, before, strict=True):
        each.clear()
        each.update(kept)


def test_registered_classes_of_ones_own_load_in_either_library(registered_in_both, tmp_path, rng):
    keras_model, model, x = same_model_pair(own_model, rng)
    keras_model.save(tmp_path / "keras.keras")
    model.save(tmp_path / "rnnlab.keras")
    for path in (tmp_path / "keras.keras", tmp_path / "rnnlab.keras"):
        assert '"registered_name": "lab>Scaled"' in zipfile.ZipFile(path).read("config.json").decode()
    np.testing.assert_allclose(
        rnnlab.models.load_model(tmp_path / "keras.keras").predict(x), model.predict(x), atol=1e-6
    )
    loaded = keras.saving.load_model(tmp_path / "rnnlab.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x), atol=1e-6)


# -- compile's pairing of losses, loss weights and metrics with the outputs, as Keras pairs them -----------------
def named_outputs(lib, as_dict):
    """One input, a regression output "zeta" and a classification output "beta", as a list or a dict
    written out of sorted order (Keras pairs a list given to compile with a dict's outputs by sorted key)."""
    inputs = lib.Input((3,), name="a")
    hidden = lib.layers.Dense(4, activation="tanh")(inputs)
    zeta = lib.layers.Dense(1, name="zeta")(hidden)
    beta = lib.layers.Dense(3, activation="softmax", name="beta")(hidden)
    return lib.Model(inputs, {"zeta": zeta, "beta": beta} if as_dict else [zeta, beta])


PAIRINGS = [
    ("dict", {"loss": ["mse", "categorical_crossentropy"]}),
    ("dict", {"loss": ["categorical_crossentropy", "mse"], "loss_weights": {"zeta": 0.5, "beta": 2.0}}),
    ("dict", {"loss": ["categorical_crossentropy", "mse"], "loss_weights": [0.5, 2.0], "metrics": ["mae", "mse"]}),
    (
        "dict",
        {
            "loss": {"zeta": "mse", "beta": "categorical_crossentropy"},
            "loss_weights": [0.5, 2.0],
            "metrics": ["mae", ["accuracy"]],
        },
    ),
    ("dict", {"loss": {"zeta": "mse", "beta": "mse"}, "metrics": {"zeta": "mae", "beta": ["accuracy", "mse"]}}),
    ("list", {"loss": ["mse", "categorical_crossentropy"], "loss_weights": {"zeta": 0.5, "beta": 2.0}}),
    (
        "list",
        {
            "loss": {"zeta": "mse", "beta": "categorical_crossentropy"},
            "loss_weights": [0.5, 2.0],
            "weighted_metrics": [["mae"], None],
        },
    ),
]


@pytest.mark.parametrize(("outputs", "settings"), PAIRINGS)
def test_losses_weights_and_metrics_pair_with_the_outputs_as_in_keras(outputs, settings, rng):
    keras_model, model = named_outputs(keras, outputs == "dict"), named_outputs(rnnlab, outputs == "dict")
    for layer in model.layers:  # by name: Keras lists a dict's output layers by sorted key
        layer.set_weights(keras_model.get_layer(layer.name).get_weights())
    x = rng.random((16, 3)).astype("float32")
    targets = {
        "zeta": rng.random((16, 1)).astype("float32"),
        "beta": np.eye(3, dtype="float32")[rng.integers(0, 3, 16)],
    }
    y = targets if outputs == "dict" else [targets["zeta"], targets["beta"]]
    keras_model.compile(keras.optimizers.SGD(0.1), **settings)
    model.compile(rnnlab.optimizers.SGD(0.1), **settings)
    fit = {"epochs": 2, "batch_size": 8, "shuffle": False, "verbose": 0}
    keras_history, history = keras_model.fit(x, y, **fit).history, model.fit(x, y, **fit).history
    assert sorted(history) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(history[key], keras_history[key], rtol=1e-5, atol=1e-6, err_msg=key)
