"""Keras 3.15's tests of ``DropoutRNNCell`` (keras/src/layers/rnn/dropout_rnn_cell_test.py), for rnnlab.

Both are skipped: rnnlab differs: it has no ``DropoutRNNCell`` mixin (``get_dropout_mask`` /
``get_recurrent_dropout_mask`` drawn from a cell's own ``SeedGenerator``); its cells take
``dropout`` / ``recurrent_dropout`` as arguments and draw one mask per sequence from the one torch
generator, which ``test_simple_rnn.py``, ``test_lstm.py`` and ``test_gru.py`` exercise.
"""

from __future__ import annotations

import pytest

NO_MIXIN = "rnnlab differs: no DropoutRNNCell mixin or per-cell SeedGenerator (cells take dropout arguments instead)"


@pytest.mark.skip(reason=NO_MIXIN)
def test_seed_tracking():
    pass


@pytest.mark.skip(reason=NO_MIXIN)
def test_basics():
    pass
