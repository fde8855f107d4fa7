"""A minimal column table and a CSV reader for it (the ``csv`` module, no pandas)."""

from __future__ import annotations

import array
import csv
import gzip
import io
import itertools
import math
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.files import regular_file

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


CHUNK_ROWS = 16_384  # rows parsed at a time: a few MB of Python strings, whatever the file's size


def _add_numbers(column: array.array[float], values: Sequence[str]) -> bool:
    """Append ``values`` to ``column`` as float64 (NaN for missing values) if every one is a number."""
    start = len(column)
    try:
        column.extend(map(float, values))  # fast path: float() skips spaces
        return True
    except ValueError:
        del column[start:]  # what it appended before the value that is not a number
    try:
        numbers = [math.nan if v.strip().lower() in MISSING else float(v) for v in values]
    except ValueError:
        return False
    column.extend(numbers)
    return True


def _text(values: Sequence[str]) -> np.ndarray:
    return np.array([v.strip() for v in values], dtype=str)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _text_lines(path: Path, handle: Iterable[str]) -> Iterator[str]:
    """The file's lines, refusing a NUL byte where it is: the csv module keeps it in a field, and a
    NumPy text array then drops it from the end of a value, so it would be blamed on the wrong row."""
    for number, line in enumerate(handle, start=1):
        if "\x00" in line:
            raise ValueError(
                f"{path}, line {number}: a NUL byte (\\x00), which CSV text cannot hold; expected UTF-8 text. "
                "Save the file as UTF-8 (not UTF-16), or remove the NUL bytes (tr -d '\\000')."
            )
        yield line


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank row; quotes are removed by the csv module."""
    with _open_text(path) as handle:
        reader = csv.reader(_text_lines(path, handle), skipinitialspace=True)
        try:
            for row in reader:
                if len(row) > 1 or (row and row[0].strip()):  # skip blank lines
                    yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError, EOFError, OSError, zlib.error) as exc:  # OSError: BadGzipFile
            raise ValueError(
                f"{path}: cannot read as CSV near line {reader.line_num} ({exc}). "
                "Expected a UTF-8 .csv or .csv.gz file."
            ) from exc


def _chunks(path: Path) -> Iterator[list[list[str]]]:
    """The header row, then the data rows in chunks of ``CHUNK_ROWS``, each row checked for its length."""
    records = _records(path)
    first = next(records, None)
    if first is None:
        raise ValueError(f"{path} is empty: expected a header row followed by data rows.")
    header = first[1]
    yield [header]
    chunk: list[list[str]] = []
    for line, fields in records:
        if len(fields) != len(header):
            raise ValueError(
                f"{path}, line {line}: expected {len(header)} fields (one per header column), "
                f"got {len(fields)}. Fix the row's commas or quoting."
            )
        chunk.append(fields)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_csv(path: str | Path) -> Table:
    """Read a .csv or .csv.gz file with a header row into a :class:`Table`.

    Missing values are "", "NA", "NaN", "nan" and "null" (any case); surrounding quotes are stripped.
    The file is read in chunks and each column kept as one NumPy array (float64, or text when any
    value is not a number), so memory follows the table's size, not the number of Python strings.
    """
    path = Path(path).expanduser()
    try:
        regular_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"No CSV file at {path}. Check the path (expected a .csv or .csv.gz file).") from None
    chunks = _chunks(path)
    header = [name.strip() for name in next(chunks)[0]]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate column names {duplicates} in the header; each column needs a unique name.")
    numbers = [array.array("d") for _ in header]  # grows in place: no copy when the table is made
    texts: list[list[np.ndarray] | None] = [None] * len(header)  # chunks of a column that holds text
    reread: set[int] = set()  # columns that turned out to be text after numeric chunks
    for chunk in chunks:
        for j, values in enumerate(zip(*chunk, strict=True)):
            parts = texts[j]
            if parts is None:
                if _add_numbers(numbers[j], values):
                    continue
                if numbers[j]:
                    reread.add(j)
                parts = texts[j] = []
            parts.append(_text(values))
    if reread:  # their first chunks were parsed as numbers: read those columns again as text
        again: dict[int, list[np.ndarray]] = {j: [] for j in reread}
        for chunk in itertools.islice(_chunks(path), 1, None):
            for j in reread:
                again[j].append(_text([row[j] for row in chunk]))
        for j, parts in again.items():
            texts[j] = parts
    columns = {}
    for j, name in enumerate(header):
        parts = texts[j]
        if parts is None:  # the array shares the buffer numbers[j] grew in
            columns[name] = np.frombuffer(numbers[j], dtype=np.float64) if numbers[j] else np.array([])
        else:
            columns[name] = np.concatenate(parts)
            texts[j] = None  # one column's chunks and its array at a time
    return Table(columns, source=str(path))
