"""Mistakes on the command line and trouble in the environment: each is one line on stderr, a
non-zero exit code and no traceback, and leaves nothing behind; bugs still show their traceback."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import DATA_DIR
from rnnlab.cli import main
from rnnlab.saving import native
from rnnlab.tasks import options


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Bad input files, in a folder of their own (the runs happen elsewhere)."""
    folder = tmp_path_factory.mktemp("inputs")
    good = [f"{i},{50 + 10 * np.sin(i / 5):.3f}\n" for i in range(300)]
    (folder / "all-nan.csv").write_text("t,y\n" + "".join(f"{i},NA\n" for i in range(100)))
    (folder / "inf.csv").write_text("t,y\n" + "".join(good[:100] + ["999,inf\n"] + good[100:]))
    (folder / "ids.csv").write_text("t,y,id\n" + "".join(f"{i},{i % 7},user{i}\n" for i in range(30_000)))
    (folder / "long.csv").write_text("t,y\n" + "".join(f"{i},{i % 10}\n" for i in range(20_000)))
    data = (DATA_DIR / "beijing_pm25.csv.gz").read_bytes()[:200_000]
    (folder / "corrupt.csv.gz").write_bytes(data[:5000] + bytes(100) + data[5100:])
    (folder / "notes.txt").write_text("a file, not a folder")
    return folder


MISTAKES = {
    "sequence-epochs-0": (["sequence", "--epochs", "0"], "--epochs must be at least 1, received 0"),
    "multiplication-epochs-0": (["multiplication", "--epochs", "0"], "--epochs must be at least 1"),
    "season-negative": (["forecast", "--dataset", "airline", "--season", "-12"], "--season must be at least 1"),
    "season-0": (["forecast", "--dataset", "airline", "--season", "0"], "--season must be at least 1, received 0"),
    "val-size-negative": (["forecast", "--dataset", "airline", "--val-size", "-5"], "--val-size must be at least 0"),
    "window-0": (["forecast", "--dataset", "airline", "--window", "0"], "--window must be at least 1"),
    "learning-rate-0": (["forecast", "--dataset", "airline", "--learning-rate", "0"], "--learning-rate must be"),
    "learning-rate-nan": (["forecast", "--dataset", "airline", "--learning-rate", "nan"], "must be a finite number"),
    "threads-huge": (["sequence", "--threads", "100000"], "--threads must be between 0 and"),
    "threads-negative": (["sequence", "--threads", "-1"], "--threads must be between 0 and"),
    "device-unknown": (["sequence", "--device", "foo"], r"--device foo: Unknown device 'foo'"),
    "length-huge": (["multiplication", "--length", "100000000"], "time steps, more than the 50,000,000"),
    "samples-huge": (
        ["multiplication", "--samples", "100000000", "--train-samples", "10"],
        "time steps, more than the 50,000,000",
    ),
    "units-huge": (["sequence", "--units", "1000000"], "--units must be between 1 and 16384"),
    "tolerance-negative": (["multiplication", "--tolerance", "-1"], "--tolerance must be at least 0"),
    "validation-split-1": (["multiplication", "--validation-split", "1"], r"--validation-split must be in \[0, 1\)"),
    "seed-negative": (["sequence", "--seed", "-1"], "--seed must be between 0 and 4294967295, received -1"),
    "seed-huge": (["sequence", "--seed", str(2**70)], "--seed must be between 0 and 4294967295"),
    "predict-nan": (["sequence", "--predict", "nan", "1", "2"], "--predict must be a finite number, received nan"),
    "predict-two": (["sequence", "--predict", "1", "2"], "--predict takes a window of 3 values"),
    "csv-all-nan": (["forecast", "--csv", "{inputs}/all-nan.csv", "--target", "y"], "has no values: all 100 rows"),
    "csv-infinite": (
        ["forecast", "--csv", "{inputs}/inf.csv", "--target", "y"],
        r"'y' in .*inf.csv holds 1 infinite value, the first in data row 101",
    ),
    "csv-30000-categories": (
        ["forecast", "--csv", "{inputs}/ids.csv", "--target", "y", "--features", "id", "--test-size", "100"],
        "'id' has 2[0-9],[0-9]{3} different values",
    ),
    "csv-corrupt-gzip": (["forecast", "--csv", "{inputs}/corrupt.csv.gz", "--target", "y"], "cannot read as CSV"),
    "csv-device-file": (["forecast", "--csv", "/dev/zero", "--target", "y"], "/dev/zero is a device"),
    "window-too-many-values": (
        ["forecast", "--csv", "{inputs}/long.csv", "--target", "y", "--window", "3000"],
        "values, more than the 50,000,000",
    ),
    "out-is-a-file": (["sequence", "--out", "{inputs}/notes.txt"], "notes.txt is a file, not a folder"),
    "out-is-here": (["sequence", "--out", "."], "names the current folder"),
}
if not torch.cuda.is_available():
    MISTAKES["device-cuda-without-gpu"] = (["sequence", "--device", "cuda"], "no CUDA GPU is available")


def run(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def one_line_error(err: str, experiment: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"rnnlab {experiment}: error: "), err
    return lines[0]


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_mistakes_are_one_line_and_leave_nothing(case, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(DATA_DIR))
    monkeypatch.chdir(tmp_path)
    args, message = MISTAKES[case]
    args = [a.format(inputs=inputs) for a in args] + ["--quiet"]
    code, err = run(args, capsys)
    assert code == 2
    line = one_line_error(err, args[0])
    assert re.search(message, line), line
    assert list(tmp_path.iterdir()) == []
    assert sorted(p.name for p in inputs.iterdir()) == [
        "all-nan.csv",
        "corrupt.csv.gz",
        "ids.csv",
        "inf.csv",
        "long.csv",
        "notes.txt",
    ]


def test_a_read_only_disk_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, err = run(["sequence", "--epochs", "1", "--quiet"], capsys)
    assert code == 1
    assert one_line_error(err, "sequence").endswith("error: runs: Read-only file system")
    assert list(tmp_path.iterdir()) == []


def fill_the_disk(monkeypatch) -> None:
    """Model files fail to write, as on a full disk."""

    def full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(native, "save_file", full)


def test_a_full_disk_is_one_line_and_keeps_what_finished(tmp_path, capsys, monkeypatch):
    fill_the_disk(monkeypatch)
    out = tmp_path / "run"
    (tmp_path / "run.incomplete").mkdir()
    (tmp_path / "run.incomplete" / "mine.txt").write_text("an earlier failed run's results")
    code, err = run(["sequence", "--epochs", "2", "--quiet", "--out", str(out)], capsys)
    assert code == 1
    kept = tmp_path / "run.incomplete-1"
    assert one_line_error(err, "sequence") == (
        f"rnnlab sequence: error: {kept}/model.safetensors: the disk is full (no space left on device); "
        f"free some space or write elsewhere; what the run finished is in {kept}"
    )
    # The earlier .incomplete is kept; no hidden folder or temporary is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.incomplete", "run.incomplete-1"]
    assert (tmp_path / "run.incomplete" / "mine.txt").exists()
    finished = ["config.json", "history.csv", "loss.png", "metrics.json", "status.json"]
    assert sorted(p.name for p in kept.iterdir()) == finished
    assert json.loads((kept / "status.json").read_text())["status"] == "incomplete"


def test_bugs_keep_their_traceback(tmp_path, monkeypatch):
    """A TypeError is a bug, not bad input: it is raised, not turned into a one-line error."""
    from rnnlab.tasks import sequence

    def broken(config, out=None, quiet=False):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sequence, "run", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["sequence", "--quiet"])


def test_options_of_every_experiment_are_checked_by_construction():
    """A new experiment's config gets the shared checks from its field names alone."""
    import dataclasses

    @dataclasses.dataclass
    class NewConfig:
        epochs: int = options.option(10, "epochs")
        seed: int = options.option(0, "seed")
        rate: float = options.option(0.5, "a rate", minimum=0, maximum=1)

    options.validate(NewConfig())
    for bad, message in (
        (NewConfig(epochs=0), "--epochs must be at least 1"),
        (NewConfig(seed=-3), "--seed must be between"),
        (NewConfig(rate=2.0), "--rate must be between 0 and 1"),
        (NewConfig(rate=float("inf")), "--rate must be a finite number"),
    ):
        with pytest.raises(ValueError, match=message):
            options.validate(bad)
