"""Real time series for forecasting: airline passengers (Box & Jenkins) and Beijing PM2.5 (UCI).

Each loader takes ``path=``, else looks in the data directory (:func:`~rnnlab.datasets.data_dir`),
else downloads the canonical file (``download=True``), and checks the parsed content against a
digest stored here (:func:`~rnnlab.datasets.content_digest` of the columns listed next to it).
"""

from __future__ import annotations

import os
from pathlib import Path

from .files import RemoteFile, content_digest, load_verified
from .table import Table, read_csv

__all__ = ["AIRLINE_PASSENGERS", "BEIJING_PM25", "load_airline_passengers", "load_beijing_pm25"]

AIRLINE_PASSENGERS = RemoteFile(
    title="airline passengers",
    filenames=("airline_passengers.csv", "airline-passengers.csv"),
    url="https://raw.githubusercontent.com/jbrownlee/Datasets/master/airline-passengers.csv",
    filename="airline_passengers.csv",
)
#: content_digest([month, passengers]) of the 144 monthly totals, 1949-01 .. 1960-12.
AIRLINE_PASSENGERS_DIGEST = "f48f8195a7df11348ab4c37f7753c53297e09fa24e85b3bbca6753e14c255fdb"

BEIJING_PM25 = RemoteFile(
    title="Beijing PM2.5",
    filenames=("beijing_pm25.csv.gz", "beijing_pm25.csv", "PRSA_data_2010.1.1-2014.12.31.csv"),
    url="https://archive.ics.uci.edu/ml/machine-learning-databases/00381/PRSA_data_2010.1.1-2014.12.31.csv",
    filename="beijing_pm25.csv",
)
BEIJING_PM25_COLUMNS = (
    "No",
    "year",
    "month",
    "day",
    "hour",
    "pm2.5",
    "DEWP",
    "TEMP",
    "PRES",
    "cbwd",
    "Iws",
    "Is",
    "Ir",
)
#: content_digest of all 13 columns above, in that order (43,824 hourly rows, 2010-01-01 .. 2014-12-31).
BEIJING_PM25_DIGEST = "0d42e649a5c5ba30ff55162a7f5578b5136c01a80f53ea6fa5d8ef2181e00f2a"


def _parse_airline(file: Path) -> tuple[Table, str]:
    raw = read_csv(file)
    if len(raw.names) != 2:
        raise ValueError(
            f"{file}: expected 2 columns (month, passengers), found {len(raw.names)}: "
            f"{', '.join(raw.names)}. Use the file from {AIRLINE_PASSENGERS.url}."
        )
    month, passengers = raw[raw.names[0]].astype(str), raw.numeric(raw.names[1])
    table = Table({"month": month, "passengers": passengers}, source=raw.source)
    return table, content_digest([month, passengers])


def _parse_beijing(file: Path) -> tuple[Table, str]:
    table = read_csv(file)
    if tuple(table.names) != BEIJING_PM25_COLUMNS:
        raise ValueError(
            f"{file}: expected the columns {', '.join(BEIJING_PM25_COLUMNS)}, found "
            f"{', '.join(table.names)}. Use the file from {BEIJING_PM25.url}."
        )
    return table, content_digest([table[name] for name in BEIJING_PM25_COLUMNS])


def load_airline_passengers(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Table:
    """Monthly international airline passengers (thousands), 1949-01 to 1960-12: 144 rows.

    Columns ``month`` (str, "1949-01", ...) and ``passengers`` (float64). Any 2-column CSV with this
    content is accepted (first column the month, second the count), whatever its header.
    Local names: ``airline_passengers.csv``, ``airline-passengers.csv``.
    """
    return load_verified(AIRLINE_PASSENGERS, _parse_airline, AIRLINE_PASSENGERS_DIGEST, path, cache_dir, download)


def load_beijing_pm25(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Table:
    """Hourly Beijing PM2.5 and weather, 2010-2014 (Liang et al. 2015, UCI): 43,824 rows.

    The file's columns: No, year, month, day, hour, pm2.5 (NaN where missing), DEWP, TEMP, PRES,
    cbwd (combined wind direction, str: NE, NW, SE, cv), Iws, Is, Ir.
    Local names: ``beijing_pm25.csv.gz``, ``beijing_pm25.csv``, ``PRSA_data_2010.1.1-2014.12.31.csv``.
    """
    return load_verified(BEIJING_PM25, _parse_beijing, BEIJING_PM25_DIGEST, path, cache_dir, download)
