"""Keras 3.15's tests of functional models (keras/src/models/functional_test.py), ported to rnnlab.

rnnlab's symbolic tensors take layer calls only: Keras's operators on them (``input_a + input_b``,
``i1 * 2``) have no rnnlab form. Where such an operator only feeds the layers a test is about, the
port writes the layer Keras would (``layers.Add()([input_a, input_b])``) and says so; where the
operator is what the test checks, the test is skipped with that reason. rnnlab's error messages say
the same things in rnnlab's words; the ports match the part Keras matches where the words agree.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab import layers
from rnnlab.core.symbolic import KerasTensor
from rnnlab.layers import Input
from rnnlab.models import Functional, Model

OPERATORS = "rnnlab's symbolic tensors take layer calls only, not operators (input_a + input_b, i1 * 2)"
OPTIONAL = "rnnlab inputs are dense tensors: optional inputs (Input(optional=True), None as data) are not supported"


def test_basic_flow_multi_input():
    input_a = Input(shape=(3,), batch_size=2, name="input_a")
    input_b = Input(shape=(3,), batch_size=2, name="input_b")
    x = layers.Add()([input_a, input_b])  # Keras: input_a + input_b
    x = layers.Dense(5)(x)
    outputs = layers.Dense(4)(x)
    model = Functional([input_a, input_b], outputs, name="basic")
    model.summary()

    assert model.name == "basic"
    assert isinstance(model, Functional)
    assert isinstance(model, Model)

    # Eager call
    in_val = [np.random.random((2, 3)), np.random.random((2, 3))]
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2, name="input_a_2")
    input_b_2 = Input(shape=(3,), batch_size=2, name="input_b_2")
    in_val = [input_a_2, input_b_2]
    out_val = model(in_val)
    assert out_val.shape == (2, 4)


@pytest.mark.skip(reason=f"{OPERATORS}; the test is about a scalar input read by an operator")
def test_scalar_input():
    pass


def test_mutable_state():
    inputs = Input(shape=(3,), batch_size=2, name="input")
    x = layers.Dense(5)(inputs)
    outputs = layers.Dense(5)(x)
    model = Functional(inputs, outputs)
    # Allow attaching state to a model that isn't directly part of the DAG.
    # Most useful for functional subclasses.
    model.extra_layer = layers.Dense(5)


def test_basic_flow_multi_output():
    inputs = Input(shape=(3,), batch_size=2, name="input")
    x = layers.Dense(5)(inputs)
    output_a = layers.Dense(4)(x)
    output_b = layers.Dense(5)(x)
    model = Functional(inputs, [output_a, output_b])

    # Eager call
    in_val = np.random.random((2, 3))
    out_val = model(in_val)
    assert isinstance(out_val, list)
    assert len(out_val) == 2
    assert out_val[0].shape == (2, 4)
    assert out_val[1].shape == (2, 5)

    # Symbolic call
    out_val = model(Input(shape=(3,), batch_size=2))
    assert isinstance(out_val, list)
    assert len(out_val) == 2
    assert out_val[0].shape == (2, 4)
    assert out_val[1].shape == (2, 5)


def test_basic_flow_dict_io():
    input_a = Input(shape=(3,), batch_size=2, name="a")
    input_b = Input(shape=(3,), batch_size=2, name="b")
    x = layers.Add()([input_a, input_b])  # Keras: input_a + input_b
    x = layers.Dense(5)(x)
    outputs = layers.Dense(4)(x)

    # Keras: "All `inputs` values must be KerasTensors"
    with pytest.raises(ValueError, match="Its inputs include str, which is not one"):
        model = Functional({"a": "input_a", "b": input_b}, outputs)

    # Keras: "All `outputs` values must be KerasTensors"
    with pytest.raises(ValueError, match="Its outputs include str, which is not one"):
        model = Functional({"a": input_a, "b": input_b}, "outputs")

    model = Functional({"a": input_a, "b": input_b}, outputs)

    # Eager call
    in_val = {"a": np.random.random((2, 3)), "b": np.random.random((2, 3))}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2)
    input_b_2 = Input(shape=(3,), batch_size=2)
    in_val = {"a": input_a_2, "b": input_b_2}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)


@pytest.mark.skip(reason="rnnlab's TimeDistributed wraps a layer, not a model")
def test_basic_flow_as_a_submodel():
    pass


def test_named_input_dict_io():
    # Single input
    input_a = Input(shape=(3,), batch_size=2, name="a")
    x = layers.Dense(5)(input_a)
    outputs = layers.Dense(4)(x)
    model = Functional(input_a, outputs)

    # Eager call
    in_val = {"a": np.random.random((2, 3))}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2)
    in_val = {"a": input_a_2}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # ----
    # Two inputs, input is list
    input_a = Input(shape=(3,), batch_size=2, name="a")
    input_b = Input(shape=(4,), batch_size=2, name="b")
    a = layers.Dense(5)(input_a)
    b = layers.Dense(5)(input_b)
    x = layers.Concatenate()([a, b])
    outputs = layers.Dense(4)(x)
    model = Functional([input_a, input_b], outputs)

    # Eager call
    in_val = {"a": np.random.random((2, 3)), "b": np.random.random((2, 4))}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2)
    input_b_2 = Input(shape=(4,), batch_size=2)
    in_val = {"a": input_a_2, "b": input_b_2}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # ----
    # Two inputs, input is dict
    model = Functional({"a": input_a, "b": input_b}, outputs)

    # Eager call
    in_val = {"a": np.random.random((2, 3)), "b": np.random.random((2, 4))}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2)
    input_b_2 = Input(shape=(4,), batch_size=2)
    in_val = {"a": input_a_2, "b": input_b_2}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # ----
    # Two inputs, input is dict with incorrect names
    model = Functional({"c": input_a, "d": input_b}, outputs)

    # Eager call
    in_val = {"c": np.random.random((2, 3)), "d": np.random.random((2, 4))}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2)
    input_b_2 = Input(shape=(4,), batch_size=2)
    in_val = {"c": input_a_2, "d": input_b_2}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Now we can't use the input names:
    with pytest.raises(ValueError):
        in_val = {
            "a": np.random.random((2, 3)),
            "b": np.random.random((2, 4)),
        }
        out_val = model(in_val)


@pytest.mark.skip(reason=f"{OPERATORS}; the model is two operators")
def test_input_dict_with_extra_field():
    pass


TUPLE_SYMBOLIC = (
    "rnnlab's symbolic call of a model gives a list for its tuple of outputs (its eager call keeps the tuple)"
)


@pytest.mark.parametrize(
    "out_type",
    [list, pytest.param(tuple, marks=pytest.mark.skip(reason=TUPLE_SYMBOLIC)), dict],
    ids=["list", "tuple", "dict"],
)
def test_restored_multi_output_type(out_type):
    inputs = Input(shape=(3,), batch_size=2, name="input")
    x = layers.Dense(5)(inputs)
    output_a = layers.Dense(4)(x)
    output_b = layers.Dense(5)(x)
    if out_type is dict:
        outputs = {"a": output_a, "b": output_b}
    else:
        outputs = out_type([output_a, output_b])
    model = Functional(inputs, outputs)
    model_restored = Functional.from_config(model.get_config())

    # Eager call
    in_val = np.random.random((2, 3))
    out_val = model_restored(in_val)
    assert isinstance(out_val, out_type)

    # Symbolic call
    out_val = model_restored(Input(shape=(3,), batch_size=2))
    assert isinstance(out_val, out_type)


@pytest.mark.skip(
    reason="rnnlab's model inputs are one tensor, a list or a dict of them, not nested lists ([[input_a]])"
)
def test_restored_nested_input():
    pass


def test_functional_input_shape_and_type():
    input = layers.Input((1024, 4))
    conv = layers.Conv1D(32, 3)(input)
    model = Functional(input, conv)

    assert isinstance(model.input, KerasTensor)
    assert model.input_shape == (None, 1024, 4)


def test_layer_getters():
    # Test mixing ops and layers (rnnlab: the Add layer Keras's operator stands for, so one layer more)
    input_a = Input(shape=(3,), batch_size=2, name="input_a")
    input_b = Input(shape=(3,), batch_size=2, name="input_b")
    x = layers.Add(name="add")([input_a, input_b])  # Keras: input_a + input_b
    x = layers.Dense(5, name="dense_1")(x)
    outputs = layers.Dense(4, name="dense_2")(x)
    model = Functional([input_a, input_b], outputs)

    assert len(model.layers) == 5  # Keras: 4 layers and 5 operations
    assert model.get_layer(index=0).name == "input_a"
    assert model.get_layer(index=1).name == "input_b"
    assert model.get_layer(index=3).name == "dense_1"
    assert model.get_layer(index=4).name == "dense_2"
    assert model.get_layer(name="dense_1").name == "dense_1"


def test_training_arg():
    class Canary(layers.Layer):
        def call(self, x, training=False):
            assert training
            return x

        def compute_output_shape(self, input_shape):  # Keras: compute_output_spec
            return input_shape

    inputs = Input(shape=(3,), batch_size=2)
    outputs = Canary()(inputs)
    model = Functional(inputs, outputs)
    model(np.random.random((2, 3)), training=True)


@pytest.mark.skip(reason="empty in Keras (a TODO)")
def test_mask_arg():
    pass


def test_passing_inputs_by_name():
    input_a = Input(shape=(3,), batch_size=2, name="input_a")
    input_b = Input(shape=(3,), batch_size=2, name="input_b")
    x = layers.Add()([input_a, input_b])  # Keras: input_a + input_b
    x = layers.Dense(5)(x)
    outputs = layers.Dense(4)(x)
    model = Functional([input_a, input_b], outputs)

    # Eager call
    in_val = {
        "input_a": np.random.random((2, 3)),
        "input_b": np.random.random((2, 3)),
    }
    out_val = model(in_val)
    assert out_val.shape == (2, 4)

    # Symbolic call
    input_a_2 = Input(shape=(3,), batch_size=2, name="input_a_2")
    input_b_2 = Input(shape=(3,), batch_size=2, name="input_b_2")
    in_val = {"input_a": input_a_2, "input_b": input_b_2}
    out_val = model(in_val)
    assert out_val.shape == (2, 4)


def test_rank_standardization():
    # Downranking
    inputs = Input(shape=(3,), batch_size=2)
    outputs = layers.Dense(3)(inputs)
    model = Functional(inputs, outputs)
    out_val = model(np.random.random((2, 3, 1)))
    assert out_val.shape == (2, 3)

    # Upranking
    inputs = Input(shape=(3, 1), batch_size=2)
    outputs = layers.Dense(3)(inputs)
    model = Functional(inputs, outputs)
    out_val = model(np.random.random((2, 3)))
    assert out_val.shape == (2, 3, 3)


def test_rank_standardization_failure():
    # Simple input and rank too high (Keras also names the input's path in a nested structure, which
    # rnnlab's flat inputs do not have: its second case, [{"foo": Input(...)}], is left out)
    inputs = Input(shape=(3,), name="foo")
    outputs = layers.Dense(3)(inputs)
    model = Functional(inputs, outputs)
    with pytest.raises(ValueError, match="name 'foo'"):
        model(np.random.random((2, 3, 4)))


@pytest.mark.skip(reason=f"{OPERATORS}; and rnnlab inputs are float32 or integer token ids, not float16")
def test_dtype_standardization():
    pass


def _serialization_round_trip(model):
    """Keras's run_class_serialization_test for a model: from_config(get_config()) gives the same config."""
    config = json.dumps(model.get_config(), sort_keys=True)
    revived = type(model).from_config(model.get_config())
    assert json.dumps(revived.get_config(), sort_keys=True) == config
    return revived


def test_serialization():
    # Test basic model
    inputs = Input(shape=(3,), batch_size=2)
    outputs = layers.Dense(3)(inputs)
    model = Functional(inputs, outputs, trainable=False)
    _serialization_round_trip(model)

    # Test multi-io model
    input_a = Input(shape=(3,), batch_size=2, name="input_a")
    input_b = Input(shape=(3,), batch_size=2, name="input_b")
    xa = layers.Dense(5, name="middle_a")(input_a)
    xb = layers.Dense(5, name="middle_b")(input_b)
    output_a = layers.Dense(4, name="output_a")(xa)
    output_b = layers.Dense(4, name="output_b")(xb)
    model = Functional([input_a, input_b], [output_a, output_b], name="func")
    _serialization_round_trip(model)

    # Test model that includes floating ops (rnnlab: the Add layer)
    input_a = Input(shape=(3,), batch_size=2, name="input_a")
    input_b = Input(shape=(3,), batch_size=2, name="input_b")
    x = layers.Add()([input_a, input_b])
    x = layers.Dense(5, name="middle")(x)
    output_a = layers.Dense(4, name="output_a")(x)
    output_b = layers.Dense(4, name="output_b")(x)
    model = Functional([input_a, input_b], [output_a, output_b], name="func")
    _serialization_round_trip(model)

    # Test model with dict i/o
    input_a = Input(shape=(3,), batch_size=2, name="a")
    input_b = Input(shape=(3,), batch_size=2, name="b")
    x = layers.Add()([input_a, input_b])
    x = layers.Dense(5)(x)
    outputs = layers.Dense(4)(x)
    model = Functional({"a": input_a, "b": input_b}, outputs)
    _serialization_round_trip(model)
    # Keras's last two cases (an input as an output, an unused input) are operators only.


def test_bad_input_spec():
    # Single input
    inputs = Input(shape=(4,))
    outputs = layers.Dense(2)(inputs)
    model = Functional(inputs, outputs)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(2, 3\)"):
        model(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expects 1 .*input"):
        model([np.zeros((2, 4)), np.zeros((2, 4))])

    # List input
    input_a = Input(shape=(4,), name="a")
    input_b = Input(shape=(4,), name="b")
    x = layers.Add()([input_a, input_b])  # Keras: input_a + input_b
    outputs = layers.Dense(2)(x)
    model = Functional([input_a, input_b], outputs)
    with pytest.raises(ValueError, match=r"expects 2 .*input"):
        model(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(2, 3\)"):
        model([np.zeros((2, 3)), np.zeros((2, 4))])

    # Dict input
    model = Functional({"a": input_a, "b": input_b}, outputs)
    with pytest.raises(ValueError, match=r"named input\(s\) with keys"):
        model(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(2, 3\)"):
        model({"a": np.zeros((2, 3)), "b": np.zeros((2, 4))})


@pytest.mark.skip(
    reason="rnnlab's InputSpec describes a Sequential's input; a model's input shapes come from its Inputs"
)
def test_manual_input_spec():
    pass


@pytest.mark.skip(reason="rnnlab models start at Input tensors: a model from an inner layer's output is not supported")
def test_functional_slicing():
    pass


@pytest.mark.skip(reason="rnnlab's model inputs and outputs are one level deep (a list or a dict of tensors)")
def test_deeply_nested_model():
    pass


@pytest.mark.skip(reason=OPTIONAL)
def test_optional_inputs():
    pass


@pytest.mark.skip(reason=OPTIONAL)
def test_optional_dict_inputs():
    pass


@pytest.mark.skip(reason=f"{OPERATORS}; and an Input as a model's output")
def test_unmodified_inputs():
    pass


@pytest.mark.skip(reason=OPERATORS)
def test_unused_inputs():
    pass


@pytest.mark.skip(reason=OPERATORS)
def test_disconnected_output():
    pass


@pytest.mark.skip(reason=OPTIONAL)
def test_required_input_none_raises():
    pass


@pytest.mark.skip(reason=OPTIONAL)
def test_optional_and_required_mixed_structures():
    pass


@pytest.mark.skip(reason=OPTIONAL)
def test_required_none_raises_in_fit():
    pass


@pytest.mark.skip(reason="rnnlab takes a list for a dict-input model in the inputs' order, without Keras's warning")
def test_warning_for_mismatched_inputs_structure():
    pass


@pytest.mark.skip(reason="rnnlab has no keras.applications (MobileNet)")
def test_for_functional_in_sequential():
    pass


@pytest.mark.skip(reason="empty in Keras (a TODO)")
def test_add_loss():
    pass


@pytest.mark.skip(reason="rnnlab's model.layers is a torch ModuleList that a model may replace")
def test_layers_setter():
    pass


def test_dict_input_to_list_model():
    vocabulary_size = 100
    num_tags = 10
    num_departments = 3
    num_samples = 128

    title = layers.Input(shape=(vocabulary_size,), name="title")
    text_body = layers.Input(shape=(vocabulary_size,), name="text_body")
    tags = layers.Input(shape=(num_tags,), name="tags")
    features = layers.Concatenate()([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(num_departments, activation="softmax", name="department")(features)
    model = Functional(inputs=[title, text_body, tags], outputs=[priority, department])

    title_data = np.random.randint(0, 2, size=(num_samples, vocabulary_size))
    text_body_data = np.random.randint(0, 2, size=(num_samples, vocabulary_size))
    tags_data = np.random.randint(0, 2, size=(num_samples, num_tags))
    priority_data = np.random.random(size=(num_samples, 1))
    department_data = np.random.randint(0, 2, size=(num_samples, num_departments))

    # List style fit
    model.compile(
        optimizer="adam",
        loss=["mean_squared_error", "categorical_crossentropy"],
        metrics=[["mean_absolute_error"], ["accuracy"]],
    )
    model.fit([title_data, text_body_data, tags_data], [priority_data, department_data], epochs=1, verbose=0)
    model.evaluate([title_data, text_body_data, tags_data], [priority_data, department_data], verbose=0)
    priority_preds, department_preds = model.predict([title_data, text_body_data, tags_data])

    # Dict style fit
    model.compile(
        optimizer="adam",
        loss={"priority": "mean_squared_error", "department": "categorical_crossentropy"},
        metrics={"priority": ["mean_absolute_error"], "department": ["accuracy"]},
    )
    model.fit(
        {"title": title_data, "text_body": text_body_data, "tags": tags_data},
        {"priority": priority_data, "department": department_data},
        epochs=1,
        verbose=0,
    )
    model.evaluate(
        {"title": title_data, "text_body": text_body_data, "tags": tags_data},
        {"priority": priority_data, "department": department_data},
        verbose=0,
    )
    priority_preds, department_preds = model.predict(
        {"title": title_data, "text_body": text_body_data, "tags": tags_data}
    )


@pytest.mark.skip(reason="rnnlab takes a list for a dict-input model in the inputs' order (see the warning test)")
def test_list_input_with_dict_build():
    pass


@pytest.mark.skip(reason="rnnlab layers compute in float32; there is no mixed_float16 policy")
def test_functional_with_dtype_policy():
    pass


def _legacy_config(dense_nodes):
    """Keras's config of both invalid-config tests: an input and Dense layers in the legacy node form."""
    return {
        "name": "infinite_loop_model",
        "layers": [
            {
                "class_name": "InputLayer",
                "name": "input_1",
                "config": {"batch_input_shape": [None, 10], "dtype": "float32", "name": "input_1"},
                "inbound_nodes": [],
            },
            *(
                {
                    "class_name": "Dense",
                    "name": name,
                    "config": {"units": 10, "name": name},
                    "inbound_nodes": [[[source, 0, 0, {}]]],
                }
                for name, source in dense_nodes
            ),
        ],
        "input_layers": [["input_1", 0, 0]],
        "output_layers": [[dense_nodes[-1][0], 0, 0]],
    }


def test_invalid_config_deserialization_loop():
    config = _legacy_config([("node_a", "node_b"), ("node_b", "node_a")])
    with pytest.raises(ValueError, match="loop"):
        Functional.from_config(config)


def test_invalid_config_deserialization_missing_node():
    config = _legacy_config([("node_a", "node_b")])
    with pytest.raises(ValueError, match="Missing node: node_b"):
        Functional.from_config(config)
