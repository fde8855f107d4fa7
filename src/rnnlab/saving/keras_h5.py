"""The HDF5 weights of Keras 3 files (``model.weights.h5``, alone or inside a ``.keras`` zip).

Keras keys each layer of a Sequential by the snake_case name of its *class*, numbered in layer
order (``layers/dense``, ``layers/dense_1``), not by the layer's own name; a layer's arrays are
``vars/0``, ``vars/1``, ... in ``get_weights()`` order, under ``cell/`` for recurrent layers,
``forward_layer/cell`` and ``backward_layer/cell`` for ``Bidirectional`` and ``layer/`` for
``TimeDistributed``. A functional model's layers are keyed the same way in ``model.layers`` order,
its InputLayers included (``layers/input_layer``, empty). The reader (:mod:`.keras_read`), the writer
(:mod:`.keras_write`) and
``model.load_weights`` share this layout and the limits on what a file may cost to read.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from torch import nn

from ..cells import LayerCell, StackedRNNCells
from ..core.files import regular_file
from ..core.layer import Layer, snake_case
from ..layers import (
    CONVOLUTION_AND_NORMALIZATION,
    GRU,
    LSTM,
    RNN,
    Activation,
    Add,
    Average,
    Bidirectional,
    Concatenate,
    Dense,
    Dot,
    Dropout,
    Embedding,
    Flatten,
    InputLayer,
    Masking,
    Maximum,
    Minimum,
    Multiply,
    Permute,
    RepeatVector,
    Reshape,
    SimpleRNN,
    SpatialDropout1D,
    Subtract,
    TimeDistributed,
)

# Weightless layers a Keras Sequential holds (the merging layers need a functional model; a Lambda's
# bytecode is refused, as Keras refuses it without safe_mode=False).
RESHAPING: tuple[type[Layer], ...] = (RepeatVector, Flatten, Reshape, Permute, Activation, SpatialDropout1D)
# ... and those of functional models only.
MERGING: tuple[type[Layer], ...] = (Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot)


# Where a layer's arrays live below its group, in Keras's get_weights() order.
WEIGHT_PATHS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("SimpleRNN", "LSTM", "GRU"), ("cell",)),
    "Bidirectional": ("forward_layer/cell", "backward_layer/cell"),
    "TimeDistributed": ("layer",),
    "Dense": ("",),
    "Embedding": ("",),
    **{c.__name__: ("",) for c in CONVOLUTION_AND_NORMALIZATION},
}


def h5py_module(doing: str = "Reading") -> Any:
    """h5py, imported only when a Keras file is read or written (an optional dependency)."""
    try:
        import h5py
    except ImportError as err:
        message = f"{doing} Keras files needs h5py: pip install 'rnnlab[keras]' (or pip install h5py)."
        raise ImportError(message) from err
    return h5py


#: model.weights.h5 holds the weights and up to four optimizer slots each, float32 or float64,
#: plus HDF5's own structures: at most this many bytes per parameter, plus the slack.
BYTES_PER_PARAMETER = 40


SLACK_BYTES = 64 * 2**20


#: Data that inflates more than this from its compressed size, beyond the slack, is refused.
MAX_RATIO = 100


def weights_limit(model: nn.Module) -> int:
    return BYTES_PER_PARAMETER * sum(p.numel() for p in model.parameters()) + SLACK_BYTES


def _child(group: Any, name: str, where: str) -> Any:
    """``group[name]`` if it is stored in this file: a hard link, not a soft or external link."""
    h5py = h5py_module()
    link = group.get(name, getlink=True)
    if link is None:
        raise KeyError(f"no {where!r}")
    if not isinstance(link, h5py.HardLink):
        raise _Outside(f"{where} is a {type(link).__name__}")
    return group[name]


class _Outside(Exception):
    """A weights file that points at data outside itself."""


def _datasets(f: Any, vars_path: str) -> list[Any]:
    """The datasets ``vars/0``, ``vars/1``, ... under ``vars_path``, each stored in the file itself."""
    h5py = h5py_module()
    group = f
    for i, part in enumerate(vars_path.split("/")):
        group = _child(group, part, "/".join(vars_path.split("/")[: i + 1]))
    if not isinstance(group, h5py.Group):
        raise KeyError(f"{vars_path!r} is not a group")
    found = []
    for name in sorted(group.keys(), key=lambda n: int(n) if n.isdigit() else -1):
        where = f"{vars_path}/{name}"
        dataset = _child(group, name, where)
        if not isinstance(dataset, h5py.Dataset) or not name.isdigit():
            raise KeyError(f"{where!r} is not a weight array")
        if dataset.external or dataset.is_virtual:
            raise _Outside(f"{where} is stored {'externally' if dataset.external else 'as a virtual dataset'}")
        if dataset.dtype.kind != "f":
            raise ValueError(f"{where} holds {dataset.dtype}, not floating point numbers")
        found.append(dataset)
    return found


def read_weights(
    model: Any, specs: list[dict[str, Any]], data: bytes, path: Any, layers: list[Layer] | None = None
) -> list[tuple[Layer, list[np.ndarray]]]:
    """Each layer with weights and its arrays, read only once every array's storage, dtype and
    shape has been checked against the model (built with shapes only). ``specs`` are the layers'
    entries in the file's order, ``layers`` the model's layers they describe (default: ``model.layers``)."""
    h5py = h5py_module()
    used: dict[str, int] = {}
    planned: list[tuple[Layer, list[Any]]] = []
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            for spec, layer in zip(specs, _layers(model) if layers is None else layers, strict=True):
                key = snake_case(spec["class_name"])  # Keras numbers groups by class, in layer order
                used[key] = used.get(key, -1) + 1
                group = f"layers/{key}" + (f"_{used[key]}" if used[key] else "")
                if not layer.count_params():  # Dropout, TimeDistributed(Dropout)
                    continue
                datasets = []
                for sub in WEIGHT_PATHS[spec["class_name"]]:
                    vars_path = "/".join(p for p in (group, sub, "vars") if p)
                    try:
                        datasets += _datasets(f, vars_path)
                    except KeyError as err:
                        raise ValueError(f"{err.args[0]} for layer '{layer.name}'") from None
                expected = [tuple(p.shape) for p in layer.keras_weights()]
                if [d.shape for d in datasets] != expected:
                    raise ValueError(
                        f"Layer '{layer.name}' expects {len(expected)} weight arrays of shapes {expected}, "
                        f"the file has {[d.shape for d in datasets]}"
                    )
                planned.append((layer, datasets))
            _check_inflation([d for _, datasets in planned for d in datasets])
            return [(layer, [np.asarray(d[()]) for d in datasets]) for layer, datasets in planned]
    except _Outside as err:
        raise ValueError(
            f"{path}: model.weights.h5 refers to data outside itself ({err}); rnnlab reads only weights "
            "stored in the file, so it refuses this one."
        ) from None
    except (OSError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: model.weights.h5 is damaged or not a Keras weights file ({err}).") from None
    except ValueError as err:
        raise ValueError(f"{path}: the weights do not fit the model in its config.json: {err}") from None


def _layers(model: Any) -> list[Layer]:
    return [layer for layer in model.layers if isinstance(layer, Layer)]


def _check_inflation(datasets: list[Any]) -> None:
    """Refuse arrays whose stored bytes (compressed chunks, or none: a fill value) would inflate far
    beyond the file: Keras stores weights uncompressed."""
    logical = sum(d.size * d.dtype.itemsize for d in datasets)
    stored = sum(d.id.get_storage_size() for d in datasets)
    if logical > SLACK_BYTES and logical > MAX_RATIO * stored:
        raise OSError(f"its arrays hold {logical:,} bytes in {stored:,} stored bytes")


RECURRENT = (SimpleRNN, LSTM, GRU)


WRITABLE: tuple[type[Layer], ...] = (
    *RECURRENT,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Masking,
    TimeDistributed,
    *CONVOLUTION_AND_NORMALIZATION,
    *RESHAPING,
    *MERGING,
    InputLayer,
)


def keras_layers(model: Any, doing: str) -> list[Layer]:
    """The model's layers and the layers they wrap, each of a kind Keras files hold."""
    if not hasattr(model, "inputs") and model.input_spec is None:  # a functional model starts at its inputs
        raise ValueError(
            f"The model has no input shape yet, so it has no weights to be {doing}: start it with "
            "rnnlab.Input(...) or call it on data first."
        )
    found: list[Layer] = []
    for layer in model.layers:
        if is_model(layer):
            found += keras_layers(layer, doing)
            continue
        inner = [m for m in (layer.layer,) if isinstance(m, Layer)] if isinstance(layer, TimeDistributed) else []
        if isinstance(layer, Bidirectional):
            inner = [layer.forward_layer, layer.backward_layer]
        found += [m for m in (layer, *inner) if isinstance(m, Layer)]
    for each in found:
        if type(each) not in WRITABLE and not is_own_class(each):
            raise ValueError(
                f"Layer '{each.name}' ({type(each).__name__}) has no Keras file form in rnnlab, which writes and "
                f"reads Keras files of {', '.join(c.__name__ for c in WRITABLE)}. Use an rnnlab file "
                "(.safetensors) instead."
            )
    return found


def is_model(layer: Any) -> bool:
    """A Sequential or functional model used as a layer (Keras nests its config and its weights' groups)."""
    return bool(getattr(type(layer), "takes_call_options", False)) and hasattr(layer, "layers")


def is_own_class(layer: Layer) -> bool:
    """A layer of the program's own (a ``Layer`` subclass written outside rnnlab), or an ``RNN`` of such
    cells (one, or a stack of them): Keras files store its ``get_config()`` and its weights by attribute."""
    if type(layer) is RNN:
        cells = layer.cell.members if isinstance(layer.cell, StackedRNNCells) else [layer.cell]
        return all(isinstance(cell, LayerCell) for cell in cells)
    return not type(layer).__module__.startswith("rnnlab.")


def has_own_layers(model: Any) -> bool:
    """Whether the model holds models or layers of the program's own, whose weights Keras keys by attribute."""
    return any(is_model(layer) or is_own_class(layer) for layer in model.layers if isinstance(layer, Layer))


def _layer_groups(layer: Layer) -> list[tuple[str, Layer | None]]:
    """(path below the layer's group, the layer whose arrays go there) for every ``vars`` group Keras has."""
    if isinstance(layer, RECURRENT):
        return [("vars", None), ("cell/vars", layer)]
    if isinstance(layer, Bidirectional):
        return [("vars", None)] + [
            (f"{side}/{sub}", owner)
            for side, inner in (("forward_layer", layer.forward_layer), ("backward_layer", layer.backward_layer))
            for sub, owner in _layer_groups(inner)
        ]
    if isinstance(layer, TimeDistributed):
        return [("vars", None)] + [(f"layer/{sub}", owner) for sub, owner in _layer_groups(layer.layer)]
    return [("vars", layer if layer.keras_weights() else None)]


def weights_file(model: Any) -> bytes:
    """The HDF5 file of the weights, built in memory: HDF5 cannot survive a failed write to disk
    (closing the file retries it, and h5py crashes the process, h5py issues #914 and #2160), so
    the disk sees only finished bytes, through the same atomic write as every other file."""
    h5py = h5py_module("Writing")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")
        layers = f.create_group("layers")
        used: dict[str, int] = {}
        for layer in model.layers:
            key = snake_case(type(layer).__name__)
            used[key] = used.get(key, -1) + 1
            group = layers.create_group(key + (f"_{used[key]}" if used[key] else ""))
            for sub, owner in _layer_groups(layer):
                variables = group.create_group(sub)
                if owner is not None:
                    for i, weight in enumerate(owner.get_weights()):
                        variables.create_dataset(str(i), data=weight)
    return buffer.getvalue()


def load_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Read a Keras ``.weights.h5`` file into a Sequential model of the same layers."""
    keras_layers(model, "read")
    file = regular_file(path)
    if file.stat().st_size > weights_limit(model):
        raise ValueError(f"{file} is larger than the weights of this model can be; refusing to read it.")
    specs = [{"class_name": type(layer).__name__} for layer in model.layers]
    for layer, values in read_weights(model, specs, file.read_bytes(), file):
        layer.set_weights(values)
