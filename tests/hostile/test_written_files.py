"""Files rnnlab writes: permissions that follow the umask, the same bytes for the same model, and
temporaries of killed writers cleaned up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.core import files
from rnnlab.layers import GRU, Dense
from rnnlab.saving import native


def model() -> rnnlab.Sequential:
    rnnlab.set_seed(0)
    net = rnnlab.Sequential([rnnlab.Input((4, 2)), GRU(3), Dense(1)])
    net.compile(optimizer="adam", loss="mse", metrics=["mae"])
    net.fit(np.ones((6, 4, 2), "float32"), np.zeros(6, "float32"), epochs=1, verbose=0)
    return net


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for the test, restoring it afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, umask, mask, expected):
    net = model()
    umask(mask)
    net.save(tmp_path / "m.safetensors")
    net.save_weights(tmp_path / "w.safetensors")
    files.write_text(tmp_path / "notes.txt", "x")
    rnnlab.plot_history(net.history, tmp_path / "loss.png")
    for name in ("m.safetensors", "w.safetensors", "notes.txt", "loss.png"):
        assert mode(tmp_path / name) == expected, name


def test_a_replaced_file_keeps_its_permissions(tmp_path, umask):
    net = model()
    path = tmp_path / "m.safetensors"
    net.save(path)
    assert mode(path) == 0o644  # was 0600 whatever the umask
    path.chmod(0o640)
    net.save(path)
    assert mode(path) == 0o640


def test_the_same_model_gives_the_same_bytes(tmp_path):
    net = model()
    for name in ("a", "b", "c"):
        net.save(tmp_path / f"{name}.safetensors")
    data = {(tmp_path / f"{name}.safetensors").read_bytes() for name in "abc"}
    assert len(data) == 1
    assert rnnlab.load_model(tmp_path / "a.safetensors").get_weights()[0].tolist() == net.get_weights()[0].tolist()


def test_files_in_the_old_order_still_load(tmp_path):
    """Files written before the header was sorted (any order of the metadata keys) load as before."""
    from safetensors.torch import save_file

    net = model()
    net.save(tmp_path / "sorted.safetensors")
    stored = native.StoredFile(tmp_path / "sorted.safetensors")
    metadata = dict(reversed(list(stored.metadata.items())))
    save_file(stored.tensors(), str(tmp_path / "old.safetensors"), metadata=metadata)
    x = np.ones((2, 4, 2), "float32")
    np.testing.assert_array_equal(rnnlab.load_model(tmp_path / "old.safetensors").predict(x), net.predict(x))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    path = tmp_path / "m.safetensors"
    old = time.time() - 3600
    stale = tmp_path / f".m.safetensors.{dead_pid()}-0123abcd.tmp"
    young = tmp_path / f".m.safetensors.{dead_pid()}-4567abcd.tmp"  # its writer may be on another machine
    alive = tmp_path / f".m.safetensors.{os.getpid()}-89abcdef.tmp"
    other = tmp_path / ".notes.txt.1-0123abcd.tmp"  # another file's, and not ours to judge here
    for file in (stale, young, alive, other):
        file.write_bytes(b"partial")
    for file in (stale, alive, other):
        os.utime(file, (old, old))
    model().save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, young.name, alive.name, other.name])


def test_a_downloaded_data_file_follows_the_umask(tmp_path, umask, monkeypatch):
    import dataclasses

    from conftest import DATA_DIR
    from rnnlab.datasets import load_airline_passengers, timeseries

    source = tmp_path / "server.csv"
    source.write_bytes((DATA_DIR / "airline_passengers.csv").read_bytes())
    remote = dataclasses.replace(timeseries.AIRLINE_PASSENGERS, url=source.as_uri())
    monkeypatch.setattr(timeseries, "AIRLINE_PASSENGERS", remote)
    umask(0o022)
    assert len(load_airline_passengers(cache_dir=tmp_path / "cache")) == 144
    assert [mode(p) for p in (tmp_path / "cache").iterdir()] == [0o644]
