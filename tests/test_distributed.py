"""Data-parallel training with torch.distributed on CPU: 2 processes, gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.layers import LSTM, Dense

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "ddp_run.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")


def run(args, cwd, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_two_processes_of_16_equal_one_process_of_32(tmp_path):
    """Also: a single-process checkpoint starts the distributed run, every process stops on the
    same epoch with the same weights, and losses and metrics are averaged over all samples."""
    rnnlab.set_seed(11)
    start = rnnlab.Sequential([rnnlab.Input((6, 3)), LSTM(8), Dense(1)])
    start.save_weights(tmp_path / "start.safetensors")
    options = ["--weights-from", "start.safetensors", "--early-stop"]
    one = run([sys.executable, str(SCRIPT), str(tmp_path / "one"), "32", *options], tmp_path)
    two = run([*TORCHRUN, str(SCRIPT), str(tmp_path / "two"), "16", *options], tmp_path)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr[-3000:]
    assert "Data-parallel training on 2 processes (gloo): batches of 16 per process, 32 in all." in two.stderr

    single = json.loads((tmp_path / "one" / "rank0.json").read_text())
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert single["processes"] == 1 and ranks[0]["processes"] == 2
    assert single["epochs"] == [0, 1] and all(r["epochs"] == [0, 1] and r["stopped_epoch"] == 1 for r in ranks)
    assert ranks[0]["checksum"] == ranks[1]["checksum"]  # the processes hold the same model
    for key, values in single["history"].items():
        for rank in ranks:
            np.testing.assert_allclose(rank["history"][key], values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ranks[0]["evaluate"], single["evaluate"], rtol=1e-5, atol=1e-6)
    assert_same_weights(tmp_path / "two" / "weights.safetensors", tmp_path / "one" / "weights.safetensors")


def assert_same_weights(got_path, want_path, atol=1e-6):
    want, got = weights(want_path), weights(got_path)
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["masked", "stateful"])
def test_masks_and_carried_states_work_across_processes(tmp_path, kind):
    """Process r takes samples r, r+2, ...: row j of its batch b carries on from row j of batch b-1,
    as row 2j + r does in one process of twice the batch."""
    options = ["--model", kind, "--epochs", "2"]
    one = run([sys.executable, str(SCRIPT), str(tmp_path / "one"), "32", *options], tmp_path)
    two = run([*TORCHRUN, str(SCRIPT), str(tmp_path / "two"), "16", *options], tmp_path)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr[-3000:]
    assert_same_weights(tmp_path / "two" / "weights.safetensors", tmp_path / "one" / "weights.safetensors")


def test_a_distributed_run_resumes_in_one_process_from_its_backup(tmp_path):
    backup = ["--backup", str(tmp_path / "backup"), "--epochs", "3"]
    crashed = run([*TORCHRUN, str(SCRIPT), str(tmp_path / "two"), "16", *backup, "--crash-epoch", "2"], tmp_path)
    assert crashed.returncode != 0 and "crashed as epoch 2 began" in crashed.stderr
    assert (tmp_path / "backup" / "backup.safetensors").exists()  # written after epoch 2 of 3 by process 0
    same_callbacks = ["--crash-epoch", "99"]
    resumed = run([sys.executable, str(SCRIPT), str(tmp_path / "resumed"), "32", *backup, *same_callbacks], tmp_path)
    whole = run([sys.executable, str(SCRIPT), str(tmp_path / "whole"), "32", "--epochs", "3"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert whole.returncode == 0, whole.stderr
    assert "resuming after epoch 2" in resumed.stderr
    assert json.loads((tmp_path / "resumed" / "rank0.json").read_text())["epochs"] == [0, 1, 2]
    assert_same_weights(tmp_path / "resumed" / "weights.safetensors", tmp_path / "whole" / "weights.safetensors")
    assert not (tmp_path / "backup").exists()  # the backup goes once training completes


def test_the_command_with_nproc_2_writes_one_run_directory(tmp_path):
    args = [
        "multiplication",
        "--nproc",
        "2",
        "--epochs",
        "1",
        "--length",
        "8",
        "--samples",
        "160",
        "--train-samples",
        "128",
        "--cells",
        "lstm",
        "--quiet",
    ]
    result = run([sys.executable, "-m", "rnnlab.cli", *args], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Run directory:") == 1  # process 0 alone reports
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith(".")
    config = json.loads((runs[0] / "config.json").read_text())
    assert config["processes"] == 2 and config["global_batch_size"] == 64
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    model = rnnlab.load_model(runs[0] / "model-lstm.safetensors")  # loads in a single process
    x, y = rnnlab.datasets.multiplication_problem(160, 8, rng=0)
    mse = float(np.mean((model.predict(x[128:])[:, 0] - y[128:]) ** 2))
    assert metrics["results"][0]["test_mse"] == pytest.approx(mse, rel=1e-5)


def test_a_failing_process_ends_the_run_with_its_message(tmp_path):
    result = run([*TORCHRUN, str(SCRIPT), str(tmp_path / "fail"), "16", "--fail", "1"], tmp_path, timeout=180)
    assert result.returncode != 0  # and within the timeout: no process waits forever
    assert "ValueError: process 1 failed on purpose" in result.stderr
    assert not (tmp_path / "fail" / "weights.safetensors").exists()
