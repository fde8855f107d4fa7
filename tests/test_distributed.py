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
    one = run(
        [sys.executable, str(SCRIPT), str(tmp_path / "one"), "32", "--weights-from", "start.safetensors"], tmp_path
    )
    two = run([*TORCHRUN, str(SCRIPT), str(tmp_path / "two"), "16", "--weights-from", "start.safetensors"], tmp_path)
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
    want, got = weights(tmp_path / "one" / "weights.safetensors"), weights(tmp_path / "two" / "weights.safetensors")
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6)


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
