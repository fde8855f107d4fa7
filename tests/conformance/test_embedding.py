"""Keras 3.15's tests of ``Embedding`` (keras/src/layers/core/embedding_test.py), ported to rnnlab.

Imports changed (``test_case`` and ``backend`` are ``keras_testcase``). The 23 tests of
quantization and LoRA are skipped, their bodies left out: rnnlab has neither. Where rnnlab differs:
``build`` takes the input shape (``build(None)`` for Keras's ``build()``); ``layer.embeddings`` is
a torch Parameter, so values are assigned and constraints read through ``layer.weights[0]``; a bad
``input_dim`` / ``output_dim`` is refused with rnnlab's words ("input_dim must be a positive
integer (...)") and a ``ValueError`` from ``from_config`` too (Keras: ``TypeError``);
``test_weights_constructor_arg`` is skipped (see its reason).
"""

import keras_testcase as test_case
import numpy as np
import pytest
from keras_testcase import backend

from rnnlab import constraints, layers

QUANTIZATION_OR_LORA = "rnnlab has no quantization (int8, int4, float8, GPTQ, AWQ) or LoRA"


class EmbeddingTest(test_case.TestCase):
    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_embedding_quantize_config(self):
        pass

    def test_embedding_basics(self):
        self.run_layer_test(
            layers.Embedding,
            {"input_dim": 4, "output_dim": 3},
            input_shape=(2,),
            input_dtype="int32",
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
        )
        self.run_layer_test(
            layers.Embedding,
            {"input_dim": 5, "output_dim": 4, "mask_zero": True},
            input_shape=(2, 3),
            input_dtype="int64",
            expected_output_shape=(2, 3, 4),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=True,
        )

    @pytest.mark.skipif(
        not backend.SUPPORTS_SPARSE_TENSORS,
        reason="Backend does not support sparse tensors.",
    )
    def test_sparse(self):
        self.run_layer_test(
            layers.Embedding,
            {"input_dim": 5, "output_dim": 4},
            input_shape=(2, 3),
            input_dtype="int32",
            input_sparse=True,
            expected_output_shape=(2, 3, 4),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
        )

    @pytest.mark.skipif(
        not backend.SUPPORTS_RAGGED_TENSORS,
        reason="Backend does not support ragged tensors.",
    )
    def test_ragged(self):
        self.run_layer_test(
            layers.Embedding,
            {"input_dim": 5, "output_dim": 4},
            input_shape=(2, 3),
            input_dtype="int32",
            input_ragged=True,
            expected_output_shape=(2, None, 4),
            expected_output_ragged=True,
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
            # run_training_check=False,
        )

    def test_correctness(self):
        layer = layers.Embedding(input_dim=3, output_dim=2)
        layer.build(None)  # rnnlab: build takes the input shape
        # rnnlab: layer.embeddings is a Parameter, layer.weights[0] its variable
        layer.weights[0].assign(np.array([[0.0, 0.0], [2.0, 2.0], [3.0, 3.0]]))
        out = layer(np.array([2, 1, 0]))
        self.assertAllClose(out, np.array([[3.0, 3.0], [2.0, 2.0], [0.0, 0.0]]))

    @pytest.mark.skipif(
        not backend.SUPPORTS_SPARSE_TENSORS,
        reason="Backend does not support sparse tensors.",
    )
    def test_correctness_sparse(self):
        layer = layers.Embedding(input_dim=3, output_dim=2)
        layer.build()
        layer.embeddings.assign(np.array([[0.0, 0.0], [2.0, 2.0], [3.0, 3.0]]))

        if backend.backend() == "tensorflow":
            import tensorflow as tf

            x = tf.SparseTensor([[0, 0], [1, 2]], [2, 1], (2, 3))
        elif backend.backend() == "jax":
            import jax.experimental.sparse as jax_sparse

            x = jax_sparse.BCOO(([2, 1], [[0, 0], [1, 2]]), shape=(2, 3))
        else:
            self.fail(f"Sparse is unsupported with backend {backend.backend()}")

        self.assertAllClose(
            layer(x),
            np.array(
                [
                    [[3.0, 3.0], [0.0, 0.0], [0.0, 0.0]],
                    [[0.0, 0.0], [0.0, 0.0], [2.0, 2.0]],
                ]
            ),
        )

    def test_masking(self):
        layer = layers.Embedding(input_dim=3, output_dim=2, mask_zero=True)
        layer.build(None)
        out = layer.compute_mask(np.array([2, 1, 0]))
        self.assertAllClose(out, np.array([True, True, False]))

    def test_compute_mask_no_masking(self):
        layer = layers.Embedding(input_dim=3, output_dim=2, mask_zero=False)
        input_data = np.array([2, 1, 0])
        mask = layer.compute_mask(input_data)
        self.assertIsNone(mask)

    def test_embedding_constraints(self):
        layer = layers.Embedding(3, 2, embeddings_constraint="non_neg")
        layer.build((None, 2))
        self.assertIsInstance(layer.weights[0].constraint, constraints.NonNeg)

    def test_invalid_input_dim(self):
        for bad_value in (3.7, 4.0, "3", None, True, False, -1, 0):
            with self.assertRaisesRegex(ValueError, "input_dim must be a positive integer"):
                layers.Embedding(input_dim=bad_value, output_dim=8)
        with self.assertRaisesRegex(  # rnnlab: ValueError, as from the constructor
            ValueError, "input_dim must be a positive integer"
        ):
            layers.Embedding.from_config({"input_dim": 3.7, "output_dim": 8})

    def test_invalid_output_dim(self):
        for bad_value in (3.7, 4.0, "3", None, True, False, -1, 0):
            with self.assertRaisesRegex(ValueError, "output_dim must be a positive integer"):
                layers.Embedding(input_dim=10, output_dim=bad_value)
        with self.assertRaisesRegex(ValueError, "output_dim must be a positive integer"):
            layers.Embedding.from_config({"input_dim": 10, "output_dim": 3.7})

    @pytest.mark.skip(
        reason="rnnlab differs: Embedding takes no weights= argument (set_weights after building does it) "
        "and layer.embeddings is a torch Parameter, without numpy()"
    )
    def test_weights_constructor_arg(self):
        layer = layers.Embedding(3, 4, weights=np.ones((3, 4)))
        self.assertAllClose(layer.embeddings.numpy(), np.ones((3, 4)))
        layer = layers.Embedding(3, 4, weights=[np.ones((3, 4))])
        self.assertAllClose(layer.embeddings.numpy(), np.ones((3, 4)))

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora_with_alpha(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_lora_rank_argument(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_enable_lora_with_embeddings_constraint(self):
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
    def test_legacy_load_own_variables(self):
        pass

    @pytest.mark.skip(reason=QUANTIZATION_OR_LORA)
    def test_embedding_int8_custom_quantizer(self):
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
