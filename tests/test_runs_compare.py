"""``rnnlab runs`` and ``rnnlab compare`` on runs made here."""

from __future__ import annotations

import json
import os
import re
import time
from html.parser import HTMLParser

import pytest

from rnnlab.cli import main

TINY = [
    "multiplication",
    "--samples", "60", "--train-samples", "40", "--length", "6", "--epochs", "2",
    "--cells", "lstm", "--units", "4", "--quiet", "--threads", "1",
]  # fmt: skip


def settle(run, started, seconds):
    """Pin a run's start time and the times of its files, so its row reads the same every time."""
    config = json.loads((run / "config.json").read_text())
    config["started"] = started
    (run / "config.json").write_text(json.dumps(config))
    end = time.mktime(time.strptime(started, "%Y-%m-%d %H:%M:%S")) + seconds
    for path in run.iterdir():
        os.utime(path, (end, end))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    assert main([*TINY, "--out", str(folder / "first")]) == 0
    assert main([*TINY, "--seed", "1", "--epochs", "3", "--out", str(folder / "second")]) == 0
    assert main([*TINY, "--seeds", "2", "--jobs", "1", "--out", str(folder / "seeds")]) == 0
    settle(folder / "first", "2026-01-02 10:00:00", 75)
    settle(folder / "second", "2026-01-02 11:00:00", 4)
    settle(folder / "seeds", "2026-01-02 09:00:00", 3725)
    return folder


def metrics(run):
    return json.loads((run / "metrics.json").read_text())


def test_runs_lists_newest_first(runs, capsys):
    capsys.readouterr()
    assert main(["runs", str(runs)]) == 0
    first = metrics(runs / "first")["results"][0]["correct_percent"]
    second = metrics(runs / "second")["results"][0]["correct_percent"]
    median = metrics(runs / "seeds")["seeds"]["summary"][0]["correct_percent"].split(" [")[0]
    results = [
        f"LSTM {second:.1f} % correct",
        f"LSTM {first:.1f} % correct",
        f"LSTM {median} % correct (median of 2 seeds)",
    ]
    width = max(map(len, results))
    paths = [str(runs / n) for n in ("second", "first", "seeds")]
    path_width = max(map(len, paths))
    lines = [
        f"experiment                  started    status  duration  {'result'.rjust(width)}  {'path'.rjust(path_width)}",
        f"--------------  -------------------  --------  --------  {'-' * width}  {'-' * path_width}",
        *(
            f"multiplication  {started}  complete  {took.rjust(8)}  {result.rjust(width)}  {path.rjust(path_width)}"
            for started, took, result, path in zip(
                ["2026-01-02 11:00:00", "2026-01-02 10:00:00", "2026-01-02 09:00:00"],
                ["4s", "1m 15s", "1h 02m"],
                results,
                paths,
                strict=True,
            )
        ),
    ]
    assert capsys.readouterr().out == "\n".join(lines) + "\n"


def test_runs_shows_an_incomplete_run_and_a_missing_folder(tmp_path, capsys):
    run = tmp_path / "broken.incomplete"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"experiment": "sequence", "started": "2026-01-01 00:00:00"}))
    (run / "status.json").write_text(json.dumps({"status": "incomplete", "error": "KeyboardInterrupt: "}))
    assert main(["runs", str(tmp_path)]) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row[:4] == ["sequence", "2026-01-01", "00:00:00", "incomplete"]
    assert row[-2:] == ["-", str(run)]
    assert main(["runs", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == (
        f"rnnlab runs: error: {tmp_path / 'none'} is not a folder; "
        "give the folder that holds the runs (default: runs).\n"
    )


def test_compare_prints_what_differs_and_the_results(runs, tmp_path, capsys):
    capsys.readouterr()
    page = tmp_path / "compare.html"
    assert main(["compare", str(runs / "first"), str(runs / "second"), "--out", str(page)]) == 0
    first, second = metrics(runs / "first")["results"][0], metrics(runs / "second")["results"][0]

    def g(value):
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    results = [
        ("LSTM params", "261", "261"),
        *(
            (f"LSTM {key}", g(first[key]), g(second[key]))
            for key in ("test_mse", "correct_percent", "epochs", "seconds")
        ),
    ]
    widths = [max(len(r[i]) for r in [("result", "first", "second"), *results]) for i in range(3)]
    table = [
        "  ".join(["result".ljust(widths[0]), "first".rjust(widths[1]), "second".rjust(widths[2])]),
        "  ".join("-" * w for w in widths),
        *("  ".join([a.ljust(widths[0]), b.rjust(widths[1]), c.rjust(widths[2])]) for a, b, c in results),
    ]
    expected = [
        "Options that differ:",
        "",
        "option  first  second",
        "------  -----  ------",
        "epochs      2       3",
        "seed        0       1",
        "",
        "Results:",
        "",
        *table,
        "",
        f"Comparison: {page}",
    ]
    assert capsys.readouterr().out == "\n".join(expected) + "\n"


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.references = []
        self.images = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") or (tag == "link" and name == "href"):
                self.references.append(value)
            if tag == "img" and name == "src":
                self.images.append(value)


def test_compare_html_is_self_contained(runs, tmp_path, capsys):
    page = tmp_path / "compare.html"
    assert main(["compare", str(runs / "first"), str(runs / "seeds"), "--out", str(page)]) == 0
    text = page.read_text()
    parser = Page()
    parser.feed(text)
    assert len(parser.images) == 1
    assert all(ref.startswith("data:image/png;base64,") for ref in parser.references)
    assert not re.search(r"https?://|url\(", text)
    assert "<h2>Options that differ</h2>" in text and "<td>seeds</td>" in text
    assert not list(tmp_path.glob(".*"))  # the curves went into the page, no file beside it


def test_compare_refuses_what_is_not_a_run(runs, tmp_path, capsys):
    assert main(["compare", str(runs / "first"), str(tmp_path), "--out", str(tmp_path / "c.html")]) == 2
    assert capsys.readouterr().err == (
        f"rnnlab compare: error: {tmp_path} is not a run directory (no config.json); "
        "give folders that rnnlab runs wrote.\n"
    )
    assert main(["compare", str(runs / "first")]) == 2
    assert capsys.readouterr().err == "rnnlab compare: error: compare needs at least two runs, received 1.\n"
    assert not (tmp_path / "c.html").exists()
