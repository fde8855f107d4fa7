"""rnnlab's own files: safetensors with a JSON header.

A model file is one safetensors file: the weights under ``weights/<state_dict key>``, the
optimizer state under ``optimizer/...``, and in the header metadata the architecture
(``model``, JSON), the compile settings and the rnnlab version. Nothing in it is executed
when it is read (no pickle). The same model gives the same bytes (the header's keys are
sorted); how files are written and replaced is :mod:`rnnlab.core.files`.

Reading never trusts the file: it must be a regular file; the header (metadata, dtypes and
shapes) is read and checked before any tensor data; anything wrong is a ``ValueError`` that
names the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..core import initializers
from ..core.files import MALFORMED, StrPath, atomic_path, damaged, regular_file

MODEL_FORMAT = "rnnlab.model/1"
WEIGHTS_FORMAT = "rnnlab.weights/1"
TREE_FORMAT = "rnnlab.state/1"

#: The largest safetensors header (metadata and tensor table) rnnlab reads; its own are kilobytes.
MAX_HEADER_BYTES = 16 * 2**20

Header = dict[str, tuple[str, tuple[int, ...]]]  # tensor key -> (safetensors dtype, shape)


def _sort_header(path: Path) -> None:
    """Put a just-written safetensors header in one order: metadata keys sorted, tensors by offset.

    safetensors writes the metadata map in an order that changes from save to save; sorted, the
    same model gives the same bytes. Only the order of keys changes (padding keeps the length).
    """
    with open(path, "r+b") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        ordered: dict[str, Any] = {}
        if "__metadata__" in header:
            ordered["__metadata__"] = dict(sorted(header.pop("__metadata__").items()))
        ordered.update(sorted(header.items(), key=lambda kv: (kv[1]["data_offsets"], kv[0])))
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) <= size:
            f.seek(8)
            f.write(text.ljust(size, b" "))


def write_safetensors(path: StrPath, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """One safetensors file, atomically, byte for byte the same for the same tensors and metadata."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        _sort_header(tmp)


# -- trees of tensors: nested dicts/lists holding tensors, arrays and JSON values -----------
def _flatten(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = tree.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(tree, np.ndarray):
        return {"__ndarray__": _flatten(torch.from_numpy(np.ascontiguousarray(tree)), tensors)["__tensor__"]}
    if isinstance(tree, dict):
        if not all(isinstance(k, (str, int)) for k in tree):
            raise TypeError("state dictionaries may only have str or int keys")
        return {"__dict__": [[k, _flatten(v, tensors)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        return {"__tuple__" if isinstance(tree, tuple) else "__list__": [_flatten(v, tensors) for v in tree]}
    if isinstance(tree, (np.integer, np.floating)):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"cannot store a {type(tree).__name__} in a state file")


def _unflatten(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(node, dict):
        if "__tensor__" in node:
            return tensors[node["__tensor__"]]
        if "__ndarray__" in node:
            return tensors[node["__ndarray__"]].numpy()
        if "__dict__" in node:
            return {k: _unflatten(v, tensors) for k, v in node["__dict__"]}
        if "__tuple__" in node:
            return tuple(_unflatten(v, tensors) for v in node["__tuple__"])
        return [_unflatten(v, tensors) for v in node["__list__"]]
    return node


def pack_tree(tree: Any, prefix: str) -> tuple[str, dict[str, torch.Tensor]]:
    """(JSON skeleton, tensors keyed ``prefix/tN``)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(tree, tensors)
    return json.dumps(skeleton), {f"{prefix}/{k}": v for k, v in tensors.items()}


def unpack_tree(skeleton: str, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    own = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + "/")}
    return _unflatten(json.loads(skeleton), own)


def save_tree(path: StrPath, tree: Any) -> None:
    skeleton, tensors = pack_tree(tree, "state")
    write_safetensors(path, tensors, {"format": TREE_FORMAT, "state": skeleton})


def load_tree(path: StrPath) -> Any:
    stored = StoredFile(path)
    check_format(path, stored.metadata, (TREE_FORMAT,), "state")
    try:
        return unpack_tree(stored.metadata["state"], stored.tensors(), "state")
    except MALFORMED as err:
        raise damaged(path, "the state it stores", err) from err


# -- reading ------------------------------------------------------------------------------
def is_floating(dtype: str | torch.dtype) -> bool:
    """Whether a safetensors dtype name ("F32", "BF16", "I32", ...) or a torch dtype is floating point."""
    if isinstance(dtype, torch.dtype):
        return dtype.is_floating_point
    return dtype.startswith(("F", "BF"))


class StoredFile:
    """A safetensors file opened for reading: its metadata and tensor table now, tensor data on demand."""

    def __init__(self, path: StrPath) -> None:
        self.path = regular_file(path)
        with open(self.path, "rb") as f:
            declared = int.from_bytes(f.read(8), "little")
        if declared > MAX_HEADER_BYTES:
            raise ValueError(
                f"Could not read {self.path}: it is damaged or not an rnnlab file (its header declares "
                f"{declared:,} bytes, more than the {MAX_HEADER_BYTES:,} an rnnlab file may have)."
            )
        header: Header = {}
        with self._open() as f:
            metadata = dict(f.metadata() or {})
            for key in f.keys():
                view = f.get_slice(key)
                header[key] = (str(view.get_dtype()), tuple(int(n) for n in view.get_shape()))
        self.metadata: dict[str, str] = metadata
        self.header = header

    @contextmanager
    def _open(self) -> Iterator[Any]:
        try:
            with safe_open(str(self.path), framework="pt") as f:
                yield f
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"Could not read {self.path}: it is damaged or not an rnnlab file ({type(err).__name__}: {err})."
            ) from None

    def tensors(self, keys: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        with self._open() as f:
            return {k: f.get_tensor(k) for k in (self.header if keys is None else keys)}

    def json(self, key: str, what: str) -> Any:
        """The metadata entry ``key`` parsed as JSON; a ValueError naming the file if absent or malformed."""
        if key not in self.metadata:
            raise damaged(self.path, what, f"no {key!r} entry in its metadata")
        try:
            return json.loads(self.metadata[key])
        except (ValueError, RecursionError) as err:
            raise damaged(self.path, what, err) from None


def read(path: StrPath) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the header metadata of a safetensors file, with clear errors."""
    stored = StoredFile(path)
    return stored.tensors(), stored.metadata


def check_format(path: Any, metadata: Mapping[str, str], allowed: tuple[str, ...], kind: str | None = None) -> str:
    fmt = metadata.get("format", "")
    if fmt not in allowed:
        kind = kind or ("model" if allowed == (MODEL_FORMAT,) else "weights or model")
        raise ValueError(
            f"{path} is not an rnnlab {kind} file (format {fmt or 'missing'!r}; expected {' or '.join(allowed)})."
        )
    return fmt


# -- weights --------------------------------------------------------------------------------
def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"weights/{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def header_of(tensors: Mapping[str, torch.Tensor]) -> Header:
    """The (dtype, shape) table of tensors in memory, with dtypes named as safetensors names them."""
    names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16"}
    return {k: (names.get(t.dtype, str(t.dtype)), tuple(t.shape)) for k, t in tensors.items()}


def fit_problems(own: Mapping[str, torch.Tensor], stored: Header, lazy: bool = False) -> list[str]:
    """What keeps ``stored`` tensors from loading into a model whose state_dict is ``own``.

    ``lazy``: the model still has layers without weights, which take their sizes from the
    file; then only the tensors it has are compared, and stored ones must be floating point.
    """
    missing = [] if lazy else sorted(set(own) - set(stored))
    extra = [] if lazy else sorted(set(stored) - set(own))
    wrong = [
        f"{k}: file {stored[k][1]} vs model {tuple(own[k].shape)}"
        for k in own
        if k in stored and stored[k][1] != tuple(own[k].shape)
    ]
    kinds = [
        f"{k}: file {dtype}, model {own[k].dtype if k in own else 'floating point'}"
        for k, (dtype, _) in stored.items()
        if (k in own or lazy) and is_floating(dtype) != is_floating(own[k].dtype if k in own else torch.float32)
    ]
    return [
        f"{label} {items}"
        for label, items in (
            ("missing", missing),
            ("unexpected", extra),
            ("shape mismatch", wrong),
            ("dtype mismatch", kinds),
        )
        if items
    ]


def check_fits(model: torch.nn.Module, stored: Header, source: Any) -> None:
    """Raise a ValueError naming every missing, extra, misshapen or wrongly typed entry."""
    own = model.state_dict()
    lazy = any(not getattr(m, "built", True) for m in model.modules())
    problems = fit_problems(own, stored, lazy)
    if problems:
        raise ValueError(f"The weights in {source} do not fit this model: " + "; ".join(problems) + ".")


def load_state(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: Any) -> None:
    """Load ``weights`` (state_dict keys) into ``model``, naming every missing, extra or misshapen entry."""
    check_fits(model, header_of(weights), source)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, ValueError) as err:  # a lazy layer built from the file that still does not fit
        raise ValueError(f"The weights in {source} do not fit this model: {err}") from None


def save_weights(model: torch.nn.Module, path: StrPath) -> None:
    weights = {k[len("weights/") :]: v for k, v in _weights(model).items()}
    write_safetensors(path, weights, {"format": WEIGHTS_FORMAT})


def weight_keys(stored: StoredFile, fmt: str) -> dict[str, str]:
    """state_dict key -> key in the file."""
    if fmt == MODEL_FORMAT:
        return {k[len("weights/") :]: k for k in stored.header if k.startswith("weights/")}
    return {k: k for k in stored.header}


def load_weights(model: torch.nn.Module, path: StrPath) -> None:
    """Weights from a weights file or a full model file; shapes and dtypes are checked before any is read."""
    stored = StoredFile(path)
    fmt = check_format(path, stored.metadata, (WEIGHTS_FORMAT, MODEL_FORMAT))
    keys = weight_keys(stored, fmt)
    check_fits(model, {k: stored.header[v] for k, v in keys.items()}, path)
    tensors = stored.tensors(keys.values())
    load_state(model, {k: tensors[v] for k, v in keys.items()}, path)


# -- building a model without its weights -----------------------------------------------------
@contextmanager
def shapes_only() -> Iterator[None]:
    """Layers built inside get weights with shapes but no memory (the ``meta`` device) and no
    initialisation, so a model declared in a file costs nothing until its sizes are checked."""
    with torch.device("meta"), initializers.skipped():
        yield


#: More layers than any stack rnnlab builds; a file declaring more is refused before it costs time.
MAX_LAYERS = 10_000


def check_layer_count(config: Any, path: Any) -> None:
    layers = config.get("layers") if isinstance(config, dict) else None
    if isinstance(layers, list) and len(layers) > MAX_LAYERS:
        raise ValueError(f"{path} declares {len(layers):,} layers, more than the {MAX_LAYERS:,} rnnlab loads.")


def materialize(model: torch.nn.Module) -> None:
    """Give a model built with ``shapes_only`` real (uninitialised) CPU memory, to load weights into.

    The parameters keep their identity (torch swaps the new tensors into them): the variables that
    ``add_weight`` handed to a layer of the program's own (``self.kernel``) hold them."""
    swapping = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        model.to_empty(device="cpu")
    finally:
        torch.__future__.set_swap_module_params_on_conversion(swapping)


# -- whole models ---------------------------------------------------------------------------
def save_model(model: Any, path: StrPath, include_optimizer: bool = True) -> None:
    from .. import __version__

    config = {"class_name": type(model).__name__, "config": model.get_config()}
    tensors = _weights(model)
    metadata = {"format": MODEL_FORMAT, "rnnlab_version": __version__, "model": json.dumps(config)}
    compile_config = getattr(model, "compile_config", None)
    if compile_config is not None:
        metadata["compile"] = json.dumps(compile_config)
        optimizer = getattr(model, "optimizer", None)
        if include_optimizer and optimizer is not None:
            skeleton, state = pack_tree(optimizer.state_dict(), "optimizer")
            metadata["optimizer"] = skeleton
            tensors.update(state)
    write_safetensors(path, tensors, metadata)
