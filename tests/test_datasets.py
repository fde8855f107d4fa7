"""rnnlab.datasets: the marked-sequence generators, the CSV table, and the offline-first loaders."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import logging
import urllib.request

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import DATA_DIR
from rnnlab.datasets import (
    DatasetNotFoundError,
    Table,
    adding_problem,
    content_digest,
    data_dir,
    fetch,
    load_airline_passengers,
    load_beijing_pm25,
    multiplication_problem,
    read_csv,
    timeseries,
)

AIRLINE = DATA_DIR / "airline_passengers.csv"
BEIJING = DATA_DIR / "beijing_pm25.csv.gz"
BEIJING_COLUMNS = ["No", "year", "month", "day", "hour", "pm2.5", "DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is", "Ir"]


# ---------------------------------------------------------------- multiplication / adding
def _marked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (N, 2), sorted, and values (N, 2) of the marked steps, read back from the layout."""
    rows, steps = np.nonzero(x[..., 0] == 1.0)
    positions = steps.reshape(-1, 2)
    return positions, x[rows, steps, 1].reshape(-1, 2)


@pytest.mark.parametrize("problem, combine", [(multiplication_problem, np.multiply), (adding_problem, np.add)])
def test_marked_problem_layout_and_targets(problem, combine):
    x, y = problem(rng=0)
    assert x.shape == (3000, 100, 2) and y.shape == (3000,)
    assert x.dtype == np.float32 and y.dtype == np.float32
    markers, values = x[..., 0], x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert_array_equal(markers.sum(axis=1), 2)  # exactly two markers per sample
    assert values.min() >= 0.0 and values.max() < 1.0
    assert 0.45 < values.mean() < 0.55
    positions, marked = _marked(x)
    assert positions.shape == (3000, 2)
    assert_allclose(y, combine(marked[:, 0], marked[:, 1]), rtol=1e-6)
    assert positions.min() == 0 and positions.max() == 99  # "anywhere": the whole sequence is used
    assert (positions[:, 1] - positions[:, 0] > 50).mean() > 0.15


@pytest.mark.parametrize("problem, combine", [(multiplication_problem, np.multiply), (adding_problem, np.add)])
def test_paper_marker_rule(problem, combine):
    x, y = problem(rng=0, positions="paper")
    positions, marked = _marked(x)
    assert_allclose(y, combine(marked[:, 0], marked[:, 1]), rtol=1e-6)
    # The first marker is among the first min(10, 50) = 10 steps, the second among the first 50.
    assert positions[:, 0].max() < 10 and positions[:, 1].max() < 50
    assert set(positions[:, 0]) == set(range(10))
    assert positions[:, 1].max() == 49 and (positions[:, 1] >= 10).mean() > 0.5  # the second span is used


@pytest.mark.parametrize("length, first_span, second_span", [(2, 1, 2), (3, 1, 2), (7, 3, 3), (30, 10, 15)])
def test_marker_rule_for_short_sequences(length, first_span, second_span):
    x, _ = multiplication_problem(500, length, rng=1, positions="paper")
    positions, _ = _marked(x)
    assert positions[:, 0].max() < first_span  # the earlier marker is at most the first-drawn one
    assert positions[:, 1].max() == second_span - 1


def test_generators_reproducible_and_rng_kinds():
    x1, y1 = multiplication_problem(20, 15, rng=7)
    x2, y2 = multiplication_problem(20, 15, rng=np.random.default_rng(7))
    assert_array_equal(x1, x2)
    assert_array_equal(y1, y2)
    x3, _ = multiplication_problem(20, 15, rng=8)
    assert not np.array_equal(x1, x3)
    x4, _ = adding_problem(20, 15, rng=None)
    assert x4.shape == (20, 15, 2)


def test_unknown_positions_rule():
    with pytest.raises(ValueError, match=r"`positions` must be one of \('anywhere', 'paper'\), received 'late'"):
        multiplication_problem(4, 10, rng=0, positions="late")


def test_generator_errors():
    with pytest.raises(
        ValueError,
        match=r"`length` must be an int >= 2 \(two marked steps need at least 2\), "
        r"received 1\.",
    ):
        multiplication_problem(10, 1)
    with pytest.raises(ValueError, match=r"`n_samples` must be an int >= 1, received 0\."):
        adding_problem(0, 10)
    with pytest.raises(
        TypeError,
        match=r"`rng` must be an int seed, a numpy.random.Generator or None, received "
        r"str\. Pass e\.g\. rng=0",
    ):
        adding_problem(10, 10, rng="seed")


# ---------------------------------------------------------------- loaders on the shared data
def test_airline_passengers():
    table = load_airline_passengers(cache_dir=DATA_DIR, download=False)
    assert len(table) == 144 and table.names == ["month", "passengers"]
    assert table["passengers"].dtype == np.float64 and table["month"].dtype.kind == "U"
    assert (table["month"][0], table["passengers"][0]) == ("1949-01", 112.0)
    assert (table["month"][-1], table["passengers"][-1]) == ("1960-12", 432.0)
    assert table["passengers"].sum() == 40363.0


def test_airline_digest_recomputed_independently():
    with open(AIRLINE, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    text = "\n".join(row[0] for row in rows).encode()
    counts = np.array([float(row[1]) for row in rows], dtype="<f8")
    digest = hashlib.sha256(b"s144\n" + text + b"\n" + b"f144\n" + counts.tobytes()).hexdigest()
    assert digest == timeseries.AIRLINE_PASSENGERS_DIGEST


@pytest.fixture(scope="module")
def beijing() -> Table:
    return load_beijing_pm25(cache_dir=DATA_DIR, download=False)


def test_beijing_pm25(beijing):
    assert len(beijing) == 43824 and beijing.names == BEIJING_COLUMNS
    with gzip.open(BEIJING, "rt", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    missing = sum(row[5].strip().upper() in ("", "NA") for row in rows)
    assert missing == 2067  # as counted from the file today
    assert int(np.isnan(beijing["pm2.5"]).sum()) == missing
    assert beijing["cbwd"].dtype.kind == "U" and set(beijing["cbwd"]) == {"NE", "NW", "SE", "cv"}
    first = [beijing[name][0] for name in BEIJING_COLUMNS]
    assert first[:5] == [1, 2010, 1, 1, 0] and np.isnan(first[5]) and first[9] == "NW"
    assert [beijing[name][-1] for name in BEIJING_COLUMNS] == [
        43824,
        2014,
        12,
        31,
        23,
        12,
        -21,
        -3,
        1034,
        "NW",
        249.85,
        0,
        0,
    ]
    with pytest.raises(
        ValueError,
        match=r"Unknown column 'pm25' in beijing_pm25\.csv\.gz\. Columns: No, year, "
        r"month, day, hour, pm2\.5, DEWP",
    ):
        beijing["pm25"]
    with pytest.raises(
        ValueError,
        match=r"Column 'cbwd' in beijing_pm25\.csv\.gz is not numeric: row 1 holds "
        r"'NW'\. Use table\['cbwd'\] for its text",
    ):
        beijing.numeric("cbwd")
    assert beijing.numeric("TEMP") is beijing["TEMP"]


def test_beijing_in_uci_format(tmp_path, beijing):
    """The canonical UCI file spells missing values NA and has LF line endings: same content digest."""
    with gzip.open(BEIJING, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        row[5] = row[5] or "NA"
    uci = tmp_path / "PRSA_data_2010.1.1-2014.12.31.csv"
    uci.write_text("\n".join(",".join(row) for row in rows) + "\n")
    table = load_beijing_pm25(cache_dir=tmp_path, download=False)
    assert table.source == str(uci)
    assert_array_equal(table["pm2.5"], beijing["pm2.5"])


def test_explicit_path_and_canonical_airline_format(tmp_path):
    table = load_airline_passengers(path=AIRLINE, cache_dir=tmp_path, download=False)
    assert len(table) == 144
    # jbrownlee's copy: header "Month","Passengers", unquoted, LF line endings
    lines = AIRLINE.read_text().replace('"', "").splitlines()
    canonical = tmp_path / "airline-passengers.csv"
    canonical.write_text("\n".join(["Month,Passengers", *lines[1:]]) + "\n")
    assert_array_equal(load_airline_passengers(cache_dir=tmp_path, download=False)["passengers"], table["passengers"])
    with pytest.raises(FileNotFoundError, match=r"No airline passengers file at .*nowhere\.csv \(passed as path=\)"):
        load_airline_passengers(path=tmp_path / "nowhere.csv")


def test_environment_variable_and_no_network_when_local(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was used although a local file exists")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(DATA_DIR))
    assert len(load_airline_passengers()) == 144


def test_changed_value_fails_content_check(tmp_path):
    changed = tmp_path / "airline_passengers.csv"
    changed.write_text(AIRLINE.read_text().replace('"1949-01",112', '"1949-01",113'))
    with pytest.raises(
        ValueError,
        match=r"The file at .*airline_passengers\.csv is not the expected airline "
        r"passengers data: its content digest is [0-9a-f]{16}\.\.\., expected "
        r"f48f8195a7df1134\.\.\. \. Replace it with the file from https://",
    ):
        load_airline_passengers(cache_dir=tmp_path, download=False)
    assert changed.exists()  # a local file is the user's: reported, never deleted
    three = tmp_path / "three.csv"
    three.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"three\.csv: expected 2 columns \(month, passengers\), found 3: a, b, c"):
        load_airline_passengers(path=three)


# ---------------------------------------------------------------- offline behaviour and downloads
def test_download_false_with_empty_cache(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_airline_passengers(cache_dir=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert (
        "Dataset 'airline passengers' not found: no airline_passengers.csv or airline-passengers.csv in "
        f"{tmp_path}, and download=False." in message
    )
    assert f"put it in {tmp_path} as airline_passengers.csv" in message
    assert timeseries.AIRLINE_PASSENGERS.url in message and "path=" in message
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_leaves_nothing_behind(tmp_path, monkeypatch):
    dead = "http://127.0.0.1:9/x.csv"
    monkeypatch.setattr(timeseries, "BEIJING_PM25", dataclasses.replace(timeseries.BEIJING_PM25, url=dead))
    cache = tmp_path / "cache"
    with pytest.raises(DatasetNotFoundError, match=r"downloading it failed") as info:
        load_beijing_pm25(cache_dir=cache)
    message = str(info.value)
    assert f"no beijing_pm25.csv.gz or beijing_pm25.csv or PRSA_data_2010.1.1-2014.12.31.csv in {cache}" in message
    assert f"download {dead} and put it in {cache} as beijing_pm25.csv" in message
    assert list(cache.iterdir()) == []


def test_download_renames_and_bad_download_is_deleted(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    source = server / "airline-passengers.csv"
    source.write_bytes(AIRLINE.read_bytes())
    remote = dataclasses.replace(timeseries.AIRLINE_PASSENGERS, url=source.as_uri())
    monkeypatch.setattr(timeseries, "AIRLINE_PASSENGERS", remote)
    cache = tmp_path / "cache"
    notices = []
    handler = logging.Handler()
    handler.emit = lambda record: notices.append(record.getMessage())
    logging.getLogger("rnnlab.datasets").addHandler(handler)
    try:
        assert len(load_airline_passengers(cache_dir=cache)) == 144
    finally:
        logging.getLogger("rnnlab.datasets").removeHandler(handler)
    assert notices == [
        f"Downloading airline passengers from {source.as_uri()} to {cache / 'airline_passengers.csv'}"
    ]  # said before it starts
    assert [p.name for p in cache.iterdir()] == ["airline_passengers.csv"]
    assert fetch(remote, cache_dir=cache, download=False) == cache / "airline_passengers.csv"

    (cache / "airline_passengers.csv").unlink()
    source.write_text(AIRLINE.read_text().replace("432", "433"))
    with pytest.raises(
        ValueError,
        match=r"is not the expected airline passengers data.*It had just been "
        r"downloaded from file://.*and was deleted",
    ):
        load_airline_passengers(cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNLAB_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "rnnlab"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "rnnlab"
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert not (tmp_path / "env").exists()  # looking never creates anything


def test_content_digest_normalises_nan_and_signed_zero():
    nan_payload = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)
    assert content_digest([np.array([0.0, np.nan])]) == content_digest([np.concatenate([[-0.0], nan_payload])])
    assert content_digest([np.array([1, 2])]) == content_digest([np.array([1.0, 2.0])])
    assert content_digest([np.array(["1", "2"])]) != content_digest([np.array([1.0, 2.0])])


# ---------------------------------------------------------------- read_csv
def test_read_csv_values_missing_and_quotes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('\ufeff"id", "value" ,tag,empty\n1,NA,x,\n2, null ,"y",NaN\n\n3,nan,"z, w",\n4,"2.5",5,null\n')
    table = read_csv(path)
    assert table.names == ["id", "value", "tag", "empty"] and len(table) == 4
    assert_array_equal(table["id"], [1, 2, 3, 4])
    assert_array_equal(table["value"], [np.nan, np.nan, np.nan, 2.5])
    assert table["empty"].dtype == np.float64 and np.isnan(table["empty"]).all()
    assert table["tag"].tolist() == ["x", "y", "z, w", "5"]
    with pytest.raises(ValueError, match=r"Column 'tag' in t\.csv is not numeric: row 1 holds 'x'"):
        table.numeric("tag")


def test_read_csv_gzip_and_header_only(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt", newline="") as handle:
        handle.write("a,b\r\n1,2\r\n3,4\r\n")
    table = read_csv(path)
    assert_array_equal(table.numeric("b"), [2, 4])
    (tmp_path / "h.csv").write_text("a,b\n")
    assert len(read_csv(tmp_path / "h.csv")) == 0


def test_read_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No CSV file at .*missing\.csv"):
        read_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(ValueError, match=r"empty\.csv is empty: expected a header row followed by data rows"):
        read_csv(tmp_path / "empty.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(ValueError, match=r"ragged\.csv, line 3: expected 2 fields \(one per header column\), got 3"):
        read_csv(tmp_path / "ragged.csv")
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        read_csv(tmp_path / "dup.csv")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"bad\.csv\.gz: cannot read as CSV"):
        read_csv(tmp_path / "bad.csv.gz")
