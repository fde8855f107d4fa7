"""Small hostile inputs, each with the exact message it now gets: dollar signs in column names
reach the plots as text, a NUL byte in a CSV is blamed on its own line, an out-of-range window for
``sequence`` is refused before training, the trainer's warning numbers batches as TerminateOnNaN
(and Keras) do, and damaged model descriptions say what was expected."""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pytest

import rnnlab
from hostile.test_keras_files import archive, layer
from rnnlab.callbacks import TerminateOnNaN
from rnnlab.cli import main
from rnnlab.datasets.table import read_csv
from rnnlab.layers import Dense, SimpleRNN
from rnnlab.viz import plot_confusion, plot_history

PNG = b"\x89PNG\r\n\x1a\n"


# -- dollar signs are text, not mathtext -------------------------------------------------------------------
def test_dollar_signs_in_names_are_drawn_as_text(tmp_path):
    """'$x^$' is not valid mathtext: matplotlib would raise while drawing it."""
    history = {"loss": [1.0, 0.5], "$x^$": [2.0, 1.0], "val_$x^$": [3.0, 2.0]}
    plot_history(history, tmp_path / "history.png", title="price in $ (US$)")
    plot_confusion(np.eye(2, dtype=int), ["$a^$", "b$"], tmp_path / "confusion.png", title="$_$")
    for name in ("history.png", "confusion.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)


def test_a_forecast_of_a_dollar_column_completes_with_its_plots(tmp_path, capsys):
    rows = "".join(f"{i},{50 + 10 * np.sin(i / 5):.3f}\n" for i in range(120))
    (tmp_path / "prices.csv").write_text("t,$price^$\n" + rows)
    out = tmp_path / "run"
    args = ["forecast", "--csv", str(tmp_path / "prices.csv"), "--target", "$price^$", "--epochs", "1"]
    assert main([*args, "--quiet", "--out", str(out)]) == 0, capsys.readouterr().err
    pngs = sorted(out.glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(PNG) for p in pngs)


# -- a NUL byte in a CSV -------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["inside", "at the end"])
def test_a_nul_byte_is_blamed_on_its_own_line(tmp_path, where):
    """A trailing NUL vanished in the column's text array, so the error named row 1 ('2')."""
    value = "\x005" if where == "inside" else "5\x00"
    path = tmp_path / "nul.csv"
    path.write_text(f"t,y\n1,2\n2,3\n3,4\n4,{value}\n5,6\n")
    message = (
        f"{path}, line 5: a NUL byte (\\x00), which CSV text cannot hold; expected UTF-8 text. Save the file as "
        "UTF-8 (not UTF-16), or remove the NUL bytes (tr -d '\\000')."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_csv(path)


def test_a_nul_byte_in_a_quoted_field_names_its_physical_line(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('t,y\n1,2\n2,"3\n\x00"\n3,4\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 4: a NUL byte")):
        read_csv(path)


# -- sequence --predict out of float32's range ---------------------------------------------------------------
def test_a_window_beyond_float32_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    started = time.perf_counter()
    code = main(["sequence", "--predict", "1e308", "60", "4e38", "--quiet", "--out", str(out)])
    assert time.perf_counter() - started < 10  # 512 epochs of training take minutes
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "rnnlab sequence: error: --predict takes finite values within float32's range (|v| <= 3.403e+38), "
        "received 1e+308, 4e+38. Give a window such as 50 60 70."
    )
    assert not out.exists() and list(tmp_path.iterdir()) == []


# -- batches numbered as TerminateOnNaN and Keras number them -----------------------------------------------
def test_the_warning_and_terminate_on_nan_name_the_same_batch(caplog):
    """Keras's TerminateOnNaN prints the batch index within the epoch, from 0; the warning agrees."""
    x = np.ones((12, 3, 1), "float32")
    y = np.ones(12, "float32")
    y[8] = 1e30  # its squared error overflows: the third batch of four (index 2) has an infinite loss
    rnnlab.set_seed(0)
    model = rnnlab.Sequential([rnnlab.Input((3, 1)), SimpleRNN(2), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with caplog.at_level(logging.WARNING), pytest.warns(RuntimeWarning) as warned:
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, callbacks=[TerminateOnNaN()])
    assert [r.getMessage() for r in caplog.records if "Invalid loss" in r.getMessage()] == [
        "Batch 2: Invalid loss, terminating training"
    ]
    assert [str(w.message).split(":")[0] for w in warned] == ["Epoch 1, batch 2"]


# -- damaged model descriptions --------------------------------------------------------------------------------
def test_a_keras_file_without_a_model_class_says_what_was_expected(tmp_path):
    path = archive(tmp_path, config_edit=lambda c: c.pop("class_name"))
    message = (
        f"{path}: config.json names no model class ('class_name' is missing); expected a Keras Sequential model "
        "as keras.Sequential(...).save('model.keras') writes it. Save the model again."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnnlab.load_model(path)


@pytest.mark.parametrize("shape", ["abc", 5, [None], [None, 3, -2], [None, 3.5, 3], [None, True, 3]])
def test_a_bad_keras_batch_shape_is_named(tmp_path, shape):
    path = archive(tmp_path, config_edit=layer(0, "batch_shape", shape))
    message = (
        f"{path}: config.json: the input's batch_shape must be [batch, *sample_shape], each a positive integer "
        f"or null, received {shape!r}. The file is damaged: save the model from Keras again."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnnlab.load_model(path)


def test_a_variable_length_keras_input_still_loads(tmp_path):
    path = archive(tmp_path, config_edit=layer(0, "batch_shape", [None, None, 3]))
    model = rnnlab.load_model(path)
    assert model.predict(np.ones((2, 7, 3), "float32")).shape == (2, 1)


@pytest.mark.parametrize("batch_shape", [5, "abc", (None,)])
def test_input_names_a_bad_batch_shape(batch_shape):
    message = (
        "Input(batch_shape=...) takes (batch, *sample_shape), e.g. (32, 10, 3) or (None, 10, 3) for batches of "
        f"10 steps of 3 features; received {batch_shape!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rnnlab.Input(batch_shape=batch_shape)


def test_input_names_bad_sizes():
    with pytest.raises(
        ValueError,
        match=re.escape("Input sizes must be positive integers or None (not known), received shape=(3, -1), "),
    ):
        rnnlab.Input(shape=(3, -1))
    assert rnnlab.Input(shape=(np.int64(3), None)).shape == (None, 3, None)  # batch first, as Keras's KerasTensor
