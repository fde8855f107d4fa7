"""Keras 3.15's tests of ``Masking`` (keras/src/layers/core/masking_test.py), ported to rnnlab with only the
imports changed (``load_model`` is ``rnnlab.models.load_model``).
"""

import os

import keras_testcase as testing
import numpy as np

from rnnlab import layers, models
from rnnlab.models import load_model


class MaskingTest(testing.TestCase):
    def test_masking_basics(self):
        self.run_layer_test(
            layers.Masking,
            init_kwargs={"mask_value": 0.0},
            input_shape=(2, 3, 2),
            expected_output_shape=(2, 3, 2),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=True,
            assert_built_after_instantiation=True,
        )

    def test_masking_correctness(self):
        x = np.array(
            [
                [[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]],
                [[2.0, 2.0], [0.0, 0.0], [2.0, 1.0]],
            ]
        )
        expected_mask = [[False, True, False], [True, False, True]]

        layer = layers.Masking(mask_value=0.0)
        self.assertAllClose(layer.compute_mask(x), expected_mask)

        test_obj = self

        class TestLayer(layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = True

            def compute_output_shape(self, input_shape):
                return input_shape

            def call(self, inputs, mask=None):
                test_obj.assertIsNotNone(mask)
                test_obj.assertAllClose(mask, expected_mask)
                return inputs

        model = models.Sequential(
            [
                layers.Masking(mask_value=0.0),
                TestLayer(),
            ]
        )
        model(x)

    def test_masking_with_tensor(self):
        model = models.Sequential(
            [
                layers.Masking(mask_value=0.0),
                layers.LSTM(1),
            ]
        )
        x = np.array(
            [
                [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]],
                [[2.0, 2.0], [2.0, 1.0], [0.0, 0.0]],
            ]
        )
        model(x)
        temp_filepath = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(temp_filepath)
        reload_model = load_model(temp_filepath)
        reload_model(x)
