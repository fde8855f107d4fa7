"""Attention and AdditiveAttention beyond Keras's own tests: configs that rebuild the same layer,
weights loaded before any data, precision, and the errors for bad arguments and inputs."""

from __future__ import annotations

import pytest
import torch

from rnnlab import layers


def data(dtype=torch.float32):
    torch.manual_seed(1)
    return [torch.randn(2, 4, 3, dtype=dtype), torch.randn(2, 6, 3, dtype=dtype), torch.randn(2, 6, 3, dtype=dtype)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Attention(use_scale=True, score_mode="concat", dropout=0.1, seed=4),
        lambda: layers.Attention(use_scale=True),
        lambda: layers.AdditiveAttention(),
        lambda: layers.AdditiveAttention(use_scale=False, dropout=0.2),
    ],
    ids=["concat_scaled", "dot_scaled", "additive", "additive_unscaled"],
)
def test_config_rebuilds_the_same_layer(make):
    layer = make()
    inputs = data()
    layer(inputs, training=False)
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(0.5, 1.5)  # not the initial values, so copying them matters
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    again(inputs, training=False)
    again.set_weights(layer.get_weights())
    torch.testing.assert_close(again(inputs, training=False), layer(inputs, training=False), rtol=0, atol=0)


def test_an_unbuilt_layer_takes_saved_weights():
    """The scale's shape says the feature size, so a fresh layer loads a state_dict before any data."""
    trained = layers.AdditiveAttention()
    inputs = data()
    expected = trained(inputs)
    fresh = layers.AdditiveAttention()
    fresh.load_state_dict(trained.state_dict())
    assert fresh.built
    torch.testing.assert_close(fresh(inputs), expected, rtol=0, atol=0)


def test_weights_follow_a_float64_layer_and_gradients_reach_every_input():
    layer = layers.Attention(use_scale=True, score_mode="concat", dtype="float64")
    inputs = [x.requires_grad_(True) for x in data(torch.float64)]
    output, scores = layer(inputs, return_attention_scores=True)
    assert output.dtype == scores.dtype == layer.scale.dtype == torch.float64
    assert output.shape == (2, 4, 3) and scores.shape == (2, 4, 6)
    output.sum().backward()
    assert all(x.grad is not None and bool(x.grad.abs().sum() > 0) for x in inputs)


def test_causal_mask_hides_later_steps():
    """With use_causal_mask, query step i gives no weight to value steps after i."""
    query = data()[0]
    _, scores = layers.Attention()([query, query], return_attention_scores=True, use_causal_mask=True)
    assert bool((scores.triu(diagonal=1) == 0).all())
    torch.testing.assert_close(scores.sum(-1), torch.ones(2, 4))


def test_bad_arguments_and_inputs_say_what_was_expected():
    with pytest.raises(ValueError, match=r"dropout: a float in \[0, 1\]. Received: dropout=1.5"):
        layers.Attention(dropout=1.5)
    with pytest.raises(ValueError, match="must be called on a list of inputs, namely"):
        layers.Attention()(tuple(data()[:2]))
    with pytest.raises(ValueError, match=r"needs the size of the query's last axis to build its scale \(dim,\)"):
        layers.AdditiveAttention().build([(None, 4, None), (None, 6, None)])
    with pytest.raises(TypeError, match="unexpected keyword argument 'units'"):
        layers.AdditiveAttention(units=3)
