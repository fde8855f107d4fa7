"""Preparing a table for forecasting: missing values, one-hot categories, chronological splits,
scaling fitted on the training rows only, windows, and the naive baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..datasets import Table
from ..datasets.table import MISSING
from ..preprocessing.arrays import make_windows
from .options import counted


def fill_missing(values: np.ndarray, how: str, name: str) -> tuple[np.ndarray, str]:
    """Interpolate inner gaps linearly in time ("interpolate"), or leave NaNs for dropping ("drop").

    Returns the column and a sentence saying what was done, for the report.
    """
    missing = np.isnan(values)
    if not missing.any():
        return values, ""
    count = int(missing.sum())
    if how == "drop":
        return values, f"{name}: {count} missing values; windows touching them are dropped"
    steps = np.arange(len(values))
    valid = ~missing
    first, last = steps[valid][0], steps[valid][-1]
    filled = values.copy()
    inner = missing & (steps > first) & (steps < last)
    filled[inner] = np.interp(steps[inner], steps[valid], values[valid])
    edge = count - int(inner.sum())
    note = f"{name}: {int(inner.sum())} missing values interpolated linearly"
    if edge:
        note += f"; {edge} at the start or end cannot be interpolated, so windows touching them are dropped"
    return filled, note


def check_numbers(values: np.ndarray, name: str, source: str) -> None:
    """A ValueError for a column with infinite values, or with no values at all."""
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        raise ValueError(
            f"Column {name!r} in {source} holds {counted(infinite.size, 'infinite value')}, the first in data row "
            f"{infinite[0] + 1} ({values[infinite[0]]}); fix those rows or mark them missing (empty or NA)."
        )
    if np.isnan(values).all():
        raise ValueError(f"Column {name!r} in {source} has no values: all {len(values)} rows are missing.")


# Dates and times as written outside ISO 8601 (which NumPy's datetime64 reads: 1949-01, 2010-01-02 13:00).
TIME_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%Y/%m/%d %H:%M")
DATE_SHARE = 0.9  # a text column is a date column when this share of its values reads as dates
DATE_PROBE = 2000  # values looked at, spread over the column


def is_time(value: str) -> bool:
    """Whether ``value`` reads as a date or a time: ISO 8601, or one of ``TIME_FORMATS``."""
    text = value.strip()
    if not any(mark in text for mark in "-/.:"):  # a bare number ("3", "2010") is a count or a code here
        return False
    try:
        np.datetime64(text)
        return True
    except ValueError:
        pass
    for form in TIME_FORMATS:
        try:
            datetime.strptime(text, form)
            return True
        except ValueError:
            continue
    return False


def date_columns(table: Table) -> list[str]:
    """The text columns whose values (at least ``DATE_SHARE`` of those present) read as dates or times."""
    found = []
    for name in table.names:
        column = table[name]
        if column.dtype.kind in "fiu":
            continue
        probed = column[np.linspace(0, len(column) - 1, min(len(column), DATE_PROBE)).astype(int)]
        present = [str(v) for v in probed if str(v).strip().lower() not in MISSING]
        if present and sum(map(is_time, present)) >= DATE_SHARE * len(present):
            found.append(name)
    return found


def future_labels(column: np.ndarray, steps: int) -> list[str]:
    """Labels of the ``steps`` rows after a time column's last: its dates carried on at the column's
    last step when that step is regular (ISO dates), else ``+1``, ``+2``, ..."""
    try:
        times = np.array([str(v).strip() for v in column[-3:]], dtype="datetime64")
    except ValueError:
        times = np.array([], dtype="datetime64")
    if len(times) == 3 and times[2] - times[1] == times[1] - times[0] and times[2] > times[1]:
        step = times[2] - times[1]
        return [str(times[2] + k * step).replace("T", " ") for k in range(1, steps + 1)]
    return [f"+{k}" for k in range(1, steps + 1)]


TRANSFORMS = ("none", "log", "diff", "log-diff")


@dataclass
class Prepared:
    x: np.ndarray  # (N, window, F) scaled inputs
    y: np.ndarray  # (N, horizon) scaled model targets
    y_raw: np.ndarray  # (N, horizon) targets in original units
    split: np.ndarray  # (N,) "train" | "val" | "test": where all of the window's targets lie
    origin: np.ndarray  # (N,) row index of the last input step
    base: np.ndarray  # (N,) transformed level at the origin, added back in "diff" modes
    feature_names: list[str]
    target: np.ndarray  # (T,) the target column as the model sees it (gaps filled), for the baselines
    transform: str
    y_mean: float
    y_std: float
    notes: list[str]
    input_mean: float = 0.0  # the scaling of the target's input column (fitted on the training rows)
    input_std: float = 1.0

    def to_original_units(self, y_scaled: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Model outputs (n, horizon) of the windows selected by ``rows`` -> values of the series."""
        levels = y_scaled * self.y_std + self.y_mean
        if self.transform.endswith("diff"):
            levels = levels + self.base[rows][:, None]
        return np.exp(levels) if self.transform.startswith("log") else levels


MAX_CATEGORIES = 1000  # one-hot columns per text column
MAX_WINDOW_VALUES = 50_000_000  # windows x window x inputs: the input tensor, before float32


def one_hot(column: np.ndarray, train_rows: slice, name: str) -> tuple[np.ndarray, list[str]]:
    """Categories seen in the training rows become 0/1 columns; others map to all zeros."""
    categories = sorted(set(column[train_rows].tolist()) - {""})
    if len(categories) > MAX_CATEGORIES:
        raise ValueError(
            f"Column {name!r} has {len(categories):,} different values in the training rows; one-hot encoding "
            f"takes at most {MAX_CATEGORIES:,}. Is it a numeric column with text in some rows, or an identifier? "
            "Leave it out of --features."
        )
    return np.stack([(column == c).astype(float) for c in categories], axis=1), [f"{name}={c}" for c in categories]


def split_rows(n_rows: int, val_size: int, test_size: int) -> np.ndarray:
    labels = np.array(["train"] * n_rows, dtype=object)
    labels[n_rows - test_size - val_size : n_rows - test_size] = "val"
    if test_size:
        labels[n_rows - test_size :] = "test"
    return labels


def prepare(
    table: Table,
    target: str,
    features: list[str],
    window: int,
    horizon: int,
    val_size: int,
    test_size: int,
    missing: str,
    transform: str = "none",
) -> Prepared:
    """Windows over the table, split in time, scaled with statistics of the training part only.

    ``transform`` changes what the network sees of the target: "log" its logarithm, "diff" its
    step-to-step changes (and it predicts the change from the last observed value), "log-diff"
    both; trending series then stay inside the range seen in training.
    """
    n = len(table)
    if window + horizon > n:
        raise ValueError(
            f"A window of {counted(window, 'step')} plus a horizon of {horizon} needs at least "
            f"{counted(window + horizon, 'row')}; {table.source} has {n}."
        )
    if test_size + val_size >= n - window - horizon:
        raise ValueError(
            f"--test-size {test_size} and --val-size {val_size} leave too few training rows "
            f"out of {n} for a window of {window} and a horizon of {horizon}."
        )
    rows = split_rows(n, val_size, test_size)
    train_rows = slice(0, n - test_size - val_size)
    target_raw = table.numeric(target)

    columns, names, notes = [], [], []
    for name in [target] + [f for f in features if f != target]:
        values = table[name]
        if values.dtype.kind in "fiu":
            check_numbers(values.astype(float), name, table.source)
            filled, note = fill_missing(values.astype(float), missing, name)
            columns.append(filled[:, None])
            names.append(name)
            if note:
                notes.append(note)
        else:
            encoded, encoded_names = one_hot(values.astype(str), train_rows, name)
            columns.append(encoded)
            names += encoded_names
            notes.append(f"{name}: one-hot encoded into {counted(len(encoded_names), 'column')}")
    matrix = np.concatenate(columns, axis=1)  # (T, F); column 0 is the target
    if (n - window + 1) * window * matrix.shape[1] > MAX_WINDOW_VALUES:
        windows = counted(n - window + 1, "window", spec=",")
        raise ValueError(
            f"{windows} of {counted(window, 'step')} x {matrix.shape[1]} inputs are "
            f"{(n - window + 1) * window * matrix.shape[1]:,} values, more than the {MAX_WINDOW_VALUES:,} "
            "this experiment holds in memory; shorten --window or use fewer --features."
        )
    target_filled = matrix[:, 0].copy()

    levels = target_filled
    if transform.startswith("log"):
        if np.nanmin(levels) <= 0:
            raise ValueError(f"--transform {transform} needs a positive target; {target} has values <= 0.")
        levels = np.log(levels)
    matrix[:, 0] = np.diff(levels, prepend=np.nan) if transform.endswith("diff") else levels

    # Statistics from the training rows only: nothing from validation or test leaks in.
    mean = np.nanmean(matrix[train_rows], axis=0)
    std = np.nanstd(matrix[train_rows], axis=0)
    std[std == 0] = 1.0
    x = make_windows((matrix - mean) / std, window, horizon)[0]  # (N, window, F)
    _, y_level = make_windows(levels, window, horizon)
    _, y_raw = make_windows(target_raw, window, horizon)
    y_level, y_raw = y_level.reshape(len(x), horizon), y_raw.reshape(len(x), horizon)
    origin = np.arange(len(x)) + window - 1
    base = levels[origin]
    y_model = y_level - base[:, None] if transform.endswith("diff") else y_level

    target_rows = origin[:, None] + np.arange(1, horizon + 1)  # (N, horizon)
    split = np.array([rows[r[0]] if (rows[r] == rows[r[0]]).all() else "" for r in target_rows], dtype=object)
    inputs_ok = np.isfinite(x).all(axis=(1, 2)) & np.isfinite(y_model).all(axis=1)
    target_known = np.isfinite(y_raw).all(axis=1)
    keep = (split != "") & inputs_ok & target_known
    intrinsic = (np.arange(len(x)) == 0) & transform.endswith("diff")  # differencing has no first change
    unknown = int(((split != "") & ~target_known).sum())
    gaps = int(((split != "") & target_known & ~inputs_ok & ~intrinsic).sum())
    if unknown:
        notes.append(
            f"{counted(unknown, 'window')} left out because {'its' if unknown == 1 else 'their'} target value is "
            "missing (interpolated values serve as inputs only)"
        )
    if gaps:
        notes.append(f"{counted(gaps, 'window')} with missing input values dropped")
    train = keep & (split == "train")
    y_mean = float(y_model[train].mean()) if train.any() else 0.0
    y_std = float(y_model[train].std()) if train.any() and y_model[train].std() > 0 else 1.0
    return Prepared(
        x[keep].astype("float32"),
        ((y_model[keep] - y_mean) / y_std).astype("float32"),
        y_raw[keep],
        split[keep],
        origin[keep],
        base[keep],
        names,
        target_filled,
        transform,
        y_mean,
        y_std,
        notes,
        float(mean[0]),
        float(std[0]),
    )


def persistence(values: np.ndarray, origin: np.ndarray, horizon: int) -> np.ndarray:
    """The naive forecast: the last observed value, for every step ahead. (N, horizon)."""
    return np.repeat(values[origin][:, None], horizon, axis=1)


def seasonal_naive(values: np.ndarray, origin: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last observed season repeated: step h ahead takes the value at origin - season + 1 + (h-1) % season."""
    steps = np.arange(horizon)
    return values[origin[:, None] - season + 1 + steps % season]


def iterate_future(predict: Callable[[np.ndarray], np.ndarray], data: Prepared, window: int, steps: int) -> np.ndarray:
    """``steps`` values past the end of the series: the model forecasts from the last ``window``
    values, and its forecast is fed back as the newest inputs for the next one.

    ``predict`` maps scaled windows (1, window, 1) to scaled outputs (1, horizon): the inputs must
    be the target's own past values only, since nothing else is known past the data's end."""
    log, diff = data.transform.startswith("log"), data.transform.endswith("diff")
    levels = np.log(data.target) if log else data.target.astype(float)
    if not np.isfinite(levels[-(window + 1) :]).all():
        raise ValueError(
            f"--future needs the last {counted(window + 1, 'value')} of the target known; the series ends with "
            "missing values."
        )
    history = list(levels)
    while len(history) < len(levels) + steps:
        recent = np.array(history[-(window + 1) :])  # one more than the window: its first change
        inputs = np.diff(recent) if diff else recent[1:]
        x = ((inputs - data.input_mean) / data.input_std).astype("float32")[None, :, None]  # (1, window, 1)
        changes = np.asarray(predict(x))[0] * data.y_std + data.y_mean  # (horizon,)
        history += list(changes + history[-1] if diff else changes)
    future = np.array(history[len(levels) : len(levels) + steps])
    return np.exp(future) if log else future
