"""Real Keras 3 (torch backend) as the live oracle for functional models: random graphs (an encoder-decoder
passing its states, two inputs through a Concatenate, a shared layer) with the same weights give the same
outputs, gradients and trainings; the logs of several outputs; `.keras` files both ways. Skipped only when
keras is not installed (`pip install 'rnnlab[keras-oracle]'`)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

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
