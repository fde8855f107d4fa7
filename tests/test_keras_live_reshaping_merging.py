"""Real Keras 3 (torch backend) as the oracle for RepeatVector, Flatten, Reshape, Permute, the merging
layers, Activation, Lambda and SpatialDropout1D: outputs, gradients, masks and three epochs of
training, on random inputs, against the same weights. Skipped only when keras is not installed."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
if keras.backend.backend() != "torch":
    pytest.skip("these comparisons need Keras on the torch backend (KERAS_BACKEND=torch)", allow_module_level=True)

from keras.src.backend import get_keras_mask, set_keras_mask  # noqa: E402

import rnnlab  # noqa: E402
from rnnlab import layers  # noqa: E402

kl = keras.layers
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def both(build):
    """The Keras model and the rnnlab model that ``build(layers_module)`` makes, with Keras's weights."""
    keras_model = keras.Sequential(build(kl, keras.Input))
    model = rnnlab.Sequential(build(layers, rnnlab.layers.Input))
    model.set_weights(keras_model.get_weights())
    return keras_model, model


def outputs_and_gradients(model, x):
    """The output and d(sum(output * probe))/d(input, weights), the probe fixed by the output's shape."""
    x = torch.as_tensor(x).clone().requires_grad_(x.dtype.kind == "f")
    y = model(x)
    probe = torch.linspace(-1.0, 1.0, y.numel()).reshape(y.shape)
    weights = [w.value if hasattr(w, "value") else w for w in model.trainable_weights]
    weights = [w if isinstance(w, torch.Tensor) else w.value for w in weights]
    leaves = ([x] if x.requires_grad else []) + weights
    grads = torch.autograd.grad((y * probe).sum(), leaves)
    return y.detach().numpy(), [g.numpy() for g in grads]


def assert_same(keras_model, model, x, atol=ATOL):
    keras_y, keras_grads = outputs_and_gradients(keras_model, x)
    y, grads = outputs_and_gradients(model, x)
    np.testing.assert_allclose(y, keras_y, atol=atol)
    assert len(grads) == len(keras_grads)
    for g, kg in zip(grads, keras_grads, strict=True):
        np.testing.assert_allclose(g, kg, atol=atol)


def train_both(keras_model, model, x, y):
    """Three epochs of Adam on both; the losses and final weights agree."""
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.compile(optimizer=rnnlab.optimizers.Adam(0.01), loss="mse")
    keras_history = keras_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    for a, b in zip(keras_model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=ATOL)


RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


SEQUENTIALS = {
    "repeat_vector": (
        lambda L, Input: [Input((4,)), L.Dense(3), L.RepeatVector(5), L.SimpleRNN(2, return_sequences=True)],
        (16, 4),
    ),
    "flatten": (
        lambda L, Input: [Input((6, 4)), L.LSTM(5, return_sequences=True), L.Flatten(), L.Dense(2)],
        (16, 6, 4),
    ),
    "flatten_channels_first": (
        lambda L, Input: [Input((6, 4)), L.GRU(3, return_sequences=True), L.Flatten("channels_first"), L.Dense(2)],
        (16, 6, 4),
    ),
    "reshape": (lambda L, Input: [Input((12,)), L.Reshape((4, 3)), L.GRU(3)], (16, 12)),
    "reshape_minus_one": (lambda L, Input: [Input((3, 8)), L.Reshape((-1, 2)), L.SimpleRNN(4)], (16, 3, 8)),
    "permute": (lambda L, Input: [Input((5, 3)), L.Permute((2, 1)), L.LSTM(2)], (16, 5, 3)),
    "lambda": (lambda L, Input: [Input((5, 3)), L.Lambda(lambda x: x**2 - x), L.SimpleRNN(2)], (16, 5, 3)),
    "spatial_dropout_inference": (
        lambda L, Input: [Input((5, 3)), L.SpatialDropout1D(0.5), L.GRU(2)],
        (16, 5, 3),
    ),
}


@pytest.mark.parametrize("case", list(SEQUENTIALS))
def test_sequential_outputs_gradients_and_training(case):
    build, shape = SEQUENTIALS[case]
    keras_model, model = both(build)
    x = rand(*shape)
    assert_same(keras_model, model, x)
    assert model.layers[1].compute_output_shape((None, *shape[1:])) == keras_model.layers[1].compute_output_shape(
        (None, *shape[1:])
    )
    if "dropout" not in case:  # dropout draws its own random numbers in each library
        y = keras_model.predict(x, verbose=0) + rand(*keras_model.output_shape[1:])
        train_both(keras_model, model, x, y)


ACTIVATIONS = sorted(rnnlab.core.activations.ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layer(name):
    keras_model, model = both(lambda L, Input: [Input((5,)), L.Dense(4), L.Activation(name)])
    assert_same(keras_model, model, rand(8, 5))
    assert model.layers[-1].get_config()["activation"] == keras_model.layers[-1].get_config()["activation"]


@pytest.mark.parametrize(
    "between",
    [
        lambda L: L.Activation("tanh"),
        lambda L: L.SpatialDropout1D(0.3),
        lambda L: L.Lambda(lambda x: x * 2.0, mask=lambda inputs, mask: mask),
    ],
    ids=["activation", "spatial_dropout", "lambda_passing_mask"],
)
def test_masks_pass_through_to_the_recurrent_layer(between):
    """Embedding(mask_zero) -> layer -> LSTM: the mask reaches the LSTM in both, padding ignored."""
    keras_model, model = both(
        lambda L, Input: [Input((6,), dtype="int32"), L.Embedding(7, 3, mask_zero=True), between(L), L.LSTM(4)]
    )
    tokens = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 1, 2, 0], [3, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(tokens), keras_model.predict(tokens, verbose=0), atol=ATOL)


def test_spatial_dropout_in_training_drops_whole_channels_as_keras():
    x = torch.ones(64, 7, 16)
    keras_y = kl.SpatialDropout1D(0.25)(x, training=True).numpy()
    y = layers.SpatialDropout1D(0.25)(x, training=True).numpy()
    for out in (keras_y, y):
        assert (out == out[:, :1, :]).all()  # one draw per (sample, channel), at every step
        assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.05 and abs((keras_y == 0).mean() - 0.25) < 0.05
    np.testing.assert_array_equal(layers.SpatialDropout1D(0.25)(x, training=False).numpy(), x.numpy())


MERGES = {
    "add": (lambda L: L.Add(), [(4, 3, 5), (4, 3, 5)]),
    "add_three_broadcast": (lambda L: L.Add(), [(4, 3, 5), (4, 1, 5), (4, 3, 1)]),
    "add_ranks_differ": (lambda L: L.Add(), [(4, 3, 5), (4, 5)]),
    "subtract": (lambda L: L.Subtract(), [(4, 3, 5), (4, 3, 5)]),
    "multiply": (lambda L: L.Multiply(), [(4, 3, 5), (4, 3, 5), (4, 3, 5)]),
    "average": (lambda L: L.Average(), [(4, 3, 5), (4, 3, 5), (4, 3, 5)]),
    "maximum": (lambda L: L.Maximum(), [(4, 3, 5), (4, 3, 5)]),
    "minimum": (lambda L: L.Minimum(), [(4, 3, 5), (4, 3, 5)]),
    "concatenate": (lambda L: L.Concatenate(), [(4, 3, 5), (4, 3, 2)]),
    "concatenate_axis1": (lambda L: L.Concatenate(axis=1), [(4, 3, 5), (4, 6, 5)]),
    "dot_2d": (lambda L: L.Dot(axes=1), [(4, 5), (4, 5)]),
    "dot_axes": (lambda L: L.Dot(axes=(1, 2)), [(4, 3, 5), (4, 6, 3)]),
    "dot_normalize": (lambda L: L.Dot(axes=-1, normalize=True), [(4, 3, 5), (4, 6, 5)]),
    "dot_higher": (lambda L: L.Dot(axes=(-2, -1)), [(2, 3, 2), (2, 1, 2, 3)]),
}


@pytest.mark.parametrize("case", list(MERGES))
def test_merging_outputs_gradients_and_shapes(case):
    make, shapes = MERGES[case]
    arrays = [rand(*s) for s in shapes]
    results = []
    for L in (kl, layers):
        inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        y = make(L)(inputs)
        probe = torch.linspace(-1.0, 1.0, y.numel()).reshape(y.shape)
        grads = torch.autograd.grad((y * probe).sum(), inputs)
        results.append((y.detach().numpy(), [g.numpy() for g in grads]))
    (keras_y, keras_grads), (y, grads) = results
    np.testing.assert_allclose(y, keras_y, atol=ATOL)
    for g, kg in zip(grads, keras_grads, strict=True):
        np.testing.assert_allclose(g, kg, atol=ATOL)
    batchless = [(None, *s[1:]) for s in shapes]
    assert make(layers).compute_output_shape(batchless) == make(kl).compute_output_shape(batchless)


def test_functional_forms_equal_keras():
    a, b = rand(4, 3, 5), rand(4, 3, 5)
    for name in ("add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"):
        keras_y = getattr(kl, name)([torch.tensor(a), torch.tensor(b)]).numpy()
        np.testing.assert_allclose(getattr(layers, name)([a, b]).numpy(), keras_y, atol=ATOL)
    keras_y = kl.dot([torch.tensor(a), torch.tensor(b)], axes=2).numpy()
    np.testing.assert_allclose(layers.dot([a, b], axes=2).numpy(), keras_y, atol=ATOL)


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"])
@pytest.mark.parametrize("masked", ["first", "both"])
def test_merging_with_masks(name, masked):
    """Ragged masks: the numbers (Maximum, Minimum, Multiply use them) and the merged mask."""
    a, b = rand(3, 5, 2), rand(3, 5, 2)
    m1 = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    m2 = torch.tensor([[1, 1, 0, 0, 0], [0, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    masks = [m1, m2 if masked == "both" else None]
    x1, x2 = torch.tensor(a), torch.tensor(b)
    set_keras_mask(x1, masks[0])
    if masks[1] is not None:
        set_keras_mask(x2, masks[1])
    keras_layer = getattr(kl, name)()
    keras_y = keras_layer([x1, x2])
    keras_mask = get_keras_mask(keras_y)
    if keras_mask is None:
        keras_mask = keras_layer.compute_mask([x1, x2], masks)
    layer = getattr(layers, name)()
    y = layer([a, b], mask=masks)
    np.testing.assert_allclose(y.numpy(), keras_y.numpy(), atol=ATOL)
    mask = layer.compute_mask([a, b], masks)
    if keras_mask is None:
        assert mask is None
    else:
        np.testing.assert_array_equal(mask.numpy(), keras_mask.numpy())


CONFIG_CASES = [
    (lambda L: L.RepeatVector(3), ["n"]),
    (lambda L: L.Flatten(), ["data_format"]),
    (lambda L: L.Reshape((2, -1)), ["target_shape"]),
    (lambda L: L.Permute((2, 1)), ["dims"]),
    (lambda L: L.Concatenate(axis=1), ["axis"]),
    (lambda L: L.Dot(axes=(1, 2), normalize=True), ["axes", "normalize"]),
    (lambda L: L.Activation("tanh"), ["activation"]),
]


@pytest.mark.parametrize("make, keys", CONFIG_CASES)
def test_configs_hold_keras_arguments(make, keys):
    keras_config, config = make(kl).get_config(), make(layers).get_config()
    assert config["name"] == keras_config["name"]
    for key in keys:
        assert config[key] == keras_config[key]


def test_spatial_dropout_config_is_keras():
    keras_config = kl.SpatialDropout1D(0.5, seed=3).get_config()
    assert layers.SpatialDropout1D(0.5, seed=3).get_config() == keras_config


def test_lambda_config_is_keras():
    """Keras reads the lambda bytecode rnnlab writes, and the reverse."""
    config = layers.Lambda(lambda x: x * 3.0, output_shape=(4,)).get_config()
    keras_layer = kl.Lambda.from_config({k: v for k, v in config.items() if k != "trainable"}, safe_mode=False)
    np.testing.assert_allclose(keras_layer(torch.ones(2, 4)).numpy(), 3.0)
    keras_config = kl.Lambda(lambda x: x - 1.0).get_config()
    layer = layers.Lambda.from_config({"function": keras_config["function"]}, safe_mode=False)
    np.testing.assert_allclose(layer(torch.ones(2, 4)).numpy(), 0.0)
    with pytest.raises(ValueError, match="safe_mode=False"):
        layers.Lambda.from_config({"function": keras_config["function"]})


def _file_model(L, Input):
    return [
        Input((6, 4)),
        L.SpatialDropout1D(0.2),
        L.Permute((2, 1)),
        L.Reshape((3, 8)),
        L.LSTM(5),
        L.Activation("swish"),
        L.RepeatVector(2),
        L.Flatten(),
        L.Dense(3),
    ]


def test_keras_files_both_ways(tmp_path):
    """rnnlab's .keras file loads in Keras with the same outputs, and Keras's in rnnlab."""
    keras_model, model = both(_file_model)
    x = rand(5, 6, 4)
    model.save(tmp_path / "rnnlab.keras")
    loaded = keras.saving.load_model(tmp_path / "rnnlab.keras")
    assert [type(lay).__name__ for lay in loaded.layers] == [type(lay).__name__ for lay in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x), atol=ATOL)

    keras_model.save(tmp_path / "keras.keras")
    read = rnnlab.load_model(tmp_path / "keras.keras")
    assert [lay.get_config() for lay in read.layers] == [lay.get_config() for lay in model.layers]
    np.testing.assert_allclose(read.predict(x), keras_model.predict(x, verbose=0), atol=ATOL)


def test_rnnlab_files_rebuild_the_layers(tmp_path):
    """rnnlab's own format: the architecture (deserialize) and weights come back; outputs equal."""
    _, model = both(_file_model)
    x = rand(5, 6, 4)
    model.save(tmp_path / "model.safetensors")
    read = rnnlab.load_model(tmp_path / "model.safetensors")
    np.testing.assert_allclose(read.predict(x), model.predict(x), atol=0)
