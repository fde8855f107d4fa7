"""Keras 3.15's tests of ``Dense`` (keras/src/layers/core/dense_test.py), ported to rnnlab.

Imports changed (``keras_tensor.KerasTensor`` is rnnlab's symbolic tensor, ``backend`` is
``keras_testcase``'s stand-in). The 38 tests of quantization and LoRA are skipped, their bodies
left out: rnnlab has neither. Where rnnlab differs: ``layer.kernel`` is a torch Parameter, so
``test_dense_constraints`` reads the constraint from its variable, ``layer.weights[0]``;
``test_dense_errors`` is skipped (see its reason).
"""

import keras_testcase as testing
import numpy as np
import pytest
from absl.testing import parameterized
from keras_testcase import backend

from rnnlab import constraints, layers, ops
from rnnlab.core import symbolic as keras_tensor

QUANTIZATION_OR_LORA = "rnnlab has no quantization (int8, int4, float8, GPTQ, AWQ) or LoRA"


class DenseTest(testing.TestCase):
    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_dense_quantize_config(self):
        pass

    def test_dense_basics(self):
        # 2D case, no bias.
        self.run_layer_test(
            layers.Dense,
            init_kwargs={
                "units": 4,
                "activation": "relu",
                "kernel_initializer": "random_uniform",
                "bias_initializer": "ones",
                "use_bias": False,
            },
            input_shape=(2, 3),
            expected_output_shape=(2, 4),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=True,
        )
        # 3D case, some regularizers.
        self.run_layer_test(
            layers.Dense,
            init_kwargs={
                "units": 5,
                "activation": "sigmoid",
                "kernel_regularizer": "l2",
                "bias_regularizer": "l2",
            },
            input_shape=(2, 3, 4),
            expected_output_shape=(2, 3, 5),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=2,  # we have 2 regularizers.
            supports_masking=True,
        )

    @parameterized.named_parameters(
        ("zero", 0),
        ("negative", -3),
        ("float", 2.5),
        ("none", None),
        ("string", "64"),
    )
    def test_dense_invalid_units_raises(self, units):
        with self.assertRaisesRegex(ValueError, "positive integer"):
            layers.Dense(units)

    def test_dense_correctness(self):
        # With bias and activation.
        layer = layers.Dense(units=2, activation="relu")
        layer.build((1, 2))
        layer.set_weights(
            [
                np.array([[1.0, -2.0], [3.0, -4.0]]),
                np.array([5.0, -6.0]),
            ]
        )
        inputs = np.array(
            [[-1.0, 2.0]],
        )
        self.assertAllClose(layer(inputs), [[10.0, 0.0]])

        # Just a kernel matmul.
        layer = layers.Dense(units=2, use_bias=False)
        layer.build((1, 2))
        layer.set_weights(
            [
                np.array([[1.0, -2.0], [3.0, -4.0]]),
            ]
        )
        inputs = np.array(
            [[-1.0, 2.0]],
        )
        self.assertEqual(layer.bias, None)
        self.assertAllClose(layer(inputs), [[5.0, -6.0]])

    @pytest.mark.skip(
        reason="rnnlab differs: a call on symbolic tensors is recorded without building the layer, so the "
        "(1, 3) input after (1, 2) is refused at the first call on data ('was built for 2 input features')"
    )
    def test_dense_errors(self):
        with self.assertRaisesRegex(ValueError, "incompatible with the layer"):
            layer = layers.Dense(units=2, activation="relu")
            layer(keras_tensor.KerasTensor((1, 2)))
            layer(keras_tensor.KerasTensor((1, 3)))

    @pytest.mark.skipif(
        not backend.SUPPORTS_SPARSE_TENSORS,
        reason="Backend does not support sparse tensors.",
    )
    def test_dense_sparse(self):
        import tensorflow as tf

        self.run_layer_test(
            layers.Dense,
            init_kwargs={
                "units": 4,
            },
            input_shape=(2, 3),
            input_sparse=True,
            expected_output_shape=(2, 4),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
        )

        inputs = 4 * backend.random.uniform((10, 10))
        inputs = tf.sparse.from_dense(tf.nn.dropout(inputs, 0.8))

        inputs = np.random.random((10, 10)).astype("float32")
        inputs = np.multiply(inputs, inputs >= 0.8)

        if backend.backend() == "tensorflow":
            import tensorflow as tf

            inputs = tf.sparse.from_dense(inputs)
        elif backend.backend() == "jax":
            import jax.experimental.sparse as jax_sparse

            inputs = jax_sparse.BCOO.fromdense(inputs)
        else:
            self.fail(f"Sparse is unsupported with backend {backend.backend()}")

        layer = layers.Dense(units=10)
        outputs = layer(inputs)

        # Verify the computation is the same as if it had been a dense tensor
        expected_outputs = ops.add(
            ops.matmul(backend.convert_to_tensor(inputs, sparse=False), layer.kernel),
            layer.bias,
        )
        self.assertAllClose(outputs, expected_outputs, tpu_atol=1e-2, tpu_rtol=1e-2)

        # Verify the gradient is sparse
        if backend.backend() == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as g:
                outputs = layer(inputs)

            self.assertIsInstance(g.gradient(outputs, layer.kernel), tf.IndexedSlices)

    def test_dense_no_activation(self):
        layer = layers.Dense(units=2, use_bias=False, activation=None)
        layer.build((1, 2))
        layer.set_weights(
            [
                np.array([[1.0, -2.0], [3.0, -4.0]]),
            ]
        )
        inputs = np.array(
            [[-1.0, 2.0]],
        )
        self.assertEqual(layer.bias, None)
        self.assertAllClose(layer(inputs), [[5.0, -6.0]])

    def test_dense_without_activation_set(self):
        layer = layers.Dense(units=2, use_bias=False)
        layer.build((1, 2))
        layer.set_weights(
            [
                np.array([[1.0, -2.0], [3.0, -4.0]]),
            ]
        )
        layer.activation = None
        inputs = np.array(
            [[-1.0, 2.0]],
        )
        self.assertEqual(layer.bias, None)
        self.assertAllClose(layer(inputs), [[5.0, -6.0]])

    def test_dense_with_activation(self):
        layer = layers.Dense(units=2, use_bias=False, activation="relu")
        layer.build((1, 2))
        layer.set_weights(
            [
                np.array([[1.0, -2.0], [3.0, -4.0]]),
            ]
        )

        inputs = np.array(
            [[-1.0, 2.0]],
        )
        output = layer(inputs)
        expected_output = np.array([[5.0, 0.0]])
        self.assertAllClose(output, expected_output)

    def test_dense_constraints(self):
        layer = layers.Dense(units=2, kernel_constraint="non_neg")
        layer.build((None, 2))
        self.assertIsInstance(layer.weights[0].constraint, constraints.NonNeg)  # rnnlab: layer.kernel is a Parameter
        layer = layers.Dense(units=2, bias_constraint="non_neg")
        layer.build((None, 2))
        self.assertIsInstance(layer.weights[1].constraint, constraints.NonNeg)

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora_with_alpha(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_lora_weight_name(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_lora_rank_argument(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora_with_kernel_constraint(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora_on_unbuilt_layer(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora_when_already_enabled(self):
        pass

    # Test quantization-related methods.

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_int(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_on_unbuilt_layer(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_on_subclass(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_when_already_quantized(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_by_setting_dtype_policy(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_invalid_mode(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_dtype_argument(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_lora_integration(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_float8(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_float8_fitting(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_quantize_float8_inference(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_gptq_serialization(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_awq_serialization(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_kernel_returns_unpacked_form(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_legacy_load_own_variables(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_gptq_kernel_returns_unpacked_form(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_gptq_kernel_packing(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_awq_kernel_returns_unpacked_form(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_awq_kernel_packing(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def _check_quantizer_config(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_dense_int8_custom_quantizer(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_dense_int8_weight_only_quantizer(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_dense_int4_custom_quantizer(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_quantization_block_size(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_block_size_serialization(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_block_size_with_lora(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_grouped_vs_perchannel_scale_shapes(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_subchannel_g_idx_created(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_perchannel_no_g_idx(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_int4_subchannel_g_idx_serialization(self):
        pass
