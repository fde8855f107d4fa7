"""The rnnlab command: each experiment end to end on tiny settings, its files, its errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA_DIR, require_data
from rnnlab import load_model
from rnnlab.cli import main, parser
from rnnlab.datasets import load_airline_passengers, multiplication_problem, read_csv
from rnnlab.tasks.series import date_columns, iterate_future, persistence, prepare, seasonal_naive

CELL_FILES = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_of(metrics):
    return metrics["table"]


def test_help_lists_experiments_and_options():
    text = parser().format_help()
    for name in ("multiplication", "sequence", "forecast"):
        assert name in text
    sub = subprocess.run([sys.executable, "-m", "rnnlab.cli", "forecast", "--help"], capture_output=True, text=True)
    assert sub.returncode == 0
    for flag in (
        "--csv",
        "--target",
        "--features",
        "--window",
        "--horizon",
        "--season",
        "--missing",
        "--seed",
        "--epochs",
        "--batch-size",
        "--device",
        "--out",
        "--quiet",
    ):
        assert flag in sub.stdout
    assert "(default: 12)" in sub.stdout  # every option shows its default


def test_multiplication_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(
        [
            "multiplication",
            "--length",
            "12",
            "--samples",
            "120",
            "--train-samples",
            "100",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "config.json",
        "gradients.csv",
        "gradients.png",
        "history-gru.csv",
        "history-lstm.csv",
        "history-simple_rnn.csv",
        "loss.png",
        "metrics.json",
        "model-gru.safetensors",
        "model-lstm.safetensors",
        "model-simple_rnn.safetensors",
        "predictions.png",
        "report.html",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["table"] in stdout and f"Run directory: {out}" in stdout
    assert [r["cell"] for r in metrics["results"]] == ["SimpleRNN", "LSTM", "GRU"]
    assert [r["params"] for r in metrics["results"]] == [2851 - 30 * 0, 11311, 8671]
    x, y = multiplication_problem(120, 12, rng=0)  # the run's data (seed 0): the last 20 samples test
    for row in metrics["results"]:
        model = load_model(out / f"model-{CELL_FILES[row['cell']]}.safetensors")
        errors = model.predict(x[100:])[:, 0] - y[100:]
        assert row["epochs"] == 2
        assert row["test_mse"] == pytest.approx(float(np.mean(errors**2)), rel=1e-5)
        assert row["correct_percent"] == pytest.approx(100 * float(np.mean(np.abs(errors) <= 0.04)))
        assert f"{row['test_mse']:.5f}" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["seed"] == 0 and config["options"]["length"] == 12
    assert set(config["versions"]) == {"rnnlab", "torch", "numpy", "python"}
    with open(out / "history-lstm.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]
    model = load_model(out / "model-gru.safetensors")
    assert model.count_params() == 8671
    # Gradient flow at initialisation and after training, in metrics.json, the output and the report.
    flows = {(r["model"], r["stage"]) for r in metrics["gradient_flow"]}
    assert flows == {(c, s) for c in ("SimpleRNN", "LSTM", "GRU") for s in ("at initialisation", "after training")}
    assert metrics["gradient_flow_table"] in stdout
    report = (out / "report.html").read_text()
    assert report.count('src="data:image/png;base64,') == 3  # loss, predictions, gradient flow
    assert all(f"{r['test_mse']:.5f}" in report for r in metrics["results"])
    # It opens with sentences from these numbers: the plateau of each cell, the best cell's share correct.
    findings = report.split('<p class="findings">')[1].split("</p>")[0]
    best = max(r["correct_percent"] for r in metrics["results"])
    assert f"{best:.1f} % of the test predictions within ±0.04" in findings
    assert all(
        f"{cell} stayed on it for 2 epochs" in findings or f"{cell} left it in epoch" in findings for cell in CELL_FILES
    )


def test_multiplication_adding_variant_and_subset(tmp_path, capsys):
    code, stdout, _ = run_cli(
        [
            "multiplication",
            "--task",
            "adding",
            "--cells",
            "lstm",
            "--length",
            "8",
            "--samples",
            "60",
            "--train-samples",
            "50",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
    )
    assert code == 0 and "The adding problem" in stdout
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["task"] == "adding"


def test_sequence_toy(tmp_path, capsys):
    code, stdout, _ = run_cli(["sequence", "--epochs", "3", "--quiet", "--out", str(tmp_path / "s")], capsys)
    assert code == 0
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["table"] in stdout and metrics["epochs"] == 3
    assert metrics["beyond_training_range"] == 10.0
    assert "lies 10 outside the training inputs (1..60)" in stdout
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "config.json",
        "history.csv",
        "loss.png",
        "metrics.json",
        "model.safetensors",
        "report.html",
    ]


def test_forecast_airline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("airline_passengers.csv")))
    code, stdout, _ = run_cli(
        ["forecast", "--dataset", "airline", "--epochs", "3", "--quiet", "--out", str(tmp_path / "f")], capsys
    )
    assert code == 0
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert metrics["table"] in stdout and metrics["test_windows"] == 24
    rows = {r["model"]: r for r in metrics["results"]}
    # Persistence and seasonal naive, computed independently on the raw series.
    values = load_airline_passengers(cache_dir=DATA_DIR, download=False)["passengers"]
    test = values[120:]
    assert rows["persistence"]["rmse"] == pytest.approx(np.sqrt(np.mean((test - values[119:143]) ** 2)))
    assert rows["seasonal naive (12)"]["mae"] == pytest.approx(np.mean(np.abs(test - values[108:132])))
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "config.json",
        "forecast.png",
        "history.csv",
        "loss.png",
        "metrics.json",
        "model.safetensors",
        "report.html",
    ]


def test_forecast_horizon_24_reproduces_the_published_seasonal_naive(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("airline_passengers.csv")))
    code, stdout, _ = run_cli(
        [
            "forecast",
            "--dataset",
            "airline",
            "--horizon",
            "24",
            "--val-size",
            "0",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "f"),
        ],
        capsys,
    )
    assert code == 0
    rows = {r["model"]: r for r in json.loads((tmp_path / "f" / "metrics.json").read_text())["results"]}
    assert rows["seasonal naive (12)"]["rmse"] == pytest.approx(76.99, abs=0.005)
    assert rows["seasonal naive (12)"]["mae"] == pytest.approx(71.25, abs=0.005)


def test_forecast_pm25_with_categorical_features_and_missing_values(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("beijing_pm25.csv.gz")))
    code, stdout, _ = run_cli(
        [
            "forecast",
            "--dataset",
            "pm25",
            "--features",
            "DEWP",
            "cbwd",
            "--window",
            "6",
            "--test-size",
            "500",
            "--val-size",
            "300",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "p"),
        ],
        capsys,
    )
    assert code == 0
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert "cbwd: one-hot encoded into 4 columns" in metrics["notes"]
    assert any(n.startswith("pm2.5: ") and "interpolated" in n for n in metrics["notes"])
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["resolved"]["input_columns"] == ["pm2.5", "DEWP", "cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv"]


def test_scaling_uses_training_rows_only():
    """Changing test-period values must not change anything the model sees during training."""
    from rnnlab.datasets import Table

    values = np.arange(100, dtype=float)
    changed = values.copy()
    changed[80:] *= 1000.0
    a = prepare(Table({"y": values}, "a"), "y", [], 5, 1, 10, 20, "interpolate")
    b = prepare(Table({"y": changed}, "b"), "y", [], 5, 1, 10, 20, "interpolate")
    assert (a.y_mean, a.y_std) == (b.y_mean, b.y_std)
    train = a.split == "train"
    np.testing.assert_array_equal(a.x[train], b.x[train])
    np.testing.assert_array_equal(a.y[train], b.y[train])
    assert a.y_mean == pytest.approx(np.mean(values[5:70]))  # the training windows' targets


@pytest.mark.parametrize("transform", ["none", "log", "diff", "log-diff"])
def test_transforms_invert_exactly(transform):
    from rnnlab.datasets import Table

    values = 100 + np.arange(60, dtype=float) ** 1.5
    data = prepare(Table({"y": values}, "t"), "y", [], 6, 3, 6, 12, "interpolate", transform)
    everything = np.ones(len(data.y), dtype=bool)
    np.testing.assert_allclose(data.to_original_units(data.y, everything), data.y_raw, rtol=1e-5)


def test_baselines_by_hand():
    values = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    origin = np.array([5])
    np.testing.assert_array_equal(persistence(values, origin, 3), [[6, 6, 6]])
    np.testing.assert_array_equal(seasonal_naive(values, origin, 5, 4), [[3, 4, 5, 6, 3]])


@pytest.mark.parametrize(
    "args,message",
    [
        (["forecast", "--csv", "nope.csv", "--target", "y"], "No CSV file at nope.csv"),
        (["forecast", "--dataset", "airline", "--target", "riders"], "Unknown column 'riders'"),
        (["forecast", "--dataset", "airline", "--window", "200"], "A window of 200 steps plus a horizon of 1 needs"),
        (
            ["forecast", "--dataset", "pm25", "--target", "cbwd"],
            "--target 'cbwd' is not numeric: it holds text (such as 'NW') in beijing_pm25.csv.gz, and forecasting "
            "needs a column of numbers. Numeric columns: No, year, month, day, hour, pm2.5, DEWP, TEMP, PRES, Iws, "
            "Is, Ir.",
        ),
        (["forecast", "--dataset", "airline", "--csv", "x.csv"], "argument --csv: not allowed with argument --dataset"),
        (["multiplication", "--train-samples", "5000"], "--train-samples must be between 1 and"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_no_run_directory(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(DATA_DIR))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(args + ["--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []


def monthly_csv(path, months=60):
    """A monthly series with a date column, a seasonal swing and a trend; and a text column."""
    with open(path, "w") as f:
        f.write("Date,sales,region\n")
        for t in range(months):
            f.write(f"{2000 + t // 12}-{t % 12 + 1:02d},{100 + t + 10 * np.sin(2 * np.pi * t / 12):.3f},north\n")
    return path


def test_forecast_finds_the_date_column_and_forecasts_past_the_end(tmp_path, capsys):
    path = monthly_csv(tmp_path / "sales.csv")
    assert date_columns(read_csv(path)) == ["Date"]
    args = ["forecast", "--csv", str(path), "--target", "sales", "--window", "6", "--units", "4", "--epochs", "1"]
    code, stdout, _ = run_cli([*args, "--future", "4", "--quiet", "--out", str(tmp_path / "f")], capsys)
    assert code == 0
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    future = metrics["future"]
    assert future["times"] == ["2005-01", "2005-02", "2005-03", "2005-04"] and len(future["values"]) == 4
    assert "Forecast past the end of the data (4 steps, LSTM (window 6) fed its own forecasts):" in stdout
    assert f"  2005-01  {future['values'][0]:.4g}" in stdout
    # The first step is the model's forecast from the data's last 6 months, scaled as in training.
    data = prepare(read_csv(path), "sales", [], 6, 1, 6, 12, "interpolate")
    last = (read_csv(path)["sales"][-6:] - data.input_mean) / data.input_std
    model = load_model(tmp_path / "f" / "model.safetensors")
    first = model.predict(last[None, :, None].astype("float32"))[0, 0] * data.y_std + data.y_mean
    assert future["values"][0] == pytest.approx(first, rel=1e-5)
    assert (tmp_path / "f" / "forecast.png").is_file()


@pytest.mark.parametrize("transform", ["none", "diff", "log-diff"])
def test_future_feeds_the_forecasts_back(transform):
    """A model that forecasts the last change again continues a line exactly (a geometric one for log-diff)."""
    from rnnlab.datasets import Table

    t = np.arange(40, dtype=float)
    values = 1.05**t if transform == "log-diff" else 3 * t + 5
    data = prepare(Table({"y": values}, "t"), "y", [], 4, 1, 4, 8, "interpolate", transform)

    def again(x):  # the newest input, carried over to the output's scaling
        newest = x[:, -1, 0] * data.input_std + data.input_mean
        if transform == "none":  # the level itself: repeating it would stay flat; step on by the last change
            newest = newest + (x[:, -1, 0] - x[:, -2, 0]) * data.input_std
        return ((newest - data.y_mean) / data.y_std)[:, None]

    future = iterate_future(again, data, 4, 5)
    expected = 1.05 ** np.arange(40, 45) if transform == "log-diff" else 3 * np.arange(40, 45) + 5
    np.testing.assert_allclose(future, expected, rtol=1e-5)


def test_forecast_refuses_a_date_feature_a_text_target_and_future_with_features(tmp_path, capsys):
    path = monthly_csv(tmp_path / "sales.csv")
    for args, message in [
        (
            ["--target", "sales", "--features", "Date"],
            "Column 'Date' holds dates (such as '2000-01'): it is the time axis, not an input. As a feature each "
            "date would become a one-hot column of its own; leave Date out of --features (it labels the plot's "
            "time axis by itself).",
        ),
        (
            ["--target", "region"],
            "--target 'region' is not numeric: it holds text (such as 'north') in sales.csv, and forecasting needs "
            "a column of numbers. Numeric columns: sales.",
        ),
        (
            ["--target", "Date"],
            "--target 'Date' is not numeric: it holds dates (such as '2000-01') in sales.csv",
        ),
        (
            ["--target", "sales", "--features", "region", "--future", "3"],
            "--future forecasts past the end of the data by feeding the model its own forecasts, which needs its "
            "inputs to be sales's own past values only: --features region would need their future values too. "
            "Leave out --features to use --future.",
        ),
    ]:
        code, _, err = run_cli(["forecast", "--csv", str(path), *args, "--out", str(tmp_path / "run")], capsys)
        assert code == 2 and message in err and "Traceback" not in err
        assert not (tmp_path / "run").exists()
