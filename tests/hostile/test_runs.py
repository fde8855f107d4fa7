"""Run directories under races and kills, and training that blows up: runs started at once both
complete under their own names, leftovers of killed runs are recovered, the weights a blow-up
leaves are finite and the files that report it are strict JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.callbacks import BackupAndRestore, EarlyStopping, ModelCheckpoint
from rnnlab.cli import main
from rnnlab.layers import Dense, SimpleRNN
from rnnlab.tasks import runs
from rnnlab.tasks.runs import RunDir


def strict_json(path: Path) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


# -- names ---------------------------------------------------------------------------------------------
def test_two_runs_started_at_once_both_complete_with_the_same_model_bytes(tmp_path):
    command = [sys.executable, "-m", "rnnlab.cli", "sequence", "--epochs", "3", "--units", "8", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for process in started:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and not any(p.name.startswith(".") for p in folders), folders
    first, second = ((folder / "model.safetensors").read_bytes() for folder in folders)
    assert first == second  # the same seed on CPU: the same file, byte for byte


def test_runs_in_the_same_second_get_different_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs.time, "strftime", lambda fmt, *a: "20240101-120000")
    with RunDir("task") as first, RunDir("task") as second:
        first.write_json("metrics.json", {"run": 1})
        second.write_json("metrics.json", {"run": 2})
    assert first.final.name == "task-20240101-120000" and second.final.name == "task-20240101-120000-1"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [first.final.name, second.final.name]
    assert strict_json(second.final / "metrics.json") == {"run": 2}


def test_a_final_name_taken_meanwhile_gets_a_fresh_one(tmp_path, capsys):
    out = tmp_path / "run"
    with RunDir("task", out) as run_dir:
        run_dir.write_json("metrics.json", {})
        out.mkdir()
        (out / "someone-else.txt").write_text("not ours")
    assert run_dir.final == tmp_path / "run-1"
    assert (out / "someone-else.txt").exists() and (run_dir.final / "metrics.json").exists()
    assert f"{out} was taken while the run worked; the run is in {run_dir.final}" in capsys.readouterr().err


def test_an_out_folder_another_run_is_writing_is_refused(tmp_path):
    out = tmp_path / "run"
    with RunDir("task", out), pytest.raises(ValueError, match=rf"Another rnnlab run \(pid {os.getpid()}\) is writing"):
        RunDir("task", out)


# -- leftovers of killed runs ------------------------------------------------------------------------------
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def partial(parent: Path, name: str, owner: dict | None, files: tuple[str, ...]) -> Path:
    folder = parent / f".{name}.partial"
    folder.mkdir(parents=True)
    if owner is not None:
        (folder / ".owner.json").write_text(json.dumps(owner))
    for file in files:
        (folder / file).write_text("x")
    return folder


def test_partial_folders_of_killed_runs_are_recovered_or_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    host = socket.gethostname()
    parent = tmp_path / "runs"
    killed = partial(parent, "a", {"pid": dead_pid(), "host": host}, ("config.json", "history.csv"))
    temporary = ".model.safetensors.1-0a0b0c0d.tmp"
    empty = partial(parent, "b", {"pid": dead_pid(), "host": host}, ("config.json", temporary))
    older = parent / f".c.partial-{dead_pid()}"  # the naming of earlier versions
    older.mkdir()
    (older / "model.safetensors").write_text("x")
    alive = partial(parent, "d", {"pid": os.getpid(), "host": host}, ("history.csv",))
    elsewhere = partial(parent, "e", {"pid": dead_pid(), "host": host + "-other"}, ("history.csv",))
    unowned = partial(parent, "f", None, ("history.csv",))  # just created, or killed a minute ago?
    with RunDir("task") as run_dir:
        run_dir.write_json("metrics.json", {})
    names = sorted(p.name for p in parent.iterdir())
    expected = ["a.incomplete", "c.incomplete", alive.name, elsewhere.name, unowned.name, run_dir.final.name]
    assert names == sorted(expected)
    status = strict_json(parent / "a.incomplete" / "status.json")
    assert status["status"] == "incomplete" and status["error"].startswith("killed: its process")
    assert sorted(p.name for p in (parent / "a.incomplete").iterdir()) == ["config.json", "history.csv", "status.json"]
    assert not killed.exists() and not empty.exists()  # empty held no results: removed
    old = time.time() - 3600
    os.utime(unowned, (old, old))
    with RunDir("task"):
        pass
    assert (parent / "f.incomplete" / "history.csv").exists()


# -- training that blows up ---------------------------------------------------------------------------------
def test_a_blow_up_keeps_finite_weights_that_early_stopping_restores(rng):
    x = rng.normal(size=(64, 5, 1)).astype("float32")
    y = x.sum(axis=(1, 2))
    rnnlab.set_seed(0)
    model = rnnlab.Sequential([rnnlab.Input((5, 1)), SimpleRNN(8), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", learning_rate=1e6)
    stop = EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    with pytest.warns(RuntimeWarning, match="the model holds the weights that gave the last finite loss"):
        model.fit(x, y, epochs=20, batch_size=8, callbacks=[stop], verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(model.predict(x)).all()


def test_a_run_that_blows_up_writes_strict_json_and_says_so(tmp_path, capsys):
    rows = "".join(f"{i},{50 + 10 * np.sin(i / 5):.3f}\n" for i in range(200))
    (tmp_path / "series.csv").write_text("t,y\n" + rows)
    out = tmp_path / "run"
    args = ["forecast", "--csv", str(tmp_path / "series.csv"), "--target", "y", "--learning-rate", "1e30"]
    with pytest.warns(RuntimeWarning):
        code = main(args + ["--epochs", "5", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0  # the run completed, and is marked as warned
    for name in ("metrics.json", "config.json", "status.json"):
        strict_json(out / name)
    status = strict_json(out / "status.json")
    assert status["status"] == "warned"
    assert any("the model holds the weights that gave the last finite loss" in w for w in status["warnings"])
    assert any(w.startswith("history.csv: loss is ") for w in status["warnings"])
    assert "The run completed with warnings" in err
    model = rnnlab.load_model(out / "model.safetensors")
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_non_finite_values_become_null_and_a_warning(tmp_path):
    with RunDir("task", tmp_path / "run") as run_dir:
        run_dir.write_json("metrics.json", {"results": [{"mse": float("nan")}, {"mse": np.float32("inf")}]})
    assert strict_json(run_dir.final / "metrics.json") == {"results": [{"mse": None}, {"mse": None}]}
    assert strict_json(run_dir.final / "status.json")["warnings"] == [
        "metrics.json: results[0].mse, results[1].mse not finite, written as null"
    ]


# -- BackupAndRestore next to other files ----------------------------------------------------------------------
def test_backup_and_restore_leaves_other_files_in_its_folder(tmp_path, rng, monkeypatch):
    x = rng.normal(size=(16, 4, 1)).astype("float32")
    y = x.sum(axis=(1, 2))
    model = rnnlab.Sequential([rnnlab.Input((4, 1)), SimpleRNN(3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    checkpoint = ModelCheckpoint(str(folder / "best.safetensors"), monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint, BackupAndRestore(folder)])
    assert sorted(p.name for p in folder.iterdir()) == ["best.safetensors", "notes.txt"]
    monkeypatch.chdir(folder)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(".")])
    assert sorted(p.name for p in folder.iterdir()) == ["best.safetensors", "notes.txt"]
    assert rnnlab.load_model(folder / "best.safetensors").count_params() == model.count_params()
