"""save / load: exact round trips, clear errors, atomic writes, resumable training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from helpers import randomize
from rnnlab import Input, Sequential
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, SimpleRNN
from rnnlab.saving import native


def trained_model(rng):
    model = Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(30, 6, mask_zero=True),
            Bidirectional(GRU(5, return_sequences=True)),
            LSTM(4),
            Dropout(0.1),
            Dense(3, activation="softmax"),
        ]
    )
    x = rng.integers(0, 30, size=(40, 7))
    y = rng.integers(0, 3, size=40)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], clipnorm=1.0)
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


def test_save_load_identical_predictions(tmp_path, rng):
    model, x, y = trained_model(rng)
    model.save(tmp_path / "model.safetensors")
    loaded = rnnlab.load_model(tmp_path / "model.safetensors")
    assert type(loaded) is Sequential and [layer.name for layer in loaded.layers] == [
        layer.name for layer in model.layers
    ]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))  # bit for bit
    assert loaded.compile_config == model.compile_config
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_resumed_training_continues_with_the_same_optimizer_state(tmp_path, rng):
    x = rng.normal(size=(32, 5, 2)).astype("float32")
    y = x.sum(axis=(1, 2)).astype("float32")
    rnnlab.set_seed(3)
    straight = Sequential([SimpleRNN(6, input_shape=(5, 2)), Dense(1)])
    rnnlab.set_seed(3)
    resumed = Sequential([SimpleRNN(6, input_shape=(5, 2)), Dense(1)])
    for model in (straight, resumed):
        model.compile(optimizer="adam", loss="mse")
    straight.fit(x, y, epochs=3, shuffle=False, verbose=0)
    resumed.fit(x, y, epochs=2, shuffle=False, verbose=0)
    resumed.save(tmp_path / "m.safetensors")
    reloaded = rnnlab.load_model(tmp_path / "m.safetensors")
    assert int(reloaded.optimizer.state_dict()["state"][0]["step"]) == 2
    reloaded.fit(x, y, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    for a, b in zip(reloaded.parameters(), straight.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_weights_round_trip_and_lazy_model(tmp_path, rng):
    model = Sequential([LSTM(5, return_sequences=True), GRU(3), Dense(1)])
    x = torch.as_tensor(rng.normal(size=(4, 6, 2)), dtype=torch.float32)
    model(x)
    randomize(model, rng)
    model.save_weights(tmp_path / "w.safetensors")
    fresh = Sequential([LSTM(5, return_sequences=True), GRU(3), Dense(1)])  # not built yet
    fresh.load_weights(tmp_path / "w.safetensors")
    torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)


def test_mismatched_and_foreign_files_raise(tmp_path, rng):
    model, x, _ = trained_model(rng)
    model.save_weights(tmp_path / "w.safetensors")
    other = Sequential([Input((None,), dtype="int32"), Embedding(30, 6), LSTM(7), Dense(3)])
    with pytest.raises(
        ValueError,
        match=r"do not fit this model: missing \['layers.1.cell.bias', .*\]; "
        r"unexpected \['layers.1.backward_layer.cell.bias'",
    ):
        other.load_weights(tmp_path / "w.safetensors")
    wider = Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(30, 6, mask_zero=True),
            Bidirectional(GRU(5, return_sequences=True)),
            LSTM(9),
            Dropout(0.1),
            Dense(3),
        ]
    )
    with pytest.raises(
        ValueError,
        match=r"shape mismatch \['layers.2.cell.kernel: file \(10, 16\) vs model "
        r"\(10, 36\)'",
    ):
        wider.load_weights(tmp_path / "w.safetensors")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="Could not read .*notes.txt: it is damaged or not an rnnlab file"):
        rnnlab.load_model(tmp_path / "notes.txt")
    torch_file = tmp_path / "plain.safetensors"
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(torch_file))
    with pytest.raises(ValueError, match=r"plain.safetensors is not an rnnlab model file \(format 'missing'"):
        rnnlab.load_model(torch_file)
    with pytest.raises(FileNotFoundError, match="No such file: .*missing.safetensors"):
        rnnlab.load_model(tmp_path / "missing.safetensors")


def test_corrupted_file_raises(tmp_path, rng):
    model, _, _ = trained_model(rng)
    path = tmp_path / "m.safetensors"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="it is damaged or not an rnnlab file"):
        rnnlab.load_model(path)


def test_interrupted_save_keeps_the_previous_file(tmp_path, rng, monkeypatch):
    model, x, _ = trained_model(rng)
    path = tmp_path / "m.safetensors"
    model.save(path)
    good = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(native, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temporary left behind


def test_files_carry_json_architecture_and_no_pickle(tmp_path, rng):
    model, _, _ = trained_model(rng)
    model.save(tmp_path / "m.safetensors")
    tensors, metadata = native.read(tmp_path / "m.safetensors")
    assert metadata["format"] == "rnnlab.model/1"
    assert '"class_name": "Bidirectional"' in metadata["model"]
    assert all(k.startswith(("weights/", "optimizer/")) for k in tensors)


def test_subclassed_models_save_weights_only(tmp_path):
    class Net(rnnlab.Model):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = LSTM(4), Dense(1)

        def forward(self, x):
            return self.head(self.rnn(x))

    net = Net()
    net(torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="Net has no config that rebuilds it"):
        net.save(tmp_path / "net.safetensors")
    net.save_weights(tmp_path / "w.safetensors")
    assert not (tmp_path / "net.safetensors").exists()


def run_backup_script(workdir: Path, kill_at: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(Path(__file__).with_name("backup_run.py")), str(workdir), kill_at],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_backup_and_restore_survives_sigkill(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir(), killed.mkdir()
    assert run_backup_script(clean, "never").returncode == 0

    first = run_backup_script(killed, "3:2")  # SIGKILL in the middle of the third epoch
    assert first.returncode == -signal.SIGKILL
    assert (killed / "backup" / "backup.safetensors").exists()
    second = run_backup_script(killed, "never")
    assert second.returncode == 0, second.stderr
    assert "BackupAndRestore: resuming after epoch 2" in second.stderr

    want, _ = native.read(clean / "final.safetensors")
    got, _ = native.read(killed / "final.safetensors")
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
    assert (killed / "log.csv").read_text() == (clean / "log.csv").read_text()
    assert not (killed / "backup").exists()  # removed once training completed
