"""Files rnnlab writes: atomic writes, and safetensors files with a JSON header.

A model file is one safetensors file: the weights under ``weights/<state_dict key>``, the
optimizer state under ``optimizer/...``, and in the header metadata the architecture
(``model``, JSON), the compile settings and the rnnlab version. Nothing in it is executed
when it is read (no pickle).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

MODEL_FORMAT = "rnnlab.model/1"
WEIGHTS_FORMAT = "rnnlab.weights/1"
TREE_FORMAT = "rnnlab.state/1"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; renames it onto ``path`` only if the block succeeds,
    so an interrupted write never replaces a good file with a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


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


def save_tree(path: str | os.PathLike, tree: Any) -> None:
    skeleton, tensors = pack_tree(tree, "state")
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": TREE_FORMAT, "state": skeleton})


def load_tree(path: str | os.PathLike) -> Any:
    tensors, metadata = read(path)
    if metadata.get("format") != TREE_FORMAT:
        raise ValueError(f"{path} is not an rnnlab state file.")
    return unpack_tree(metadata["state"], tensors, "state")


# -- reading ------------------------------------------------------------------------------
def read(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the header metadata of a safetensors file, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"Could not read {path}: it is damaged or not an rnnlab file ({err}).") from None
    return tensors, metadata


def _check_format(path: Any, metadata: dict[str, str], allowed: tuple[str, ...]) -> str:
    fmt = metadata.get("format", "")
    if fmt not in allowed:
        kind = "model" if allowed == (MODEL_FORMAT,) else "weights or model"
        raise ValueError(
            f"{path} is not an rnnlab {kind} file (format {fmt or 'missing'!r}; expected {' or '.join(allowed)})."
        )
    return fmt


# -- weights --------------------------------------------------------------------------------
def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"weights/{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def load_state(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: Any) -> None:
    """Load ``weights`` (state_dict keys) into ``model``, naming every missing, extra or misshapen entry."""
    own = model.state_dict()
    if own or not weights:
        missing = sorted(set(own) - set(weights))
        extra = sorted(set(weights) - set(own))
        wrong = [
            f"{k}: file {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}"
            for k in own
            if k in weights and weights[k].shape != own[k].shape
        ]
        if missing or extra or wrong:
            parts = [
                f"missing {missing}" if missing else "",
                f"unexpected {extra}" if extra else "",
                f"shape mismatch {wrong}" if wrong else "",
            ]
            raise ValueError(
                f"The weights in {source} do not fit this model: " + "; ".join(p for p in parts if p) + "."
            )
    model.load_state_dict(weights)


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        save_file(
            {k[len("weights/") :]: v for k, v in _weights(model).items()}, str(tmp), metadata={"format": WEIGHTS_FORMAT}
        )


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Weights from a weights file or a full model file."""
    tensors, metadata = read(path)
    fmt = _check_format(path, metadata, (WEIGHTS_FORMAT, MODEL_FORMAT))
    if fmt == MODEL_FORMAT:
        tensors = {k[len("weights/") :]: v for k, v in tensors.items() if k.startswith("weights/")}
    load_state(model, tensors, path)


# -- whole models ---------------------------------------------------------------------------
def save_model(model: Any, path: str | os.PathLike, include_optimizer: bool = True) -> None:
    from . import __version__

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
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_model(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any] | None, Any]:
    """(architecture, weights, compile settings or None, optimizer state or None) of a model file."""
    tensors, metadata = read(path)
    _check_format(path, metadata, (MODEL_FORMAT,))
    weights = {k[len("weights/") :]: v for k, v in tensors.items() if k.startswith("weights/")}
    compile_config = json.loads(metadata["compile"]) if "compile" in metadata else None
    optimizer_state = unpack_tree(metadata["optimizer"], tensors, "optimizer") if "optimizer" in metadata else None
    return json.loads(metadata["model"]), weights, compile_config, optimizer_state
