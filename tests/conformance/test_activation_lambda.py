"""Keras 3.15's tests of Activation and Lambda (keras/src/layers/activations/activation_test.py,
keras/src/layers/core/lambda_layer_test.py), ported to rnnlab.

Keras's ``ops.square`` / ``ops.concatenate`` / ``ops.ones`` become ``torch.square`` /
``torch.cat`` / ``torch.ones``, and ``activations.gelu`` rnnlab's gelu.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_conformance import assert_all_close, run_layer_test

from rnnlab import activations, layers


# -- activation_test.py ------------------------------------------------------------------------------
def test_activation_basics():
    run_layer_test(
        layers.Activation,
        init_kwargs={"activation": "relu"},
        input_shape=(2, 3),
        expected_output_shape=(2, 3),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=True,
        assert_built_after_instantiation=True,
    )
    run_layer_test(
        layers.Activation,
        init_kwargs={"activation": activations.get("gelu")},
        input_shape=(2, 2),
        expected_output_shape=(2, 2),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=True,
        assert_built_after_instantiation=True,
    )


# -- lambda_layer_test.py ----------------------------------------------------------------------------
def test_lambda_basics():
    run_layer_test(
        layers.Lambda,
        init_kwargs={"function": torch.square},
        input_shape=(2, 3),
        expected_output_shape=(2, 3),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=False,
        custom_objects={"square": torch.square},
    )
    run_layer_test(
        layers.Lambda,
        init_kwargs={"function": torch.square, "mask": torch.ones((2, 3))},
        input_shape=(2, 3, 4),
        expected_output_shape=(2, 3, 4),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=True,
        custom_objects={"square": torch.square},
    )

    def stacker(x):
        return torch.cat([x, x], dim=1)

    run_layer_test(
        layers.Lambda,
        init_kwargs={"function": stacker, "output_shape": (6,)},
        input_shape=(2, 3),
        expected_output_shape=(2, 6),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=False,
        custom_objects={"stacker": stacker},
    )

    def stacker_shape(s):
        return (s[0], s[1] * 2)

    run_layer_test(
        layers.Lambda,
        init_kwargs={"function": stacker, "output_shape": stacker_shape},
        input_shape=(2, 3),
        expected_output_shape=(2, 6),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=False,
        custom_objects={"stacker": stacker, "stacker_shape": stacker_shape},
    )


def test_correctness():
    layer = layers.Lambda(lambda x: x**2)
    output = layer(2 * np.ones((2, 3)))
    assert_all_close(4 * np.ones((2, 3)), output)

    config = layer.get_config()  # the serialization round trip
    layer = layers.Lambda.from_config(config, safe_mode=False)
    output = layer(2 * np.ones((2, 3)))
    assert_all_close(4 * np.ones((2, 3)), output)


def test_from_config_fails_closed_without_safe_mode_scope():
    config = layers.Lambda(lambda x: x**2).get_config()
    with pytest.raises(ValueError, match="Lambda"):
        layers.Lambda.from_config(config)


def test_correctness_lambda_shape():
    layer = layers.Lambda(lambda x: x**2, output_shape=lambda x: x)
    output = layer(2 * np.ones((2, 3)))
    assert_all_close(4 * np.ones((2, 3)), output)

    config = layer.get_config()
    layer = layers.Lambda.from_config(config, safe_mode=False)
    output = layer(2 * np.ones((2, 3)))
    assert_all_close(4 * np.ones((2, 3)), output)
