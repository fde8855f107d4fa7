"""Forecast a real time series with a recurrent network, against the naive baselines.

Sliding windows of ``--window`` steps predict the next ``--horizon`` values of ``--target``
(``--features`` adds input columns; text columns are one-hot encoded). Rows are split in time
order: training, then ``--val-size`` validation rows, then ``--test-size`` test rows; a window
belongs to the part that holds all of its targets. Scaling is fitted on the training rows
only. Missing values are interpolated (``--missing interpolate``) or their windows dropped
(``--missing drop``), and reported, never replaced by zeros. Errors are in original units.

A CSV column of dates (ISO 8601 such as 1949-01 or 2010-01-02 13:00, or day/month/year; nine in ten
of its values) is found by itself and labels the time axis; it is refused as a feature, where every
date would become a one-hot column of its own. ``--future N`` forecasts N steps past the end of the
data, the model fed its own forecasts, which needs its inputs to be the target's past values alone.

Baselines: persistence (the last observed value) and, with ``--season``, seasonal naive (the
last observed season repeated). Published reference, airline passengers with 1949-1958 for
training and 1959-1960 as test: seasonal naive RMSE 76.99, MAE 71.25; that protocol forecasts
all 24 test months from the end of 1958, which is ``--horizon 24``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import EarlyStopping
from ..datasets import Table, load_airline_passengers, load_beijing_pm25, read_csv
from ..datasets.table import MISSING
from ..layers import Dense
from ..models.model import Sequential
from ..viz import plot_history, plot_series
from .experiment import Figure, Results, Run
from .multiplication import CELLS, LABELS
from .options import counted, option, validate
from .series import (
    TRANSFORMS,
    Prepared,
    date_columns,
    future_labels,
    iterate_future,
    persistence,
    prepare,
    seasonal_naive,
)

# dataset -> (loader, target, time label columns, season, test rows, validation rows, transform)
PRESETS = {
    "airline": (load_airline_passengers, "passengers", ("month",), 12, 24, 12, "log-diff"),
    "pm25": (load_beijing_pm25, "pm2.5", ("year", "month", "day", "hour"), 24, 8760, 4380, "none"),
}


@dataclass
class ForecastConfig:
    dataset: str | None = option(
        None,
        "a built-in series (files found via RNNLAB_DATA_DIR or downloaded)",
        choices=sorted(PRESETS),
        one_of="source",
    )
    csv: str | None = option(None, "a CSV file to forecast instead of --dataset", one_of="source")
    target: str | None = option(None, "column to forecast (a dataset's default: passengers, pm2.5)")
    features: list[str] = option([], "extra input columns; text columns are one-hot encoded")
    time_column: str | None = option(
        None, "column that labels the time axis of the plot (by default a column of dates, found by itself)"
    )
    future: int = option(
        0,
        "forecast this many steps past the end of the data, the model fed its own forecasts (needs no --features)",
        minimum=0,
    )
    window: int = option(12, "input steps per window")
    horizon: int = option(1, "values predicted after each window")
    season: int | None = option(None, "season length for the seasonal-naive baseline (datasets: 12, 24)", minimum=1)
    test_size: int | None = option(None, "test rows at the end (datasets: 24 / 8760; CSV: 20%%)", minimum=1)
    val_size: int | None = option(
        None, "validation rows before them (datasets: 12 / 4380; CSV: 10%%; 0: none)", minimum=0
    )
    transform: str | None = option(
        None,
        "what the network models of the target: its values, their log, their "
        "changes (diff), or both (airline: log-diff; otherwise none)",
        choices=list(TRANSFORMS),
    )
    missing: str = option(
        "interpolate", "missing values: interpolate inner gaps, or drop their windows", choices=["interpolate", "drop"]
    )
    cell: str = option("lstm", "recurrent cell", choices=sorted(CELLS))
    units: int = option(32, "recurrent units")
    epochs: int = option(300, "maximum training epochs")
    patience: int = option(30, "early stopping patience on val_loss (restores the best weights)")
    batch_size: int = option(16, "samples per gradient step")
    learning_rate: float = option(1e-3, "Adam learning rate")
    seed: int = option(0, "random seed")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available)")

    def validate(self) -> None:
        if (self.dataset is None) == (self.csv is None):
            raise ValueError("Give exactly one of --dataset (airline, pm25) or --csv FILE.")


def load(config: ForecastConfig) -> tuple[Table, str, list[str], int | None, int, int, str]:
    """The table, target, time-label columns, season, split sizes and transform the options ask for."""
    if config.dataset is not None:
        loader, target, labels, season, test, val, transform = PRESETS[config.dataset]
        time_columns = list(labels)
        table = loader()
    else:
        assert config.csv is not None  # validate(): exactly one of the two
        table = read_csv(config.csv)
        if config.target is None:
            raise ValueError(f"--target is required with --csv; columns in {config.csv}: {', '.join(table.names)}.")
        target, time_columns, season, transform = config.target, [], None, "none"
        test, val = round(0.2 * len(table)), round(0.1 * len(table))
    target = config.target or target
    for name in [target, *config.features] + ([config.time_column] if config.time_column else []):
        table[name]  # raises a clear error for an unknown column
    dates = date_columns(table)
    check_target(table, target, dates)
    check_features(table, config.features, dates)
    if config.future and [f for f in config.features if f != target]:
        raise ValueError(
            "--future forecasts past the end of the data by feeding the model its own forecasts, which needs its "
            f"inputs to be {target}'s own past values only: --features {' '.join(config.features)} would need "
            "their future values too. Leave out --features to use --future."
        )
    time_columns = [config.time_column] if config.time_column else time_columns or dates[:1]
    return (
        table,
        target,
        time_columns,
        config.season if config.season is not None else season,
        config.test_size if config.test_size is not None else test,
        config.val_size if config.val_size is not None else val,
        config.transform or transform,
    )


def check_target(table: Table, target: str, dates: list[str]) -> None:
    """A ValueError naming the target column and what it holds when it is not numbers."""
    column = table[target]
    if column.dtype.kind == "f":
        return
    example = next(str(v) for v in column if str(v).strip().lower() not in MISSING)
    holds = "dates" if target in dates else "text"
    numeric = [n for n in table.names if table[n].dtype.kind == "f"]
    raise ValueError(
        f"--target {target!r} is not numeric: it holds {holds} (such as {example!r}) in {Path(table.source).name}, "
        f"and forecasting needs a column of numbers. Numeric columns: {', '.join(numeric) or 'none'}."
    )


def check_features(table: Table, features: list[str], dates: list[str]) -> None:
    """A ValueError for a date column given as a feature: one-hot encoded, every date would be a column of its own."""
    for name in features:
        if name in dates:
            raise ValueError(
                f"Column {name!r} holds dates (such as {str(table[name][0])!r}): it is the time axis, not an input. "
                f"As a feature each date would become a one-hot column of its own; leave {name} out of --features "
                "(it labels the plot's time axis by itself)."
            )


def run(config: ForecastConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    validate(config)
    table, target, time_columns, season, test_size, val_size, transform = load(config)
    data = prepare(
        table, target, config.features, config.window, config.horizon, val_size, test_size, config.missing, transform
    )
    train, val, test = split(data, config, test_size, season)
    test_origin = data.origin[test]
    resolved = {
        "target": target,
        "season": season,
        "test_size": test_size,
        "val_size": val_size,
        "transform": transform,
        "input_columns": data.feature_names,
        "time_column": ", ".join(time_columns) or "the row number",
    }
    label = f"{LABELS[config.cell]} (window {config.window})"
    with Run("forecast", config, out, quiet, resolved=resolved) as run:
        model = run.model(build_model, config.cell, config.units, data.x.shape[1:], config.horizon)
        model.compile(optimizer="adam", loss="mse", learning_rate=config.learning_rate, device=config.device)
        has_val = bool(val.any())
        stop = EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
        fitted = run.fit(
            model,
            f"{LABELS[config.cell]} forecast",
            data.x[train],
            data.y[train],
            batch_size=config.batch_size,
            epochs=config.epochs,
            callbacks=[stop] if has_val else [],
            validation_data=(data.x[val], data.y[val]) if has_val else None,
        )
        run.keep("Model", model, fitted.history)
        actual = data.y_raw[test]  # (N, horizon)
        forecasts = {
            label: data.to_original_units(model.predict(data.x[test]), test),
            "persistence": persistence(data.target, test_origin, config.horizon),
        }
        if season is not None:
            forecasts[f"seasonal naive ({season})"] = seasonal_naive(data.target, test_origin, config.horizon, season)
        future = beyond(model, data, config, table, time_columns)
        rows = [{"model": name, **errors(f, actual)} for name, f in forecasts.items()]
        results = Results(
            f"Test errors ({counted(int(test.sum()), 'window')}, horizon {config.horizon})", rows, COLUMNS
        )
        times = [" ".join(str(table[c][r]).removesuffix(".0") for c in time_columns) or str(r) for r in test_origin + 1]
        drawn = {"actual": actual[:, 0], **{name: f[:, 0] for name, f in forecasts.items()}}
        if future is not None:  # drawn after the truth: every other line ends where the data ends
            times += future["times"]
            drawn = {name: [*values, *[math.nan] * config.future] for name, values in drawn.items()}
            drawn[f"{label} past the data"] = [
                *[math.nan] * (len(times) - config.future - 1),
                actual[-1, 0],
                *future["values"],
            ]
        run.finish(
            f"Forecasting {target}",
            {
                "target": target,
                "test_windows": int(test.sum()),
                "train_windows": int(train.sum()),
                "val_windows": int(val.sum()),
                **fitted.measures,
                "results": rows,
                "notes": data.notes,
                "table": results.text,
                **({"future": future} if future is not None else {}),
            },
            tables=[results],
            figures=figures(fitted.history, target, times, drawn),
            notes=data.notes,
            findings=explain(rows, label),
        )
        run.say(
            f"\nForecasting {target} ({counted(int(test.sum()), 'test window')}, horizon {config.horizon}):\n",
            results.text,
        )
        run.note(data.notes)
        if future is not None:
            run.say(
                f"\nForecast past the end of the data ({counted(config.future, 'step')}, "
                f"{label} fed its own forecasts):",
                *(f"  {t}  {v:.4g}" for t, v in zip(future["times"], future["values"], strict=True)),
            )
    return {"results": rows, "run_dir": str(run.final)}


def beyond(
    model: Any, data: Prepared, config: ForecastConfig, table: Table, time_columns: list[str]
) -> dict[str, Any] | None:
    """The ``--future`` forecast: its time labels and values, or None when none is asked for."""
    if not config.future:
        return None
    values = iterate_future(model.predict, data, config.window, config.future)
    labels = future_labels(table[time_columns[0]], config.future) if len(time_columns) == 1 else None
    times = labels or [f"+{k}" for k in range(1, config.future + 1)]
    return {"steps": config.future, "times": times, "values": [float(v) for v in values]}


def split(
    data: Prepared, config: ForecastConfig, test_size: int, season: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training, validation and test windows (boolean masks); a ValueError when one the run needs is empty."""
    train, val, test = (data.split == name for name in ("train", "val", "test"))
    if not train.any() or not test.any():
        raise ValueError(
            f"No complete {'training' if not train.any() else 'test'} window: with "
            f"--window {config.window} and --horizon {config.horizon}, enlarge --test-size "
            f"({counted(test_size, 'row')}) or shorten the horizon."
        )
    if season is not None and data.origin[test].min() < season - 1:
        raise ValueError(f"The seasonal-naive baseline needs a full season ({season} rows) before each test window.")
    return train, val, test


def explain(rows: list[dict[str, Any]], network: str) -> list[str]:
    """The network's test RMSE against each naive baseline's, as a percentage, and which forecast is best."""
    errors = {row["model"]: row["rmse"] for row in rows}
    ours = errors[network]
    against = []
    for name, rmse in errors.items():
        if name != network:
            change = 100 * (ours - rmse) / rmse if rmse else math.inf
            against.append(f"{abs(change):.0f} % {'lower' if change < 0 else 'higher'} than {name}'s {rmse:.4g}")
    sentences = [f"{network} forecast the test period with an RMSE of {ours:.4g}: {', '.join(against)}."]
    best = min(errors, key=lambda name: errors[name])
    if best == network:
        sentences.append("It beats every naive baseline.")
    else:
        sentences.append(f"The baseline {best} is better: the network has not learned more than it.")
    return sentences


def figures(history: Any, target: str, times: list[str], series: dict[str, Any]) -> list[Figure]:
    """The loss curves, and the test period: the actual series and each forecast, one step after each
    window (and the ``--future`` forecast after the data's end)."""
    first_steps = {name: list(values) for name, values in series.items()}
    return [
        Figure(
            "loss.png",
            "Training and validation loss (scaled MSE)",
            lambda path: plot_history(history, path, title="forecast: scaled MSE", log_scale=True),
        ),
        Figure(
            "forecast.png",
            "Test period: each forecast drawn over the truth (actual), one step after each window",
            lambda path: plot_series(
                times, first_steps, path, ylabel=target, title=f"test period: {target}, one step after each window"
            ),
        ),
    ]


def build_model(cell: str, units: int, input_shape: tuple[int, ...], horizon: int) -> Sequential:
    return Sequential([CELLS[cell](units, input_shape=input_shape), Dense(horizon)])


def errors(forecast: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Root mean squared and mean absolute error, in the series' units."""
    return {
        "rmse": float(np.sqrt(np.mean((forecast - actual) ** 2))),
        "mae": float(np.mean(np.abs(forecast - actual))),
    }


COLUMNS = [("model", "model", ""), ("rmse", "RMSE", ".2f"), ("mae", "MAE", ".2f")]
