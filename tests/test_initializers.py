"""``rnnlab.initializers``: Keras's classes, their distributions, seeds, configs, and their use in layers
and files (rnnlab's and Keras's, against the installed Keras where it is there)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import initializers, layers
from rnnlab.layers import GRU, LSTM, Conv1D, Dense, Embedding, Input, SimpleRNN

os.environ.setdefault("KERAS_BACKEND", "torch")

RANDOM = {
    "RandomNormal": lambda seed: initializers.RandomNormal(0.5, 2.0, seed=seed),
    "RandomUniform": lambda seed: initializers.RandomUniform(-3.0, 1.0, seed=seed),
    "TruncatedNormal": lambda seed: initializers.TruncatedNormal(0.0, 1.0, seed=seed),
    "GlorotUniform": lambda seed: initializers.GlorotUniform(seed=seed),
    "GlorotNormal": lambda seed: initializers.GlorotNormal(seed=seed),
    "HeNormal": lambda seed: initializers.HeNormal(seed=seed),
    "HeUniform": lambda seed: initializers.HeUniform(seed=seed),
    "LecunNormal": lambda seed: initializers.LecunNormal(seed=seed),
    "LecunUniform": lambda seed: initializers.LecunUniform(seed=seed),
    "VarianceScaling": lambda seed: initializers.VarianceScaling(3.0, "fan_out", "untruncated_normal", seed=seed),
    "Orthogonal": lambda seed: initializers.Orthogonal(2.0, seed=seed),
}
SHAPE = (200, 300)  # fan_in 200, fan_out 300, fan_avg 250: 60000 draws


def expected_moments(name: str) -> tuple[float, float, float]:
    """(mean, standard deviation, largest |value - mean|) of Keras's distribution on SHAPE."""
    fan_in, fan_avg, fan_out = 200, 250, 300
    truncated_std = 0.87962566103423978  # the std of a unit normal cut at two standard deviations
    return {
        "RandomNormal": (0.5, 2.0, np.inf),
        "RandomUniform": (-1.0, 4.0 / np.sqrt(12), 2.0),
        "TruncatedNormal": (0.0, truncated_std, 2.0),
        "GlorotUniform": (0.0, np.sqrt(1 / fan_avg), np.sqrt(3 / fan_avg)),
        "GlorotNormal": (0.0, np.sqrt(1 / fan_avg), 2 * np.sqrt(1 / fan_avg) / truncated_std),
        "HeNormal": (0.0, np.sqrt(2 / fan_in), 2 * np.sqrt(2 / fan_in) / truncated_std),
        "HeUniform": (0.0, np.sqrt(2 / fan_in), np.sqrt(6 / fan_in)),
        "LecunNormal": (0.0, np.sqrt(1 / fan_in), 2 * np.sqrt(1 / fan_in) / truncated_std),
        "LecunUniform": (0.0, np.sqrt(1 / fan_in), np.sqrt(3 / fan_in)),
        "VarianceScaling": (0.0, np.sqrt(3 / fan_out), np.inf),
        "Orthogonal": (0.0, 2.0 / np.sqrt(300), 2.0),  # unit columns of 200 in 300 dims, times the gain
    }[name]


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_initializers_draw_keras_distributions(name):
    values = np.asarray(RANDOM[name](7)(SHAPE), dtype=np.float64)
    mean, std, reach = expected_moments(name)
    assert values.shape == SHAPE
    assert abs(values.mean() - mean) < 0.05 * std + 1e-3
    assert abs(values.std() - std) < 0.03 * std
    assert np.abs(values - mean).max() <= reach * (1 + 1e-6)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_a_seed_gives_the_same_values_every_call_and_another_seed_others(name):
    first, again = RANDOM[name](3)((6, 4)), RANDOM[name](3)((6, 4))
    one = RANDOM[name](3)
    assert torch.equal(first, again) and torch.equal(one((6, 4)), one((6, 4)))
    assert not torch.equal(first, RANDOM[name](4)((6, 4)))


def test_unseeded_initializers_follow_rnnlab_set_seed():
    rnnlab.set_seed(1)
    first = [initializers.GlorotUniform()((3, 3)), initializers.Orthogonal()((3, 3))]
    rnnlab.set_seed(1)
    again = [initializers.GlorotUniform()((3, 3)), initializers.Orthogonal()((3, 3))]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    shared = initializers.RandomNormal()
    assert not torch.equal(shared((3, 3)), shared((3, 3)))  # each layer sharing it gets its own values


def test_seeded_values_do_not_depend_on_the_global_rng():
    rnnlab.set_seed(1)
    a = initializers.HeNormal(seed=5)((4, 4))
    rnnlab.set_seed(2)
    assert torch.equal(a, initializers.HeNormal(seed=5)((4, 4)))


def test_deterministic_initializers_give_exact_values():
    np.testing.assert_array_equal(initializers.Constant(0.01)((2, 3)), np.full((2, 3), 0.01, dtype=np.float32))
    np.testing.assert_array_equal(initializers.Constant([1.0, 2.0])((2, 2)), [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(initializers.Zeros()((2,)), [0.0, 0.0])
    np.testing.assert_array_equal(initializers.Ones()((1, 2)), [[1.0, 1.0]])
    np.testing.assert_array_equal(initializers.Identity(3.0)((2, 3)), [[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    assert initializers.Ones()((2,), dtype="float64").dtype == torch.float64


@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (7, 3), (2, 3, 6)])
def test_orthogonal_is_orthogonal_on_keras_flattening(shape):
    q = np.asarray(initializers.Orthogonal(gain=1.5, seed=0)(shape), dtype=np.float64).reshape(-1, shape[-1])
    small = min(q.shape)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T  # (small, small)
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(small), atol=1e-5)


def test_wrong_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match=r"Identity matrix initializer can only be used for 2D matrices"):
        initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match=r"must be at least two-dimensional. Received: shape=\(3,\)"):
        initializers.Orthogonal()((3,))
    with pytest.raises(ValueError, match=r"`seed` argument should be an integer or None, received seed='1'"):
        initializers.RandomNormal(seed="1")
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'"):
        Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match=r"not one of rnnlab.initializers: it has no config to store"):
        initializers.serialize(lambda shape, dtype=None: torch.zeros(shape))


def test_get_accepts_every_keras_identifier():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("uniform"), initializers.RandomUniform)
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)
    assert initializers.get({"class_name": "Constant", "config": {"value": 2.5}}).value == 2.5
    keras_form = {"module": "keras.initializers", "class_name": "RandomNormal", "config": {"seed": 4, "mean": 1.0}}
    revived = initializers.get(keras_form)
    assert (revived.seed, revived.mean, revived.stddev) == (4, 1.0, 0.05)
    assert initializers.constant is initializers.Constant and initializers.orthogonal is initializers.Orthogonal


def test_a_keras_style_callable_and_subclass_fill_weights():
    class Twos(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return torch.full(shape, 2.0)

    dense = Dense(2, kernel_initializer=Twos(), bias_initializer=lambda shape, dtype=None: np.arange(2.0))
    dense.build((None, 3))
    kernel, bias = dense.get_weights()
    np.testing.assert_array_equal(kernel, np.full((3, 2), 2.0))
    np.testing.assert_array_equal(bias, [0.0, 1.0])


CONSTANT = initializers.Constant(0.25)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: Dense(3, kernel_initializer=CONSTANT, bias_initializer=initializers.Ones()), (None, 2)),
        (
            lambda: SimpleRNN(3, kernel_initializer=CONSTANT, recurrent_initializer=initializers.Identity()),
            (None, 4, 2),
        ),
        (lambda: LSTM(3, kernel_initializer=CONSTANT, recurrent_initializer=CONSTANT), (None, 4, 2)),
        (lambda: GRU(3, kernel_initializer=CONSTANT, bias_initializer=initializers.Constant(0.5)), (None, 4, 2)),
        (lambda: Embedding(5, 3, embeddings_initializer=CONSTANT), (None, 4)),
        (lambda: Conv1D(3, 2, kernel_initializer=CONSTANT), (None, 4, 2)),
    ],
)
def test_initializer_objects_work_where_names_do_and_rebuild_from_config(layer, shape):
    built = layer()
    built.build(shape)
    assert any(np.all(w == 0.25) for w in built.get_weights())
    config = built.get_config()
    rebuilt = type(built).from_config(config)
    rebuilt.build(shape)
    for a, b in zip(built.get_weights(), rebuilt.get_weights(), strict=True):
        if np.all(a == 0.25):
            np.testing.assert_array_equal(a, b)
    assert config == rebuilt.get_config()


def test_the_recurrent_identity_and_seeded_glorot_reach_the_weights():
    layer = SimpleRNN(3, kernel_initializer=initializers.GlorotUniform(seed=9), recurrent_initializer="identity")
    layer.build((None, 4, 2))
    kernel, recurrent, _ = layer.get_weights()
    np.testing.assert_array_equal(recurrent, np.eye(3))
    np.testing.assert_array_equal(kernel, np.asarray(initializers.GlorotUniform(seed=9)((2, 3))))


def test_add_weight_takes_initializer_objects():
    layer = layers.Layer()
    weight = layer.add_weight(shape=(2, 2), initializer=initializers.Constant(3.0), name="w")
    np.testing.assert_array_equal(weight.numpy(), np.full((2, 2), 3.0))


def model_with_initializers():
    return rnnlab.Sequential(
        [
            Input((5, 2)),
            LSTM(
                4,
                kernel_initializer=initializers.GlorotNormal(seed=1),
                recurrent_initializer=initializers.Orthogonal(0.5),
            ),
            Dense(1, kernel_initializer=initializers.RandomNormal(stddev=0.1, seed=2), bias_initializer=CONSTANT),
        ]
    )


def test_rnnlab_files_store_initializer_objects(tmp_path):
    model = model_with_initializers()
    model.save(tmp_path / "m.rnnlab")
    loaded = rnnlab.load_model(tmp_path / "m.rnnlab")
    lstm, dense = loaded.layers[0], loaded.layers[1]
    assert lstm.get_config()["recurrent_initializer"] == initializers.serialize(initializers.Orthogonal(0.5))
    assert initializers.get(dense.get_config()["kernel_initializer"]).get_config() == {
        "seed": 2,
        "mean": 0.0,
        "stddev": 0.1,
    }
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# -- against Keras ---------------------------------------------------------------------------------
@pytest.fixture
def keras():
    keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
    keras.backend.clear_session()
    return keras


KERAS_CONFIGS = [
    ("Constant", {"value": 0.01}),
    ("Zeros", {}),
    ("Ones", {}),
    ("Identity", {"gain": 2.0}),
    ("RandomNormal", {"mean": 1.0, "stddev": 0.5, "seed": 3}),
    ("RandomUniform", {"minval": -1.0, "maxval": 2.0}),
    ("TruncatedNormal", {"seed": 4}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform", "seed": 1}),
    ("GlorotUniform", {"seed": 7}),
    ("GlorotNormal", {}),
    ("HeNormal", {"seed": 0}),
    ("HeUniform", {}),
    ("LecunNormal", {}),
    ("LecunUniform", {"seed": 2}),
    ("Orthogonal", {"gain": 3.0, "seed": 5}),
]


@pytest.mark.parametrize("name, kwargs", KERAS_CONFIGS)
def test_configs_and_serialized_forms_are_keras_s(keras, name, kwargs):
    ours, theirs = getattr(initializers, name)(**kwargs), getattr(keras.initializers, name)(**kwargs)
    if name == "Identity":  # Keras's Identity leaves gain out of its config (and loses it); rnnlab keeps it
        assert (theirs.get_config(), ours.get_config()) == ({}, {"gain": 2.0})
        assert keras.initializers.deserialize(initializers.serialize(ours)).gain == 2.0
        return
    assert ours.get_config() == theirs.get_config()
    assert initializers.serialize(ours) == keras.initializers.serialize(theirs)
    revived = keras.initializers.deserialize(initializers.serialize(ours))
    assert type(revived).__name__ == name and revived.get_config() == theirs.get_config()


def test_keras_exact_values_where_keras_is_deterministic(keras):
    for name, kwargs in KERAS_CONFIGS[:4]:
        for shape in [(3, 4), (4, 4)]:
            ours = np.asarray(getattr(initializers, name)(**kwargs)(shape))
            np.testing.assert_array_equal(ours, np.asarray(getattr(keras.initializers, name)(**kwargs)(shape)))


def test_keras_files_carry_initializer_objects_both_ways(keras, tmp_path):
    model = model_with_initializers()
    model.save(tmp_path / "ours.keras")
    keras_model = keras.saving.load_model(tmp_path / "ours.keras")
    lstm = keras_model.layers[0]
    assert isinstance(lstm.cell.recurrent_initializer, keras.initializers.Orthogonal)
    assert lstm.cell.recurrent_initializer.gain == 0.5
    assert lstm.cell.kernel_initializer.seed == 1
    assert keras_model.layers[1].bias_initializer.value == 0.25

    keras_model.save(tmp_path / "theirs.keras")
    back = rnnlab.load_model(tmp_path / "theirs.keras")
    config = back.layers[1].get_config()
    assert initializers.get(config["bias_initializer"]).get_config() == {"value": 0.25}
    assert initializers.get(config["kernel_initializer"]).get_config() == {"seed": 2, "mean": 0.0, "stddev": 0.1}
    assert back.layers[0].get_config()["bias_initializer"] == "zeros"  # a default one keeps its name
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    np.testing.assert_allclose(back.predict(x), np.asarray(keras_model.predict(x, verbose=0)), atol=1e-6)
