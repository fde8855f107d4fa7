"""``--seeds``: an experiment over several seeds in worker processes, as one run directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.tasks.seeds import parse_seeds

TINY = [
    "multiplication",
    "--samples", "60", "--train-samples", "40", "--length", "6", "--epochs", "2",
    "--cells", "lstm", "--units", "4", "--quiet",
]  # fmt: skip


def without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory):
    """The rows of the single runs of seeds 0, 1 and 2, one thread each."""
    rows = {}
    for seed in (0, 1, 2):
        out = tmp_path_factory.mktemp("single") / "run"
        assert main([*TINY, "--seed", str(seed), "--threads", "1", "--out", str(out)]) == 0
        rows[seed] = json.loads((out / "metrics.json").read_text())["results"]
    return rows


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_three_seeds_give_the_rows_of_three_single_runs(tmp_path, capsys, single_runs, jobs):
    out = tmp_path / "seeds"
    assert main([*TINY, "--seeds", "3", "--jobs", jobs, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    rows = metrics["results"]
    assert [row["seed"] for row in rows] == [0, 1, 2]
    for row in rows:
        assert without_seconds([{k: v for k, v in row.items() if k != "seed"}]) == without_seconds(
            single_runs[row["seed"]]
        )
    # every seed's own run directory, as a single run writes it
    for seed in (0, 1, 2):
        assert (out / f"seed-{seed}" / "report.html").is_file()
        assert json.loads((out / f"seed-{seed}" / "config.json").read_text())["options"]["seed"] == seed
    seeds = metrics["seeds"]
    assert seeds["seeds"] == [0, 1, 2]
    assert seeds["jobs"] == int(jobs)
    assert seeds["threads_per_seed"] == 1
    assert seeds["cpus"] == os.cpu_count() and seeds["wall_seconds"] > 0
    correct = sorted(single_runs[s][0]["correct_percent"] for s in (0, 1, 2))
    summary = seeds["summary"][0]
    assert summary["cell"] == "LSTM"
    assert summary["correct_percent"] == f"{correct[1]:.1f} [{correct[0]:.1f}, {correct[2]:.1f}]"
    reached = sum(c >= 90 for c in correct)
    assert seeds["bar"] == [f"LSTM >= 90 % correct in {reached} of 3"]
    assert f"3 seeds (0, 1, 2), {jobs} at a time, 1 thread each:" in printed
    assert seeds["table"] in printed
    assert seeds["summary_table"] in printed
    assert printed.rstrip().endswith(f"Report: {out / 'report.html'}")
    assert (out / "seeds.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "report.html").read_text()
    assert "Median [min, max] over the seeds" in page
    assert "data:image/png;base64," in page


def test_seeds_as_a_list(tmp_path, capsys, single_runs):
    out = tmp_path / "listed"
    assert main([*TINY, "--seeds", "2,0", "--jobs", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "metrics.json").read_text())["results"]
    assert [row["seed"] for row in rows] == [2, 0]
    assert without_seconds([{k: v for k, v in rows[0].items() if k != "seed"}]) == without_seconds(single_runs[2])


def test_one_listed_seed_is_a_single_run(tmp_path, capsys, single_runs):
    out = tmp_path / "one"
    assert main([*TINY, "--seeds", "1,", "--threads", "1", "--out", str(out)]) == 0
    assert not (out / "seed-1").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert without_seconds(metrics["results"]) == without_seconds(single_runs[1])


def test_parse_seeds():
    assert parse_seeds("3", 5) == [5, 6, 7]
    assert parse_seeds("0,1,2", 9) == [0, 1, 2]
    for bad in ("x", "0,x", "-1,2", "", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad, 0)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0,a"], "rnnlab multiplication: error: --seeds takes a count (--seeds 10) or a list of seeds"),
        (["--seeds", "3", "--jobs", "0"], "rnnlab multiplication: error: --jobs must be at least 1, received 0."),
        (
            ["--jobs", "2"],
            "rnnlab multiplication: error: --jobs sets how many seeds run at once; "
            "give it with --seeds (a count or a list).",
        ),
        (
            ["--seeds", "2", "--nproc", "2"],
            "rnnlab multiplication: error: --seeds runs each seed in one process; leave --nproc at 1 with it.",
        ),
    ],
)
def test_bad_seeds_are_one_line(tmp_path, capsys, args, message):
    assert main([*TINY, *args, "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "r").exists()


def test_a_killed_worker_fails_the_run_naming_its_seed(tmp_path):
    """SIGKILL the worker of seed 1 (its pid is in its partial folder's owner record)."""
    out = tmp_path / "run"
    args = [*TINY, "--epochs", "40", "--seeds", "0,1,2", "--jobs", "1", "--out", str(out)]
    command = subprocess.Popen(
        [sys.executable, "-m", "rnnlab.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    owner = tmp_path / ".run.partial" / ".seed-1.partial" / ".owner.json"
    deadline = time.monotonic() + 120
    pid = None
    while pid is None and time.monotonic() < deadline and command.poll() is None:
        try:
            pid = json.loads(owner.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.005)
    assert pid is not None, "seed 1's run never started"
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = command.communicate(timeout=120)
    assert command.returncode == 1
    assert (
        "rnnlab multiplication: error: a worker process ended before its run completed (killed, or out of memory) "
        "while seed 1 ran; the run stopped there"
    ) in stderr
    assert not out.exists()
    kept = tmp_path / "run.incomplete"
    assert sorted(p.name for p in kept.iterdir() if not p.name.startswith("seed-1")) == [
        "config.json",
        "seed-0",
        "status.json",
    ]
    assert "seed 1" in json.loads((kept / "status.json").read_text())["error"]
    assert (kept / "seed-0" / "metrics.json").is_file()
    # nothing half-written: seed 1's folder is marked incomplete (or gone, when it held no results)
    assert not any(p.name.endswith(".partial") for p in Path(kept).rglob("*"))
    assert not (kept / "seed-2").exists()
    assert not any(p.name.startswith("seed-1") and not p.name.endswith(".incomplete") for p in kept.iterdir())


def owner_pid(owner, command):
    """The pid in an owner record once it appears (None if the command ended first)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and command.poll() is None:
        try:
            return json.loads(owner.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.005)
    return None


def test_sigterm_stops_every_worker(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--epochs", "40", "--seeds", "0,1", "--jobs", "1", "--out", str(out)]
    command = subprocess.Popen(
        [sys.executable, "-m", "rnnlab.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    worker = owner_pid(tmp_path / ".run.partial" / ".seed-0.partial" / ".owner.json", command)
    assert worker is not None, "seed 0's run never started"
    command.send_signal(signal.SIGTERM)
    command.communicate(timeout=120)
    assert command.returncode == 143
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    left = [p.name for p in tmp_path.rglob("*")]
    assert not any(name.endswith(".partial") or name.startswith("seed-1") for name in left)
    assert not out.exists()
