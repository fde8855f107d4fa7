"""Files written by an earlier rnnlab keep loading and give the outputs they gave then.

The files in ``tests/fixtures/legacy`` were written by ``scripts/legacy_files/make_legacy_files.py``
before the package was reorganised into floors; they are never regenerated. The outputs are
compared up to float32 rounding: a kernel may since compute its activations another way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rnnlab

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
MODELS = ("floats", "tokens")


def expected(name: str) -> tuple[np.ndarray, np.ndarray]:
    return np.load(LEGACY / f"{name}.input.npy"), np.load(LEGACY / f"{name}.output.npy")


def assert_gives(outputs: np.ndarray, expected_outputs: np.ndarray) -> None:
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", MODELS)
def test_an_rnnlab_model_file_loads_with_its_optimizer(name: str):
    x, y = expected(name)
    model = rnnlab.load_model(LEGACY / f"{name}.safetensors")
    assert_gives(model.predict(x), y)
    assert type(model.optimizer).__name__ == "KerasAdam"
    assert any(state for state in model.optimizer.state_dict()["state"].values())


@pytest.mark.parametrize("name", MODELS)
def test_a_keras_archive_loads(name: str):
    x, y = expected(name)
    assert_gives(rnnlab.load_model(LEGACY / f"{name}.keras").predict(x), y)


@pytest.mark.parametrize("name", MODELS)
def test_keras_weights_load_into_the_same_architecture(name: str):
    x, y = expected(name)
    architecture = rnnlab.load_model(LEGACY / f"{name}.safetensors").get_config()
    model = rnnlab.Sequential.from_config(architecture)
    model.load_weights(LEGACY / f"{name}.weights.h5")
    assert_gives(model.predict(x), y)
