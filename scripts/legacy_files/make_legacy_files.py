"""Write one file of each format rnnlab writes, with the outputs they must give, for
tests/test_legacy_files.py: files written by an earlier rnnlab must keep loading.

    python scripts/legacy_files/make_legacy_files.py tests/fixtures/legacy

Only the public API is used, so the script runs on any version of the package; run it again
only to add a format, never to refresh the files (their age is what the test is for).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import rnnlab
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN


def models() -> dict[str, rnnlab.Sequential]:
    rnnlab.set_seed(0)
    floats = rnnlab.Sequential([rnnlab.Input((5, 3)), LSTM(4, return_sequences=True), GRU(3), Dense(2)])
    tokens = rnnlab.Sequential(
        [rnnlab.Input((6,), dtype="int32"), Embedding(10, 4, mask_zero=True), Bidirectional(SimpleRNN(3)), Dense(1)]
    )
    return {"floats": floats, "tokens": tokens}


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 10, size=(4, 6)).astype("int32")
    ids[:, 4:] = 0  # masked padding
    return {"floats": rng.standard_normal((4, 5, 3)).astype("float32"), "tokens": ids}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    expected = {}
    for name, model in models().items():
        x = inputs()[name]
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, rng.standard_normal((len(x), model.layers[-1].units)).astype("float32"), epochs=1, verbose=0)
        model.save(out / f"{name}.safetensors")
        model.save(out / f"{name}.keras")
        model.save_weights(out / f"{name}.weights.h5")
        np.save(out / f"{name}.input.npy", x)
        np.save(out / f"{name}.output.npy", model.predict(x))
        expected[name] = {"rnnlab": rnnlab.__version__}
    (out / "written_by.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
