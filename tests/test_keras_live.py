"""Real Keras 3 (torch backend) as the live oracle: layers, trainings step for step, and the
Keras files rnnlab writes. Skipped only when keras is not installed (`pip install 'rnnlab[keras-oracle]'`)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
if keras.backend.backend() != "torch":
    pytest.skip("these comparisons need Keras on the torch backend (KERAS_BACKEND=torch)", allow_module_level=True)

import rnnlab  # noqa: E402
from rnnlab import constraints, regularizers  # noqa: E402
from rnnlab import optimizers as ro  # noqa: E402
from rnnlab.layers import (  # noqa: E402
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from rnnlab.training.optimizers import from_spec  # noqa: E402

ko = keras.optimizers


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    keras.backend.clear_session()  # Keras numbers layer names per session, as rnnlab's conftest resets its own
    keras.utils.set_random_seed(0)


ATOL = 1e-5  # the bar: final weights after 3 epochs


def same_weights(keras_model, model):
    return max(float(np.abs(a - b).max()) for a, b in zip(keras_model.get_weights(), model.get_weights(), strict=True))


def train_both(keras_layers, layers, keras_optimizer, optimizer, x, y, loss="mse", **fit):
    keras_model = keras.Sequential(keras_layers)
    model = rnnlab.Sequential(layers)
    model.set_weights(keras_model.get_weights())
    keras_model.compile(optimizer=keras_optimizer, loss=loss)
    model.compile(optimizer=optimizer, loss=loss)
    keras_history = keras_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, **fit)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, **fit)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    return keras_model, model


OPTIMIZERS = {
    "sgd": (lambda: ko.SGD(), lambda: "sgd"),
    "sgd_nesterov": (
        lambda: ko.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: ro.SGD(0.1, momentum=0.9, nesterov=True),
    ),
    "adam": (lambda: ko.Adam(0.01), lambda: ro.Adam(0.01)),
    "adam_amsgrad": (lambda: ko.Adam(0.01, amsgrad=True), lambda: ro.Adam(0.01, amsgrad=True)),
    "adamw": (lambda: ko.AdamW(0.01), lambda: ro.AdamW(0.01)),
    "rmsprop": (lambda: ko.RMSprop(), lambda: "rmsprop"),
    "rmsprop_centered": (
        lambda: ko.RMSprop(0.01, momentum=0.5, centered=True),
        lambda: ro.RMSprop(0.01, momentum=0.5, centered=True),
    ),
    "rmsprop_clipnorm": (lambda: ko.RMSprop(0.01, clipnorm=0.01), lambda: ro.RMSprop(0.01, clipnorm=0.01)),
    "adam_clipvalue": (lambda: ko.Adam(0.01, clipvalue=1e-3), lambda: ro.Adam(0.01, clipvalue=1e-3)),
    "adam_global_clipnorm": (lambda: ko.Adam(0.01, global_clipnorm=0.01), lambda: ro.Adam(0.01, global_clipnorm=0.01)),
    "sgd_weight_decay": (lambda: ko.SGD(0.1, weight_decay=0.1), lambda: ro.SGD(0.1, weight_decay=0.1)),
    "nadam": (lambda: ko.Nadam(0.01), lambda: ro.Nadam(0.01)),
    "nadam_by_name": (lambda: ko.Nadam(), lambda: "nadam"),
    "adagrad": (lambda: ko.Adagrad(0.1), lambda: ro.Adagrad(0.1)),
    "adadelta": (lambda: ko.Adadelta(1.0), lambda: ro.Adadelta(1.0)),
    "adamax": (lambda: ko.Adamax(0.01), lambda: ro.Adamax(0.01)),
    "lion": (lambda: ko.Lion(1e-3), lambda: ro.Lion(1e-3)),
    "nadam_clipnorm": (lambda: ko.Nadam(0.01, clipnorm=0.01), lambda: ro.Nadam(0.01, clipnorm=0.01)),
    "adagrad_clipvalue": (lambda: ko.Adagrad(0.1, clipvalue=1e-3), lambda: ro.Adagrad(0.1, clipvalue=1e-3)),
    "adadelta_global_clipnorm_weight_decay": (
        lambda: ko.Adadelta(1.0, global_clipnorm=0.01, weight_decay=0.1),
        lambda: ro.Adadelta(1.0, global_clipnorm=0.01, weight_decay=0.1),
    ),
    "adamax_weight_decay": (lambda: ko.Adamax(0.01, weight_decay=0.1), lambda: ro.Adamax(0.01, weight_decay=0.1)),
    "lion_weight_decay": (lambda: ko.Lion(1e-3, weight_decay=0.5), lambda: ro.Lion(1e-3, weight_decay=0.5)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_matches_keras_step_for_step(name, rng):
    x = rng.normal(size=(32, 5, 3)).astype("float32")
    y = (rng.normal(size=(32, 1)) * 1e-2).astype("float32")  # small gradients: where epsilon placement shows
    keras_optimizer, optimizer = OPTIMIZERS[name]
    keras_model, model = train_both(
        [keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)],
        [Input((5, 3)), LSTM(4), Dense(1)],
        keras_optimizer(),
        optimizer(),
        x,
        y,
    )
    assert same_weights(keras_model, model) < ATOL


KERAS_NAMED = ["SGD", "Adam", "AdamW", "RMSprop", "Nadam", "Adagrad", "Adadelta", "Adamax", "Lion"]


@pytest.mark.parametrize("name", KERAS_NAMED)
def test_optimizer_configs_are_keras_configs(name):
    """The same keys in the same order, the same defaults (Keras keeps the learning rate in float32)."""
    keras_config, config = getattr(ko, name)().get_config(), getattr(ro, name)().get_config()
    assert list(config) == list(keras_config)
    assert config == {**keras_config, "learning_rate": pytest.approx(keras_config["learning_rate"], rel=1e-7)}
    chosen = {"learning_rate": 0.5, "weight_decay": 0.01, "clipnorm": 2.0, "name": "mine"}
    assert getattr(ro, name).from_config({**keras_config, **chosen}).get_config() == {**keras_config, **chosen}


NEW_OPTIMIZERS = {
    "Nadam": {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "clipnorm": 0.5},
    "Adagrad": {"learning_rate": 0.05, "initial_accumulator_value": 0.2, "epsilon": 1e-6, "weight_decay": 0.01},
    "Adadelta": {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6, "global_clipnorm": 1.0},
    "Adamax": {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "clipvalue": 0.1},
    "Lion": {"learning_rate": 3e-4, "beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.1},
}


def _lstm_regression():
    return rnnlab.Sequential([Input((5, 3)), LSTM(4), Dense(1)])


@pytest.mark.parametrize("name", sorted(NEW_OPTIMIZERS))
def test_keras_reads_the_optimizer_rnnlab_writes(name, tmp_path):
    arguments = NEW_OPTIMIZERS[name]
    model = _lstm_regression()
    model.compile(optimizer=getattr(ro, name)(**arguments), loss="mse")
    model.save(tmp_path / "m.keras")
    keras_model = keras.saving.load_model(tmp_path / "m.keras")
    assert type(keras_model.optimizer).__name__ == name
    keras_config = keras_model.optimizer.get_config()
    assert {k: keras_config[k] for k in arguments} == pytest.approx(arguments, rel=1e-7)


@pytest.mark.parametrize("name", sorted(NEW_OPTIMIZERS))
def test_rnnlab_reads_the_optimizer_keras_writes(name, tmp_path):
    arguments = NEW_OPTIMIZERS[name]
    keras_model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    keras_model.compile(optimizer=getattr(ko, name)(**arguments), loss="mse")
    keras_model.save(tmp_path / "k.keras")
    model = rnnlab.load_model(tmp_path / "k.keras")
    assert type(model.build_optimizer()).__name__ == f"Keras{name}"
    compiled = model.compile_config
    described = from_spec(
        compiled["optimizer"], **{k: compiled[k] for k in ("clipnorm", "clipvalue", "global_clipnorm")}
    )
    assert isinstance(described, getattr(ro, name))
    assert {k: described.get_config()[k] for k in arguments} == pytest.approx(arguments, rel=1e-7)
    model.save(tmp_path / "again.keras")  # and back to Keras: the same optimizer config
    again = keras.saving.load_model(tmp_path / "again.keras").optimizer.get_config()
    assert {k: again[k] for k in arguments} == pytest.approx(arguments, rel=1e-7)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_masked_sequence_loss_trains_as_keras(optimizer, rng):
    x = rng.integers(1, 10, size=(32, 6))
    x[::2, 3:] = 0  # padded steps: left out of loss and metrics
    y = rng.integers(0, 3, size=(32, 6))
    keras_model, model = train_both(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(10, 4, mask_zero=True),
            keras.layers.LSTM(5, return_sequences=True),
            keras.layers.Dense(3, activation="softmax"),
        ],
        [
            Input((6,), dtype="int32"),
            Embedding(10, 4, mask_zero=True),
            LSTM(5, return_sequences=True),
            Dense(3, activation="softmax"),
        ],
        optimizer,
        optimizer,
        x,
        y,
        loss="sparse_categorical_crossentropy",
    )
    assert same_weights(keras_model, model) < ATOL
    keras_model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0), rtol=1e-5)


def test_class_and_sample_weights_train_as_keras(rng):
    x = rng.normal(size=(32, 5, 3)).astype("float32")
    y = rng.integers(0, 3, size=(32,))
    for fit in ({"class_weight": {0: 0.2, 1: 3.0, 2: 1.0}}, {"sample_weight": rng.uniform(0, 2, size=32)}):
        keras_model, model = train_both(
            [keras.Input((5, 3)), keras.layers.GRU(4), keras.layers.Dense(3, activation="softmax")],
            [Input((5, 3)), GRU(4), Dense(3, activation="softmax")],
            ko.Adam(0.01),
            ro.Adam(0.01),
            x,
            y,
            loss="sparse_categorical_crossentropy",
            **fit,
        )
        assert same_weights(keras_model, model) < ATOL


def test_regularizers_and_constraints_train_as_keras(rng):
    x = rng.normal(size=(32, 5, 3)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    keras_model, model = train_both(
        [
            keras.Input((5, 3)),
            keras.layers.LSTM(
                4,
                kernel_regularizer="l2",
                recurrent_regularizer=keras.regularizers.L1L2(0.01, 0.02),
                bias_constraint=keras.constraints.MaxNorm(0.5),
                activity_regularizer="l1",
            ),
            keras.layers.Dense(1, kernel_constraint="non_neg", bias_regularizer=keras.regularizers.L1(0.1)),
        ],
        [
            Input((5, 3)),
            LSTM(
                4,
                kernel_regularizer="l2",
                recurrent_regularizer=regularizers.L1L2(0.01, 0.02),
                bias_constraint=constraints.MaxNorm(0.5),
                activity_regularizer="l1",
            ),
            Dense(1, kernel_constraint="non_neg", bias_regularizer=regularizers.L1(0.1)),
        ],
        ko.Adam(0.01),
        ro.Adam(0.01),
        x,
        y,
    )
    assert same_weights(keras_model, model) < ATOL
    assert [w.path for w in model.weights] == [w.path for w in keras_model.weights]


# -- layers: random configurations, outputs and gradients ---------------------------------------------
def random_case(rng):
    kind = rng.choice(["SimpleRNN", "LSTM", "GRU"])
    kwargs = {
        "units": int(rng.integers(1, 6)),
        "return_sequences": bool(rng.integers(2)),
        "go_backwards": bool(rng.integers(2)),
        "activation": str(rng.choice(["tanh", "relu", "sigmoid"])),
    }
    if kind == "GRU":
        kwargs["reset_after"] = bool(rng.integers(2))
    if kind != "SimpleRNN":
        kwargs["recurrent_activation"] = str(rng.choice(["sigmoid", "hard_sigmoid", "tanh"]))
    bidirectional = rng.integers(3) == 0
    if bidirectional:  # Keras 3.15 cannot wrap a go_backwards layer (its backward copy reads backwards too)
        kwargs["go_backwards"] = False
    merge = str(rng.choice(["concat", "sum", "mul", "ave"]))
    return kind, kwargs, bidirectional, merge


@pytest.mark.parametrize("seed", range(12))
def test_random_layers_match_keras_outputs_and_gradients(seed):
    rng = np.random.default_rng(seed)
    kind, kwargs, bidirectional, merge = random_case(rng)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = rng.random((3, 5)) > 0.3
    mask[:, 0] = True
    keras_layer = getattr(keras.layers, kind)(**kwargs)
    layer = getattr(rnnlab.layers, kind)(**kwargs)
    if bidirectional:
        keras_layer = keras.layers.Bidirectional(keras_layer, merge_mode=merge)
        layer = Bidirectional(layer, merge_mode=merge)
    keras_layer(x)
    layer(torch.as_tensor(x))
    weights = [rng.normal(0, 0.5, size=w.shape).astype("float32") for w in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    layer.set_weights(weights)

    xk = torch.tensor(x, requires_grad=True)
    yk = keras_layer(xk, mask=torch.as_tensor(mask))
    yk.square().sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    yr = layer(xr, mask=torch.as_tensor(mask))
    yr.square().sum().backward()
    torch.testing.assert_close(yr, yk.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(xr.grad, xk.grad, atol=1e-5, rtol=1e-5)
    keras_grads = [v.value.grad for v in keras_layer.trainable_weights]
    for ours, theirs in zip(layer.keras_weights(), keras_grads, strict=True):
        torch.testing.assert_close(ours.grad, theirs, atol=1e-5, rtol=1e-5)


def test_stacked_cells_and_flat_bidirectional_states_match_keras(rng):
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    keras_layer = keras.layers.RNN(
        [keras.layers.LSTMCell(4), keras.layers.GRUCell(3)], return_sequences=True, return_state=True
    )
    layer = rnnlab.layers.RNN(
        [rnnlab.layers.LSTMCell(4), rnnlab.layers.GRUCell(3)], return_sequences=True, return_state=True
    )
    expected = keras_layer(x)
    layer(x)
    layer.set_weights(keras_layer.get_weights())
    got = layer(x)
    flat = keras.tree.flatten(expected)
    assert len(keras.tree.flatten(list(got))) == len(flat)
    for a, b in zip(keras.tree.flatten(list(got)), flat, strict=True):
        torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=1e-6)
    keras_bi = keras.layers.Bidirectional(keras.layers.LSTM(3, return_state=True), merge_mode=None)
    bi = Bidirectional(LSTM(3, return_state=True), merge_mode=None)
    expected = keras_bi(x)
    bi(x)
    bi.set_weights(keras_bi.get_weights())
    got = bi(x)
    assert isinstance(got, tuple) and len(got) == len(expected) == 6
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=1e-6)


# -- files rnnlab writes, opened by Keras ------------------------------------------------------------
def writable_models():
    embed = rnnlab.Sequential(
        [
            Input((7,), dtype="int32"),
            Embedding(12, 4, mask_zero=True),
            Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave"),
            GRU(3, reset_after=False, go_backwards=True, return_sequences=True),
            SimpleRNN(3, kernel_regularizer="l2"),
            Dropout(0.3),
            Dense(2, activation="softmax"),
        ]
    )
    embed.compile(
        optimizer=ro.RMSprop(0.01, clipnorm=1.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    series = rnnlab.Sequential(
        [
            Input((7, 3)),
            Masking(),
            GRU(4, return_sequences=True),
            TimeDistributed(Dense(2)),
            Bidirectional(SimpleRNN(2), merge_mode="concat"),
            Dense(1),
        ]
    )
    return {"embed": embed, "series": series}


@pytest.mark.parametrize("name", ["embed", "series"])
def test_keras_loads_what_rnnlab_writes(name, tmp_path, rng):
    model = writable_models()[name]
    x = rng.integers(0, 12, size=(5, 7)) if name == "embed" else rng.normal(size=(5, 7, 3)).astype("float32")
    x[0, 4:] = 0
    model.save(tmp_path / "m.keras")
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer") if name == "embed" else _nothing():
        keras_model = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), model.predict(x), atol=1e-6)
    if name == "embed":
        assert type(keras_model.optimizer).__name__ == "RMSprop" and keras_model.optimizer.clipnorm == 1.0
    model.save_weights(tmp_path / "m.weights.h5")
    twin = keras.models.clone_model(keras_model)
    twin.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x), atol=1e-6)
    keras_model.save_weights(tmp_path / "k.weights.h5")  # and back: Keras's weights into a fresh rnnlab model
    fresh = rnnlab.Sequential.from_config(model.get_config())
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))
    np.testing.assert_array_equal(rnnlab.load_model(tmp_path / "m.keras").predict(x), model.predict(x))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
