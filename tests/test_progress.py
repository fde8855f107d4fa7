"""The progress display: Keras's Progbar text, redrawn in a terminal (a real pty), one plain line per
epoch anywhere else (a pipe), for ``fit`` and for the commands."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import types

import pytest

from rnnlab.training.callbacks.logging import progress_bar_line, progress_plain_line

# A fit of 3 epochs of 16 steps, each step slowed to 20 ms so that a terminal sees several redraws.
FIT = """
import sys, time
import numpy as np
from rnnlab.callbacks import LambdaCallback
from rnnlab.layers import LSTM, Dense
from rnnlab.models import Sequential
x = np.random.default_rng(0).random((80, 5, 2), dtype="float32")
model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
slow = LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(0.02))
model.fit(x, x.sum((1, 2)), epochs=3, batch_size=4, validation_split=0.2, verbose=int(sys.argv[1]), callbacks=[slow])
"""
EPOCH_LINE = re.compile(
    r"Epoch (\d)/3 - 16/16 - \d+s - \d+(?:ms|us|s)/step - loss: \d+\.\d{4} - mae: \d+\.\d{4} "
    r"- val_loss: \d+\.\d{4} - val_mae: \d+\.\d{4}"
)


def in_terminal(args: list[str], cwd: str | None = None) -> str:
    """Everything ``args`` writes to a pseudo-terminal, as the terminal receives it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, cwd=cwd, close_fds=True)
    os.close(follower)
    received = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError(f"no output for 120 s; so far: {received[-2000:]!r}")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, received.decode(errors="replace")
    return received.decode()


def steps_shown(text: str, target: int) -> list[int]:
    """The step counts of the redrawn bar lines, in the order they were drawn."""
    return [int(n) for n in re.findall(rf"\r\x1b\[1m *(\d+)/{target}\x1b\[0m ", text)]


# -- not a terminal: one plain line per epoch ------------------------------------------------------
@pytest.mark.parametrize("verbose", [1, 2])
def test_a_captured_fit_prints_one_plain_line_per_epoch(verbose):
    result = subprocess.run([sys.executable, "-c", FIT, str(verbose)], capture_output=True, text=True, check=True)
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    assert [EPOCH_LINE.fullmatch(line).group(1) for line in lines] == ["1", "2", "3"], lines


def test_a_captured_command_prints_one_line_per_epoch(tmp_path):
    args = [sys.executable, "-m", "rnnlab.cli", "sequence", "--epochs", "3", "--units", "2", "--out", "run"]
    result = subprocess.run(args, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "\r" not in result.stdout + result.stderr
    epochs = [line for line in result.stdout.splitlines() if "Epoch" in line]
    assert len(epochs) == 3
    for n, line in enumerate(epochs, 1):
        assert re.fullmatch(rf"sequence - Epoch {n}/3 - 13/13 - \d+s - \d+(ms|us|s)/step - loss: \d+\.\d{{4}}", line)


def test_quiet_shows_no_progress(tmp_path):
    args = [sys.executable, "-m", "rnnlab.cli", "sequence", "--epochs", "2", "--units", "2", "--quiet", "--out", "r"]
    result = subprocess.run(args, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "Epoch" not in result.stdout + result.stderr


# -- a terminal: the bar redrawn as the steps run --------------------------------------------------
def test_in_a_terminal_the_step_count_rises_within_each_epoch():
    text = in_terminal([sys.executable, "-c", FIT, "1"])
    epochs = text.split("Epoch ")[1:]
    assert [e[:3] for e in epochs] == ["1/3", "2/3", "3/3"]
    for epoch in epochs:
        counts = steps_shown(epoch, 16)
        assert counts[0] == 1 and counts[-1] == 16, counts  # the first step is drawn, the epoch's line last
        assert counts == sorted(counts) and len(set(counts)) >= 4, counts  # 16 steps of 20 ms: a redraw per ~0.1 s
        final = [piece for piece in epoch.split("\r") if "16/16" in piece][-1]  # the epoch's line: time taken
        assert re.search(r"\x1b\[1m\d+s\x1b\[0m \d+ms/step - loss: [\d.]+ - mae: [\d.]+ - val_loss: ", final)
    mid = [line for line in text.split("\r") if re.match(r"\x1b\[1m *[2-9]/16", line)]
    assert mid and all(re.search(r"\x1b\[0m \x1b\[1m\d+s\x1b\[0m \d+ms/step - loss: ", line) for line in mid)


def test_a_command_in_a_terminal_shows_its_steps(tmp_path):
    args = [sys.executable, "-m", "rnnlab.cli", "sequence", "--epochs", "2", "--units", "2", "--out", "run"]
    text = in_terminal(args, cwd=str(tmp_path))
    assert "sequence - Epoch 1/2\r\n" in text and "sequence - Epoch 2/2\r\n" in text
    assert steps_shown(text, 13).count(13) == 2  # each epoch ends on its full bar
    assert text.rstrip().splitlines()[-1] == "Report: run/report.html"


# -- the text: Keras's Progbar, state for state ----------------------------------------------------
@pytest.fixture
def keras_progbar(monkeypatch):
    """Keras's Progbar module with its clock in the test's hands: ``clock[0]`` is now."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras", reason="keras is not installed: pip install 'rnnlab[keras-oracle]'")
    from keras.src.utils import progbar

    clock = [0.0]
    monkeypatch.setattr(progbar, "time", types.SimpleNamespace(time=lambda: clock[0]))
    return progbar, clock


def keras_text(capsys) -> str:
    """What Keras printed last, without the redraw's leading backspaces and carriage return and the
    trailing blanks that wipe a longer line."""
    out = capsys.readouterr().out
    return re.sub(r"^[\b]*\r", "", out).rstrip("\n").rstrip(" ")


@pytest.mark.parametrize(
    "target,first,steps",
    [
        (20, 0.4, [(3, 0.5, {"loss": 0.1234, "mae": 0.2})]),  # ETA in seconds
        (1000, 1.0, [(3, 3.0, {"loss": 2.5, "accuracy": 0.00042})]),  # 4 digits, a value shown as 4.2000e-04
        (500, 2.0, [(2, 5.0, {"loss": 1.0})]),  # ETA 24:57 (minutes)
        (9000, 2.0, [(5, 12.0, {"loss": 1.0})]),  # ETA over an hour
        (1000, 0.01, [(500, 0.07, {"loss": 1.0}), (800, 0.2, {"loss": 0.9})]),  # us per step, the bar filling
    ],
)
def test_the_bar_is_keras_progbar_text(keras_progbar, capsys, target, first, steps):
    progbar, clock = keras_progbar
    bar = progbar.Progbar(target, stateless_metrics=set())  # as keras.callbacks.ProgbarLogger makes it
    clock[0] = first
    bar.update(1, [("loss", 1.0)])
    capsys.readouterr()
    for current, now, logs in steps:
        clock[0] = now
        bar.update(current, list(logs.items()))
        per_step = (now - first) / (current - 1)
        assert progress_bar_line(current, target, per_step, now, logs, final=False) == keras_text(capsys)
    clock[0] = now = first + 2.0
    logs = {**dict.fromkeys(logs, 0.25), "val_loss": 0.5}  # the epoch's logs: every key of the steps, then val_
    bar.update(target, list(logs.items()), finalize=True)
    per_step = (now - first) / (target - 1)
    assert progress_bar_line(target, target, per_step, now, logs, final=True) == keras_text(capsys)


def test_the_first_step_and_an_unknown_count_are_keras_progbar_text(keras_progbar, capsys):
    progbar, clock = keras_progbar
    bar = progbar.Progbar(20, stateless_metrics=set())
    clock[0] = 0.3
    bar.update(1, [("loss", 3.0)])
    assert progress_bar_line(1, 20, 0.3, 0.3, {"loss": 3.0}, final=False) == keras_text(capsys)
    unknown = progbar.Progbar(None, stateless_metrics=set())  # started at 0.3
    clock[0] = 0.5
    unknown.update(1, [("loss", 3.0)])
    capsys.readouterr()
    clock[0] = 2.5
    unknown.update(5, [("loss", 2.0)])  # no ETA without a count: the seconds so far
    assert progress_bar_line(5, None, 0.5, 2.2, {"loss": 2.0}, final=False) == keras_text(capsys)


@pytest.mark.parametrize("target,elapsed,logs", [(20, 1.2, {"loss": 0.1234, "val_loss": 0.25}), (7, 65.0, {"a": 2e-4})])
def test_the_plain_line_is_keras_verbose_2_text(keras_progbar, capsys, target, elapsed, logs):
    progbar, clock = keras_progbar
    bar = progbar.Progbar(target, verbose=2, stateless_metrics=set())
    clock[0] = elapsed
    bar.update(target, list(logs.items()), finalize=True)  # Keras times verbose=2 from the start
    assert progress_plain_line(target, target, elapsed / target, elapsed, logs) == keras_text(capsys)
