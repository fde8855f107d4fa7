"""Keras's ``.weights.h5`` layout for a model written as a class (``class MyModel(Model)``).

Keras 3 (``saving_lib._save_state``) walks such a model by its attributes, in sorted order with
private ones last: a layer held in attribute ``encoder`` keeps its weights under ``encoder/``
(``encoder/vars/0``, ``encoder/cell/vars/0`` for a recurrent layer, as :mod:`.keras_h5` lays out the
built-in layers); a list of layers in ``blocks`` (an ``nn.ModuleList``, so that torch registers them)
under ``blocks/dense``, ``blocks/dense_1``, ... numbered by class in list order. The model's
``layers`` is an attribute too, so a layer whose attribute sorts after ``layers`` lands in
``layers/<class>_<n>``, numbered over all the model's layers in the order they were assigned. A
layer reached twice is stored at the first place only. A custom layer's own weights are its
``vars`` (trainable first, in creation order), and its sub-layers follow by the same rules. Writing
and reading share one plan, so ``load_weights`` reads what ``save_weights`` wrote and what real
Keras writes for the same class.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from ..cells import LayerCell
from ..core.files import regular_file, write_bytes
from ..core.layer import Layer, snake_case
from .keras_h5 import WRITABLE, _check_inflation, _datasets, _layer_groups, _Outside, h5py_module, weights_limit


@dataclass
class Group:
    """One ``vars`` group of the file: its path and whose arrays it holds (None: an empty group)."""

    path: str
    layer: Layer | None = None  # a built-in layer: its get_weights() / set_weights()
    own: list[nn.Parameter] | None = None  # a custom layer's own weights

    def arrays(self) -> list[np.ndarray]:
        if self.layer is not None:
            return self.layer.get_weights()
        return [p.detach().cpu().numpy() for p in self.own or []]

    def shapes(self) -> list[tuple[int, ...]]:
        if self.layer is not None:
            return [tuple(p.shape) for p in self.layer.keras_weights()]
        return [tuple(p.shape) for p in self.own or []]

    def assign(self, values: list[np.ndarray]) -> None:
        if self.layer is not None:
            self.layer.set_weights(values)
            return
        for p, value in zip(self.own or [], values, strict=True):
            p.data.copy_(p.data.new_tensor(value))


def plan(model: Layer) -> list[Group]:
    """Every ``vars`` group Keras writes for ``model``, in Keras's order."""
    groups: list[Group] = []
    _walk(model, "", groups, set(), is_model=True)
    return groups


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _walk(layer: Layer, path: str, groups: list[Group], visited: set[int], is_model: bool = False) -> None:
    if isinstance(layer, LayerCell):  # RNN(MyCell(...)) holds the cell in a LayerCell; Keras holds the cell itself
        layer = layer.cell
    if id(layer) in visited:
        return
    visited.add(id(layer))
    if not is_model and type(layer) in WRITABLE:  # a built-in layer: the layout keras_h5 states
        groups += [Group(_join(path, sub), owner) for sub, owner in _layer_groups(layer)]
        return
    is_model = is_model or _is_model(layer)
    _check_built(layer)
    trainable = [p for p in layer.parameters(recurse=False) if p.requires_grad]
    frozen = [p for p in layer.parameters(recurse=False) if not p.requires_grad]
    groups.append(Group(_join(path, "vars"), own=trainable + frozen))
    for name, child in _attributes(layer, is_model):
        if isinstance(child, Layer):
            _walk(child, _join(path, name), groups, visited)
        else:
            _walk_container(child, _join(path, name), groups, visited)


def _is_model(layer: Layer) -> bool:
    """A model (it takes the Trainer's call options): Keras gives it a ``layers`` attribute."""
    return bool(getattr(type(layer), "takes_call_options", False))


def _walk_container(items: list[Any], path: str, groups: list[Group], visited: set[int]) -> None:
    """Keras's ``_save_container_state``: each layer named by its class, numbered; nested lists as ``container``."""
    used: dict[str, int] = {}
    for item in items:
        if isinstance(item, Layer):
            named = item.cell if isinstance(item, LayerCell) else item  # a stack's cell of one's own, by its class
            _walk(item, _join(path, _numbered(snake_case(type(named).__name__), used)), groups, visited)
        elif isinstance(item, list):
            _walk_container(item, _join(path, _numbered("container", used)), groups, visited)


def _numbered(name: str, used: dict[str, int]) -> str:
    used[name] = used.get(name, -1) + 1
    return name if used[name] == 0 else f"{name}_{used[name]}"


def _attributes(layer: Layer, is_model: bool) -> list[tuple[str, Layer | list[Any]]]:
    """The attributes Keras visits, sorted as Keras sorts them (private ones last)."""
    found = dict(_attributes_in_order(layer))
    if is_model and "layers" not in found:
        found["layers"] = list(_direct_layers(found.values()))
    return sorted(found.items(), key=lambda item: f"~{item[0]}" if item[0].startswith("_") else item[0])


def _attributes_in_order(layer: Layer) -> Iterator[tuple[str, Layer | list[Any]]]:
    """The sub-layers and containers of layers (``nn.ModuleList`` / ``nn.ModuleDict``), in assignment order."""
    for name, value in vars(layer).items():
        if isinstance(value, (list, tuple, dict)) and not name.startswith("_") and _holds_layers(_items(value)):
            raise ValueError(
                f"{type(layer).__name__}.{name} holds layers in a plain {type(value).__name__}, which torch does "
                "not register (their weights are not the model's parameters): hold them in a torch.nn.ModuleList "
                "or torch.nn.ModuleDict."
            )
    for name, child in layer.named_children():
        if isinstance(child, Layer):
            yield name, child
        elif _is_container(child):
            yield name, _items(child)


def _items(container: Any) -> list[Any]:
    """A container's contents as Keras walks them: dict values, nested containers as lists."""
    values = container.values() if isinstance(container, (dict, nn.ModuleDict)) else container
    return [v if isinstance(v, Layer) else _items(v) for v in values if isinstance(v, Layer) or _is_container(v)]


def _is_container(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict, nn.ModuleList, nn.ModuleDict))


def _holds_layers(items: list[Any]) -> bool:
    return any(isinstance(i, Layer) or (isinstance(i, list) and _holds_layers(i)) for i in items)


def _direct_layers(values: Iterable[Layer | list[Any]]) -> Iterator[Layer]:
    """Keras's ``model.layers`` of a subclassed model: the layers it holds, in assignment order, lists flattened."""
    seen: set[int] = set()
    for value in values:
        for each in _flatten([value] if isinstance(value, Layer) else value):
            if id(each) not in seen:
                seen.add(id(each))
                yield each


def _flatten(items: list[Any]) -> Iterator[Layer]:
    for item in items:
        if isinstance(item, Layer):
            yield item
        else:
            yield from _flatten(item)


def _check_built(layer: Layer) -> None:
    for module in layer.modules():
        if isinstance(module, Layer) and not module.built and module is not layer:
            raise ValueError(
                f"Layer '{module.name}' of {type(layer).__name__} has no weights yet: call the model on a batch "
                "of data once before saving or loading its weights, as Keras asks."
            )


def weights_file(model: Layer) -> bytes:
    """The HDF5 bytes Keras writes for this model, built in memory (see :func:`.keras_h5.weights_file`)."""
    h5py = h5py_module("Writing")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for group in plan(model):
            variables = f.require_group(group.path)
            for i, array in enumerate(group.arrays()):
                variables.create_dataset(str(i), data=array)
    return buffer.getvalue()


def save_weights(model: Layer, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s weights as Keras writes those of the same class (``keras_model.load_weights`` reads them)."""
    write_bytes(path, weights_file(model))


def load_weights(model: Layer, path: str | os.PathLike[str]) -> None:
    """Read a ``.weights.h5`` file that Keras (or ``save_weights``) wrote for a model of the same class."""
    file = regular_file(path)
    if file.stat().st_size > weights_limit(model):
        raise ValueError(f"{file} is larger than the weights of this model can be; refusing to read it.")
    assign_arrays(model, read_arrays(model, file.read_bytes(), file))


def assign_arrays(model: Layer, by_path: dict[str, list[np.ndarray]]) -> None:
    """Give each ``vars`` group of ``model`` the arrays read for its path."""
    for group in plan(model):
        if group.path in by_path:
            group.assign(by_path[group.path])


def read_arrays(model: Layer, data: bytes, file: Any) -> dict[str, list[np.ndarray]]:
    """The arrays of every ``vars`` group of ``model`` that has weights, by path, read from the HDF5 bytes
    only once their storage and shapes have been checked against the model."""
    groups = [g for g in plan(model) if g.shapes()]
    h5py = h5py_module()
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            planned = []
            for group in groups:
                try:
                    datasets = _datasets(f, group.path)
                except KeyError:
                    raise ValueError(
                        f"{file}: no weights at {group.path!r}, where Keras keeps those of this model's "
                        f"{'model' if group.layer is None else repr(group.layer.name)}; was the file written "
                        f"for {type(model).__name__} with the same attributes?"
                    ) from None
                if [tuple(d.shape) for d in datasets] != group.shapes():
                    raise ValueError(
                        f"{file}: {group.path} holds arrays of shapes {[tuple(d.shape) for d in datasets]}, "
                        f"the model expects {group.shapes()}."
                    )
                planned.append((group, datasets))
            _check_inflation([d for _, datasets in planned for d in datasets])
            return {group.path: [np.asarray(d[()]) for d in datasets] for group, datasets in planned}
    except _Outside as err:
        raise ValueError(
            f"{file} refers to data outside itself ({err}); rnnlab reads only weights stored in the file."
        ) from None
    except (OSError, RuntimeError) as err:
        raise ValueError(f"{file} is damaged or not a Keras weights file ({err}).") from None
