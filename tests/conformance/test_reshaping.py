"""Keras 3.15's tests of RepeatVector, Flatten, Reshape and Permute (keras/src/layers/reshaping/
repeat_vector_test.py, flatten_test.py, reshape_test.py, permute_test.py), ported to rnnlab.

Keras's symbolic checks (a layer called on ``layers.Input(...)``) read the output shape that
``compute_output_shape`` gives for the same input shape, which is how rnnlab knows shapes before
data. Expected arrays are computed as Keras computes them, with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_conformance import run_layer_test

from rnnlab import Sequential, layers

SPARSE = "rnnlab has no sparse tensors (Keras runs this case on the TensorFlow and JAX backends only)"


# -- repeat_vector_test.py ------------------------------------------------------------------------
class TestRepeatVector:
    def test_repeat_vector(self):
        inputs = np.random.random((2, 5)).astype("float32")
        expected_output = np.repeat(np.reshape(inputs, (2, 1, 5)), 3, axis=1)
        run_layer_test(layers.RepeatVector, init_kwargs={"n": 3}, input_data=inputs, expected_output=expected_output)

    def test_repeat_vector_with_dynamic_batch_size(self):
        assert layers.RepeatVector(n=3).compute_output_shape((None, 5)) == (None, 3, 5)

    def test_repeat_vector_with_dynamic_dimension(self):
        assert layers.RepeatVector(n=3).compute_output_shape((2, None)) == (2, 3, None)

    def test_repeat_vector_with_invalid_n(self):
        for n in ("3", 3.5, [3]):
            with pytest.raises(TypeError, match="Expected an integer value for `n`"):
                layers.RepeatVector(n=n)

    def test_repeat_vector_with_non_positive_n(self):
        for n in (0, -3):
            with pytest.raises(ValueError, match="should be a positive integer"):
                layers.RepeatVector(n=n)


# -- flatten_test.py --------------------------------------------------------------------------------
class TestFlatten:
    @pytest.mark.parametrize("sparse", [False, pytest.param(True, marks=pytest.mark.skip(reason=SPARSE))])
    def test_flatten(self, sparse):
        inputs = np.random.random((10, 3, 5, 5)).astype("float32")
        inputs = np.multiply(inputs, inputs >= 0.8)  # relatively sparse
        expected_output_channels_last = np.reshape(inputs, (-1, 5 * 5 * 3))
        expected_output_channels_first = np.reshape(np.transpose(inputs, (0, 2, 3, 1)), (-1, 5 * 5 * 3))
        # the default data_format is channels_last (rnnlab has no image_data_format setting)
        run_layer_test(layers.Flatten, init_kwargs={}, input_data=inputs, expected_output=expected_output_channels_last)
        run_layer_test(
            layers.Flatten,
            init_kwargs={"data_format": "channels_last"},
            input_data=inputs,
            expected_output=expected_output_channels_last,
        )
        run_layer_test(
            layers.Flatten,
            init_kwargs={"data_format": "channels_first"},
            input_data=inputs,
            expected_output=expected_output_channels_first,
        )

    def test_flatten_with_scalar_channels(self):
        inputs = np.random.random((10,)).astype("float32")
        expected_output = np.expand_dims(inputs, -1)
        for init_kwargs in ({}, {"data_format": "channels_last"}, {"data_format": "channels_first"}):
            run_layer_test(layers.Flatten, init_kwargs=init_kwargs, input_data=inputs, expected_output=expected_output)

    def test_flatten_symbolic_with_dynamic_batch_size(self):
        assert layers.Flatten().compute_output_shape((None, 2, 3)) == (None, 2 * 3)

    def test_flatten_symbolic_with_dynamic_dimension(self):
        assert layers.Flatten().compute_output_shape((5, 2, None)) == (5, None)

    def test_flatten_with_dynamic_batch_size_and_dynamic_dimenstions(self):
        def generator():
            yield (np.ones((3, 5, 7), dtype="float32"),)
            yield (np.ones((2, 7, 5), dtype="float32"),)

        model = Sequential([layers.Flatten()])
        for (batch,) in generator():  # Keras's predict(generator): one batch at a time
            assert model.predict(batch).shape == (batch.shape[0], 35)


# -- reshape_test.py --------------------------------------------------------------------------------
RESHAPES = [
    ((8, 1), (3, 2, 4), (3, 8, 1)),
    ((8,), (3, 2, 4), (3, 8)),
    ((2, 4), (3, 8), (3, 2, 4)),
    ((-1, 1), (3, 2, 4), (3, 8, 1)),
    ((1, -1), (3, 2, 4), (3, 1, 8)),
    ((-1,), (3, 2, 4), (3, 8)),
    ((2, -1), (3, 2, 4), (3, 2, 4)),
]


class TestReshape:
    @pytest.mark.parametrize("sparse", [False, pytest.param(True, marks=pytest.mark.skip(reason=SPARSE))])
    def test_reshape(self, sparse):
        for target_shape, input_shape, expected_output_shape in RESHAPES:
            run_layer_test(
                layers.Reshape,
                init_kwargs={"target_shape": target_shape},
                input_shape=input_shape,
                expected_output_shape=expected_output_shape,
            )

    def test_reshape_with_dynamic_batch_size(self):
        assert layers.Reshape((8,)).compute_output_shape((None, 2, 4)) == (None, 8)

    def test_reshape_rejects_invalid_target_shape(self):
        with pytest.raises(ValueError, match=r"non-negative integer.*-1.*target_shape=\(-2, 5\)"):
            layers.Reshape(target_shape=(-2, 5))
        with pytest.raises(ValueError, match=r"at most one unknown dimension.*target_shape=\(-1, -1, 5\)"):
            layers.Reshape(target_shape=(-1, -1, 5))

    def test_reshape_with_dynamic_batch_size_and_minus_one(self):
        assert layers.Reshape((-1, 8)).compute_output_shape((None, 6, 4)) == (None, 3, 8)

    def test_reshape_layer_with_varying_input_size_and_minus_one(self):
        layer = layers.Reshape((-1, 8))
        assert layer(torch.ones((1, 6, 4))).shape == (1, 3, 8)
        assert layer(torch.ones((1, 10, 4))).shape == (1, 5, 8)

    def test_reshape_with_dynamic_dim_and_minus_one(self):
        assert layers.Reshape((-1, 3)).compute_output_shape((4, 6, None, 3)) == (4, None, 3)

    def test_reshape_sets_static_shape(self):
        assert layers.Reshape((3, 5)).compute_output_shape((2, None)) == (2, 3, 5)

    @pytest.mark.skip(
        reason="rnnlab's fit hands the model's weights to a torch optimizer, which refuses a model without "
        "weights (Keras fits it as a no-op step); the reshape of varying sizes is checked by "
        "test_reshape_layer_with_varying_input_size_and_minus_one"
    )
    def test_reshape_model_fit_with_varying_input_size_and_minus_one(self):
        def generator():
            yield torch.ones((1, 12, 2)), torch.zeros((1, 3, 8))
            yield torch.ones((1, 20, 2)), torch.zeros((1, 5, 8))

        model = Sequential([layers.Reshape((-1, 8))])
        model.compile(loss="mean_squared_error")
        model.fit(generator(), epochs=1, verbose=0)
        for seq_len, expected_first_dim in [(12, 3), (20, 5), (24, 6)]:
            output = model(torch.randn((1, seq_len, 2)))
            assert output.shape[1] == expected_first_dim
            assert output.shape[2] == 8


# -- permute_test.py --------------------------------------------------------------------------------
class TestPermute:
    @pytest.mark.parametrize("sparse", [False, pytest.param(True, marks=pytest.mark.skip(reason=SPARSE))])
    def test_permute(self, sparse):
        inputs = np.random.random((10, 3, 5, 5)).astype("float32")
        inputs = np.multiply(inputs, inputs >= 0.8)
        expected_output = np.transpose(inputs, axes=(0, 3, 1, 2))
        run_layer_test(
            layers.Permute, init_kwargs={"dims": (3, 1, 2)}, input_data=inputs, expected_output=expected_output
        )

    def test_permute_with_dynamic_batch_size(self):
        assert layers.Permute((2, 1)).compute_output_shape((None, 3, 5)) == (None, 5, 3)

    def test_permute_errors_on_invalid_starting_dims_index(self):
        with pytest.raises(ValueError, match=r"Invalid permutation .*dims.*"):
            run_layer_test(layers.Permute, init_kwargs={"dims": (0, 1, 2)}, input_shape=(3, 2, 4))

    def test_permute_errors_on_invalid_set_of_dims_indices(self):
        with pytest.raises(ValueError, match=r"Invalid permutation .*dims.*"):
            run_layer_test(layers.Permute, init_kwargs={"dims": (1, 4, 2)}, input_shape=(3, 2, 4))
