import ipaddress
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.core.layer import reset_names

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DATA_DIR = Path(os.environ.get("RNNLAB_DATA_DIR", ROOT.parent / "shared" / "data"))

# The Keras programs train when imported: test_keras_programs.py runs each in a fresh namespace,
# so the doctest collector must not import them (their layer names would depend on the order).
collect_ignore_glob = ["keras_programs/*.py"]

# "auto" takes the first kernel of its order that can run a call, whatever the timings of the
# moment, so that every test sees the same kernels; test_kernel_choice.py measures where it tests that.
os.environ["RNNLAB_KERNEL_CHOICE"] = "order"


class NetworkAccessError(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise NetworkAccessError(f"tests must not use the network (tried to connect to {address!r})")
    return _connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Any connection to another host is an error: tests read data from RNNLAB_DATA_DIR only."""
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _connect


@pytest.fixture(autouse=True)
def _fresh_session():
    """Every test starts from the same seed and the same automatic layer names."""
    reset_names()
    rnnlab.set_seed(0)
    torch.set_default_dtype(torch.float32)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def require_data(*names: str) -> Path:
    """The shared data folder, or a skip that names the missing files (never a download)."""
    missing = [name for name in names if not (DATA_DIR / name).exists()]
    if missing:
        pytest.skip(f"data files {missing} not in {DATA_DIR} (set RNNLAB_DATA_DIR)")
    return DATA_DIR
