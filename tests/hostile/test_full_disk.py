"""A full disk and a file size limit, for real: every file rnnlab writes (safetensors, ``.keras``,
``.weights.h5``, a command's run folder) fails with one ``NoRoomError`` naming the file, the file
it would have replaced stays whole and loadable, and no temporary is left behind.

The size limit is RLIMIT_FSIZE in a child process: Python ignores SIGXFSZ from start-up, so a
write past the limit returns EFBIG instead of killing the process. The full disk is a 1 MiB
tmpfs, where mounting one is permitted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.core import files

FORMATS = ["m.safetensors", "m.keras", "m.weights.h5"]
DISK_FULL = "the disk is full (no space left on device); free some space or write elsewhere"
SIZE_LIMIT = "the file size limit was reached (file too large); raise it (ulimit -f) or write elsewhere"
LIMIT_BYTES = 20_000  # below each file of the model (~70 kB), above none


def model(seed: int) -> rnnlab.Sequential:
    rnnlab.set_seed(seed)
    return rnnlab.Sequential([rnnlab.Input((5, 3)), rnnlab.layers.LSTM(64), rnnlab.layers.Dense(1)])


def save(net: rnnlab.Sequential, path: Path) -> None:
    (net.save_weights if path.name.endswith(".weights.h5") else net.save)(path)


def saved_weights(path: Path) -> list[np.ndarray]:
    if path.name.endswith(".weights.h5"):
        net = model(0)
        net.load_weights(path)
        return net.get_weights()
    return rnnlab.load_model(path).get_weights()


def assert_kept(path: Path, previous: bytes, model: rnnlab.Sequential) -> None:
    """``path`` holds the bytes it held before, the weights of ``model``, and no temporary beside it."""
    assert path.read_bytes() == previous
    for stored, expected in zip(saved_weights(path), model.get_weights(), strict=True):
        np.testing.assert_array_equal(stored, expected)
    assert sorted(p.name for p in path.parent.iterdir() if p.name != "filler") == [path.name]


# -- the file size limit, in a child process -------------------------------------------------
CHILD = f"""
import json, resource, shutil, sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_full_disk import FORMATS, LIMIT_BYTES, model, save

folder = Path(sys.argv[1])
(folder / "before").mkdir()
for name in FORMATS:
    save(model(0), folder / name)
    shutil.copyfile(folder / name, folder / "before" / name)
resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, resource.RLIM_INFINITY))
outcomes = {{}}
for name in FORMATS:
    try:
        save(model(1), folder / name)
        outcomes[name] = [None, ""]
    except Exception as err:
        outcomes[name] = [type(err).__name__, str(err)]
print(json.dumps(outcomes))
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> tuple[Path, dict[str, list[str | None]]]:
    """Each format saved once, then again past a file size limit: the folder and what each save raised."""
    folder = tmp_path_factory.mktemp("limited")
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder, json.loads(done.stdout)


@pytest.mark.parametrize("name", FORMATS)
def test_a_file_size_limit_is_one_error_and_keeps_the_previous_file(limited, name):
    folder, outcomes = limited
    path = folder / name
    assert outcomes[name] == ["NoRoomError", f"{path}: {SIZE_LIMIT}"]
    assert path.read_bytes() == (folder / "before" / name).read_bytes()
    saved_weights(path)  # loads
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FORMATS, "before"])  # no temporary


def limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_run_past_the_file_size_limit_exits_1_with_one_line(tmp_path):
    """The model (~360 kB) passes the limit; the smaller files before it are kept."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab.cli", "sequence", "--epochs", "1", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        preexec_fn=limit_file_size(100_000),
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    kept = tmp_path / "run.incomplete"
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"rnnlab sequence: error: {kept}/model.safetensors: {SIZE_LIMIT}; what the run finished is in {kept}\n"
    )
    assert_run_kept(tmp_path, kept)


def assert_run_kept(parent: Path, kept: Path) -> None:
    """The run's finished files are in ``kept``, marked incomplete, with no temporary or partial folder."""
    assert sorted(p.name for p in parent.iterdir() if p.name != "filler") == ["run.incomplete"]
    assert sorted(p.name for p in kept.iterdir()) == [
        "config.json",
        "history.csv",
        "loss.png",
        "metrics.json",
        "status.json",
    ]
    status = json.loads((kept / "status.json").read_text())
    assert status["status"] == "incomplete" and status["error"].startswith("NoRoomError: ")


# -- a full disk: a small tmpfs ---------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs mounted for the test, where mounting is permitted (root, or a mount namespace)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command here: the full disk is tested through the file size limit only")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): tested through the file size limit only")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take the free space of ``disk`` but ``leave`` bytes with a file named ``filler``."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        remaining = free - leave
        while remaining > 0:
            remaining -= os.write(fd, bytes(min(remaining, 2**16)))
    except OSError:
        pass  # full before the count: metadata took some of it
    finally:
        os.close(fd)
    return filler


@pytest.mark.parametrize("name", FORMATS)
def test_a_full_disk_is_one_error_and_keeps_the_previous_file(small_disk, name):
    path = small_disk / name
    previous = model(0)
    save(previous, path)
    written = path.read_bytes()
    fill(small_disk)
    with pytest.raises(files.NoRoomError) as raised:
        save(model(1), path)
    assert str(raised.value) == f"{path}: {DISK_FULL}"
    assert_kept(path, written, previous)


def test_a_run_on_a_full_disk_exits_1_with_one_line(small_disk, capsys, monkeypatch):
    """100 kB free: the small files of the run fit, the model (~360 kB) does not."""
    monkeypatch.chdir(small_disk)
    fill(small_disk, leave=100_000)
    code = main(["sequence", "--epochs", "1", "--quiet", "--threads", "1", "--out", str(small_disk / "run")])
    kept = small_disk / "run.incomplete"
    assert code == 1
    assert capsys.readouterr().err == (
        f"rnnlab sequence: error: {kept}/model.safetensors: {DISK_FULL}; what the run finished is in {kept}\n"
    )
    assert_run_kept(small_disk, kept)
