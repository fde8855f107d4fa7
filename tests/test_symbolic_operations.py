"""Keras's operators and ``rnnlab.ops`` on symbolic tensors: each records an operation of the functional
graph (as Keras 3's ``Operation``), runs on torch tensors in the model's forward, is listed by ``summary()``
but not in ``model.layers``, and travels in the model's config, rnnlab's files and ``.keras`` files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import layers, ops
from rnnlab.core.symbolic import Operation
from rnnlab.models import Functional, Model


def operators_model() -> Model:
    a, b = layers.Input((3, 4), name="a"), layers.Input((3, 4), name="b")
    mixed = (a + b) * 0.5 - a / (1.0 + ops.abs(b)) + (-a) ** 2 + 2**b
    last = mixed[:, -1]  # (B, 4)
    scores = ops.softmax(ops.squeeze(mixed @ ops.expand_dims(last, -1), axis=-1), axis=-1)  # (B, 3)
    picked = ops.where(a > b, a, b)[:, 0, 1:3]  # (B, 2)
    pooled = ops.concatenate([ops.sum(mixed, axis=1), ops.mean(mixed, axis=1)], axis=-1)  # (B, 8)
    return Model([a, b], [layers.Dense(2, name="head")(pooled), scores, picked])


def torch_outputs(model: Model, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
    """The same computation written with torch."""
    mixed = (a + b) * 0.5 - a / (1.0 + b.abs()) + (-a) ** 2 + 2**b
    last = mixed[:, -1]
    scores = torch.softmax((mixed @ last[..., None]).squeeze(-1), dim=-1)
    picked = torch.where(a > b, a, b)[:, 0, 1:3]
    pooled = torch.cat([mixed.sum(1), mixed.mean(1)], dim=-1)
    head = model.get_layer("head")
    return [pooled @ head.kernel + head.bias, scores, picked]


def test_operators_and_ops_record_operations_that_run_in_forward():
    model = operators_model()
    a, b = torch.randn(5, 3, 4), torch.randn(5, 3, 4)
    for ours, expected in zip(model([a, b]), torch_outputs(model, a, b), strict=True):
        torch.testing.assert_close(ours, expected)
    assert [layer.name for layer in model.layers] == ["b", "a", "head"]  # operations are no layers, as in Keras
    # Keras 3.15's model.operations for this graph, in its order
    keras_operations = (
        "b a absolute add add_1 multiply true_divide negative subtract power add_2 power_1 add_3 get_item"
    )
    keras_operations += " expand_dims sum mean matmul greater concatenate squeeze where head softmax get_item_1"
    assert [layer.name for layer, _ in model.summary_rows()] == keras_operations.split()
    assert "│ add (Add)  " in model.summary(print_fn=None)
    assert model.get_layer(index=2).name == "head"  # get_layer, as model.layers, knows layers only
    with pytest.raises(ValueError, match=r"No such layer: 'add'"):
        model.get_layer("add")
    assert [o.shape for o in model.outputs] == [(None, 2), (None, 3), (None, 2)]
    assert model.outputs[2].dtype == "float32" and (layers.Input((2,)) > 0).dtype == "bool"


def test_operations_travel_in_the_config_and_in_both_file_formats(tmp_path):
    model = operators_model()
    entry = next(e for e in model.get_config()["layers"] if e["name"] == "get_item")
    assert {k: entry[k] for k in ("module", "class_name", "registered_name", "config")} == {
        "module": "keras.src.ops.numpy",
        "class_name": "GetItem",
        "registered_name": "GetItem",
        "config": {"name": "get_item"},
    }
    assert entry["inbound_nodes"][0]["args"][1] == (  # the key x[:, -1], a tuple as Keras's get_config gives it
        {"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}},
        -1,
    )
    x = [np.random.default_rng(0).normal(size=(4, 3, 4)).astype("float32") for _ in range(2)]
    expected = model.predict(x)
    rebuilt = Functional.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    for path in (None, tmp_path / "ops.safetensors", tmp_path / "ops.keras"):
        if path is not None:
            model.save(path)
            rebuilt = rnnlab.models.load_model(path)
        for ours, theirs in zip(rebuilt.predict(x), expected, strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_ops_on_tensors_stay_eager_and_on_symbolic_tensors_record():
    x = torch.arange(6.0).reshape(2, 3)
    torch.testing.assert_close(ops.sum(x, axis=1), torch.tensor([3.0, 12.0]))
    symbolic = layers.Input((3,))
    assert ops.shape(symbolic) == (None, 3) and ops.convert_to_tensor(symbolic) is symbolic
    total = ops.sum(symbolic, axis=1)
    assert total.shape == (None,)
    operation = total.node.layer
    assert isinstance(operation, Operation) and type(operation).__name__ == "Sum"
    assert operation.get_config() == {"name": "sum", "axis": 1, "keepdims": False}
    first, second = ops.split(symbolic, [1], axis=-1)  # an operation of two outputs
    assert (first.shape, second.shape) == ((None, 1), (None, 2))
    assert Model(symbolic, [first, second])([x])[1].shape == (2, 2)


def test_bad_operations_get_clear_errors():
    with pytest.raises(
        ValueError, match=r"Operation 'add' \(Add\) cannot take symbolic tensors of shapes \[\(None, 3\), \(None, 4\)\]"
    ):
        layers.Input((3,)) + layers.Input((4,))
    with pytest.raises(TypeError, match="cannot be iterated over"):
        list(layers.Input((3,)))
    with pytest.raises(ValueError, match=r"Keras's operation 'Einsum' .* which rnnlab does not have"):
        rnnlab.core.symbolic.operation_from_config(
            {"module": "keras.src.ops.numpy", "class_name": "Einsum", "config": {"name": "einsum"}}
        )
    with pytest.raises(ValueError, match=r"Keras's operation Max with \{'initial': 0.0\} has no rnnlab form"):
        rnnlab.core.symbolic.OPERATIONS["Max"].from_config({"name": "max", "axis": 1, "initial": 0.0})
    assert rnnlab.core.symbolic.OPERATIONS["Max"].from_config({"name": "max", "axis": 1, "initial": None}).options == {
        "axis": 1
    }


def test_optional_input_keeps_its_flag_in_the_config_and_says_when_none_is_not_allowed():
    class AddIfGiven(layers.Layer):
        def call(self, x, y=None):
            return x if y is None else x + y

        def compute_output_shape(self, x_shape):
            return x_shape

    required, optional = layers.Input((2,), name="required"), layers.Input((2,), name="extra", optional=True)
    model = Model([required, optional], AddIfGiven()(required, optional))
    assert [entry["config"].get("optional") for entry in model.get_config()["layers"][:2]] == [False, True]
    np.testing.assert_array_equal(model([np.ones((2, 2)), None]).numpy(), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"The input 'required' is not optional, but None was passed"):
        model([None, np.ones((2, 2))])


def test_operations_export_to_onnx_and_the_torch_program(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime checks the export: pip install 'rnnlab[onnx]'")
    sequence = layers.Input((None, 3), name="sequence")
    other = layers.Input((4,), name="other")
    states = layers.GRU(4, return_sequences=True)(sequence)
    summary = states[:, -1] * 2.0 + ops.mean(states, axis=1) - other
    model = Model([sequence, other], layers.Dense(2)(ops.concatenate([summary, ops.tanh(other)], axis=-1))).eval()
    model.export(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for batch, time in [(3, 5), (2, 9)]:  # one file, batch and time free
        x, y = torch.randn(batch, time, 3), torch.randn(batch, 4)
        (got,) = session.run(None, {"sequence": x.numpy(), "other": y.numpy()})
        np.testing.assert_allclose(got, model([x, y]).detach().numpy(), atol=1e-5)
    model.export(tmp_path / "m.pt2")
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    x, y = torch.randn(3, 5, 3), torch.randn(3, 4)
    torch.testing.assert_close(program([x, y]), model([x, y]))


def test_an_index_past_the_probes_small_sizes_is_taken_as_keras_takes_it():
    sequence = layers.Input((None, 4))
    assert sequence[:, 5].shape == (None, 4) and sequence[:, -1].shape == (None, 4)
    model = Model(sequence, sequence[:, 5])
    x = np.arange(2 * 8 * 4, dtype="float32").reshape(2, 8, 4)
    np.testing.assert_array_equal(model.predict(x), x[:, 5])
