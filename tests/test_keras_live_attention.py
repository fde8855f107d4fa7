"""Real Keras 3 (torch backend) as the oracle for Attention and AdditiveAttention: outputs, attention
scores, gradients, masks, dropout, configs, and three epochs of training of a subclassed model
(Embedding -> LSTM -> Attention -> GlobalAveragePooling1D -> Dense) and of a functional one, on
random inputs, against the same weights. Skipped only when keras is not installed."""

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

kl = keras.layers
ATOL = 1e-5
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def ragged_mask(batch, steps):
    """Each sample valid for a different number of leading steps (at least one)."""
    lengths = RNG.integers(1, steps + 1, size=batch)
    return np.arange(steps)[None, :] < lengths[:, None]


LAYERS = {
    "dot": {},
    "dot_scaled": {"use_scale": True},
    "concat": {"score_mode": "concat"},
    "concat_scaled": {"use_scale": True, "score_mode": "concat"},
}
ADDITIVE = {"additive": {}, "additive_unscaled": {"use_scale": False}}


def pair(kwargs):
    """A Keras layer and an rnnlab layer of the same class and arguments (Additive* by key)."""
    name = "AdditiveAttention" if "additive" in kwargs else "Attention"
    kwargs = {k: v for k, v in kwargs.items() if k != "additive"}
    return getattr(kl, name)(**kwargs), getattr(layers, name)(**kwargs)


CASES = {**LAYERS, **{k: {**v, "additive": True} for k, v in ADDITIVE.items()}}
CALLS = {
    "query_value": dict(key=False, masks=False, causal=False),
    "query_value_key": dict(key=True, masks=False, causal=False),
    "masks": dict(key=True, masks=True, causal=False),
    "causal": dict(key=False, masks=False, causal=True),
    "causal_masks": dict(key=False, masks=True, causal=True),
}


def attend(layer, inputs, masks, causal):
    """The output and the attention scores, a mask list only where given (Keras reads None as none)."""
    kwargs = {"mask": masks} if masks is not None else {}
    return layer(inputs, return_attention_scores=True, use_causal_mask=causal, **kwargs)


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("case", list(CASES))
def test_outputs_scores_and_gradients(case, call):
    """Same weights, same inputs: the outputs, the scores, and d(probe . (output, scores)) with respect
    to query, value, key and every weight agree with Keras."""
    spec = CALLS[call]
    tq, tv, dim = 4, 5, 3
    data = [rand(3, tq, dim), rand(3, tv, dim)] + ([rand(3, tv, dim)] if spec["key"] else [])
    masks = [ragged_mask(3, tq), ragged_mask(3, tv)] if spec["masks"] else None
    keras_layer, layer = pair(CASES[case])
    keras_layer([torch.as_tensor(x) for x in data])
    layer([torch.as_tensor(x) for x in data])
    layer.set_weights(keras_layer.get_weights())
    assert [w.path for w in layer.weights] == [
        w.path.replace(keras_layer.name, layer.name) for w in keras_layer.weights
    ]

    results = []
    for lay, weights in (
        (keras_layer, [w.value for w in keras_layer.trainable_weights]),
        (layer, layer.keras_weights()),
    ):
        inputs = [torch.as_tensor(x).requires_grad_(True) for x in data]
        torch_masks = None if masks is None else [torch.as_tensor(m) for m in masks]
        output, scores = attend(lay, inputs, torch_masks, spec["causal"])
        probe_out = torch.linspace(-1.0, 1.0, output.numel()).reshape(output.shape)
        probe_scores = torch.linspace(1.0, -0.5, scores.numel()).reshape(scores.shape)
        objective = (output * probe_out).sum() + (scores * probe_scores).sum()
        grads = torch.autograd.grad(objective, inputs + list(weights))
        results.append((output.detach().numpy(), scores.detach().numpy(), [g.numpy() for g in grads]))
    (keras_out, keras_scores, keras_grads), (out, scores, grads) = results
    np.testing.assert_allclose(out, keras_out, atol=ATOL)
    np.testing.assert_allclose(scores, keras_scores, atol=ATOL)
    assert len(grads) == len(keras_grads)
    for g, kg in zip(grads, keras_grads, strict=True):
        np.testing.assert_allclose(g, kg, atol=ATOL)


@pytest.mark.parametrize("case", list(CASES))
def test_weights_shapes_and_masks_are_keras(case):
    """Weight names and shapes, output shapes, the mask passed on (the query's), the config."""
    keras_layer, layer = pair(CASES[case])
    shapes = [(2, 4, 3), (2, 6, 3)]
    data = [rand(*s) for s in shapes]
    keras_layer(data)
    layer(data)
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [(w.name, tuple(w.shape)) for w in keras_layer.weights]
    symbolic = [(None, 4, 3), (None, 6, 3)]
    assert layer.compute_output_shape(symbolic) == keras_layer.compute_output_shape(symbolic)
    masks = [ragged_mask(2, 4), ragged_mask(2, 6)]
    np.testing.assert_array_equal(
        layer.compute_mask(data, masks).numpy(), keras_layer.compute_mask(data, masks).numpy()
    )
    assert layer.compute_mask(data, [None, masks[1]]) is None
    assert keras_layer.compute_mask(data, [None, masks[1]]) is None
    theirs, ours = keras_layer.get_config(), layer.get_config()
    assert {k: v for k, v in ours.items() if k != "dtype"} == {k: v for k, v in theirs.items() if k != "dtype"}


def test_dropout_in_training_draws_as_keras():
    """Unseeded, both drop the attention weights with torch's own dropout: the same draws from the
    same torch seed, so training outputs agree; outside training neither drops."""
    keras_layer, layer = pair({"dropout": 0.4})
    data = [torch.as_tensor(rand(4, 5, 3)), torch.as_tensor(rand(4, 7, 3))]
    torch.manual_seed(3)
    keras_out, keras_scores = keras_layer(data, return_attention_scores=True, training=True)
    torch.manual_seed(3)
    out, scores = layer(data, return_attention_scores=True, training=True)
    np.testing.assert_allclose(scores.numpy(), keras_scores.detach().numpy(), atol=ATOL)
    np.testing.assert_allclose(out.numpy(), keras_out.detach().numpy(), atol=ATOL)
    assert bool((scores == 0).any())  # some weights were dropped
    np.testing.assert_allclose(
        layer(data, training=False).numpy(), keras_layer(data, training=False).detach().numpy(), atol=ATOL
    )


def test_float16_masks_use_its_largest_value():
    """A masked step in float16 is pushed down by 65504 (float16's largest value), not 1e9 (-inf), so a
    sample whose value steps are all masked gets uniform weights, not NaN.

    That is Keras's rule on its TensorFlow and JAX backends; on torch its test ``scores.dtype ==
    "float16"`` compares a torch dtype with a string, is never true, and the fully masked sample
    comes out NaN. The other samples agree."""
    keras_layer, layer = kl.Attention(dtype="float16"), layers.Attention(dtype="float16")
    data = [torch.as_tensor(rand(2, 3, 4).astype("float16")), torch.as_tensor(rand(2, 5, 4).astype("float16"))]
    value_mask = ragged_mask(2, 5)
    value_mask[0] = False
    keras_out = keras_layer(data, mask=[None, value_mask]).float().numpy()
    out = layer(data, mask=[None, value_mask])
    assert out.dtype == torch.float16
    np.testing.assert_allclose(out[1].float().numpy(), keras_out[1], atol=1e-3)
    uniform = data[1][0].float().mean(dim=0).expand(3, 4)  # every query step: the mean of the values
    np.testing.assert_allclose(out[0].float().numpy(), uniform.numpy(), atol=1e-3)
    assert np.isnan(keras_out[0]).all()


# -- a small model using them, trained three epochs in both libraries --------------------------
def make_model(library, attention_kwargs, mask_zero):
    """The same subclassed model in Keras and in rnnlab: Embedding -> LSTM(return_sequences) ->
    attention of the sequence over itself -> GlobalAveragePooling1D -> Dense. Keras carries the
    padding mask on its tensors; rnnlab passes it by hand, as a torch user does."""
    L = kl if library is keras else layers
    name = "AdditiveAttention" if attention_kwargs.get("additive") else "Attention"
    kwargs = {k: v for k, v in attention_kwargs.items() if k != "additive"}

    class AttentionClassifier(library.Model):
        def __init__(self):
            super().__init__()
            self.embedding = L.Embedding(12, 6, mask_zero=mask_zero)
            self.lstm = L.LSTM(5, return_sequences=True)
            self.attention = getattr(L, name)(**kwargs)
            self.pool = L.GlobalAveragePooling1D()
            self.dense = L.Dense(3, activation="softmax")

        def call(self, tokens, training=None):
            if library is keras:
                h = self.lstm(self.embedding(tokens), training=training)
                return self.dense(self.pool(self.attention([h, h], training=training)))
            mask = self.embedding.compute_mask(tokens) if mask_zero else None
            h = self.lstm(self.embedding(tokens), mask=mask, training=training)
            masks = [mask, mask] if mask_zero else None
            return self.dense(self.pool(self.attention([h, h], mask=masks, training=training), mask=mask))

    return AttentionClassifier()


TRAINING_CASES = {
    "dot": ({}, False),
    "dot_padded": ({}, True),
    "concat_scaled_padded": ({"use_scale": True, "score_mode": "concat"}, True),
    "additive_padded": ({"additive": True}, True),
}


@pytest.mark.parametrize("case", list(TRAINING_CASES))
def test_subclassed_model_trains_as_keras(case):
    """Same weights in, three epochs of Adam: the losses and the final weights agree to 1e-5."""
    attention_kwargs, mask_zero = TRAINING_CASES[case]
    tokens = RNG.integers(1, 12, size=(32, 7))
    if mask_zero:  # padded at the end, every sample at least two tokens long
        lengths = RNG.integers(2, 8, size=32)
        tokens = np.where(np.arange(7)[None, :] < lengths[:, None], tokens, 0)
    labels = RNG.integers(0, 3, size=32)
    keras_model = make_model(keras, attention_kwargs, mask_zero)
    model = make_model(rnnlab, attention_kwargs, mask_zero)
    keras_model(tokens[:2])
    model(tokens[:2])
    model.set_weights(keras_model.get_weights())
    np.testing.assert_allclose(model.predict(tokens), keras_model.predict(tokens, verbose=0), atol=ATOL)

    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.compile(optimizer=rnnlab.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    keras_history = keras_model.fit(tokens, labels, batch_size=8, epochs=3, shuffle=False, verbose=0)
    history = model.fit(tokens, labels, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(keras_model.get_weights(), model.get_weights(), strict=True))
    assert worst < ATOL
    np.testing.assert_allclose(model.predict(tokens), keras_model.predict(tokens, verbose=0), atol=ATOL)


# -- the same model in the functional API ----------------------------------------------------
def functional_model(library, attention_kwargs):
    """Two token inputs: the question's LSTM states attend over the document's (masks from
    Embedding(mask_zero) in both), pooled and classified; the attention scores are a second output."""
    L = kl if library is keras else layers
    name = "AdditiveAttention" if attention_kwargs.get("additive") else "Attention"
    kwargs = {k: v for k, v in attention_kwargs.items() if k != "additive"}
    question, document = L.Input(shape=(5,), dtype="int32"), L.Input(shape=(7,), dtype="int32")
    embedding = L.Embedding(12, 6, mask_zero=True)  # shared by both inputs
    query = L.LSTM(4, return_sequences=True)(embedding(question))
    value = L.GRU(4, return_sequences=True)(embedding(document))
    attended, scores = getattr(L, name)(**kwargs)([query, value], return_attention_scores=True)
    pooled = L.GlobalAveragePooling1D()(attended)
    return library.Model([question, document], [L.Dense(3, activation="softmax")(pooled), scores])


def padded_tokens(batch, steps):
    lengths = RNG.integers(2, steps + 1, size=batch)
    tokens = RNG.integers(1, 12, size=(batch, steps))
    return np.where(np.arange(steps)[None, :] < lengths[:, None], tokens, 0)


@pytest.mark.parametrize("case", ["dot", "concat_scaled", "additive"])
def test_functional_model_gives_keras_outputs_and_scores(case):
    attention_kwargs = {"dot": {}, "concat_scaled": {"use_scale": True, "score_mode": "concat"}}.get(
        case, {"additive": True}
    )
    keras_model = functional_model(keras, attention_kwargs)
    model = functional_model(rnnlab, attention_kwargs)
    assert [t.shape for t in model.outputs] == [tuple(t.shape) for t in keras_model.outputs]
    model.set_weights(keras_model.get_weights())
    x = [padded_tokens(16, 5), padded_tokens(16, 7)]
    keras_out = keras_model.predict(x, verbose=0)
    out = [y.detach().numpy() for y in model([torch.as_tensor(t) for t in x])]
    assert len(out) == len(keras_out) == 2
    for mine, theirs in zip(out, keras_out, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=ATOL)


def self_attention_classifier(library, attention_kwargs):
    """Embedding(mask_zero) -> LSTM -> self-attention (causal) -> GlobalAveragePooling1D -> Dense, one input."""
    L = kl if library is keras else layers
    name = "AdditiveAttention" if attention_kwargs.get("additive") else "Attention"
    kwargs = {k: v for k, v in attention_kwargs.items() if k != "additive"}
    tokens = L.Input(shape=(7,), dtype="int32")
    h = L.LSTM(5, return_sequences=True)(L.Embedding(12, 6, mask_zero=True)(tokens))
    attended = getattr(L, name)(**kwargs)([h, h], use_causal_mask=True)
    return library.Model(tokens, L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(attended)))


@pytest.mark.parametrize("case", ["dot_scaled", "additive"])
def test_functional_classifier_trains_as_keras(case):
    """Same weights in, three epochs of Adam in both: the losses and the final weights agree to 1e-5."""
    attention_kwargs = {"use_scale": True} if case == "dot_scaled" else {"additive": True}
    keras_model = self_attention_classifier(keras, attention_kwargs)
    model = self_attention_classifier(rnnlab, attention_kwargs)
    model.set_weights(keras_model.get_weights())
    x, labels = padded_tokens(32, 7), RNG.integers(0, 3, size=32)
    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), atol=ATOL)
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.compile(optimizer=rnnlab.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    keras_history = keras_model.fit(x, labels, batch_size=8, epochs=3, shuffle=False, verbose=0)
    history = model.fit(x, labels, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(keras_model.get_weights(), model.get_weights(), strict=True))
    assert worst < ATOL
