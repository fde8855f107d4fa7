"""Keras programs (tests/keras_programs/) run under rnnlab with only their imports changed; where
Keras can run them, the same text with ``rnnlab`` replaced by ``keras`` runs under real Keras and
prints the same numbers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

PROGRAMS = Path(__file__).parent / "keras_programs"


def run(name: str, capsys: pytest.CaptureFixture[str], under: str = "rnnlab") -> str:
    source = (PROGRAMS / f"{name}.py").read_text()
    if under == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        keras = pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
        keras.backend.clear_session()
        source = source.replace("rnnlab", "keras")
    capsys.readouterr()
    exec(compile(source, str(PROGRAMS / f"{name}.py"), "exec"), {"__name__": "__main__"})
    return capsys.readouterr().out


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", text)]


def test_weight_listing(capsys):
    out = run("weight_listing", capsys)
    assert "['kernel', 'recurrent_kernel', 'bias'] (1, 2) (2, 2) (2,)" in out
    assert numbers(out.splitlines()[-1])[0] < 1e-5  # the hand computation equals predict
    assert run("weight_listing", capsys, under="keras").splitlines()[0] == out.splitlines()[0]


def test_parameter_counts_equal_keras(capsys):
    out = run("parameter_counts", capsys)
    assert out.splitlines()[:3] == ["SimpleRNN 417", "LSTM 1617", "GRU 1265"]
    assert run("parameter_counts", capsys, under="keras").splitlines()[:3] == out.splitlines()[:3]


@pytest.mark.slow
def test_seed000_toy(capsys):
    out = run("seed000_toy", capsys)
    prediction = numbers(out.splitlines()[-1])[-1]
    assert 9.0 < prediction < 12.5, out  # the next value after 8, 9, 10 is 11


def test_custom_cell_program_trains_alone_and_stacked_as_under_keras(capsys):
    out = run("custom_cell", capsys).splitlines()
    assert out[0] == "1217 ['kernel', 'recurrent_kernel']"  # 5*32 + 32*32, and the Dense's 33
    assert out[2] == "7393 ['kernel', 'recurrent_kernel', 'kernel', 'recurrent_kernel']"  # + 32*64 + 64*64, + 65
    for line in (out[1], out[3]):
        first, last = numbers(line)
        assert last < first
    keras_out = run("custom_cell", capsys, under="keras").splitlines()
    assert [keras_out[0], keras_out[2]] == [out[0], out[2]]  # the same weights, by name and count


def test_embedding_classifier_learns_and_logs_keras_names(capsys):
    out = run("embedding_classifier", capsys)
    lines = out.splitlines()
    assert lines[0] == str(["acc", "categorical_accuracy", "loss", "val_acc", "val_categorical_accuracy", "val_loss"])
    assert numbers(lines[1])[0] > 0.85
    assert lines[2] == "trainable weights 3 of 6"  # the frozen LSTM's three weights leave the trainable list


@pytest.mark.slow
def test_embedding_classifier_under_keras_prints_the_same(capsys):
    lines = run("embedding_classifier", capsys).splitlines()
    keras_out = run("embedding_classifier", capsys, under="keras").splitlines()
    assert keras_out[0] == lines[0] and keras_out[2] == lines[2] and numbers(keras_out[1])[0] > 0.85


def test_subclassed_char_model_trains_and_samples_statefully(capsys):
    out = run("char_model", capsys)
    first, last = numbers(out.splitlines()[0])
    assert last < first
    generated = out.splitlines()[1].split(" ", 1)[1]
    assert len(eval(generated)) == 21


def test_stateful_sampler_equals_one_call_on_the_whole_sequence():
    """The sampler's carried states give what one call over the whole sequence gives."""
    import rnnlab
    from rnnlab.layers import GRU, Dense, Embedding

    whole = rnnlab.Sequential([Embedding(7, 4), GRU(5, return_sequences=True), Dense(7)])
    tokens = np.array([[1, 4, 2, 6, 3]])
    expected = whole.predict(tokens)
    stepper = rnnlab.Sequential(
        [rnnlab.Input((1,), batch_size=1), Embedding(7, 4), GRU(5, return_sequences=True, stateful=True), Dense(7)]
    )
    stepper.set_weights(whole.get_weights())
    steps = [np.asarray(stepper(tokens[:, t : t + 1]).detach()) for t in range(5)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), expected, atol=1e-6)


def test_conv1d_lstm_classifier_learns_and_equals_keras(capsys):
    out = run("conv1d_lstm", capsys)
    lines = out.splitlines()
    assert lines[:2] == ["params 8729", "shape (2, 1)"]  # Keras's parameter count for these layers
    losses = numbers(lines[2])
    assert losses[-1] < 0.8 * losses[0] and numbers(lines[3])[0] > 0.8
    keras_lines = run("conv1d_lstm", capsys, under="keras").splitlines()
    assert keras_lines[:2] == lines[:2]
    np.testing.assert_allclose(losses, numbers(keras_lines[2]), atol=2e-5)  # same start, same losses


def test_rnn_guide_encoder_decoder_passes_its_states_and_trains_as_keras(capsys):
    lines = run("encoder_decoder", capsys).splitlines()
    assert lines[0] == "params 258698"  # the guide's summary: 64000 + 128000 + 2 * 33024 + 650
    assert lines[1] == "layers " + str(
        ["input_layer", "input_layer_1", "embedding", "embedding_1", "encoder", "decoder", "dense"]
    )
    losses = numbers(lines[2])
    assert losses[-1] < 0.5 * losses[0] and lines[3] == "shape (3, 10)"
    keras_lines = run("encoder_decoder", capsys, under="keras").splitlines()
    assert keras_lines[:2] == lines[:2] and keras_lines[3] == lines[3]
    np.testing.assert_allclose(losses, numbers(keras_lines[2]), atol=2e-5)


def test_bidirectional_classifier_program_trains_as_keras(capsys):
    lines = run("bidirectional_classifier", capsys).splitlines()
    assert lines[:2] == ["params 4017", "keys ['accuracy', 'loss', 'val_accuracy', 'val_loss']"]
    losses, val_losses = numbers(lines[2]), numbers(lines[3])
    assert losses[-1] < losses[0] and val_losses[-1] < val_losses[0]
    keras_lines = run("bidirectional_classifier", capsys, under="keras").splitlines()
    assert keras_lines[:2] == lines[:2]
    np.testing.assert_allclose(losses + val_losses, numbers(keras_lines[2]) + numbers(keras_lines[3]), atol=2e-5)
