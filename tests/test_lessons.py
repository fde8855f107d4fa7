"""The tutorials' lessons as commands: the exploding gradient and its cure, three models on one toy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rnnlab import load_model
from rnnlab.cli import main
from rnnlab.tasks import flow
from rnnlab.tasks.gradients import GradientsConfig, explain

EXPLODING = [
    "gradients",
    "--cells",
    "simple_rnn",
    "--activation",
    "relu",
    "--recurrent-gain",
    "1.5",
    "--optimizer",
    "sgd",
    "--learning-rate",
    "0.01",
    "--epochs",
    "1",
    "--length",
    "40",
    "--samples",
    "300",
    "--train-samples",
    "250",
    "--probe",
    "32",
    "--units",
    "8",
]


def flat(first: float, last: float, loss: float = 0.1) -> flow.Flow:
    return flow.Flow(np.array([first, 1.0, last]), np.array([first, 1.0, last]), loss)


class History:
    def __init__(self, losses: list[float]) -> None:
        self.history = {"loss": losses}


def test_the_sentences_are_computed_from_the_runs_own_numbers():
    config = GradientsConfig(activation="relu", clipnorm=1.0)
    stages = {"at initialisation": {"SimpleRNN": flat(3.2, 1e-5)}, "after 2 epochs": {"SimpleRNN": flat(2.0, 1.0)}}
    assert explain(config, stages, {"SimpleRNN": History([0.5, 0.25])}) == [
        "SimpleRNN (relu): at initialisation the gradient reaching the first step is 3.2e+05 times the last "
        "step's: it explodes.",
        "SimpleRNN at initialisation: going back from the last step, the gradient rises above 1e3 times the last "
        "step's at step 2 of 3, 1 step back.",
        "SimpleRNN with clipping at norm 1: the training loss stayed finite and fell from 0.5 to 0.25.",
    ]
    stages = {"at initialisation": {"SimpleRNN": flat(1e-9, 1.0)}, "after 2 epochs": {"SimpleRNN": flat(math.inf, 1.0)}}
    assert explain(GradientsConfig(), stages, {"SimpleRNN": History([0.5, math.nan])}) == [
        "SimpleRNN (tanh): the gradient is not a finite number after 2 epochs: it overflowed, the exploding gradient.",
        "SimpleRNN without clipping: the training loss became nan in epoch 2.",
    ]
    stages = {"at initialisation": {"SimpleRNN": flat(1e-14, 1.0)}, "after 3 epochs": {"SimpleRNN": flat(0.0, 1.0)}}
    assert explain(GradientsConfig(activation="relu"), stages, {}) == [
        "SimpleRNN (relu): after 3 epochs no gradient reaches the first step (it underflowed to 0): it vanishes.",
        "SimpleRNN after 3 epochs: going back from the last step, the gradient falls below 1e-3 of the last "
        "step's at step 1 of 3, 2 steps back.",
    ]
    stages = {"at initialisation": {"LSTM": flat(2e-3, 1.0)}}
    assert explain(GradientsConfig(), stages, {}) == [
        "LSTM (tanh): at initialisation the gradient reaching the first step is 2.0e-03 times the last step's: "
        "it vanishes."
    ]
    # The step where the gradient fades moves with the numbers: 1e-4 at step 2 of 4 is 2 steps back.
    norms = np.array([1e-6, 1e-4, 0.5, 1.0])
    stages = {"at initialisation": {"GRU": flow.Flow(norms, norms, 0.1)}}
    assert explain(GradientsConfig(), stages, {})[1] == (
        "GRU at initialisation: going back from the last step, the gradient falls below 1e-3 of the last step's "
        "at step 2 of 4, 2 steps back."
    )
    norms = np.array([1e-6, 1e-2, 0.5, 1.0])
    stages = {"at initialisation": {"GRU": flow.Flow(norms, norms, 0.1)}}
    assert "at step 1 of 4, 3 steps back." in explain(GradientsConfig(), stages, {})[1]


def test_relu_recurrence_explodes_and_clipping_keeps_training_finite(tmp_path, capsys):
    assert main([*EXPLODING, "--out", str(tmp_path / "raw")]) == 0
    raw = capsys.readouterr().out
    assert "SimpleRNN (relu): at initialisation the gradient reaching the first step is" in raw
    assert "times the last step's: it explodes." in raw
    assert "SimpleRNN without clipping: the training loss became inf in epoch 1." in raw

    assert main([*EXPLODING, "--clipnorm", "1", "--out", str(tmp_path / "clipped")]) == 0
    clipped = capsys.readouterr().out
    assert "SimpleRNN with clipping at norm 1: the training loss stayed finite (" in clipped
    page = (tmp_path / "clipped" / "report.html").read_text()
    assert "with clipping at norm 1: the training loss stayed finite" in page
    assert '"clipnorm": 1.0' in (tmp_path / "clipped" / "config.json").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clipnorm", "0"], "--clipnorm must be a positive norm such as 1.0, received 0.0."),
        (["--activation", "sigmoid"], "invalid choice: 'sigmoid'"),
    ],
)
def test_gradients_refuses_bad_lesson_options(args, message, tmp_path, capsys):
    assert main(["gradients", *args, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


TINY_SEQUENCE = ["sequence", "--epochs", "2", "--units", "4", "--quiet"]


def test_sequence_compares_dense_conv_and_rnn_on_the_same_windows(tmp_path, capsys):
    out = tmp_path / "three"
    assert main([*TINY_SEQUENCE, "--models", "rnn,dnn,cnn", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert lines[header].split() == "model input shape window prediction epochs best epoch best loss train MSE".split()
    assert [line.split()[:2] for line in lines[header + 2 : header + 5]] == [
        ["RNN", "(3,"],
        ["Dense", "(3,)"],
        ["Conv2D", "(3,"],
    ]
    shapes = (
        "RNN reads a window as a sequence of 3 steps of 1 value, input (3, 1); Dense reads a window as 3 numbers "
        "side by side, input (3,); Conv2D reads a window as an image 3 high, 1 wide, 1 channel, input (3, 1, 1)."
    )
    trained = (
        "Each is trained the same way from seed 0: Adam on the MSE, batch size 1, up to 2 epochs, early stopping "
        "on the training loss with patience 32."
    )
    assert shapes in lines and trained in lines
    metrics = json.loads((out / "metrics.json").read_text())
    rows = metrics["results"]
    expected = [("RNN", "(3, 1)", 2), ("Dense", "(3,)", 2), ("Conv2D", "(3, 1, 1)", 2)]
    assert [(r["model"], r["input"], r["epochs"]) for r in rows] == expected
    assert all(math.isfinite(r["prediction"]) and math.isfinite(r["train_loss"]) for r in rows)
    for key in ("rnn", "dnn", "cnn"):
        assert (out / f"model-{key}.safetensors").is_file() and (out / f"history-{key}.csv").is_file()
    page = (out / "report.html").read_text()
    assert "Conv2D reads a window as an image 3 high, 1 wide, 1 channel" in page
    conv = load_model(str(out / "model-cnn.safetensors"))  # reads windows as (3, 1, 1) images
    window = np.array([50.0, 60.0, 70.0], dtype="float32").reshape(1, 3, 1, 1)
    assert conv.predict(window, verbose=0)[0, 0] == pytest.approx(rows[2]["prediction"], rel=1e-6)


def test_sequence_alone_keeps_its_one_model_table(tmp_path, capsys):
    assert main([*TINY_SEQUENCE, "--out", str(tmp_path / "one")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["window", "prediction"] for line in lines)
    assert not any(line.startswith("model") for line in lines)
    assert (tmp_path / "one" / "model.safetensors").is_file()


def test_sequence_refuses_a_model_named_twice(tmp_path, capsys):
    assert main(["sequence", "--models", "rnn,rnn", "--out", str(tmp_path / "r")]) == 2
    assert "--models takes each of rnn, dnn, cnn at most once, at least one, received rnn,rnn." in (
        capsys.readouterr().err
    )
