import os
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.base import reset_names

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DATA_DIR = Path(os.environ.get("RNNLAB_DATA_DIR", ROOT.parent / "shared" / "data"))


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
