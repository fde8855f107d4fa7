"""The benchmark scripts on tiny sizes: every workload runs and the report is complete (no timing
assertions); rnnlab against Keras over seeds: the command, the program, the two-sample test."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch

import rnnlab
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import run


def test_benchmark_suite_runs_on_tiny_sizes(tmp_path):
    report = run.main(["--tiny", "--keras", "off", "--quiet", "--out", str(tmp_path)])
    rows = {(row["workload"], row["variant"]) for row in report["rows"]}
    assert rows == {
        ("W1", "SimpleRNN"),
        ("W1", "LSTM"),
        ("W1", "GRU"),
        ("W2", "LSTM"),
        ("W2", "GRU"),
        ("W3", "LSTM"),
        ("W4", "train"),
        ("W4", "predict"),
    }
    for row in report["rows"]:
        assert row["rnnlab"] > 0 and row["PyTorch"] > 0 and row["ratios"]["PyTorch"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["machine"]["tiny"] is True
    table = (tmp_path / "results.md").read_text()
    assert "| W3 LSTM | chars / s |" in table and "Keras: skipped (--keras off)" in table
    if run.wl.onnxruntime_missing() is None:  # ONNX Runtime beside rnnlab's inference, W3 and W4 predict
        inference = {(row["workload"], row["variant"]) for row in report["rows"] if "ONNX Runtime" in row}
        assert inference == {("W3", "LSTM"), ("W4", "predict")}
        assert all(row["ratios"]["ONNX Runtime"] > 0 for row in report["rows"] if "ONNX Runtime" in row)
        assert "| ONNX Runtime / rnnlab |" in table and "ONNX Runtime 1." in table


def test_benchmark_without_onnxruntime_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails
    report = run.main(["--tiny", "--keras", "off", "--quiet", "--workloads", "W3", "--out", str(tmp_path)])
    assert [sorted(k for k in row if k not in ("workload", "variant", "ratios")) for row in report["rows"]] == [
        ["PyTorch", "rnnlab"]
    ]
    note = "ONNX Runtime: skipped, onnxruntime is not installed (pip install 'rnnlab[export]')"
    assert report["notes"] == [note, "Keras: skipped (--keras off)"]
    assert f"- {note}" in (tmp_path / "results.md").read_text()


def test_charrnn_benchmarks_run(tmp_path, capsys):
    import charrnn_reference
    import charrnn_speed

    text = tmp_path / "play.txt"
    text.write_text("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 300)
    charrnn_speed.main(["--data", str(text), "--steps", "1", "--threads", "1"])
    assert "rnnlab / reference = " in capsys.readouterr().out
    budget = ["--minutes", "0.001", "--threads", "1"]  # one epoch of a few steps passes 60 ms
    charrnn_reference.main(["--data", str(text), *budget, "--out", str(tmp_path / "c.json")])
    curve = json.loads((tmp_path / "c.json").read_text())["curve"]
    assert len(curve) == 1 and 0 < curve[0]["val_loss"] < 5  # one epoch: it passes the time budget


TINY_MULTIPLICATION = ["--samples", "60", "--train-samples", "40", "--length", "6", "--units", "3", "--epochs", "2"]


def test_mann_whitney_gives_scipys_exact_p_values():
    import keras_seeds

    assert keras_seeds.mann_whitney([1, 2, 3], [4, 5, 6]) == (0.0, 0.1)  # 2 of the C(6, 3) = 20 splits
    assert keras_seeds.mann_whitney([4, 5, 6], [1, 2, 3]) == (9.0, 0.1)
    assert keras_seeds.mann_whitney([1, 3], [2, 4]) == (1.0, 4 / 6)
    u, p = keras_seeds.mann_whitney([1, 2, 2, 5], [2, 3, 4])  # ties: midranks, 2 x 11 of 35 splits
    assert u == 4.0 and abs(p - 22 / 35) < 1e-12
    assert keras_seeds.mann_whitney([7, 7], [7, 7]) == (2.0, 1.0)
    assert keras_seeds.midranks(np.array([3.0, 1.0, 2.0, 2.0, 5.0])).tolist() == [4.0, 1.0, 2.5, 2.5, 5.0]


def test_keras_seeds_rnnlab_side_is_the_command_and_equals_the_plain_program(tmp_path):
    """The command over seeds gives, seed for seed, what the same model written as a Keras program
    (imports changed to rnnlab) gives on the same data with one thread."""
    import keras_seeds

    summary = keras_seeds.main(
        ["--sides", "rnnlab", "--seeds", "2", "--cells", "lstm,gru", *TINY_MULTIPLICATION, "--out", str(tmp_path)]
    )
    side = json.loads((tmp_path / "rnnlab.json").read_text())
    assert side == json.loads(
        json.dumps({**summary["rnnlab"], "setting": summary["setting"], "machine": summary["machine"]})
    )
    assert (
        side["command"].startswith("rnnlab multiplication --cells=lstm,gru ")
        and "--seed=0 --seeds=2 --jobs=1 --threads=1" in side["command"]
    )
    assert [(row["seed"], row["cell"]) for row in side["rows"]] == [(0, "LSTM"), (0, "GRU"), (1, "LSTM"), (1, "GRU")]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for seed in (0, 1):
            x, y = rnnlab.datasets.multiplication_problem(60, 6, rng=seed)
            assert side["digests"][str(seed)] == keras_seeds.digest(x, y)
            program = keras_seeds.keras_program(x, y, seed, summary["setting"], keras=rnnlab)
            command = [row for row in side["rows"] if row["seed"] == seed]
            for ours, theirs in zip(command, program, strict=True):
                assert (ours["cell"], ours["test_mse"], ours["correct_percent"]) == (
                    theirs["cell"],
                    theirs["test_mse"],
                    theirs["correct_percent"],
                )
    finally:
        torch.set_num_threads(threads)
    assert not (tmp_path / "comparison.md").exists()  # one side only: nothing to compare


def test_keras_seeds_passes_consecutive_seeds_as_a_start_and_a_count():
    import keras_seeds

    assert keras_seeds.seed_options([3]) == ["--seed=3", "--seeds=1"]  # "--seeds=3" would mean seeds 0-2
    assert keras_seeds.seed_options([2, 3, 4]) == ["--seed=2", "--seeds=3"]
    assert keras_seeds.seed_options([0, 2, 5]) == ["--seeds=0,2,5"]


def test_keras_seeds_refuses_to_compare_different_data():
    import keras_seeds

    row = {"seed": 0, "cell": "LSTM", "correct_percent": 50.0}
    ours = {"digests": {"0": "aa", "1": "bb"}, "rows": [row]}
    theirs = {"digests": {"0": "aa", "1": "cc"}, "rows": [row]}
    with pytest.raises(ValueError, match="^the two sides trained on different data for seeds 1$"):
        keras_seeds.compare(ours, theirs)
    theirs["digests"]["1"] = "bb"
    assert keras_seeds.compare(ours, theirs) == [
        {"cell": "LSTM", "seeds": 2, "rnnlab": [50.0], "keras": [50.0], "u": 0.5, "p": 1.0}
    ]


@pytest.mark.skipif(
    not os.environ.get("RNNLAB_BENCH_TF_PYTHON"),
    reason="no side environment with Keras and TensorFlow ($RNNLAB_BENCH_TF_PYTHON)",
)
def test_keras_seeds_keras_side_and_the_comparison(tmp_path):
    import keras_seeds

    tiny = ["--seeds", "2", "--cells", "lstm", *TINY_MULTIPLICATION, "--out", str(tmp_path)]
    summary = keras_seeds.main(tiny)
    keras_side = json.loads((tmp_path / "keras.json").read_text())
    assert keras_side["side"].startswith("Keras 3.") and "TensorFlow" in keras_side["side"]
    assert keras_side["digests"] == json.loads((tmp_path / "rnnlab.json").read_text())["digests"]
    assert [(row["seed"], row["cell"], row["epochs"]) for row in keras_side["rows"]] == [(0, "LSTM", 2), (1, "LSTM", 2)]
    table = (tmp_path / "comparison.md").read_text()
    assert table == summary["table"] + "\n" and "\n| LSTM | " in table and " | 2 | " in table
