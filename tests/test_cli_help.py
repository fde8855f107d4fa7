"""What ``--help`` and the closing lines say: defaults as typed, required options marked and shown in the
usage line, each command's own description, counts in agreement with their nouns, the sequence toy's
two losses explained, and the report named last."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from rnnlab.cli import main
from rnnlab.tasks import experiments
from rnnlab.tasks.classify import PRESETS
from rnnlab.tasks.options import counted


@pytest.fixture
def help_of(monkeypatch, capsys):
    """``rnnlab <command> --help`` as printed on a terminal wide enough that nothing wraps."""
    monkeypatch.setenv("COLUMNS", "1000")

    def show(*command: str) -> str:
        assert main([*command, "--help"]) == 0
        return capsys.readouterr().out

    return show


def option_help(text: str, option: str) -> str:
    """The help line of one option in a ``--help`` printed without wrapping."""
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if re.match(rf"  {option}( |$)", line)]
    parts = re.split(r"\s{2,}", lines[at].strip(), maxsplit=1)
    return parts[1] if len(parts) == 2 else lines[at + 1].strip()  # a long invocation puts the help below it


def test_list_options_show_their_default_list_or_what_stands_for_it(help_of):
    assert (
        option_help(help_of("sequence"), "--predict")
        == "the window whose next value to predict (default: 50.0 60.0 70.0)"
    )
    assert option_help(help_of("multiplication"), "--cells") == "cells to compare (default: simple_rnn lstm gru)"
    assert (
        option_help(help_of("forecast"), "--features")
        == "extra input columns; text columns are one-hot encoded (default: none)"
    )
    inspect = help_of("inspect")
    assert option_help(inspect, "--cells") == "which models of a run directory that holds several (default: all)"
    assert (
        option_help(inspect, "--input")
        == "the input: values of a one-feature sequence, or a .npy/.csv file (time, features) (default: --sample)"
    )
    for name in experiments():
        assert "(default: )" not in help_of(*name.split()), name


def test_required_options_are_marked_without_a_default_and_shown_in_the_usage_line(help_of):
    inspect = help_of("inspect")
    assert option_help(inspect, "--model") == "the model: a run directory or a model file (required)"
    assert inspect.startswith(
        "usage: rnnlab inspect [-h] --model MODEL [--input INPUT [INPUT ...]] [--text TEXT] [--sample SAMPLE]"
    )
    assert option_help(inspect, "--text") == (
        "the input of a word or character model (classify, charrnn runs): a text, read with the run's own "
        "vocabulary (default: --sample)"
    )
    sample = help_of("charrnn", "sample")
    assert sample.startswith("usage: rnnlab charrnn sample [-h] --model MODEL [--prime PRIME]")
    assert (
        option_help(sample, "--model")
        == "run directory of `rnnlab charrnn train` (or its model.safetensors) (required)"
    )
    classify = help_of("classify")
    assert classify.startswith(
        "usage: rnnlab classify [-h] --dataset {reuters,r8,r52,movie_reviews,mnist-rows} [--cell"
    )
    assert (
        option_help(classify, "--dataset")
        == "what to classify (files found via RNNLAB_DATA_DIR or downloaded) (required)"
    )
    forecast = help_of("forecast")
    assert forecast.startswith("usage: rnnlab forecast [-h] (--dataset {airline,pm25} | --csv CSV) [--target TARGET]")
    assert (
        option_help(forecast, "--csv")
        == "a CSV file to forecast instead of --dataset (required, unless --dataset is given)"
    )
    train = help_of("charrnn", "train")
    assert train.startswith("usage: rnnlab charrnn train [-h] (--text TEXT | --dataset {shakespeare}) [--seq-length")
    assert option_help(train, "--text") == "a UTF-8 text file to learn (required, unless --dataset is given)"


@pytest.mark.parametrize(
    "args,message",
    [
        (["inspect"], "rnnlab inspect: error: the following arguments are required: --model"),
        (["charrnn", "sample"], "rnnlab charrnn sample: error: the following arguments are required: --model"),
        (["classify"], "rnnlab classify: error: the following arguments are required: --dataset"),
        (["forecast"], "rnnlab forecast: error: one of the arguments --dataset --csv is required"),
        (["forecast", "--dataset", "airline", "--csv", "x.csv"], "argument --csv: not allowed with argument --dataset"),
        (["charrnn", "train"], "rnnlab charrnn train: error: one of the arguments --text --dataset is required"),
    ],
)
def test_a_missing_required_option_is_exit_code_2_with_argparse_line(args, message, capsys):
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(message)


def test_charrnn_sample_help_describes_sampling_not_training(help_of):
    text = help_of("charrnn", "sample")
    assert "\nStream text from a trained character model, one character at a time.\n" in text
    assert "Reads the model and vocabulary that ``rnnlab charrnn train`` saved (``--model DIR``)" in text
    assert "sparse cross-entropy" not in text and "--val-fraction" not in text
    assert "sparse cross-entropy" in help_of("charrnn", "train")


def test_mnist_rows_help_says_how_it_differs_from_the_pytorch_tutorial(help_of):
    text = help_of("classify")
    assert (
        "- ``mnist-rows``: each 28x28 image as 28 steps of 28 pixels, LSTM(128) x 2 -> Dense(10), batch 100,\n"
        "  Adam 2e-3: the PyTorch tutorial's model with half its units and twice its learning rate (it\n"
        "  uses LSTM(256) x 2 and Adam 1e-3: ``--units 256 --learning-rate 1e-3``)."
    ) in text
    preset = PRESETS["mnist-rows"]
    assert (preset.units, preset.layers, preset.batch_size, preset.learning_rate) == (128, 2, 100, 2e-3)


def test_counts_agree_with_their_nouns():
    assert [counted(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert counted(8000, "window", spec=",") == "8,000 windows"
    assert counted(1, "test window") == "1 test window"


def test_sequence_explains_its_two_losses_and_the_run_ends_naming_its_report(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sequence", "--epochs", "2", "--units", "2", "--quiet", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "best loss: the lowest training loss of an epoch (the mean MSE over its batches, while the weights changed "
        "and dropout was on); that epoch's weights are kept." in lines
    )
    assert "train MSE: the kept weights' MSE on the 13 training windows afterwards, dropout off." in lines
    assert lines[-2:] == [f"Run directory: {out}", f"Report: {out / 'report.html'}"]
    assert (out / "report.html").is_file()
    assert "the kept weights&#x27; MSE on the 13 training windows" in (out / "report.html").read_text()


def test_the_documented_text_module_is_an_attribute_of_the_package():
    """``import rnnlab`` then ``rnnlab.text``, as the README writes it, in a fresh interpreter."""
    program = "import rnnlab; print(rnnlab.text.load_char_model.__name__, rnnlab.text.Vocabulary.__name__)"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["load_char_model", "Vocabulary"]
