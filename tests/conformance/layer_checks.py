"""``run_layer_test``: the checks of Keras's ``testing.TestCase.run_layer_test`` that apply to rnnlab layers.

Shapes, weight counts (trainable and not), regularization losses, whether the layer passes a mask
on, and that ``from_config(get_config())`` with the same weights gives the same outputs.
"""

from __future__ import annotations

import numpy as np
import torch


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape=None,
    input_data=None,
    expected_output=None,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    expected_num_seed_generators=None,
    expected_num_losses=None,
    supports_masking=None,
    **_keras_only,
):
    """Keras's checks, each where its argument is given; ``**_keras_only`` takes the TF/JAX ones
    (``run_training_check``, ``assert_built_after_instantiation``, ...), which do not apply."""
    layer = layer_cls(**init_kwargs)
    if supports_masking is not None:
        assert bool(layer.supports_masking) == supports_masking
    x = input_data if input_data is not None else np.random.default_rng(0).normal(size=input_shape)
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = layer(x)
    if expected_output_shape is not None:
        assert tuple(y.shape) == tuple(expected_output_shape)
        assert tuple(layer.compute_output_shape((None, *x.shape[1:]))[1:]) == tuple(expected_output_shape[1:])
    if expected_output is not None:
        np.testing.assert_allclose(y.detach().numpy(), expected_output, rtol=1e-6, atol=1e-6)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    if expected_num_losses is not None:
        assert len(layer.losses) == expected_num_losses
    again = layer_cls.from_config(layer.get_config())
    again(x)
    again.set_weights(layer.get_weights())
    torch.testing.assert_close(again(x), layer(x))
    return layer
