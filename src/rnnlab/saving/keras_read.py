"""Keras 3 ``.keras`` files -> rnnlab ``Sequential`` or functional ``Model``: architecture, weights and
compile settings.

A ``.keras`` file is a zip holding ``config.json`` (the architecture, ``compile_config``) and
``model.weights.h5``. In the HDF5 file Keras keys each layer of a Sequential by the snake_case
name of its *class*, numbered in layer order (``layers/dense``, ``layers/dense_1``), not by the
layer's own name; a layer's arrays are ``vars/0``, ``vars/1``, ... in ``get_weights()`` order,
under ``cell/`` for recurrent layers, ``forward_layer/cell`` and ``backward_layer/cell`` for
``Bidirectional`` and ``layer/`` for ``TimeDistributed``; a functional model's layers, InputLayers
included, are keyed the same way in its config's order. Optimizer variables are not imported.
"""

from __future__ import annotations

import contextlib
import json
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core import activations, constraints, files, initializers, registration, regularizers, symbolic
from ..core.layer import Layer, snake_case
from ..layers import (
    CONVOLUTION_AND_NORMALIZATION,
    GRU,
    LSTM,
    RNN,
    Activation,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    InputLayer,
    InputSpec,
    Masking,
    Permute,
    Reshape,
    SimpleRNN,
    TimeDistributed,
)
from ..layers.pooling import GlobalPooling1D
from ..models.functional import Functional
from ..models.model import Model, Sequential
from ..training import losses, metrics, optimizers
from . import keras_subclassed, native
from .keras_h5 import MAX_RATIO, MERGING, RESHAPING, SLACK_BYTES, has_own_layers, read_weights, weights_limit

RECURRENT: dict[str, type[Layer]] = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
PLAIN: dict[str, type[Layer]] = {
    **RECURRENT,
    "Dense": Dense,
    "Dropout": Dropout,
    "Embedding": Embedding,
    "Masking": Masking,
    **{c.__name__: c for c in CONVOLUTION_AND_NORMALIZATION},
    **{c.__name__: c for c in RESHAPING},
}
SUPPORTED = ("InputLayer", *PLAIN, "Bidirectional", "TimeDistributed")
PLAIN.update({c.__name__: c for c in MERGING})
GRAPH_ONLY = tuple(c.__name__ for c in MERGING)  # layers of functional models only
# Keras-only keys that do not change what the layer computes.
IGNORED = {
    "dtype",
    "seed",
    "unroll",
    "implementation",
    "use_cudnn",
    "registered_name",
    "module",
    "build_config",
    "lora_rank",
    "lora_alpha",
    "lora_enabled",
}


def load_keras_model(path: files.StrPath, compile: bool = True) -> Model:
    """The rnnlab ``Sequential`` (functional ``Model``) equal to a Keras 3 ``.keras`` Sequential
    (functional) model, weights loaded.

    With ``compile`` and a ``compile_config`` in the file, the model is also compiled with the
    equivalent optimizer, loss and metrics (what cannot be mapped is skipped with a warning).
    Raises ValueError for what rnnlab cannot reproduce (other layer classes, models nested in
    models, quantized layers, unknown activations) and for files that are not Keras archives.

    The file is checked before it costs memory: the architecture is built with shapes only,
    archive members are inflated only up to what that architecture can need, and every weight
    array's link, storage, dtype and shape is checked before it is read.
    """
    path = files.regular_file(path)
    with _archive(path) as archive:
        config = _config(archive, path)
        kind = config.get("class_name") if isinstance(config, dict) else None
        if kind is None:
            raise ValueError(
                f"{path}: config.json names no model class ('class_name' is missing); expected a Keras "
                "Sequential model as keras.Sequential(...).save('model.keras') writes it. Save the model again."
            )
        if kind not in ("Sequential", "Functional"):
            raise ValueError(
                f"{path} holds a {kind!r} Keras model; rnnlab converts Sequential and functional models only. "
                "Rebuild the model as keras.Sequential([...]) or keras.Model(inputs, outputs)."
            )
        model: Model
        layers: list[Layer] | None = None  # a Sequential's: model.layers
        if kind == "Functional":
            specs, layers, model = _graph(config, path)
        else:
            specs, model = _architecture(config, path)
        weights_file = _member(archive, WEIGHTS, weights_limit(model), path)
    if has_own_layers(model):  # models and layers of the program's own: Keras keys their weights by attribute
        by_path = keras_subclassed.read_arrays(model, weights_file, path)
        native.materialize(model)
        keras_subclassed.assign_arrays(model, by_path)
    else:
        arrays = read_weights(model, specs, weights_file, path, layers)
        native.materialize(model)
        for layer, values in arrays:
            layer.set_weights(values)
    if compile and config.get("compile_config"):
        try:
            _compile(model, config["compile_config"])
        except files.MALFORMED as err:
            raise files.damaged(path, "the compile_config in its config.json", err) from err
    return model


# -- the archive ------------------------------------------------------------------------------
CONFIG, WEIGHTS = "config.json", "model.weights.h5"
#: config.json is kilobytes; this bounds what a hostile one costs to parse.
MAX_CONFIG_BYTES = 4 * 2**20


@contextlib.contextmanager
def _archive(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as err:
        raise ValueError(f"{path} is damaged or not a Keras 3 .keras archive ({type(err).__name__}: {err}).") from None


def _member(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """A member's bytes, refused before inflating if it declares more than ``limit`` or inflates
    suspiciously well (a zip bomb); never more than it declares is inflated."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ValueError(
            f"{path}: its {name} declares {info.file_size:,} bytes, more than the {limit:,} the model "
            "it describes can need; the archive is damaged or hostile, and is not inflated."
        )
    if info.file_size > SLACK_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ValueError(
            f"{path}: its {name} inflates {info.file_size // max(info.compress_size, 1):,}-fold "
            f"({info.compress_size:,} -> {info.file_size:,} bytes); Keras stores weights uncompressed, "
            "so the archive is damaged or hostile, and is not inflated."
        )
    with archive.open(info) as member:  # asking for file_size bytes inflates no more; the CRC is checked
        return member.read(info.file_size)


def _config(archive: zipfile.ZipFile, path: Path) -> Any:
    names = set(archive.namelist())
    if not {CONFIG, WEIGHTS} <= names:
        raise ValueError(
            f"{path} is a zip file but not a Keras 3 .keras archive: it lacks "
            f"{sorted({CONFIG, WEIGHTS} - names)} (it has {sorted(names)[:5]})."
        )
    try:
        return json.loads(_member(archive, CONFIG, MAX_CONFIG_BYTES, path))
    except (ValueError, RecursionError) as err:
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path} is damaged or not a Keras 3 .keras archive ({type(err).__name__}: {err}).") from None


def _architecture(config: dict[str, Any], path: Path) -> tuple[list[dict[str, Any]], Sequential]:
    """(the layer specs that have weights' groups, the model built with shapes only)."""
    native.check_layer_count(config.get("config"), path)
    try:
        with native.shapes_only():
            layers, model = _sequential(config["config"])
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith(str(path)) else f"{path}: {err}") from None
    except files.MALFORMED + (RuntimeError,) as err:
        raise ValueError(
            f"{path}: config.json is not a Keras Sequential config (missing or bad {type(err).__name__}: {err})."
        ) from None
    return layers, model


def _sequential(config: dict[str, Any]) -> tuple[list[dict[str, Any]], Sequential]:
    """(the specs of its layers, InputLayer aside; the Sequential they make) from a Sequential's config."""
    specs = config["layers"]
    layers = [s for s in specs if s["class_name"] != "InputLayer"]
    return layers, Sequential([_input(specs, config)] + [_layer(s) for s in layers], name=config.get("name"))


def _graph(config: dict[str, Any], path: Path) -> tuple[list[dict[str, Any]], list[Layer], Functional]:
    """(the layer specs in the file's order, the model's layers they describe, the functional model
    built with shapes only)."""
    native.check_layer_count(config.get("config"), path)
    try:
        graph = _without_mask_ops(config["config"])
        with native.shapes_only():
            model = Functional.from_config(graph, layer_from_config=_graph_layer)
        specs = [spec for spec in graph["layers"] if not symbolic.is_operation_config(spec)]  # ops hold no weights
        by_name = {layer.name: layer for layer in model.layers if isinstance(layer, Layer)}
        return specs, [by_name[spec["config"]["name"]] for spec in specs], model
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith(str(path)) else f"{path}: {err}") from None
    except files.MALFORMED + (RuntimeError,) as err:
        raise ValueError(
            f"{path}: config.json is not a Keras functional config (missing or bad {type(err).__name__}: {err})."
        ) from None


def _without_mask_ops(config: dict[str, Any]) -> dict[str, Any]:
    """The functional config less Keras's ``NotEqual`` operations that compute an Embedding's
    ``mask_zero`` mask (Keras records them when it saves; only ``mask`` arguments read them), and
    those arguments: rnnlab passes that mask from the Embedding on by itself. A ``NotEqual`` the
    model computes with (``a != b`` as a value) stays."""
    not_equal = {spec["name"] for spec in config["layers"] if spec.get("class_name") == "NotEqual"}
    read_as_values = {
        history[0]
        for spec in config["layers"]
        for node in spec.get("inbound_nodes", [])
        for history in _tensor_histories(
            [node.get("args", []), {k: v for k, v in node.get("kwargs", {}).items() if k != "mask"}]
        )
    }
    ops = not_equal - read_as_values

    def reads_op(value: Any) -> bool:
        return isinstance(value, dict) and value.get("config", {}).get("keras_history", [None])[0] in ops

    layers = []
    for spec in config["layers"]:
        if spec.get("name") in ops:
            continue
        nodes = [
            {**node, "kwargs": {k: v for k, v in node.get("kwargs", {}).items() if not (k == "mask" and reads_op(v))}}
            for node in spec.get("inbound_nodes", [])
        ]
        layers.append({**spec, "inbound_nodes": nodes})
    return {**config, "layers": layers}


def _tensor_histories(item: Any) -> list[Any]:
    """The ``keras_history`` of each symbolic tensor in a node's arguments."""
    if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
        return [item["config"]["keras_history"]]
    values = item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
    return [history for value in values for history in _tensor_histories(value)]


def _graph_layer(spec: dict[str, Any]) -> Layer:
    """One layer of a functional model: an InputLayer from its batch shape and dtype, or any other layer."""
    if spec["class_name"] != "InputLayer":
        return _layer(spec, (*SUPPORTED[1:], *GRAPH_ONLY))
    config = spec["config"]
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not _is_batch_shape(shape):
        raise ValueError(
            f"config.json: the batch_shape of input {config.get('name')!r} must be [batch, *sample_shape], each a "
            f"positive integer or null, received {shape!r}. The file is damaged: save the model from Keras again."
        )
    options = ("sparse", "ragged", "optional")
    return InputLayer(
        batch_shape=shape, dtype=config.get("dtype"), name=config.get("name"), **{k: config.get(k) for k in options}
    )


# -- the architecture -------------------------------------------------------------------------
def _input(specs: list[dict[str, Any]], config: dict[str, Any]) -> InputSpec:
    """The input's spec from the InputLayer's batch_shape and dtype (or the model's build shape)."""
    first = specs[0] if specs else {}
    if first.get("class_name") == "InputLayer":
        shape = first["config"].get("batch_shape") or first["config"].get("batch_input_shape")
        dtype = first["config"].get("dtype")
    else:  # a model built with model.build(shape) rather than keras.Input
        shape = config.get("build_input_shape") or first.get("build_config", {}).get("input_shape")
        dtype = None
    if shape is None:
        raise ValueError(
            "The Keras model was saved unbuilt (no input shape): build it, e.g. with "
            "keras.Input(...) as its first layer, and save it again."
        )
    if not _is_batch_shape(shape):
        raise ValueError(
            f"config.json: the input's batch_shape must be [batch, *sample_shape], each a positive integer or "
            f"null, received {shape!r}. The file is damaged: save the model from Keras again."
        )
    dtype = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    wrapped = [s["config"].get("layer") or s for s in specs]  # Bidirectional/TimeDistributed: the inner layer
    stateful = [s["config"]["name"] for s, w in zip(specs, wrapped, strict=True) if w["config"].get("stateful")]
    if stateful and shape[0] is None:
        raise ValueError(
            f"Stateful layer(s) {stateful} need a fixed batch size, but the Keras input has "
            "batch_shape[0] = None; give keras.Input(batch_size=...) and save again."
        )
    return InputSpec(tuple(shape[1:]), dtype=dtype if dtype and "int" in dtype else None, batch_size=shape[0])


def _is_batch_shape(shape: Any) -> bool:
    """[batch, *sample_shape]: two or more sizes, each a positive integer or None (not known)."""
    if not isinstance(shape, list | tuple) or len(shape) < 2:
        return False
    return all(size is None or (type(size) is int and size > 0) for size in shape)


def _unsupported(name: str, class_name: str, what: str = "is not supported by rnnlab") -> ValueError:
    return ValueError(f"Layer '{name}' ({class_name}) {what}; supported: {', '.join(SUPPORTED)}.")


def _layer(spec: dict[str, Any], allowed: tuple[str, ...] = SUPPORTED[1:]) -> Layer:
    """An rnnlab layer (unbuilt) from one Keras ``{"class_name", "config"}`` spec."""
    class_name, config = spec["class_name"], dict(spec["config"])
    name = config.get("name", snake_case(class_name))
    if _is_own_class(spec):
        own: Layer = _own_layer(spec, "layer")
        return own
    if class_name in NESTED and allowed is not RECURRENT_ONLY:
        return _sequential(config)[1] if class_name == "Sequential" else _graph_model(config)
    if class_name == "RNN" and _is_own_cell(config.get("cell") or {}):
        return _rnn_of_own_cell(name, config)
    if class_name not in allowed:
        where = "" if class_name not in SUPPORTED else f" inside a wrapper (allowed there: {', '.join(allowed)})"
        raise _unsupported(name, class_name, f"is not supported by rnnlab{where}")
    if class_name == "Bidirectional":
        forward = _recurrent(config["layer"])
        backward = config.get("backward_layer")
        layer = Bidirectional(
            forward,
            merge_mode=config.get("merge_mode", "concat"),
            name=name,
            backward_layer=None if backward is None else _recurrent(backward),
            trainable=config.get("trainable", True),
        )
        layer.forward_layer.name = forward.name  # Keras's saved name, not forward_forward_...
        return layer
    if class_name == "TimeDistributed":
        return TimeDistributed(
            _layer(config["layer"], ("Dense", "Dropout")), name=name, trainable=config.get("trainable", True)
        )
    cls = PLAIN[class_name]
    kwargs = _translate(name, class_name, config, _accepted_keys(cls))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Layer '{name}' ({class_name}) cannot be rebuilt in rnnlab: {err}") from None


NESTED = ("Sequential", "Functional")  # models used as layers
RECURRENT_ONLY = tuple(RECURRENT)


def _graph_model(config: dict[str, Any]) -> Functional:
    return Functional.from_config(_without_mask_ops(config), layer_from_config=_graph_layer)


def _is_own_class(spec: dict[str, Any]) -> bool:
    """A class of the program's own: Keras writes its registered name (``"MyLayer"``, ``"pkg>MyLayer"``) and no
    module of Keras's (``keras``, ``keras.layers``, ``keras.src...``)."""
    module = spec.get("module")
    from_keras = isinstance(module, str) and module.split(".")[0] == "keras"
    return isinstance(spec.get("registered_name"), str) and not from_keras


def _is_own_cell(spec: dict[str, Any]) -> bool:
    """A cell of the program's own, or Keras's StackedRNNCells of such cells."""
    if spec.get("class_name") == "StackedRNNCells" and not _is_own_class(spec):
        cells = spec.get("config", {}).get("cells")
        return isinstance(cells, list) and bool(cells) and all(_is_own_class(cell) for cell in cells)
    return _is_own_class(spec)


def _plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config for a class of the program's own: Keras's dtype policy object as its name."""
    policy = config.get("dtype")
    if isinstance(policy, dict):
        config = {**config, "dtype": policy.get("config", {}).get("name")}
    return config


def _own_layer(spec: dict[str, Any], what: str) -> Any:
    """A layer or cell of the program's own, found as Keras finds it (``custom_objects``, registration)."""
    cls = registration.find_class(spec, what)
    config = _plain_config(dict(spec["config"]))
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{what.capitalize()} '{config.get('name', spec['class_name'])}' ({spec['class_name']}) cannot be "
            f"rebuilt from its config by {cls.__name__}.from_config: {err}"
        ) from None


def _rnn_of_own_cell(name: str, config: dict[str, Any]) -> RNN:
    """``RNN(MyCell(...))`` (or ``RNN([MyCell(...), ...])``): the cells of the program's own, the RNN's
    sequence options."""
    spec = config["cell"]
    stacked = spec["class_name"] == "StackedRNNCells" and not _is_own_class(spec)
    cell = [_own_layer(c, "cell") for c in spec["config"]["cells"]] if stacked else _own_layer(spec, "cell")
    keys = ("return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask", "trainable")
    return RNN(cell, name=name, **{k: config[k] for k in keys if k in config})


def _recurrent(spec: dict[str, Any]) -> RNN:
    """The recurrent layer a Bidirectional wraps."""
    layer = _layer(spec, RECURRENT_ONLY)
    assert isinstance(layer, RNN)  # RECURRENT holds RNN subclasses only
    return layer


_ACCEPTED: dict[str, frozenset[str]] = {}


def _accepted_keys(cls: type[Layer]) -> frozenset[str]:
    """The constructor arguments an rnnlab layer class takes: the keys of its config."""
    if cls.__name__ not in _ACCEPTED:
        args = {Dropout: (0.0,), Embedding: (1, 1), Conv1D: (1, 1), Conv2D: (1, 1)}.get(cls, (1,))
        args = () if issubclass(cls, GlobalPooling1D) or (cls in MERGING and cls.__name__ != "Dot") else args
        weightless: dict[type[Layer], tuple[Any, ...]] = {Reshape: ((1,),), Permute: ((1,),), Flatten: ()}
        args = {**weightless, Activation: ("linear",)}.get(cls, args)
        _ACCEPTED[cls.__name__] = frozenset(cls(*args, name="probe").get_config())
    return _ACCEPTED[cls.__name__]


def _translate(name: str, class_name: str, config: dict[str, Any], accepted: frozenset[str]) -> dict[str, Any]:
    """Keras layer config -> rnnlab kwargs; raises for what would change the results."""
    policy = config.get("dtype")
    policy = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if policy not in (None, "float32"):
        warnings.warn(
            f"Layer '{name}' ({class_name}) computes in {policy} in Keras; rnnlab uses float32.", stacklevel=2
        )
    if config.get("quantization_config") is not None or any(q in str(policy) for q in ("int8", "int4", "float8")):
        raise _unsupported(name, class_name, "is quantized, which rnnlab cannot reproduce")
    kwargs: dict[str, Any] = {}
    for key, value in config.items():
        if key in IGNORED or key == "quantization_config":
            continue
        if key.endswith(("_regularizer", "_constraint")):
            if value is None:
                continue
            module = regularizers if key.endswith("_regularizer") else constraints
            try:
                kwargs[key] = module.get(value)
            except (ValueError, TypeError, KeyError):
                shown = value.get("class_name") if isinstance(value, dict) else value
                warnings.warn(
                    f"Layer '{name}' ({class_name}): {key} {shown!r} has no rnnlab equivalent and is dropped "
                    "(inference is unchanged; further training does without it).",
                    stacklevel=2,
                )
        elif key.endswith("_initializer"):
            with contextlib.suppress(ValueError, TypeError, KeyError):  # unknown: the file's weights replace it
                kwargs[key] = initializers.compact(value)
        elif key.endswith("activation"):
            if not isinstance(value, str) or value not in activations.ACTIVATIONS:
                raise _unsupported(
                    name,
                    class_name,
                    f"uses activation {value!r}, which rnnlab does not have "
                    f"(rnnlab has {sorted(activations.ACTIVATIONS)})",
                )
            kwargs[key] = value
        elif key in accepted:
            kwargs[key] = value
        elif value not in (None, False):
            raise _unsupported(name, class_name, f"has {key}={value!r}, which rnnlab cannot honour")
    return kwargs


# -- the weights ------------------------------------------------------------------------------


# -- compile settings -------------------------------------------------------------------------
def _compile(model: Model, config: dict[str, Any]) -> None:
    """``model.compile`` with the optimizer, loss and metrics of a Keras ``compile_config`` (a functional
    model's may give them per output, by name or in a list)."""
    given = config.get("loss")
    per_output = isinstance(given, dict) and "class_name" not in given  # {output name: loss}
    found = {out: _loss(each) for out, each in given.items()} if isinstance(given, dict) and per_output else {}
    found = found or {"": _loss(given)}
    logits = {each[1] for each in found.values() if each is not None}
    if None in found.values() or len(logits) > 1:
        warnings.warn(
            f"The Keras loss {given!r} has no rnnlab equivalent: the model is not compiled; call "
            "model.compile(...) yourself.",
            stacklevel=2,
        )
        return
    names = {out: each[0] for out, each in found.items() if each is not None}
    loss: Any = names if per_output else names[""]
    extra: dict[str, Any] = {}
    if config.get("loss_weights") is not None and isinstance(model, Functional):
        extra["loss_weights"] = config["loss_weights"]
    elif config.get("loss_weights") is not None:
        warnings.warn("Keras loss_weights are not mapped; the loss is unweighted.", stacklevel=2)
    model.compile(
        optimizer=_optimizer(config.get("optimizer") or "rmsprop"),
        loss=loss,
        metrics=_metric_names(config.get("metrics")),
        weighted_metrics=_metric_names(config.get("weighted_metrics")),
        from_logits=logits.pop(),
        **extra,
    )


def _loss(loss: Any) -> tuple[str, bool] | None:
    """(rnnlab's name, from_logits) of a Keras loss, a name or a serialised object; None: rnnlab has none."""
    from_logits = False
    if isinstance(loss, dict):  # e.g. {"class_name": "MeanSquaredError", "config": {"from_logits": ...}}
        from_logits = bool(loss.get("config", {}).get("from_logits", False))
        loss = snake_case(loss.get("class_name", ""))
    try:
        losses.canonical_name(loss if isinstance(loss, str) else "")
    except (ValueError, TypeError):
        return None
    return loss, from_logits


def _metric_names(given: Any) -> Any:
    """The metrics rnnlab has, in the structure Keras stored (a list, or per output a list or dict);
    the others are skipped with a warning."""
    if isinstance(given, dict):
        return {out: _metric_names(each) for out, each in given.items()}
    if isinstance(given, list):
        return [m for m in (_metric_names(each) for each in given) if m is not None]
    if given is None:
        return None
    try:
        return metrics.check_name(given)
    except (ValueError, TypeError):
        warnings.warn(f"Keras metric {given!r} has no rnnlab equivalent; skipped.", stacklevel=2)
        return None


def _optimizer(keras_spec: str | dict[str, Any]) -> optimizers.Optimizer:
    """The optimizer of a serialised Keras one (clipping included), less what rnnlab has not, with a warning."""
    if isinstance(keras_spec, str):
        keras_spec = {"class_name": keras_spec, "config": {}}
    class_name, config = keras_spec.get("class_name", ""), dict(keras_spec.get("config") or {})
    if class_name.lower() not in optimizers.CLASSES:
        warnings.warn(f"Keras optimizer {class_name!r} has no rnnlab equivalent; using Adam.", stacklevel=2)
        return optimizers.Adam()
    lr = config.get("learning_rate")
    if isinstance(lr, dict):  # a LearningRateSchedule
        warnings.warn(
            f"Keras learning-rate schedule {lr.get('class_name')!r} is not mapped; using its "
            "initial learning rate as a constant.",
            stacklevel=2,
        )
        config["learning_rate"] = lr.get("config", {}).get("initial_learning_rate")
    known = optimizers.CLASSES[class_name.lower()]().get_config()
    dropped = sorted(k for k, v in config.items() if k not in known or (k in optimizers.REFUSED and v))
    if dropped:
        warnings.warn(
            f"Keras optimizer settings {dropped} are not mapped (no EMA, loss scaling or gradient "
            "accumulation in rnnlab); dropped.",
            stacklevel=2,
        )
    kept = {k: v for k, v in config.items() if k not in dropped and v is not None}
    return optimizers.deserialize({"class_name": class_name, "config": kept})
