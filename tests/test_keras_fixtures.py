"""Golden tests against real Keras 3: every single-layer case of tests/fixtures/keras, for every kernel.

The fixtures were written by scripts/keras_fixtures/make_fixtures.py (Keras 3.15.1, TensorFlow,
CPU) with seeded random weights and biases, ragged masks, initial states, both directions,
every Bidirectional merge mode and a stateful layer. Each case is rebuilt here from the exact
constructor kwargs Keras received, given Keras's weights with ``set_weights`` and run on the
same inputs; every output must agree to 1e-5. Every case runs once with ``implementation="auto"``
and once with ``implementation="reference"``, so both kernels are pinned to Keras.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rnnlab import Input, Sequential
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, SimpleRNN, TimeDistributed

KERAS = Path(__file__).resolve().parent / "fixtures" / "keras"
CASES: dict[str, dict[str, Any]] = json.loads((KERAS / "layers.json").read_text())
ARRAYS = dict(np.load(KERAS / "layers.npz"))
RECURRENT = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
KERNELS = ["auto", "reference"]
ATOL = 1e-5


def build(case: dict[str, Any], implementation: str) -> SimpleRNN | LSTM | GRU | Bidirectional:
    """The rnnlab layer for a case, from the constructor kwargs Keras was given."""
    config = case["config"]
    if case["layer"] == "Bidirectional":
        inner = RECURRENT[config["layer"]](**config["layer_config"], implementation=implementation)
        return Bidirectional(inner, merge_mode=config["merge_mode"])
    return RECURRENT[case["layer"]](**config, implementation=implementation)


def array(name: str, key: str) -> np.ndarray:
    return ARRAYS[f"{name}/{key}"]


def keras_weights(name: str, case: dict[str, Any]) -> list[np.ndarray]:
    weights = [array(name, f"w{i}") for i in range(case["n_weights"])]
    assert [list(w.shape) for w in weights] == case["weight_shapes"]
    return weights


def as_list(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_close(actual: torch.Tensor, expected: np.ndarray, what: str) -> None:
    actual = actual.detach().cpu().numpy()
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != Keras {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ATOL, err_msg=what)


STATELESS = sorted(name for name, case in CASES.items() if not case["config"].get("stateful"))
STATEFUL = sorted(name for name, case in CASES.items() if case["config"].get("stateful"))


def test_fixture_inventory():
    """The fixture files hold the cases this module expects (43, one of them stateful)."""
    assert len(CASES) == 43
    assert STATEFUL == ["lstm_stateful"]
    layers = {case["layer"] for case in CASES.values()}
    assert layers == {"SimpleRNN", "LSTM", "GRU", "Bidirectional"}


@pytest.mark.parametrize("implementation", KERNELS)
@pytest.mark.parametrize("name", STATELESS)
def test_layer_matches_keras(name: str, implementation: str):
    case = CASES[name]
    x = array(name, "x")
    call: dict[str, Any] = {}
    if case["mask"]:
        call["mask"] = torch.as_tensor(array(name, "mask"))
    if case["initial_state"]:
        n_states = sum(1 for key in ARRAYS if re.fullmatch(rf"{re.escape(name)}/s\d+", key))
        call["initial_state"] = [torch.as_tensor(array(name, f"s{k}")) for k in range(n_states)]

    layer = build(case, implementation)
    layer(x, **call)  # build
    layer.set_weights(keras_weights(name, case))
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in layer.get_weights()]),
        np.concatenate([w.ravel() for w in keras_weights(name, case)]),
    )
    layer.eval()
    with torch.no_grad():
        outputs = as_list(layer(x, **call))

    assert len(outputs) == case["n_outputs"]
    for j, out in enumerate(outputs):
        assert_close(out, array(name, f"out{j}"), f"{name} [{implementation}] output {j}")


@pytest.mark.parametrize("implementation", KERNELS)
@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_layer_matches_keras(name: str, implementation: str):
    case = CASES[name]
    layer = build(case, implementation)
    layer(array(name, "x1"))  # build (leaves a state behind, as in Keras)
    layer.set_weights(keras_weights(name, case))
    layer.reset_states()
    layer.eval()
    with torch.no_grad():
        assert_close(layer(array(name, "x1")), array(name, "out_1"), f"{name} x1")
        assert_close(layer(array(name, "x2")), array(name, "out_2"), f"{name} x2 after x1")
        layer.reset_states()
        assert_close(layer(array(name, "x2")), array(name, "out_reset"), f"{name} x2 after reset_states()")


# -- summary() against Keras's tables ------------------------------------------------------------
def lstm_model() -> Sequential:
    return Sequential([Input((7, 3)), LSTM(4), Dense(1)])


SUMMARY_MODELS = {
    "embed_lstm": lambda: Sequential(
        [Input((6,), dtype="int32"), Embedding(20, 5, mask_zero=True), LSTM(4), Dense(3, activation="softmax")]
    ),
    "stacked": lambda: Sequential(
        [Input((7, 3)), LSTM(5, return_sequences=True), GRU(4), Dense(4, activation="relu"), Dropout(0.2), Dense(1)]
    ),
    "bidir_gru": lambda: Sequential(
        [Input((7, 3)), Bidirectional(GRU(4, return_sequences=True), merge_mode="sum"), SimpleRNN(3), Dense(2)]
    ),
    "gru_reset_before": lambda: Sequential([Input((7, 3)), GRU(4, reset_after=False, go_backwards=True), Dense(1)]),
    "timedistributed": lambda: Sequential(
        [Input((7, 3)), SimpleRNN(4, return_sequences=True), TimeDistributed(Dense(2))]
    ),
    "lstm_compiled": lstm_model,
    "lstm_simplernn": lambda: Sequential(
        [
            Input((3, 1)),
            LSTM(64, return_sequences=True),
            SimpleRNN(64),
            Dense(64, activation="relu"),
            Dropout(0.2),
            Dense(1),
        ]
    ),
    "embedding_lstm": lambda: Sequential([Input((None,), dtype="int32"), Embedding(1000, 100), LSTM(100), Dense(46)]),
}


def table_rows(text: str) -> list[tuple[str, ...]]:
    """The cell contents of each row ('│ name (Type) │ shape │ params │'), padding stripped.

    A narrow Keras table wraps a long cell onto continuation lines (whose other cells are
    empty); their text is joined back onto the row they continue.
    """
    rows: list[tuple[str, ...]] = []
    for line in text.splitlines():
        if not line.startswith(("│", "┃")):
            continue
        cells = tuple(cell.strip() for cell in line.strip()[1:-1].split(line[0]))
        if rows and line.startswith("│") and not cells[-1]:  # continuation of the previous row
            rows[-1] = tuple(" ".join(filter(None, pair)) for pair in zip(rows[-1], cells, strict=True))
        else:
            rows.append(cells)
    return rows


def params_line(text: str, label: str) -> str:
    """'185,046 (722.84 KB)' from the line ' Total params: 185,046 (722.84 KB)'."""
    match = re.search(rf"^ *{label} params: (.*)$", text, re.MULTILINE)
    assert match, f"no '{label} params' line in:\n{text}"
    return match.group(1).strip()


def test_summary_covers_every_fixture():
    assert {p.stem[len("summary_") :] for p in KERAS.glob("summary_*.txt")} - {"unsupported"} == set(SUMMARY_MODELS)


@pytest.mark.parametrize("name", sorted(SUMMARY_MODELS))
def test_summary_matches_keras(name: str):
    expected = (KERAS / f"summary_{name}.txt").read_text(encoding="utf-8")
    text = SUMMARY_MODELS[name]().summary(print_fn=None)

    assert text.splitlines()[0] == expected.splitlines()[0]  # Model: "sequential"
    assert all(len(line) == 76 for line in text.splitlines()[1:] if line[:1] in "┏┃┡│├└")
    assert table_rows(text)[0] == table_rows(expected)[0]  # the header row
    assert table_rows(text)[1:] == table_rows(expected)[1:]  # name (type), output shape, params per layer
    for label in ("Trainable", "Non-trainable"):
        assert params_line(text, label) == params_line(expected, label)
    if re.search(r"Optimizer params", expected):
        # Keras adds the optimizer's variables (Adam's moments, iterations) to "Total";
        # rnnlab counts the model alone, which is Keras's "Trainable + Non-trainable".
        assert params_line(text, "Total") == params_line(expected, "Trainable")
    else:
        assert params_line(text, "Total") == params_line(expected, "Total")
