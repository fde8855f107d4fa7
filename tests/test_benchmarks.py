"""The benchmark suite on tiny sizes: every workload runs and the report is complete (no timing assertions)."""

from __future__ import annotations

import json
import sys

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
