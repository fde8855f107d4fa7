"""model.export(path, format="onnx"): ONNX Runtime runs the file and gives the model's outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rnnlab.cells import SimpleRNNCell
from rnnlab.cli import main
from rnnlab.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Input,
    Lambda,
    Masking,
    SimpleRNN,
)
from rnnlab.models import Model, Sequential
from rnnlab.saving.load import load_model

ort = pytest.importorskip("onnxruntime")

FEATURES = 4
SHAPES = [(2, 3), (5, 7)]  # (batch, time): two batch sizes and two lengths through one file


def _oracle(model: Model) -> Model:
    """The model on the reference kernel (the tests' oracle), every weight and bias random."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-0.6, 0.6)
    for module in model.modules():
        if isinstance(module, RNN):
            module.implementation = "reference"
    return model


def _run_onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"inputs": inputs})[0]


def _check(model: Model, tmp_path: Path, inputs: list[np.ndarray]) -> None:
    model = _oracle(model)
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx")
    for x in inputs:
        expected = model(torch.as_tensor(x)).detach().numpy()
        got = _run_onnx(path, x)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def _floats() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal((b, t, FEATURES)).astype(np.float32) for b, t in SHAPES]


def _sequential(*layers: Any) -> Sequential:
    return Sequential([Input((None, FEATURES)), *layers])


RECURRENT = {
    "simple_rnn_tanh": lambda **kw: SimpleRNN(6, **kw),
    "simple_rnn_relu": lambda **kw: SimpleRNN(6, activation="relu", **kw),
    "lstm": lambda **kw: LSTM(6, **kw),
    "lstm_hard_sigmoid": lambda **kw: LSTM(6, recurrent_activation="hard_sigmoid", **kw),
    "gru_reset_after": lambda **kw: GRU(6, **kw),
    "gru_reset_before": lambda **kw: GRU(6, reset_after=False, **kw),
    "gru_no_bias": lambda **kw: GRU(6, use_bias=False, **kw),
}


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cell", sorted(RECURRENT))
def test_recurrent_layer(cell: str, go_backwards: bool, return_sequences: bool, tmp_path: Path) -> None:
    layer = RECURRENT[cell](go_backwards=go_backwards, return_sequences=return_sequences)
    _check(_sequential(layer), tmp_path, _floats())


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("cell", ["simple_rnn_tanh", "lstm", "gru_reset_after", "gru_reset_before"])
def test_bidirectional(cell: str, merge_mode: str, return_sequences: bool, tmp_path: Path) -> None:
    layer = Bidirectional(RECURRENT[cell](return_sequences=return_sequences), merge_mode=merge_mode)
    _check(_sequential(layer), tmp_path, _floats())


def test_stacked_layers_dense_and_dropout(tmp_path: Path) -> None:
    model = _sequential(
        LSTM(8, return_sequences=True, dropout=0.2, recurrent_dropout=0.3),
        Dropout(0.5),
        Bidirectional(GRU(5, return_sequences=True)),
        SimpleRNN(4, activation="relu", return_sequences=True),
        GRU(3),
        Dense(7, activation="tanh"),
        Dropout(0.1),
        Dense(3, activation="softmax"),
    )
    _check(model, tmp_path, _floats())


def test_dense_over_every_step(tmp_path: Path) -> None:
    _check(_sequential(LSTM(6, return_sequences=True), Dense(2, activation="sigmoid")), tmp_path, _floats())


def _padded_ids() -> list[np.ndarray]:
    """Token ids padded on the right with 0: full rows, short rows, one empty row."""
    rng = np.random.default_rng(2)
    batches = []
    for batch, time in SHAPES:
        ids = rng.integers(1, 9, size=(batch, time))
        lengths = rng.integers(0, time + 1, size=batch)
        lengths[0], lengths[-1] = time, 1
        if batch > 2:
            lengths[1] = 0  # a row of padding only: the initial state throughout
        ids[np.arange(time)[None, :] >= lengths[:, None]] = 0
        batches.append(ids.astype(np.int64))
    return batches


MASKED = {
    "lstm_last": lambda: [LSTM(6)],
    "gru_sequences": lambda: [GRU(6, return_sequences=True)],
    "simple_rnn_backwards": lambda: [SimpleRNN(6, go_backwards=True, return_sequences=True)],
    "lstm_backwards_last": lambda: [LSTM(6, go_backwards=True)],
    "bidirectional_sequences": lambda: [Bidirectional(LSTM(5, return_sequences=True))],
    "bidirectional_last": lambda: [Bidirectional(GRU(5), merge_mode="ave")],
    "stacked": lambda: [LSTM(6, return_sequences=True), Dropout(0.2), GRU(4), Dense(2)],
}


@pytest.mark.parametrize("case", sorted(MASKED))
def test_embedding_mask_zero_right_padding(case: str, tmp_path: Path) -> None:
    model = Sequential([Input((None,), dtype="int64"), Embedding(9, 4, mask_zero=True), *MASKED[case]()])
    _check(model, tmp_path, _padded_ids())


def test_embedding_without_mask(tmp_path: Path) -> None:
    model = Sequential([Input((None,), dtype="int64"), Embedding(9, 4), GRU(5)])
    _check(model, tmp_path, _padded_ids())


def test_onnx_graph_uses_onnx_recurrent_operators(tmp_path: Path) -> None:
    import onnx

    model = _sequential(SimpleRNN(3, return_sequences=True), LSTM(3, return_sequences=True), GRU(3))
    model.export(tmp_path / "m.onnx")  # the extension chooses the format
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert [n.op_type for n in graph.node if n.op_type in ("RNN", "LSTM", "GRU", "Loop", "Scan")] == [
        "RNN",
        "LSTM",
        "GRU",
    ]
    gru = next(n for n in graph.node if n.op_type == "GRU")
    assert onnx.helper.get_attribute_value(next(a for a in gru.attribute if a.name == "linear_before_reset")) == 1
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "time", FEATURES]


class _MyCell(SimpleRNNCell):
    pass


UNSUPPORTED = {
    "stateful": (
        lambda: Sequential([Input((None, FEATURES), batch_size=2), LSTM(3, stateful=True, name="s")]),
        "Layer 's' (LSTM) cannot be exported to ONNX: stateful=True carries states between calls; "
        "ONNX graphs keep none.",
    ),
    "custom_cell": (
        lambda: _sequential(RNN(_MyCell(3), name="c")),
        "Layer 'c' (RNN) cannot be exported to ONNX: its cell _MyCell has no ONNX operator "
        "(SimpleRNNCell, LSTMCell and GRUCell do).",
    ),
    "lambda": (
        lambda: _sequential(Lambda(lambda x: x * 2, name="double"), GRU(3)),
        "Layer 'double' (Lambda) cannot be exported to ONNX: ONNX export covers Embedding, SimpleRNN, "
        "LSTM, GRU, Bidirectional, Dense and Dropout.",
    ),
    "masking": (
        lambda: _sequential(Masking(name="m"), GRU(3)),
        "Layer 'm' (Masking) cannot be exported to ONNX: ONNX export covers Embedding, SimpleRNN, "
        "LSTM, GRU, Bidirectional, Dense and Dropout.",
    ),
    "merge_mode_none": (
        lambda: _sequential(Bidirectional(GRU(3), merge_mode=None, name="b")),
        "Layer 'b' (Bidirectional) cannot be exported to ONNX: merge_mode=None returns two outputs; "
        "use concat, sum, mul or ave.",
    ),
    "activation": (
        lambda: _sequential(LSTM(3, activation="elu", name="e")),
        "Layer 'e' (LSTM) cannot be exported to ONNX: activation 'elu' has no exact ONNX form "
        "(exported: tanh, relu, sigmoid, hard_sigmoid).",
    ),
    "dense_activation": (
        lambda: _sequential(GRU(3), Dense(2, activation="gelu", name="d")),
        "Layer 'd' (Dense) cannot be exported to ONNX: activation 'gelu' has no exact ONNX form "
        "(exported: linear, softmax, tanh, relu, sigmoid, hard_sigmoid).",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_is_an_error_before_any_write(case: str, tmp_path: Path) -> None:
    build, message = UNSUPPORTED[case]
    model = build()
    with pytest.raises(ValueError) as err:
        model.export(tmp_path / "model.onnx", format="onnx")
    assert str(err.value) == message
    assert os.listdir(tmp_path) == []


def test_a_model_that_is_not_sequential_is_an_error(tmp_path: Path) -> None:
    class Twice(Model):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = GRU(3)

        def call(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)

    with pytest.raises(ValueError, match=r"^ONNX export reads Sequential models; received Twice\."):
        Twice().export(tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_format_errors(tmp_path: Path) -> None:
    model = _sequential(GRU(3))
    with pytest.raises(ValueError, match=r"export\(\) cannot tell the format of '.*m\.bin': pass format='onnx'"):
        model.export(tmp_path / "m.bin")
    with pytest.raises(ValueError, match=r"^Unknown export format 'tflite'\. Expected one of \['onnx', 'torch'\]\.$"):
        model.export(tmp_path / "m.onnx", format="tflite")
    assert os.listdir(tmp_path) == []


def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ValueError):
        _sequential(LSTM(3, activation="elu")).export(path)
    assert path.read_bytes() == b"old"  # an unexportable model leaves the old file alone
    model = _oracle(_sequential(GRU(3)))
    model.export(path)
    x = _floats()[0]
    np.testing.assert_allclose(_run_onnx(path, x), model(torch.as_tensor(x)).detach().numpy(), atol=1e-5, rtol=0)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_torch_format_round_trip(tmp_path: Path) -> None:
    model = _sequential(LSTM(6, return_sequences=True), GRU(4), Dense(2)).eval()
    try:
        model.export(tmp_path / "m.pt2")
    except ValueError as err:  # torch.export traces the layers' kernel; not every kernel traces yet
        pytest.skip(f"torch.export does not trace this model here: {err}")
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    for batch, time in SHAPES:
        x = torch.randn(batch, time, FEATURES)
        torch.testing.assert_close(program(x), model(x), atol=1e-5, rtol=0)


def test_torch_format_error_names_the_model(tmp_path: Path) -> None:
    model = Sequential([Input((None, FEATURES)), LSTM(3, implementation="reference")], name="looped")
    with pytest.raises(ValueError, match=r"^torch\.export could not trace model 'looped' \(.*format='onnx' instead\.$"):
        model.export(tmp_path / "m.pt2")
    assert os.listdir(tmp_path) == []


def test_cli_exports_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["sequence", "--epochs", "1", "--units", "2", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", "--model", str(run), "--format", "onnx", "--out", str(tmp_path / "out")]) == 0
    written = tmp_path / "out" / "model.onnx"
    assert capsys.readouterr().out.strip().endswith(str(written))
    model = load_model(run / "model.safetensors")
    time = model.input_spec.shape[0] if model.input_spec and model.input_spec.shape else 3
    x = np.random.default_rng(3).standard_normal((3, time or 3, 1)).astype(np.float32)
    np.testing.assert_allclose(_run_onnx(written, x), model.predict(x), atol=1e-5, rtol=0)


def test_cli_bad_model_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--model", str(tmp_path / "none")]) == 2
    assert "No model file or run directory at" in capsys.readouterr().err
