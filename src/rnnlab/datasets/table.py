"""A minimal column table and a CSV reader for it (the ``csv`` module, no pandas)."""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..saving import regular_file

__all__ = ["MISSING", "Table", "read_csv"]

#: Field values read as missing (compared case-insensitively, after stripping spaces).
MISSING = frozenset({"", "na", "nan", "null"})


@dataclass
class Table:
    """Columns of equal length in file order: numeric ones float64 (NaN = missing), others NumPy str arrays.

    >>> table = Table({"t": np.array([1.0, np.nan]), "tag": np.array(["a", "b"])}, source="demo.csv")
    >>> len(table), table.names, table.numeric("t").tolist()
    (2, ['t', 'tag'], [1.0, nan])
    """

    columns: dict[str, np.ndarray]
    source: str = field(default="<table>")

    @property
    def names(self) -> list[str]:
        """Column names in file order."""
        return list(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise ValueError(
                f"Unknown column {name!r} in {Path(self.source).name}. Columns: {', '.join(self.columns)}"
            ) from None

    def numeric(self, name: str) -> np.ndarray:
        """The column as float64 (NaN where missing); a ValueError if it holds text."""
        column = self[name]
        if column.dtype.kind == "f":
            return column
        row, example = next(((i, v) for i, v in enumerate(column) if not _is_number(v)), (0, column[0]))
        raise ValueError(
            f"Column {name!r} in {Path(self.source).name} is not numeric: row {row + 1} holds "
            f"{str(example)!r}. Use table[{name!r}] for its text, or fix the file."
        )


def _is_number(text: str) -> bool:
    if text.strip().lower() in MISSING:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column(values: list[str]) -> np.ndarray:
    """float64 with NaN for missing values if every other value parses as a number, else str."""
    try:
        return np.array(list(map(float, values)), dtype=np.float64)  # fast path: float() skips spaces
    except ValueError:
        pass
    text = [value.strip() for value in values]
    try:
        return np.array([math.nan if v.lower() in MISSING else float(v) for v in text], dtype=np.float64)
    except ValueError:
        return np.array(text, dtype=str)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank row; quotes are removed by the csv module."""
    with _open_text(path) as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            for row in reader:
                if len(row) > 1 or (row and row[0].strip()):  # skip blank lines
                    yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
            raise ValueError(
                f"{path}: cannot read as CSV near line {reader.line_num} ({exc}). "
                "Expected a UTF-8 .csv or .csv.gz file."
            ) from exc


def read_csv(path: str | Path) -> Table:
    """Read a .csv or .csv.gz file with a header row into a :class:`Table`.

    Missing values are "", "NA", "NaN", "nan" and "null" (any case); surrounding quotes are stripped.
    """
    path = Path(path).expanduser()
    try:
        regular_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"No CSV file at {path}. Check the path (expected a .csv or .csv.gz file).") from None
    records = _records(path)
    first = next(records, None)
    if first is None:
        raise ValueError(f"{path} is empty: expected a header row followed by data rows.")
    header = [name.strip() for name in first[1]]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate column names {duplicates} in the header; each column needs a unique name.")
    rows = []
    for line, fields in records:
        if len(fields) != len(header):
            raise ValueError(
                f"{path}, line {line}: expected {len(header)} fields (one per header column), "
                f"got {len(fields)}. Fix the row's commas or quoting."
            )
        rows.append(fields)
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in header]
    return Table({name: _column(values) for name, values in zip(header, columns, strict=True)}, source=str(path))
