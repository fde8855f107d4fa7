"""Hostile Keras ``.keras`` archives: weights that point outside the file (external storage,
soft, external and virtual datasets), zip bombs, arrays that inflate from nothing, oversized
declared layers and damaged configs. Each is refused with a ValueError naming the file, in
bounded time and memory, and nothing outside the archive is read."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hostile.sandbox import assert_refused

KERAS = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
SOURCE = "stacked"  # LSTM(5) -> GRU(4) -> Dropout -> Dense(4) -> Dense(1), saved by Keras 3.15
LSTM_KERNEL = "layers/lstm/cell/vars/0"  # (3, 20) float32

H5Edit = Callable[[h5py.File, Path], None]


def members() -> dict[str, bytes]:
    with zipfile.ZipFile(KERAS / f"{SOURCE}.keras") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def edited_h5(tmp_path: Path, edit: H5Edit) -> bytes:
    """The fixture's model.weights.h5 after ``edit(file, tmp_path)``."""
    path = tmp_path / "model.weights.h5"
    path.write_bytes(members()["model.weights.h5"])
    with h5py.File(path, "r+") as f:
        edit(f, tmp_path)
    return path.read_bytes()


def archive(
    tmp_path: Path,
    h5_edit: H5Edit | None = None,
    config_edit: Callable[[dict[str, Any]], Any] | None = None,
    name: str = "variant.keras",
) -> Path:
    files = members()
    if h5_edit is not None:
        files["model.weights.h5"] = edited_h5(tmp_path, h5_edit)
    if config_edit is not None:
        config = json.loads(files["config.json"])
        config_edit(config)
        files["config.json"] = json.dumps(config).encode()
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as out:
        for member, data in files.items():
            out.writestr(member, data)
    return path


def layer(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``key`` in the config of layer ``index`` (0 is the InputLayer)."""
    return lambda config: config["config"]["layers"][index]["config"].__setitem__(key, value)


# -- weights that point outside the file --------------------------------------------------------------
SECRET = b"root:x:0:0:secret account line\n" * 8  # 248 bytes: more than the kernel's 240


def external_storage(f: h5py.File, tmp: Path) -> None:
    (tmp / "passwd").write_bytes(SECRET)
    del f[LSTM_KERNEL]
    f.create_dataset(LSTM_KERNEL, shape=(3, 20), dtype="<f4", external=[(str(tmp / "passwd"), 0, 240)])


def soft_link(f: h5py.File, tmp: Path) -> None:
    f["elsewhere"] = f[LSTM_KERNEL][()]
    del f[LSTM_KERNEL]
    f[LSTM_KERNEL] = h5py.SoftLink("/elsewhere")


def external_link(f: h5py.File, tmp: Path) -> None:
    with h5py.File(tmp / "other.h5", "w") as other:
        other["data"] = np.frombuffer(SECRET[:240], dtype="<f4").reshape(3, 20)
    del f[LSTM_KERNEL]
    f[LSTM_KERNEL] = h5py.ExternalLink(str(tmp / "other.h5"), "/data")


def linked_group(f: h5py.File, tmp: Path) -> None:
    f["copy"] = f["layers/lstm"]  # a second hard link, then the original name becomes a soft one
    del f["layers/lstm"]
    f["layers/lstm"] = h5py.SoftLink("/copy")


def virtual_dataset(f: h5py.File, tmp: Path) -> None:
    with h5py.File(tmp / "source.h5", "w") as other:
        other["data"] = np.frombuffer(SECRET[:240], dtype="<f4").reshape(3, 20)
    layout = h5py.VirtualLayout(shape=(3, 20), dtype="<f4")
    layout[:] = h5py.VirtualSource(str(tmp / "source.h5"), "data", shape=(3, 20))
    del f[LSTM_KERNEL]
    f.create_virtual_dataset(LSTM_KERNEL, layout)


@pytest.mark.parametrize(
    "edit, what",
    [
        (external_storage, "stored externally"),
        (soft_link, "is a SoftLink"),
        (external_link, "is a ExternalLink"),
        (linked_group, "layers/lstm is a SoftLink"),
        (virtual_dataset, "as a virtual dataset"),
    ],
    ids=["external-storage", "soft-link", "external-link", "soft-linked-group", "virtual"],
)
def test_weights_that_point_outside_the_file_are_refused(tmp_path, sandbox, edit, what):
    path = archive(tmp_path, edit)
    outcome = sandbox.call("load_model", path)
    assert_refused(outcome, path, rf"model.weights.h5 refers to data outside itself \(.*{what}")
    assert "secret account" not in outcome.message


def test_integer_weights_are_refused(tmp_path, sandbox):
    def integers(f: h5py.File, tmp: Path) -> None:
        del f[LSTM_KERNEL]
        f[LSTM_KERNEL] = np.zeros((3, 20), dtype="<i4")

    path = archive(tmp_path, integers)
    assert_refused(sandbox.call("load_model", path), path, r"do not fit .*vars/0 holds int32, not floating point")


# -- sizes that inflate far beyond the file ------------------------------------------------------------
def test_arrays_without_storage_are_not_inflated(tmp_path, sandbox):
    """A Dense(10**8) declared in the config with arrays that HDF5 would fill from nothing (2 GB)."""

    def unallocated(f: h5py.File, tmp: Path) -> None:
        for var, shape in (("0", (4, 10**8)), ("1", (10**8,))):
            del f[f"layers/dense_1/vars/{var}"]
            f.create_dataset(f"layers/dense_1/vars/{var}", shape=shape, dtype="<f4")

    path = archive(tmp_path, unallocated, layer(5, "units", 10**8))
    assert_refused(sandbox.call("load_model", path), path, r"its arrays hold 2,000,001,328 bytes in 1,328 stored bytes")


def zip_with(path: Path, name: str, size: int, config: bytes | None = None) -> Path:
    """The fixture with member ``name`` replaced by ``size`` zero bytes, deflated (about 1000:1)."""
    files = members()
    if config is not None:
        files["config.json"] = config
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for member, data in files.items():
            if member == name:
                with out.open(member, "w", force_zip64=True) as stream:
                    chunk = bytes(2**20)
                    for _ in range(size // 2**20):
                        stream.write(chunk)
            else:
                out.writestr(member, data)
    return path


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path, sandbox):
    path = zip_with(tmp_path / "bomb.keras", "model.weights.h5", 200 * 2**20)
    assert path.stat().st_size < 2**20
    assert_refused(sandbox.call("load_model", path), path, r"model.weights.h5 declares 209,715,200 bytes, more than")


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path, sandbox):
    """A config declaring a large model allows a large weights file, but not one that inflates 1000-fold."""
    config = json.loads(members()["config.json"])
    layer(5, "units", 10**7)(config)
    path = zip_with(tmp_path / "ratio.keras", "model.weights.h5", 100 * 2**20, json.dumps(config).encode())
    assert_refused(sandbox.call("load_model", path), path, r"model.weights.h5 inflates [\d,]+-fold")


def test_a_member_that_inflates_beyond_its_declared_size_stops_there(tmp_path, sandbox):
    """Sizes in the zip directory that lie: no more than declared is inflated, and the CRC fails."""
    path = zip_with(tmp_path / "liar.keras", "model.weights.h5", 50 * 2**20)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model.weights.h5")
    lie = (30_000).to_bytes(4, "little")
    central = data.rindex(b"PK\x01\x02", 0, data.index(b"PK\x05\x06"))  # the last directory entry
    while data[central + 46 : central + 46 + len(info.filename)] != info.filename.encode():
        central = data.rindex(b"PK\x01\x02", 0, central)
    data[central + 24 : central + 28] = lie
    extra = data[central + 46 + len(info.filename) :]
    if extra[:2] == b"\x01\x00":  # zip64 sizes live in the extra field
        start = central + 46 + len(info.filename) + 4
        data[start : start + 8] = (30_000).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    outcome = sandbox.call("load_model", path)
    assert_refused(outcome, path, r"damaged|CRC|not a Keras")
    assert outcome.peak_bytes < 20 * 2**20  # not the 50 MB the data would inflate to


def test_a_huge_config_is_refused_before_parsing(tmp_path, sandbox):
    path = zip_with(tmp_path / "config-bomb.keras", "config.json", 64 * 2**20)
    assert_refused(sandbox.call("load_model", path), path, r"config.json declares 67,108,864 bytes, more than")


@pytest.mark.parametrize("units", [6000, 10**9])
def test_oversized_declared_layers_cost_nothing(tmp_path, sandbox, units):
    path = archive(tmp_path, config_edit=layer(1, "units", units))
    assert_refused(sandbox.call("load_model", path), path, r"do not fit|overflowed")


def test_a_stack_of_fifty_thousand_layers_is_refused_by_count(tmp_path, sandbox):
    dropout = {"class_name": "Dropout", "config": {"name": "d", "rate": 0.1}}
    path = archive(tmp_path, config_edit=lambda c: c["config"]["layers"].extend([dropout] * 50_000))
    assert_refused(sandbox.call("load_model", path), path, r"declares 50,00\d layers, more than the 10,000")


# -- damaged configs --------------------------------------------------------------------------------------
def raw_config(tmp_path: Path, text: str) -> Path:
    files = members()
    files["config.json"] = text.encode()
    path = tmp_path / "raw.keras"
    with zipfile.ZipFile(path, "w") as out:
        for member, data in files.items():
            out.writestr(member, data)
    return path


DAMAGED = {
    "deeply-nested": lambda c: c["config"].__setitem__("layers", json.loads("[" * 500 + "]" * 500)),
    "layers-not-a-list": lambda c: c["config"].__setitem__("layers", 5),
    "layer-not-a-dict": lambda c: c["config"]["layers"].__setitem__(1, "LSTM"),
    "layer-config-a-list": lambda c: c["config"]["layers"][1].__setitem__("config", [1]),
    "units-text": layer(1, "units", "many"),
    "units-negative": layer(1, "units", -1),
    "batch-shape-text": layer(0, "batch_shape", "abc"),
    "batch-shape-huge": layer(0, "batch_shape", [None, 3, 10**12]),
    "compile-config-a-list": lambda c: c.__setitem__("compile_config", [1, 2]),
    "lambda-layer": lambda c: c["config"]["layers"][1].__setitem__("class_name", "Lambda"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_configs_are_one_value_error_naming_the_file(tmp_path, sandbox, case):
    path = archive(tmp_path, config_edit=DAMAGED[case])
    outcome = sandbox.call("load_model", path)
    assert_refused(outcome, path, "")


def test_config_nested_past_the_recursion_limit(tmp_path, sandbox):
    path = raw_config(tmp_path, '{"a":' * 200_000 + "1" + "}" * 200_000)
    assert_refused(sandbox.call("load_model", path), path, "RecursionError")


def test_the_weights_file_is_read_from_memory_only(tmp_path):
    """The refused external dataset would have read the file next to it: check the fixture really
    does, with h5py alone, so the test above proves a refusal and not a broken file."""
    data = edited_h5(tmp_path, external_storage)
    with h5py.File(io.BytesIO(data), "r") as f:
        assert f[LSTM_KERNEL][()].tobytes() == SECRET[:240]
