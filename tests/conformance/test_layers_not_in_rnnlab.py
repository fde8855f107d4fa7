"""Keras 3.15's test files of layers rnnlab does not have, one skipped test each, so the suite's count of
skips names them (keras/src/layers/core/ and keras/src/layers/rnn/)."""

from __future__ import annotations

import pytest

NOT_IN_RNNLAB = {
    "core/identity_test.py": "rnnlab has no Identity layer",
    "core/wrapper_test.py": "rnnlab has no Wrapper base class (Bidirectional and TimeDistributed stand alone)",
    "core/einsum_dense_test.py": "rnnlab has no EinsumDense layer",
    "core/reversible_embedding_test.py": "rnnlab has no ReversibleEmbedding layer",
    "rnn/conv_lstm_test.py": "rnnlab has no convolutional recurrent layers (ConvLSTM)",
    "rnn/conv_lstm1d_test.py": "rnnlab has no ConvLSTM1D layer",
    "rnn/conv_lstm2d_test.py": "rnnlab has no ConvLSTM2D layer",
    "rnn/conv_lstm3d_test.py": "rnnlab has no ConvLSTM3D layer",
}


@pytest.mark.parametrize("keras_file", list(NOT_IN_RNNLAB))
def test_keras_test_file(keras_file):
    pytest.skip(f"keras/src/layers/{keras_file}: {NOT_IN_RNNLAB[keras_file]}")
