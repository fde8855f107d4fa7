"""Hostile rnnlab model files: oversized declared layers, damaged metadata of every kind, wrong
dtypes, and paths that are not regular files. Each is refused with a ValueError naming the file,
in bounded time and memory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import rnnlab
from hostile.sandbox import assert_refused
from rnnlab.layers import LSTM, Dense

Edit = Callable[[dict[str, str], dict[str, torch.Tensor]], None]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A compiled, trained LSTM(4) -> Dense(1) saved by rnnlab, with its Adam state."""
    rnnlab.set_seed(0)
    model = rnnlab.Sequential([rnnlab.Input((3, 2)), LSTM(4), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 3, 2), "float32"), np.ones(8, "float32"), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    model.save(path)
    return path


def variant(source: Path, target: Path, edit: Edit) -> Path:
    """A copy of ``source`` whose metadata and tensors ``edit`` changed in place (written by safetensors itself)."""
    with safe_open(str(source), framework="pt") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    edit(metadata, tensors)
    save_file(tensors, str(target), metadata=metadata)
    return target


def architecture(*changes: Callable[[dict[str, Any]], Any]) -> Edit:
    """An edit of the stored architecture (parsed JSON, changed in place)."""

    def edit(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> None:
        config = json.loads(metadata["model"])
        for change in changes:
            change(config)
        metadata["model"] = json.dumps(config)

    return edit


def layer(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda config: config["config"]["layers"][index]["config"].__setitem__(key, value)


def lstm(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return layer(0, key, value)


def model_input(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda config: config["config"].__setitem__("input", value)


def entry(key: str, value: str | None) -> Edit:
    """Replace (or, with None, delete) one metadata entry."""

    def edit(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> None:
        if value is None:
            del metadata[key]
        else:
            metadata[key] = value

    return edit


def tensor(key: str, value: torch.Tensor | None) -> Edit:
    def edit(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> None:
        if value is None:
            del tensors[key]
        else:
            tensors[key] = value

    return edit


KERNEL = "weights/layers.0.cell.kernel"


# -- sizes declared far beyond what the file holds ------------------------------------------------
OVERSIZED = {
    "lstm-6000": architecture(lstm("units", 6000)),  # O(units^3) to initialise: 66-92 s and 2 GB before
    "lstm-1e9": architecture(lstm("units", 10**9)),  # a 32-128 GB allocation before
    "dense-1e12": architecture(layer(1, "units", 10**12)),
    "input-1e10": architecture(model_input({"shape": [3, 10**10]})),
    "lazy-lstm-1e9": architecture(model_input(None), lstm("units", 10**9)),  # sizes from the tensors
}


@pytest.mark.parametrize("case", sorted(OVERSIZED))
def test_oversized_declared_layers_cost_nothing(model_file, tmp_path, sandbox, case):
    path = variant(model_file, tmp_path / f"{case}.safetensors", OVERSIZED[case])
    assert_refused(sandbox.call("load_model", path), path, r"do not fit this model|size calculation overflowed")


def test_a_stack_of_fifty_thousand_layers_is_refused_by_count(model_file, tmp_path, sandbox):
    dropout = {"class_name": "Dropout", "config": {"rate": 0.1}}
    edit = architecture(lambda c: c["config"]["layers"].__setitem__(slice(1, 1), [dropout] * 50_000))
    path = variant(model_file, tmp_path / "deep.safetensors", edit)
    assert_refused(sandbox.call("load_model", path), path, "declares 50,002 layers, more than the 10,000")


def test_lazy_model_gets_its_sizes_from_the_file(model_file, tmp_path):
    """Built with shapes only, a model without an input shape still takes its sizes from the tensors."""
    path = variant(model_file, tmp_path / "lazy.safetensors", architecture(model_input(None)))
    x = np.ones((2, 3, 2), "float32")
    np.testing.assert_array_equal(rnnlab.load_model(path).predict(x), rnnlab.load_model(model_file).predict(x))


# -- damaged metadata of every kind ------------------------------------------------------------------
DAMAGED = {
    "model-not-json": (entry("model", "{not json"), "the architecture it stores is damaged"),
    "model-missing": (entry("model", None), r"the architecture it stores is damaged .*no 'model' entry"),
    "model-a-list": (
        entry("model", "[1, 2]"),
        r"the architecture it stores names no model class \(expected a JSON object with 'class_name', one of "
        r"\['Functional', 'Sequential'\], and 'config', as model.save writes it\)\. "
        r"The file is damaged: save the model again\.$",
    ),
    "model-deeply-nested": (entry("model", "[" * 100_000 + "]" * 100_000), "the architecture it stores is damaged"),
    "class-unknown": (architecture(lambda c: c.__setitem__("class_name", "MyModel")), "holds a 'MyModel' model"),
    "config-missing": (architecture(lambda c: c.pop("config")), r"architecture .*KeyError"),
    "layers-not-a-list": (architecture(lambda c: c["config"].__setitem__("layers", 7)), "architecture it stores"),
    "layer-not-a-dict": (architecture(lambda c: c["config"]["layers"].__setitem__(0, "LSTM")), "architecture"),
    "layer-class-unknown": (
        architecture(lambda c: c["config"]["layers"][0].__setitem__("class_name", "Conv3D")),
        r"Unknown layer class 'Conv3D'",
    ),
    "layer-config-missing": (architecture(lambda c: c["config"]["layers"][0].pop("config")), "architecture"),
    "unknown-argument": (architecture(lstm("function", "os.system")), r"unexpected keyword argument 'function'"),
    "units-text": (architecture(lstm("units", "many")), "units must be a positive integer"),
    "units-negative": (architecture(lstm("units", -4)), "units must be a positive integer"),
    "activation-unknown": (architecture(lstm("activation", "eval")), "activation"),
    "input-shape-text": (architecture(lambda c: c["config"]["input"].__setitem__("shape", "abc")), "architecture"),
    "input-not-a-dict": (architecture(lambda c: c["config"].__setitem__("input", [3, 2])), "architecture"),
    "compile-not-json": (entry("compile", "{"), "the compile settings it stores is damaged"),
    "compile-a-number": (entry("compile", "3"), "compile settings or optimizer state"),
    "optimizer-class-unknown": (
        entry("compile", json.dumps({"optimizer": {"class_name": "Nope", "config": {}}, "loss": "mse"})),
        "Unknown optimizer class 'Nope'",
    ),
    "optimizer-argument-bad": (
        entry("compile", json.dumps({"optimizer": {"class_name": "Adam", "config": {"lr": "fast"}}, "loss": "mse"})),
        "compile settings or optimizer state",
    ),
    "loss-unknown": (entry("compile", json.dumps({"optimizer": "adam", "loss": "rm -rf"})), "Unknown loss"),
    "optimizer-state-not-json": (entry("optimizer", "]"), "the optimizer state it stores is damaged"),
    "optimizer-state-missing-tensor": (
        entry("optimizer", json.dumps({"__dict__": [["state", {"__tensor__": "t999"}]]})),
        "the optimizer state it stores is damaged .*KeyError",
    ),
    "optimizer-state-deeply-nested": (entry("optimizer", '{"__list__": [' * 50_000 + "]}" * 50_000), "optimizer"),
    "optimizer-state-wrong-shape": (
        tensor("optimizer/t1", torch.zeros(5, 5)),
        r"optimizer slot 'exp_avg': shape \(5, 5\), weight \(2, 16\)",
    ),
    "optimizer-state-integers": (tensor("optimizer/t1", torch.zeros(2, 16, dtype=torch.int32)), "not floating point"),
    "format-missing": (entry("format", None), r"is not an rnnlab model file \(format 'missing'"),
    "format-other": (entry("format", "rnnlab.state/1"), "is not an rnnlab model file"),
    "weight-missing": (tensor(KERNEL, None), r"do not fit this model: missing \['layers.0.cell.kernel'\]"),
    "weight-extra": (tensor("weights/layers.9.kernel", torch.zeros(2)), r"unexpected \['layers.9.kernel'\]"),
    "weight-wrong-shape": (tensor(KERNEL, torch.zeros(2, 17)), r"shape mismatch .*kernel: file \(2, 17\)"),
    "weight-int32": (tensor(KERNEL, torch.zeros(2, 16, dtype=torch.int32)), r"dtype mismatch .*kernel: file I32"),
    "weight-bool": (tensor(KERNEL, torch.zeros(2, 16, dtype=torch.bool)), r"dtype mismatch .*kernel: file BOOL"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_metadata_is_one_value_error_naming_the_file(model_file, tmp_path, sandbox, case):
    edit, match = DAMAGED[case]
    path = variant(model_file, tmp_path / f"{case}.safetensors", edit)
    assert_refused(sandbox.call("load_model", path), path, match)


def test_weights_only_loads_check_dtypes_before_reading(model_file, tmp_path, sandbox):
    path = variant(model_file, tmp_path / "ints.safetensors", tensor(KERNEL, torch.zeros(2, 16, dtype=torch.int32)))
    config = json.loads(safe_open(str(model_file), "pt").metadata()["model"])["config"]
    outcome = sandbox.call("load_weights", path, json.dumps(config))
    assert_refused(outcome, path, r"dtype mismatch \['layers.0.cell.kernel: file I32")


def test_a_header_declaring_gigabytes_is_refused_before_reading(tmp_path, sandbox):
    path = tmp_path / "huge-header.safetensors"
    path.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    assert_refused(sandbox.call("load_model", path), path, "it is damaged or not an rnnlab file")


# -- paths that are not regular files ------------------------------------------------------------------
def test_devices_fifos_and_folders_are_refused_before_opening(tmp_path, sandbox):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    for path in (Path("/dev/zero"), fifo, tmp_path):
        for call in ("load_model", "load_keras_model", "read_csv"):
            assert_refused(sandbox.call(call, path), path, "not a regular file")
    outcome = sandbox.call("load_weights", fifo, json.dumps({"layers": []}))
    assert_refused(outcome, fifo, "not a regular file")
