"""Real Keras 3 (torch backend) as the live oracle for the convolution, pooling and normalization
layers: outputs and gradients from the same weights, 3 epochs of training, ``.keras`` files both ways."""

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
from rnnlab import layers  # noqa: E402

ATOL = 1e-5


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


# (class name, constructor arguments, input shape); each also runs channels_first where it has data_format
CASES = [
    ("Conv1D", {"filters": 4, "kernel_size": 3}, (3, 9, 5)),
    ("Conv1D", {"filters": 6, "kernel_size": 2, "padding": "same", "dilation_rate": 2, "groups": 2}, (3, 8, 4)),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "activation": "relu"}, (3, 8, 2)),
    ("Conv1D", {"filters": 4, "kernel_size": 4, "strides": 3, "padding": "same", "use_bias": False}, (2, 10, 3)),
    ("Conv1D", {"filters": 3, "kernel_size": 2, "data_format": "channels_first"}, (2, 4, 7)),
    ("Conv2D", {"filters": 4, "kernel_size": (3, 2)}, (2, 6, 5, 3)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "tanh"}, (2, 7, 8, 2)),
    ("Conv2D", {"filters": 6, "kernel_size": 2, "padding": "same", "dilation_rate": (2, 3), "groups": 2}, (2, 6, 6, 4)),
    ("Conv2D", {"filters": 3, "kernel_size": 3, "data_format": "channels_first"}, (2, 2, 6, 5)),
    ("MaxPooling1D", {}, (3, 9, 4)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (3, 8, 4)),
    ("MaxPooling2D", {"pool_size": (2, 3), "padding": "same"}, (2, 5, 7, 3)),
    ("MaxPooling2D", {"strides": 1, "data_format": "channels_first"}, (2, 3, 5, 4)),
    ("AveragePooling1D", {"pool_size": 2}, (3, 9, 4)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (3, 8, 4)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (3, 8, 4)),
    ("GlobalAveragePooling1D", {}, (3, 6, 4)),
    ("GlobalAveragePooling1D", {"keepdims": True, "data_format": "channels_first"}, (3, 6, 4)),
    ("GlobalMaxPooling1D", {"keepdims": True}, (3, 6, 4)),
    ("BatchNormalization", {}, (6, 5, 3)),
    ("BatchNormalization", {"axis": 1, "center": False, "momentum": 0.5}, (6, 5, 3)),
    ("LayerNormalization", {}, (4, 5, 3)),
    ("LayerNormalization", {"axis": [1, 2], "epsilon": 1e-5}, (4, 5, 3)),
    ("LayerNormalization", {"axis": 1}, (4, 5, 3)),
    ("LayerNormalization", {"rms_scaling": True}, (4, 5, 3)),
]


def _pair(name, kwargs, x):
    if name == "LayerNormalization" and kwargs.get("axis") == 1:
        pytest.skip("Keras's torch backend hands axis=1 of a 3-D input to F.layer_norm, which normalises the last axis")
    keras_layer = getattr(keras.layers, name)(**kwargs)
    layer = getattr(layers, name)(**kwargs)
    keras_layer(x)
    layer(torch.as_tensor(x))
    return keras_layer, layer


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_outputs_and_gradients_match_keras(name, kwargs, shape, training, rng):
    x = rng.normal(size=shape).astype("float32")
    keras_layer, layer = _pair(name, kwargs, x)
    weights = [rng.normal(0, 0.5, size=w.shape).astype("float32") for w in keras_layer.get_weights()]
    if name == "BatchNormalization":
        weights[-1] = np.abs(weights[-1]) + 0.5  # a variance
    keras_layer.set_weights(weights)
    layer.set_weights(weights)

    xk = torch.tensor(x, requires_grad=True)
    yk = keras_layer(xk, training=training) if name == "BatchNormalization" else keras_layer(xk)
    (yk.square().sum() + yk.sum()).backward()
    xr = torch.tensor(x, requires_grad=True)
    yr = layer(xr, training=training) if name == "BatchNormalization" else layer(xr)
    (yr.square().sum() + yr.sum()).backward()
    torch.testing.assert_close(yr, yk.detach(), atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(xr.grad, xk.grad, atol=ATOL, rtol=1e-5)
    keras_grads = [v.value.grad for v in keras_layer.trainable_weights]
    ours = [p.grad for p in layer.keras_weights() if p.requires_grad]
    assert len(ours) == len(keras_grads)
    for mine, theirs in zip(ours, keras_grads, strict=True):
        torch.testing.assert_close(mine, theirs, atol=ATOL, rtol=1e-5)
    for mine, theirs in zip(layer.get_weights(), keras_layer.get_weights(), strict=True):  # the moving statistics
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    assert [w.name for w in layer.weights] == [w.name for w in keras_layer.weights]
    assert [w.trainable for w in layer.weights] == [w.trainable for w in keras_layer.weights]


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_configs_are_keras_configs(name, kwargs, shape):
    """Keras's keys with Keras's values (initializers and activations as rnnlab names them)."""
    keras_layer, layer = _pair(name, kwargs, np.zeros(shape, "float32"))
    theirs, ours = keras_layer.get_config(), layer.get_config()
    skip = {"dtype", "name", "trainable", "kernel_initializer", "bias_initializer", "beta_initializer"}
    skip |= {"gamma_initializer", "moving_mean_initializer", "moving_variance_initializer", "activation"}
    skip |= {k for k in theirs if k.endswith(("_regularizer", "_constraint"))}
    assert {k: v for k, v in ours.items() if k not in skip} == {
        k: list(v) if isinstance(v, tuple) and isinstance(ours.get(k), list) else v
        for k, v in theirs.items()
        if k not in skip
    }


def _fit_both(keras_layers, rnnlab_layers, x, y, optimizer="Adam", learning_rate=0.01):
    keras_model = keras.Sequential(keras_layers)
    model = rnnlab.Sequential(rnnlab_layers)
    model.set_weights(keras_model.get_weights())
    keras_model.compile(optimizer=getattr(keras.optimizers, optimizer)(learning_rate), loss="mse")
    model.compile(optimizer=getattr(rnnlab.optimizers, optimizer)(learning_rate), loss="mse")
    keras_history = keras_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(keras_model.get_weights(), model.get_weights(), strict=True))
    assert worst < ATOL  # moving statistics included: fit updates them as Keras does
    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), atol=ATOL)
    return keras_model, model


def test_conv1d_pooling_lstm_trains_as_keras(rng):
    x = rng.normal(size=(32, 12, 3)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    kl, rl = keras.layers, layers
    _fit_both(
        [keras.Input((12, 3)), kl.Conv1D(6, 3, padding="causal", activation="relu"), kl.MaxPooling1D(), kl.LSTM(5),
         kl.Dense(1)],
        [rl.Input((12, 3)), rl.Conv1D(6, 3, padding="causal", activation="relu"), rl.MaxPooling1D(), rl.LSTM(5),
         rl.Dense(1)],
        x,
        y,
    )  # fmt: skip


def test_conv2d_pooling_trains_as_keras(rng):
    x = rng.normal(size=(24, 8, 6, 2)).astype("float32")
    y = rng.normal(size=(24, 3)).astype("float32")
    kl, rl = keras.layers, layers
    _fit_both(
        [keras.Input((8, 6, 2)), kl.Conv2D(4, 3, padding="same", activation="relu"), kl.MaxPooling2D(),
         kl.Conv2D(3, (4, 3))],
        [rl.Input((8, 6, 2)), rl.Conv2D(4, 3, padding="same", activation="relu"), rl.MaxPooling2D(),
         rl.Conv2D(3, (4, 3))],
        x,
        y.reshape(24, 1, 1, 3),
    )  # fmt: skip


def test_normalization_around_an_lstm_trains_as_keras(rng):
    x = rng.normal(2.0, 3.0, size=(32, 7, 4)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    kl, rl = keras.layers, layers
    keras_model, model = _fit_both(
        [keras.Input((7, 4)), kl.BatchNormalization(momentum=0.9), kl.LSTM(6, return_sequences=True),
         kl.LayerNormalization(), kl.GlobalAveragePooling1D(), kl.BatchNormalization(), kl.Dense(1)],
        [rl.Input((7, 4)), rl.BatchNormalization(momentum=0.9), rl.LSTM(6, return_sequences=True),
         rl.LayerNormalization(), rl.GlobalAveragePooling1D(), rl.BatchNormalization(), rl.Dense(1)],
        x,
        y,
        # SGD: a BatchNormalization in training ignores a shift of its input, so the gradient of the
        # LayerNormalization's beta is rounding noise, which Adam's scaling would blow up to full steps
        optimizer="SGD",
        learning_rate=0.05,
    )  # fmt: skip
    moving_mean = model.layers[0].moving_mean.detach().numpy()
    assert np.abs(moving_mean).max() > 0.1  # the statistics moved during fit
    assert "Non-trainable params: 20 (80.00 B)" in model.summary(print_fn=None)  # 2 x 4 + 2 x 6, as Keras counts


def test_masked_batch_statistics_and_global_average_match_keras(rng):
    ids = rng.integers(1, 9, size=(16, 6))
    ids[:, 4:] = 0
    ids[::3, 2:] = 0
    y = rng.normal(size=(16, 1)).astype("float32")
    kl, rl = keras.layers, layers
    _fit_both(
        [keras.Input((6,), dtype="int32"), kl.Embedding(9, 4, mask_zero=True), kl.BatchNormalization(),
         kl.LSTM(3, return_sequences=True), kl.GlobalAveragePooling1D(), kl.Dense(1)],
        [rl.Input((6,), dtype="int32"), rl.Embedding(9, 4, mask_zero=True), rl.BatchNormalization(),
         rl.LSTM(3, return_sequences=True), rl.GlobalAveragePooling1D(), rl.Dense(1)],
        ids,
        y,
    )  # fmt: skip


def test_keras_files_both_ways(tmp_path, rng):
    x = rng.normal(size=(4, 12, 3)).astype("float32")
    rl = layers
    model = rnnlab.Sequential(
        [rl.Input((12, 3)), rl.Conv1D(4, 3, padding="causal", activation="relu", kernel_regularizer="l2"),
         rl.MaxPooling1D(), rl.BatchNormalization(), rl.LSTM(5, return_sequences=True), rl.LayerNormalization(),
         rl.AveragePooling1D(2), rl.GlobalAveragePooling1D(), rl.Dense(1)]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, rng.normal(size=(4, 1)).astype("float32"), epochs=2, verbose=0)  # moving statistics away from 0/1
    model.save(tmp_path / "m.keras")
    keras_model = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), model.predict(x), atol=ATOL)
    assert [w.path for w in keras_model.weights] == [w.path for w in model.weights]

    kl = keras.layers
    x2 = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    keras_model = keras.Sequential(
        [keras.Input((8, 8, 2)), kl.Conv2D(3, 3, padding="same", strides=2, groups=1), kl.BatchNormalization(),
         kl.AveragePooling2D(2, padding="same"), kl.Conv2D(2, 1, data_format="channels_first"),
         kl.LayerNormalization(axis=[1, 2, 3]), kl.MaxPooling2D(1)]
    )  # fmt: skip
    keras_model.compile(optimizer="adam", loss="mse")
    keras_model.fit(x2, rng.normal(size=(4, 2, 2, 3)).astype("float32"), epochs=2, verbose=0)
    keras_model.save(tmp_path / "k.keras")
    loaded = rnnlab.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(x2), keras_model.predict(x2, verbose=0), atol=ATOL)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in keras_model.layers]
