"""Loading Keras 3 ``.keras`` files (``rnnlab.load_model`` -> ``rnnlab.saving.keras_read``).

The archives in tests/fixtures/keras were saved by real Keras 3.15.1 (see
scripts/keras_fixtures/make_fixtures.py); models.npz holds Keras's ``predict`` on them.
Variants (functional, stateful, regularised, broken files) are made here by rewriting
those archives.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnnlab
from rnnlab.saving.keras_read import load_keras_model
from rnnlab.training import update_rules as optim
from rnnlab.training.update_rules import KerasAdam

KERAS = Path(__file__).resolve().parent / "fixtures" / "keras"
MODELS = dict(np.load(KERAS / "models.npz"))
PREDICTED = ["embed_lstm", "stacked", "bidir_gru", "gru_reset_before", "timedistributed", "lstm_compiled"]


def keras_config(name: str) -> dict[str, Any]:
    with zipfile.ZipFile(KERAS / f"{name}.keras") as archive:
        return json.loads(archive.read("config.json"))


def keras_params(name: str) -> list[tuple[str, int]]:
    """(layer name, parameter count) per row of Keras's summary of the model."""
    rows = re.findall(
        r"^│ (\S+) \(\w+\)\s+│[^│]+│\s+([\d,]+) │$",
        (KERAS / f"summary_{name}.txt").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    return [(layer, int(count.replace(",", ""))) for layer, count in rows]


def rewrite(
    tmp_path: Path,
    name: str,
    edit: Callable[[dict[str, Any]], Any] | None = None,
    weights: bytes | None = None,
    out: str = "variant.keras",
) -> Path:
    """A copy of fixture ``name`` with its config.json edited in place by ``edit`` and/or its weights replaced."""
    with zipfile.ZipFile(KERAS / f"{name}.keras") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    if edit is not None:
        edit(config)
    members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    path = tmp_path / out
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def layer_config(config: dict[str, Any], layer_name: str) -> dict[str, Any]:
    return next(s["config"] for s in config["config"]["layers"] if s["config"]["name"] == layer_name)


# -- models that load and predict as in Keras ----------------------------------------------------
@pytest.mark.parametrize("name", PREDICTED)
def test_predictions_equal_keras(name: str):
    model = rnnlab.load_model(KERAS / f"{name}.keras")
    assert isinstance(model, rnnlab.Sequential)
    y = model.predict(MODELS[f"{name}/x"])
    assert y.shape == MODELS[f"{name}/y"].shape
    np.testing.assert_allclose(y, MODELS[f"{name}/y"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", PREDICTED)
def test_layer_names_and_param_counts_equal_keras(name: str):
    model = rnnlab.load_model(KERAS / f"{name}.keras")
    keras_layers = [
        s["config"]["name"] for s in keras_config(name)["config"]["layers"] if s["class_name"] != "InputLayer"
    ]
    assert model.name == keras_config(name)["config"]["name"]
    assert [layer.name for layer in model.layers] == keras_layers
    assert [(layer.name, layer.count_params()) for layer in model.layers] == keras_params(name)


def test_embedding_input_keeps_int_dtype_and_mask():
    model = load_keras_model(KERAS / "embed_lstm.keras")
    assert model.input_spec == rnnlab.layers.InputSpec((6,), dtype="int32")
    assert model.layers[0].mask_zero
    float_model = load_keras_model(KERAS / "stacked.keras")
    assert float_model.input_spec.shape == (7, 3) and float_model.input_spec.dtype is None


def test_bidirectional_and_timedistributed_structure():
    bidir = load_keras_model(KERAS / "bidir_gru.keras").layers[0]
    assert bidir.merge_mode == "sum"
    assert (bidir.forward_layer.name, bidir.backward_layer.name) == ("forward_gru", "backward_gru")
    assert bidir.backward_layer.go_backwards and not bidir.forward_layer.go_backwards
    distributed = load_keras_model(KERAS / "timedistributed.keras").layers[1]
    assert isinstance(distributed, rnnlab.layers.TimeDistributed)
    assert isinstance(distributed.layer, rnnlab.layers.Dense) and distributed.layer.name == "dense"


def test_loaded_model_round_trips_through_rnnlab_files(tmp_path: Path):
    model = load_keras_model(KERAS / "stacked.keras")
    model.save(tmp_path / "stacked.rnnlab")
    again = rnnlab.load_model(tmp_path / "stacked.rnnlab")
    np.testing.assert_allclose(again.predict(MODELS["stacked/x"]), MODELS["stacked/y"], rtol=0, atol=1e-5)


# -- compile settings ------------------------------------------------------------------------------
def test_compiled_model_loads_compiled_and_trains():
    keras_lr = keras_config("lstm_compiled")["compile_config"]["optimizer"]["config"]["learning_rate"]
    model = rnnlab.load_model(KERAS / "lstm_compiled.keras")
    assert model.compile_config["loss"] == "mse"
    assert model.compile_config["optimizer"]["class_name"] == "KerasAdam"
    optimizer = model.build_optimizer()
    assert isinstance(optimizer, KerasAdam)
    group = optimizer.param_groups[0]
    assert group["lr"] == keras_lr and group["betas"] == (0.9, 0.999) and group["eps"] == 1e-7

    x = MODELS["lstm_compiled/x"]
    y = np.random.default_rng(0).normal(size=(len(x), 1)).astype("float32")
    before = model.evaluate(x, y, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
    assert model.evaluate(x, y, verbose=0) < before


def test_uncompiled_models_and_compile_false_stay_uncompiled():
    assert getattr(load_keras_model(KERAS / "stacked.keras"), "compile_config", None) is None
    assert getattr(load_keras_model(KERAS / "lstm_compiled.keras", compile=False), "compile_config", None) is None


@pytest.mark.parametrize(
    "keras_optimizer, torch_class, expected",
    [
        (
            {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}},
            optim.KerasSGD,
            {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        ),
        (
            {"class_name": "RMSprop", "config": {"learning_rate": 0.01, "rho": 0.8, "epsilon": 1e-6, "centered": True}},
            optim.KerasRMSprop,
            {"lr": 0.01, "alpha": 0.8, "eps": 1e-6, "centered": True},
        ),
        (
            {"class_name": "AdamW", "config": {"learning_rate": 0.002, "weight_decay": 0.01, "beta_1": 0.8}},
            optim.KerasAdamW,
            {"lr": 0.002, "weight_decay": 0.01, "betas": (0.8, 0.999)},
        ),
        (
            {"class_name": "Adam", "config": {"learning_rate": 0.003, "weight_decay": 0.1}},  # Keras decays decoupled
            optim.KerasAdam,
            {"lr": 0.003, "weight_decay": 0.1},
        ),
        (
            {"class_name": "SGD", "config": {"learning_rate": 0.1, "weight_decay": 0.01}},
            optim.KerasSGD,
            {"lr": 0.1, "weight_decay": 0.01},
        ),
        (
            {"class_name": "RMSprop", "config": {"weight_decay": 0.02}},
            optim.KerasRMSprop,
            {"lr": 1e-3, "weight_decay": 0.02},
        ),
        ("rmsprop", optim.KerasRMSprop, {"lr": 1e-3, "alpha": 0.9}),
    ],
)
def test_optimizers_map_to_keras_exact_classes(tmp_path: Path, keras_optimizer: Any, torch_class: type, expected: dict):
    def edit(config: dict[str, Any]) -> None:
        config["compile_config"]["optimizer"] = keras_optimizer
        config["compile_config"]["metrics"] = ["mae"]
        config["compile_config"]["weighted_metrics"] = ["mse"]

    model = rnnlab.load_model(rewrite(tmp_path, "lstm_compiled", edit))
    optimizer = model.build_optimizer()
    assert type(optimizer) is torch_class
    assert {k: optimizer.param_groups[0][k] for k in expected} == expected
    assert model.compile_config["metrics"] == ["mae"] and model.compile_config["weighted_metrics"] == ["mse"]


def test_unmappable_compile_settings_warn(tmp_path: Path):
    def edit(config: dict[str, Any]) -> None:
        config["compile_config"].update(loss="huber", optimizer={"class_name": "Lion", "config": {}})

    with pytest.warns(UserWarning, match="huber"):
        model = load_keras_model(rewrite(tmp_path, "lstm_compiled", edit))
    assert getattr(model, "compile_config", None) is None  # loaded, weights fine, just not compiled
    np.testing.assert_allclose(model.predict(MODELS["lstm_compiled/x"]), MODELS["lstm_compiled/y"], atol=1e-5)

    def edit_metric(config: dict[str, Any]) -> None:
        config["compile_config"].update(metrics=["auc", "accuracy"])

    with pytest.warns(UserWarning, match="auc"):
        model = load_keras_model(rewrite(tmp_path, "lstm_compiled", edit_metric))
    assert model.compile_config["metrics"] == ["accuracy"]


# -- configs rnnlab honours with a warning, and configs it refuses ---------------------------------
def test_regularizers_and_constraints_are_read_and_unknown_ones_warn(tmp_path: Path):
    def edit(config: dict[str, Any]) -> None:
        lstm = layer_config(config, "lstm")
        lstm["kernel_regularizer"] = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}}
        lstm["recurrent_constraint"] = {"module": "keras.constraints", "class_name": "MaxNorm", "config": {}}
        lstm["bias_regularizer"] = {"module": "keras.regularizers", "class_name": "OrthogonalRegularizer", "config": {}}

    with pytest.warns(UserWarning) as record:
        model = load_keras_model(rewrite(tmp_path, "stacked", edit))
    assert [str(w.message) for w in record] == [
        "Layer 'lstm' (LSTM): bias_regularizer 'OrthogonalRegularizer' has no rnnlab equivalent and is dropped "
        "(inference is unchanged; further training does without it)."
    ]
    lstm = next(layer for layer in model.layers if layer.name == "lstm")
    assert (
        repr(lstm.cell.weight_regularizers["kernel"]) == "L2(l2=0.01)" and "bias" not in lstm.cell.weight_regularizers
    )
    assert isinstance(lstm.cell.weight_constraints["recurrent"], rnnlab.constraints.MaxNorm)
    np.testing.assert_allclose(model.predict(MODELS["stacked/x"]), MODELS["stacked/y"], rtol=0, atol=1e-5)


def test_stateful_model_with_batch_size(tmp_path: Path):
    def edit(config: dict[str, Any]) -> None:
        config["config"]["layers"][0]["config"]["batch_shape"] = [4, 7, 3]
        layer_config(config, "lstm")["stateful"] = True

    model = load_keras_model(rewrite(tmp_path, "lstm_compiled", edit))
    assert model.layers[0].stateful and model.input_spec.batch_size == 4
    x = MODELS["lstm_compiled/x"]
    np.testing.assert_allclose(model.predict(x), MODELS["lstm_compiled/y"], rtol=0, atol=1e-5)
    assert not np.allclose(model.predict(x), MODELS["lstm_compiled/y"], atol=1e-5)  # the state carried over
    model.layers[0].reset_states()
    np.testing.assert_allclose(model.predict(x), MODELS["lstm_compiled/y"], rtol=0, atol=1e-5)


def set_first_layer(key: str, value: Any, layer: str = "lstm") -> Callable[[dict[str, Any]], None]:
    return lambda config: layer_config(config, layer).__setitem__(key, value)


def make_functional(config: dict[str, Any]) -> None:
    config["class_name"] = "Functional"  # a Sequential's config under the functional name: no input_layers


def make_subclassed(config: dict[str, Any]) -> None:
    config["class_name"] = "MyModel"


def drop_batch_size_stateful(config: dict[str, Any]) -> None:
    layer_config(config, "lstm")["stateful"] = True


@pytest.mark.parametrize(
    "edit, message",
    [
        (make_subclassed, r"'MyModel' Keras model; rnnlab converts Sequential and functional models only"),
        (make_functional, r"config.json is not a Keras functional config \(missing or bad KeyError: 'input_layers'\)"),
        (drop_batch_size_stateful, r"Stateful layer\(s\) \['lstm'\] need a fixed batch size"),
        (set_first_layer("activation", "mish"), r"Layer 'lstm' \(LSTM\) uses activation 'mish'"),
        (set_first_layer("recurrent_activation", {"class_name": "MyGate"}), r"Layer 'lstm' \(LSTM\) uses activation"),
        (set_first_layer("quantization_config", {"mode": "int8"}, "dense"), r"Layer 'dense' \(Dense\) is quantized"),
        (set_first_layer("time_major", True), r"Layer 'lstm' \(LSTM\) has time_major=True, which rnnlab cannot"),
    ],
)
def test_configs_rnnlab_cannot_honour_raise(tmp_path: Path, edit: Callable, message: str):
    with pytest.raises(ValueError, match=message):
        load_keras_model(rewrite(tmp_path, "lstm_compiled", edit))


def test_unsupported_layer_is_named(tmp_path: Path):
    def edit(config: dict[str, Any]) -> None:
        conv = next(s for s in config["config"]["layers"] if s["class_name"] == "Conv1D")
        conv["class_name"] = "Conv3D"

    with pytest.raises(
        ValueError,
        match=r"Layer 'conv1d' \(Conv3D\) is not supported by rnnlab; supported: "
        r"InputLayer, SimpleRNN, LSTM, GRU",
    ):
        rnnlab.load_model(rewrite(tmp_path, "unsupported", edit))


def test_unsupported_layer_inside_a_wrapper(tmp_path: Path):
    def edit(config: dict[str, Any]) -> None:
        td = next(s for s in config["config"]["layers"] if s["class_name"] == "TimeDistributed")
        td["config"]["layer"]["class_name"] = "LSTM"

    with pytest.raises(ValueError, match=r"Layer 'dense' \(LSTM\) is not supported by rnnlab inside a wrapper"):
        load_keras_model(rewrite(tmp_path, "timedistributed", edit))


# -- files that are not (intact) Keras archives ----------------------------------------------------
def test_zip_that_is_not_a_keras_file(tmp_path: Path):
    path = tmp_path / "notes.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello, not a model")
    with pytest.raises(ValueError, match=r"zip file but not a Keras 3 \.keras archive.*config\.json"):
        rnnlab.load_model(path)


def test_bad_config_json(tmp_path: Path):
    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(ValueError, match="damaged or not a Keras 3 .keras archive"):
        rnnlab.load_model(path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupted_weights_file(tmp_path: Path, damage: str):
    with zipfile.ZipFile(KERAS / "stacked.keras") as archive:
        good = archive.read("model.weights.h5")
    bad = b"this is not HDF5 " * 100 if damage == "garbage" else good[: len(good) // 3]
    with pytest.raises(ValueError, match=r"model\.weights\.h5 is damaged or not a Keras weights file"):
        rnnlab.load_model(rewrite(tmp_path, "stacked", weights=bad))


def test_weights_of_another_model(tmp_path: Path):
    with zipfile.ZipFile(KERAS / "gru_reset_before.keras") as archive:
        other = archive.read("model.weights.h5")
    with pytest.raises(ValueError, match="the weights do not fit the model"):
        rnnlab.load_model(rewrite(tmp_path, "stacked", weights=other))


def test_missing_h5py_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'rnnlab[keras]'")):
        rnnlab.load_model(KERAS / "stacked.keras")


def test_keras_files_hold_sequential_models_of_keras_layers(tmp_path: Path):
    generic = rnnlab.Sequential([rnnlab.Input((5, 3)), rnnlab.layers.RNN(rnnlab.layers.LSTMCell(4))])
    unbuilt = rnnlab.Sequential([rnnlab.layers.LSTM(4)])
    no_form = r"Layer 'rnn' \(RNN\) has no Keras file form in rnnlab, which writes and reads Keras files of SimpleRNN"
    for write in (lambda: generic.save(tmp_path / "m.keras"), lambda: generic.save_weights(tmp_path / "m.weights.h5")):
        with pytest.raises(ValueError, match=no_form):
            write()
    with pytest.raises(ValueError, match=no_form):
        generic.load_weights(tmp_path / "absent.weights.h5")
    with pytest.raises(
        ValueError, match="no input shape yet, so it has no weights to be written: start it with rnnlab.Input"
    ):
        unbuilt.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="no input shape yet, so it has no weights to be read"):
        unbuilt.load_weights(tmp_path / "absent.weights.h5")
    assert list(tmp_path.iterdir()) == []
