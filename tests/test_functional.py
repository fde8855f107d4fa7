"""The functional API: Input, layers called on symbolic tensors, Model(inputs, outputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import layers
from rnnlab.core.layer import reset_names
from rnnlab.core.symbolic import KerasTensor
from rnnlab.models import Functional, Model, Sequential


@pytest.fixture(autouse=True)
def fresh_names():
    reset_names()
    rnnlab.set_seed(0)


def two_input_model() -> Model:
    a = layers.Input(shape=(5, 3), name="a")
    b = layers.Input(shape=(4,), name="b")
    x = layers.LSTM(4)(a)
    y = layers.Dense(4)(b)
    z = layers.concatenate([x, y])
    return Model([a, b], layers.Dense(1)(z))


def test_input_is_a_symbolic_tensor_with_keras_shape_dtype_and_name():
    x = layers.Input(shape=(5, 3))
    assert isinstance(x, KerasTensor)
    assert (x.shape, x.dtype, x.ndim) == ((None, 5, 3), "float32", 3)
    assert layers.Input((4,), batch_size=8, dtype="int32", name="ids").shape == (8, 4)
    assert layers.Input(batch_shape=(2, 7)).shape == (2, 7)
    ids = layers.Input((4,), dtype="int32", name="ids")
    assert (ids.name, ids.dtype) == ("ids", "int32")
    assert repr(x).startswith("<KerasTensor shape=(None, 5, 3), dtype=float32")


def test_layers_called_on_symbolic_tensors_give_compute_output_shape():
    inputs = layers.Input(shape=(None, 3))
    sequences = layers.LSTM(4, return_sequences=True)(inputs)
    assert sequences.shape == (None, None, 4)
    output, h, c = layers.LSTM(5, return_state=True)(sequences)
    assert [t.shape for t in (output, h, c)] == [(None, 5)] * 3
    ids = layers.Input(shape=(6,), dtype="int32")
    assert layers.Embedding(10, 2)(ids).dtype == "float32"
    assert layers.Reshape((3, 2))(ids).dtype == "int32"


def test_functional_model_equals_the_sequential_of_the_same_layers_with_masks():
    ids = layers.Input(shape=(None,), dtype="int32")
    embedded = layers.Embedding(10, 4, mask_zero=True)(ids)
    model = Model(ids, layers.Dense(1)(layers.LSTM(3)(embedded)))
    stack = Sequential(
        [layers.Input((None,), dtype="int32"), layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3), layers.Dense(1)]
    )
    stack.set_weights(model.get_weights())
    x = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    torch.testing.assert_close(model(x), stack(x), rtol=0, atol=0)
    # the mask reached the LSTM: padding changes nothing
    torch.testing.assert_close(model(x[:, :3]), model(x), rtol=0, atol=0)
    assert isinstance(model, Functional) and isinstance(model, torch.nn.Module)
    assert [name for name, _ in model.named_parameters()][:1] == ["layers.1.embeddings"]


def test_keyword_construction_and_model_attributes():
    inputs = layers.Input(shape=(3,))
    outputs = layers.Dense(2, name="out")(layers.Dense(5, name="hidden")(inputs))
    model = Model(inputs=inputs, outputs=outputs, name="mlp")
    assert model.name == "mlp"
    assert [layer.name for layer in model.layers] == ["input_layer", "hidden", "out"]
    assert model.inputs == [inputs] and model.outputs == [outputs]
    assert (model.input_shape, model.output_shape) == ((None, 3), (None, 2))
    assert model.get_layer("hidden") is model.layers[1]
    assert model.get_layer(index=2).name == "out"
    with pytest.raises(ValueError, match="No such layer: 'nope'"):
        model.get_layer("nope")


def test_summary_has_keras_connected_to_column():
    expected = """Model: "functional"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ a (InputLayer)      │ (None, 5, 3)      │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ b (InputLayer)      │ (None, 4)         │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ lstm (LSTM)         │ (None, 4)         │        128 │ a[0][0]           │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense (Dense)       │ (None, 4)         │         20 │ b[0][0]           │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ concatenate         │ (None, 8)         │          0 │ lstm[0][0],       │
│ (Concatenate)       │                   │            │ dense[0][0]       │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_1 (Dense)     │ (None, 1)         │          9 │ concatenate[0][0] │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 157 (628.00 B)
 Trainable params: 157 (628.00 B)
 Non-trainable params: 0 (0.00 B)"""  # real Keras 3.15's text for the same model
    text = two_input_model().summary(print_fn=None)
    assert text.rpartition("\n Recurrent kernels")[0] == expected


def test_encoder_decoder_summary_wraps_and_cuts_like_keras():
    encoder_inputs = layers.Input(shape=(None, 3))
    _, h, c = layers.LSTM(4, return_state=True)(encoder_inputs)
    decoder_inputs = layers.Input(shape=(None, 2))
    decoded = layers.LSTM(4, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    text = Model([encoder_inputs, decoder_inputs], layers.Dense(2)(decoded)).summary(print_fn=None)
    assert "\n│ lstm (LSTM)         │ [(None, 4),       │        128 │ input_layer[0][0] │\n" in text
    assert "│                     │ (None, 4), (None, │            │                   │\n" in text
    assert "│ lstm_1 (LSTM)       │ (None, None, 4)   │        112 │ input_layer_1[0]… │\n" in text
    assert "│                     │                   │            │ lstm[0][1],       │\n" in text


def test_encoder_decoder_states_feed_the_decoder():
    encoder_inputs = layers.Input(shape=(None, 3))
    encoder = layers.LSTM(4, return_state=True)
    _, h, c = encoder(encoder_inputs)
    decoder_inputs = layers.Input(shape=(None, 2))
    decoder = layers.LSTM(4, return_sequences=True)
    dense = layers.Dense(2)
    model = Model([encoder_inputs, decoder_inputs], dense(decoder(decoder_inputs, initial_state=[h, c])))
    x, y = torch.randn(2, 6, 3), torch.randn(2, 5, 2)
    _, h_real, c_real = encoder(x)
    torch.testing.assert_close(model([x, y]), dense(decoder(y, initial_state=[h_real, c_real])))


def test_shared_layer_and_nested_models():
    shared = layers.Dense(2)
    a = layers.Input((3,))
    inner = Model(a, shared(a))
    c, d = layers.Input((3,)), layers.Input((3,))
    outer = Model([c, d], layers.add([inner(c), shared(d)]))
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(outer([x, y]), shared(x) + shared(y))
    assert len(list(outer.parameters())) == 2  # the shared kernel and bias, once
    assert "functional[1][0]" in outer.summary(print_fn=None)  # Keras counts a model's own graph as call 0
    stack = Sequential([layers.Dense(2)])
    q = layers.Input((4,))
    assert Model(q, stack(q))(torch.ones(2, 4)).shape == (2, 2)


def test_dict_inputs_and_several_outputs():
    a, b = layers.Input((3,), name="a"), layers.Input((2,), name="b")
    merged = layers.concatenate([a, b])
    model = Model({"a": a, "b": b}, [layers.Dense(1, name="y1")(merged), layers.Dense(2, name="y2")(merged)])
    y1, y2 = model({"b": torch.ones(5, 2), "a": torch.ones(5, 3)})
    assert (y1.shape, y2.shape) == ((5, 1), (5, 2))
    assert model.output_names == ["y1", "y2"]


def test_fit_and_predict_train_a_functional_model():
    inputs = layers.Input((6, 2))
    model = Model(inputs, layers.Dense(1)(layers.GRU(4)(inputs)))
    model.compile("adam", "mse")
    x, y = np.random.rand(32, 6, 2).astype("float32"), np.random.rand(32, 1).astype("float32")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x).shape == (32, 1)


def test_bad_graphs_get_clear_errors():
    a, b = layers.Input((3,)), layers.Input((3,), name="b")
    out = layers.add([a, b])
    with pytest.raises(ValueError, match=r"Graph disconnected: cannot reach input 'b' \(layer 'b'\) .* through add"):
        Model(a, out)
    with pytest.raises(ValueError, match="takes symbolic tensors"):
        Model(torch.ones(2, 3), out)
    with pytest.raises(TypeError, match="called on symbolic tensors mixed with Tensor"):
        layers.Add()([a, torch.ones(2, 3)])
    with pytest.raises(ValueError, match=r"Output with path `` is not connected to `inputs`. Graph disconnected"):
        Model(layers.Dense(2)(a), out)  # as in Keras, the model starts at the Dense output: a new Input
    model = Model([a, b], out)
    with pytest.raises(ValueError, match=r"expects 2 input\(s\) \[\(None, 3\), \(None, 3\)\], received 1"):
        model(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"is incompatible with it: expected shape=\(None, 3\), found shape=\(2, 4\)"):
        model([torch.ones(2, 4), torch.ones(2, 3)])
    with pytest.raises(TypeError, match="has no value"):
        bool(a)


def encoder_decoder() -> Model:
    encoder_inputs = layers.Input(shape=(None, 3))
    _, h, c = layers.LSTM(4, return_state=True)(encoder_inputs)
    decoder_inputs = layers.Input(shape=(None, 2))
    decoded = layers.LSTM(4, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    return Model([encoder_inputs, decoder_inputs], layers.Dense(2, activation="softmax")(decoded))


def test_config_is_keras_functional_form_and_rebuilds_the_same_model():
    model = encoder_decoder()
    config = model.get_config()
    assert config["input_layers"] == [["input_layer", 0, 0], ["input_layer_1", 0, 0]]
    assert config["output_layers"] == ["dense", 0, 0]
    decoder = config["layers"][3]
    assert decoder["name"] == "lstm_1"
    assert [s["config"]["keras_history"] for s in decoder["inbound_nodes"][0]["kwargs"]["initial_state"]] == [
        ["lstm", 0, 1],
        ["lstm", 0, 2],
    ]
    rebuilt = Functional.from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    x = [torch.randn(2, 5, 3), torch.randn(2, 4, 2)]
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_save_and_load_model_in_rnnlab_format(tmp_path):
    model = encoder_decoder()
    model.compile("adam", "categorical_crossentropy")
    x = [np.random.rand(8, 5, 3).astype("float32"), np.random.rand(8, 4, 2).astype("float32")]
    model.fit(x, np.eye(2)[np.random.randint(0, 2, (8, 4))].astype("float32"), epochs=1, verbose=0)
    model.save(tmp_path / "seq2seq.safetensors")
    loaded = rnnlab.models.load_model(tmp_path / "seq2seq.safetensors")
    assert isinstance(loaded, Functional)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_fit_with_several_inputs_and_a_loss_per_output():
    a, b = layers.Input((5, 3), name="a"), layers.Input((4,), name="b")
    merged = layers.concatenate([layers.LSTM(4)(a), layers.Dense(4)(b)])
    model = Model([a, b], [layers.Dense(1, name="y1")(merged), layers.Dense(2, name="y2")(merged)])
    model.compile("sgd", {"y1": "mse", "y2": "mae"}, loss_weights=[1.0, 0.5])
    xa, xb = np.random.rand(16, 5, 3).astype("float32"), np.random.rand(16, 4).astype("float32")
    y1, y2 = np.random.rand(16, 1).astype("float32"), np.random.rand(16, 2).astype("float32")
    p1, p2 = model.predict([xa, xb])
    mse, mae = np.mean((p1 - y1) ** 2), np.mean(np.abs(p2 - y2))
    assert model.evaluate({"a": xa, "b": xb}, {"y2": y2, "y1": y1}, batch_size=16, verbose=0) == pytest.approx(
        [mse + 0.5 * mae, mse, mae], rel=1e-5
    )
    history = model.fit([xa, xb], [y1, y2], epochs=2, batch_size=4, verbose=0, validation_split=0.25)
    assert list(history.history) == ["loss", "y1_loss", "y2_loss", "val_loss", "val_y1_loss", "val_y2_loss"]
    with pytest.raises(ValueError, match=r"takes one entry per output \(2: \['y1', 'y2'\]\), received 3"):
        model.compile("sgd", ["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"The model has 2 inputs; received a list of 3 arrays"):
        model.predict([xa, xb, xb])


def test_metrics_per_output_are_logged_under_keras_names(tmp_path):
    a, b = layers.Input((3,), name="a"), layers.Input((2,), name="b")
    merged = layers.Concatenate()([a, b])
    model = Model(
        [a, b], [layers.Dense(1, name="reg")(merged), layers.Dense(3, activation="softmax", name="cls")(merged)]
    )
    model.compile("sgd", ["mse", "sparse_categorical_crossentropy"], metrics={"reg": ["mae", "mse"], "cls": "accuracy"})
    x = [np.random.rand(12, 3).astype("float32"), np.random.rand(12, 2).astype("float32")]
    y = [np.random.rand(12, 1).astype("float32"), np.random.randint(0, 3, 12)]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "reg_loss", "cls_loss", "cls_accuracy", "reg_mae", "reg_mse"]
    reg, cls = model.predict(x)
    assert logs["reg_mae"] == pytest.approx(np.mean(np.abs(reg - y[0])), rel=1e-5)
    assert logs["reg_mse"] == pytest.approx(logs["reg_loss"], rel=1e-6)
    assert logs["cls_accuracy"] == pytest.approx(np.mean(cls.argmax(-1) == y[1]))
    model.save(tmp_path / "two.safetensors")
    assert rnnlab.models.load_model(tmp_path / "two.safetensors").evaluate(x, y, verbose=0, return_dict=True) == logs
    model.compile("sgd", {"reg": "mse", "cls": "sparse_categorical_crossentropy"}, metrics=[None, ["accuracy"]])
    assert list(model.evaluate(x, y, verbose=0, return_dict=True)) == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]
    with pytest.raises(
        ValueError, match=r"compile\(metrics=...\) takes one entry per output \(2: \['reg', 'cls'\]\), received 1"
    ):
        model.compile("sgd", "mse", metrics=["mae"])
    with pytest.raises(ValueError, match=r"compile\(metrics=...\) names \['out'\], which are not outputs"):
        model.compile("sgd", "mse", metrics={"out": "mae"})


def test_keras_file_of_a_functional_model_round_trips(tmp_path):
    model = encoder_decoder()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.save(tmp_path / "seq2seq.keras")
    loaded = rnnlab.models.load_model(tmp_path / "seq2seq.keras")
    assert isinstance(loaded, Functional)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.compile_config["metrics"] == ["accuracy"]
    x = [np.random.rand(3, 5, 3).astype("float32"), np.random.rand(3, 4, 2).astype("float32")]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def nested_models() -> Model:
    """A Sequential and a functional model used as layers of a functional model."""
    inner = Sequential([layers.Input((5, 3)), layers.LSTM(4, return_sequences=True), layers.Dense(2)], name="inner")
    steps = layers.Input((5, 2))
    reader = Model(steps, layers.GRU(3)(steps), name="reader")
    inputs = layers.Input((5, 3))
    return Model(inputs, layers.Dense(1)(reader(inner(inputs))))


@pytest.mark.parametrize("extension", [".keras", ".safetensors"])
def test_nested_models_round_trip_in_both_formats(tmp_path, extension):
    model = nested_models()
    model.save(tmp_path / f"nested{extension}")
    loaded = rnnlab.models.load_model(tmp_path / f"nested{extension}")
    assert [layer.name for layer in loaded.layers] == ["input_layer_2", "inner", "reader", "dense_1"]
    assert [type(layer).__name__ for layer in loaded.layers[1:3]] == ["Sequential", "Functional"]
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_sequential_in_a_sequential_round_trips(tmp_path):
    inner = Sequential([layers.Input((5, 3)), layers.SimpleRNN(4, return_sequences=True)], name="inner")
    model = Sequential([layers.Input((5, 3)), inner, layers.GRU(2)])
    x = np.random.default_rng(1).normal(size=(3, 5, 3)).astype("float32")
    for name in ("stack.keras", "stack.safetensors"):
        model.save(tmp_path / name)
        loaded = rnnlab.models.load_model(tmp_path / name)
        assert isinstance(loaded.layers[0], Sequential)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_keras_config_of_a_nested_functional_model_counts_its_calls_from_zero():
    config = nested_models().get_config()
    dense = next(entry for entry in config["layers"] if entry["name"] == "dense_1")
    assert dense["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["reader", 0, 0]


def test_reset_names_restarts_symbolic_tensor_names():
    layers.Dense(2)(layers.Input((3,)))
    reset_names()
    inputs = layers.Input((3,))
    assert (inputs.name, layers.Dense(2)(inputs).name) == ("input_layer", "keras_tensor")


def test_outputs_of_one_layer_each_train_under_a_name_of_their_own():
    inputs = layers.Input((4, 3))
    sequence, h, c = layers.LSTM(2, return_state=True, name="lstm")(inputs)
    model = Model(inputs, [sequence, h, c])
    assert model.output_names == ["lstm", "lstm_1", "lstm_2"]
    model.compile("sgd", "mse")
    x, y = np.random.rand(8, 4, 3).astype("float32"), np.random.rand(8, 2).astype("float32")
    logs = model.evaluate(x, [y, y * 0, y], verbose=0, return_dict=True)
    assert list(logs) == ["loss", "lstm_loss", "lstm_1_loss", "lstm_2_loss"]
    assert logs["loss"] == pytest.approx(logs["lstm_loss"] + logs["lstm_1_loss"] + logs["lstm_2_loss"], rel=1e-6)


def test_compile_pairs_a_list_with_dict_outputs_by_sorted_key_as_keras():
    inputs = layers.Input((3,))
    hidden = layers.Dense(4)(inputs)
    model = Model(inputs, {"zeta": layers.Dense(1, name="zeta")(hidden), "beta": layers.Dense(2, name="beta")(hidden)})
    model.compile("sgd", ["mse", "mae"], loss_weights={"zeta": 0.5, "beta": 2.0}, metrics=[["mae"], None])
    config = model.compile_config
    assert config["loss"] == {"beta": "mse", "zeta": "mae"}  # Keras flattens the dict of outputs by sorted key
    assert config["loss_weights"] == {"beta": 2.0, "zeta": 0.5}
    assert config["metrics"] == {"beta": ["mae"], "zeta": []}
    model.compile("sgd", {"zeta": "mse", "beta": "mae"}, loss_weights=[0.5, 2.0])
    assert model.compile_config["loss_weights"] == {"beta": 0.5, "zeta": 2.0}  # a list of weights: by sorted key too
    with pytest.raises(ValueError, match=r"takes one entry per output \(2: \['beta', 'zeta'\], sorted by key"):
        model.compile("sgd", ["mse"])
    with pytest.raises(ValueError, match="`loss_weights` must match the number of losses, got 1 losses and 2 weights"):
        model.compile("sgd", "mse", loss_weights=[0.5, 2.0])
    with pytest.raises(
        ValueError,
        match=r"compile\(loss=\.\.\.\) names \['gamma'\], which are not outputs; the outputs are \['beta', 'zeta'\]",
    ):
        model.compile("sgd", {"gamma": "mse"})


def test_compile_pairs_weights_of_another_structure_with_list_outputs_as_keras():
    inputs = layers.Input((3,))
    model = Model(inputs, [layers.Dense(1, name="zeta")(inputs), layers.Dense(2, name="beta")(inputs)])
    model.compile("sgd", ["mse", "mae"], loss_weights={"zeta": 0.5, "beta": 2.0})
    assert model.compile_config["loss_weights"] == {"zeta": 2.0, "beta": 0.5}  # the dict's values by sorted key
    model.compile("sgd", {"beta": "mae", "zeta": "mse"}, loss_weights=[0.5, 2.0])
    assert model.compile_config["loss_weights"] == {"zeta": 0.5, "beta": 2.0}  # in output order


def test_dict_outputs_are_flattened_by_sorted_key_as_keras():
    # Keras 3 (its tree) flattens a dict by sorted key: the layer order, output names, weights and
    # predict's dict follow the keys' order, not the order the dict was written in
    inputs = layers.Input((4,), name="x")
    zed, alpha = layers.Dense(2, name="zed")(inputs), layers.Dense(3, name="alpha")(inputs)
    model = Model(inputs, {"z_out": zed, "a_out": alpha})
    assert [layer.name for layer in model.layers] == ["x", "alpha", "zed"]
    assert model.output_names == ["alpha", "zed"]
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,), (4, 2), (2,)]
    predicted = model.predict(np.ones((2, 4), "float32"))
    assert list(predicted) == ["a_out", "z_out"] and predicted["a_out"].shape == (2, 3)


def test_dict_inputs_written_out_of_key_order_reach_their_own_tensors():
    a, b = layers.Input((2,), name="a"), layers.Input((2,), name="b")
    model = Model({"b": b, "a": a}, layers.Subtract()([a, b]))
    scaled = Model({"b": b, "a": a}, layers.Dense(2)(layers.Subtract()([a, b])))
    ones, zeros = np.ones((3, 2), "float32"), np.zeros((3, 2), "float32")
    np.testing.assert_array_equal(model.predict({"a": ones, "b": zeros}), ones)
    np.testing.assert_array_equal(model({"a": torch.ones(3, 2), "b": torch.zeros(3, 2)}).numpy(), ones)
    scaled.compile("sgd", "mse")
    assert np.isfinite(scaled.fit({"a": ones, "b": zeros}, ones, epochs=1, verbose=0).history["loss"][0])


def test_fit_takes_targets_keyed_by_the_output_dicts_keys():
    inputs = layers.Input((3,))
    model = Model(inputs, {"z": layers.Dense(1, name="dz")(inputs), "a": layers.Dense(2, name="da")(inputs)})
    model.compile("sgd", {"z": "mse", "a": "mse"})
    x, y = np.ones((4, 3), "float32"), {"z": np.zeros((4, 1), "float32"), "a": np.zeros((4, 2), "float32")}
    history = model.fit(x, y, epochs=1, verbose=0).history
    assert {"loss", "da_loss", "dz_loss"} <= set(history)
