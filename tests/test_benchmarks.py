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
