"""`Functional`: the model ``Model(inputs, outputs)`` builds from layers called on symbolic tensors.

The layer calls recorded from ``Input(...)`` to the outputs form a graph; ``forward`` runs its
nodes in topological order on real tensors, passing masks from layer to layer as Keras does
(a layer that supports masking receives its inputs' masks, and ``compute_mask`` gives its
output's). Keras's operations on symbolic tensors (``a + b``, ``x[:, -1]``, ``rnnlab.ops.sum(x)``)
are nodes of the graph as well: they run in order with the layers, are listed by ``summary()`` and
saved in the config, but are no layers (``model.layers`` leaves them out, as in Keras). It is still
a ``torch.nn.Module``: its layers are registered in ``layers``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from ..core import ops  # noqa: F401  (defines the operations rnnlab.ops records, so that configs naming them load)
from ..core.layer import Layer, Shape, to_tensor, unique_name
from ..core.symbolic import (
    KerasTensor,
    Node,
    Operation,
    flatten,
    is_operation_config,
    is_shape,
    map_structure,
    operation_from_config,
    sorted_keys,
)
from ..layers import RNN, Embedding, InputLayer
from ..training import output_matching
from ..training.batches import Columns
from .model import Model, layer_from_spec, layer_spec


class Functional(Model):
    """A model given by its inputs and outputs: ``Model(inputs, outputs)``, Keras's functional API.

    ``inputs`` / ``outputs``: one symbolic tensor, or lists, tuples and dicts of them, nested as
    deep as wanted; the model is then called with (and returns) the same structure. An input made
    with ``Input(optional=True)`` may be given as None. An input that is an inner layer's output
    starts the model there (a new Input of its shape, named ``<tensor>CLONE``, as in Keras); an
    output may be an input. ``model.layers`` lists the layers from the inputs on (InputLayers
    first), each once, as Keras does.

    >>> from rnnlab.layers import Dense, Input
    >>> inputs = Input(shape=(4,))
    >>> model = Model(inputs, Dense(2)(inputs))
    >>> model(torch.ones(3, 4)).shape
    torch.Size([3, 2])
    """

    returns_mask = True

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        self._inputs_struct, self._outputs_struct = _started_at_inputs(
            _as_structure(inputs, "inputs"), _as_structure(outputs, "outputs")
        )
        self.inputs: list[KerasTensor] = flatten(self._inputs_struct)
        self.outputs: list[KerasTensor] = flatten(self._outputs_struct)
        self._nodes = self._topological_nodes()
        self._inbound_nodes.append(_OWN_GRAPH)  # Keras counts the model's own graph as its first call
        self._graph_layers = self._layers_by_depth()  # the layers and operations (Keras's model.operations)
        graph_layers = [layer for layer in self._graph_layers if isinstance(layer, Layer)]
        self.layers = torch.nn.ModuleList(graph_layers)
        for layer in graph_layers:
            if not layer._path_prefix:
                layer._path_prefix = self.name
        names = [layer.name for layer in self._graph_layers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"The name(s) {repeated} are used by more than one layer in model '{self.name}'. "
                "All layer names should be unique: rename the layers (name=...)."
            )

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "layers" and "layers" in self._modules:  # the graph's layers, set once by __init__
            raise AttributeError(
                "`Model.layers` attribute is reserved and should not be used. Please use another name."
            )
        super().__setattr__(name, value)

    # -- the graph ------------------------------------------------------------------------------
    def _topological_nodes(self) -> list[Node]:
        """The nodes from the inputs to the outputs, each after the nodes it reads (post-order DFS)."""
        inputs = {id(t) for t in self.inputs}
        order: list[Node] = []
        seen: set[int] = set()

        def visit(tensor: KerasTensor, path: list[str], output: str | None) -> None:
            node = tensor.node
            assert node is not None
            if id(node) in seen:
                return
            if isinstance(node.layer, InputLayer) and id(tensor) not in inputs:
                raise ValueError(
                    f"Output with path `{output}` is not connected to `inputs`. Graph disconnected: cannot reach "
                    f"input {tensor.name!r} (layer '{node.layer.name}') from the model's inputs "
                    f"{[t.name for t in self.inputs]}, yet the output depends on it through "
                    f"{' <- '.join(path) or 'the outputs'}. Add it to the model's inputs."
                )
            seen.add(id(node))
            for parent in node.input_tensors:
                visit(parent, [*path, node.layer.name], output)
            order.append(node)

        for tensor in self.inputs:
            visit(tensor, [], None)
        for tensor, output in zip(self.outputs, _paths(self._outputs_struct), strict=True):
            visit(tensor, [], output)
        return order

    def _layers_by_depth(self) -> list[Layer | Operation]:
        """Keras's order of ``model.layers``: the deepest (farthest from the outputs) first, ties in the
        order the graph reaches them."""
        node_depth: dict[int, int] = {}
        layer_depth: dict[int, int] = {}
        for node in reversed(self._nodes):
            depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = node_depth[id(node)] = depth
            for parent in node.parents:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
        first_seen: dict[int, int] = {}
        layers: dict[int, Layer | Operation] = {}
        for index, node in enumerate(self._nodes):
            first_seen.setdefault(id(node.layer), index)
            layers[id(node.layer)] = node.layer
        return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))

    def _model_nodes(self, layer: Layer | Operation) -> list[Node]:
        """The calls of ``layer`` that belong to this model, in the order they were made."""
        own = {id(node) for node in self._nodes}
        return [node for node in layer._inbound_nodes if id(node) in own]

    # -- running it -----------------------------------------------------------------------------
    def _prepare_inputs(self, inputs: Any) -> Any:
        return map_structure(lambda x: None if x is None else to_tensor(x), inputs)

    def _flat_inputs(self, inputs: Any, what: str = "inputs") -> list[Any]:
        """The given inputs (or masks) in the order of ``self.inputs``."""
        if _is_nested(self._inputs_struct):
            return _flatten_as(self._inputs_struct, inputs, f"Model '{self.name}' {what}")
        if isinstance(self._inputs_struct, dict) and isinstance(inputs, dict):
            missing = [key for key in self._inputs_struct if key not in inputs]
            if missing:
                raise ValueError(f"Model '{self.name}' expects {what} {list(self._inputs_struct)}; missing {missing}.")
            if what == "inputs" and set(inputs) - set(self._inputs_struct):
                self._warn_structure(inputs)
            return [inputs[key] for key in sorted_keys(self._inputs_struct)]  # the order of self.inputs
        if isinstance(self._inputs_struct, dict) and not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"Model '{self.name}' expects named input(s) with keys {list(self._inputs_struct)}: give a dict "
                f"of {what} (or a list in that order), received {type(inputs).__name__}."
            )
        if isinstance(inputs, dict):
            names = [t.name for t in self.inputs]
            if all(name in inputs for name in names):
                return [inputs[name] for name in names]
            raise ValueError(
                f"Model '{self.name}' received a dict of {what} with keys {list(inputs)}; its inputs are named {names}."
            )
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self.inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self.inputs)} input(s) "
                f"{[t.shape for t in self.inputs]}, received {len(flat)}."
            )
        return flat

    def forward(self, inputs: Any, mask: Any = None, training: bool | None = None, return_mask: bool = False) -> Any:
        """The outputs (with ``return_mask``: and their masks) for ``inputs`` of the model's input structure."""
        flat = self._flat_inputs(inputs)
        masks = [None] * len(flat) if mask is None else self._flat_inputs(mask, "masks")
        values: dict[int, tuple[torch.Tensor | None, Any]] = {}  # None: an optional input not given
        for tensor, x, m in zip(self.inputs, flat, masks, strict=True):
            if x is None:
                self._check_optional(tensor)
                values[id(tensor)] = (None, None)
                continue
            x = self._adjust_rank(tensor, x)
            self._check_input(tensor, x)
            values[id(tensor)] = (self._as_input_dtype(tensor, x), m)
        for node in self._nodes:
            if not isinstance(node.layer, InputLayer):
                self._run_node(node, values, training)
        outputs = map_structure(lambda t: values[id(t)][0], self._outputs_struct)
        if not return_mask:
            return outputs
        return outputs, map_structure(lambda t: values[id(t)][1], self._outputs_struct)

    def _warn_structure(self, inputs: Any) -> None:
        """Keras's warning for inputs given in another structure than the model's (extra dict keys are
        left out)."""
        expected = map_structure(lambda t: t.name, self._inputs_struct)
        received = map_structure(lambda x: "None" if x is None else f"Tensor(shape={tuple(x.shape)})", inputs)
        warnings.warn(
            f"The structure of `inputs` doesn't match the expected structure.\nExpected: {expected}\n"
            f"Received: inputs={received}",
            stacklevel=4,
        )

    def _as_input_dtype(self, tensor: KerasTensor, x: torch.Tensor) -> torch.Tensor:
        """Keras casts data to its Input's dtype. An Input of another dtype than float32 (``float16``,
        ``float64``, ``int32``) gets exactly that one, except that integer data for an integer Input
        keeps its width; an Input of the default float32 makes integers floats and leaves float data
        as it is, so that a float64 model given float64 tensors computes in float64."""
        if tensor.dtype == "float32":
            return x if x.is_floating_point() else x.to(torch.get_default_dtype())
        declared = getattr(torch, tensor.dtype)
        if not declared.is_floating_point and not x.is_floating_point():
            return x
        return x.to(declared)

    def _check_optional(self, tensor: KerasTensor) -> None:
        if not getattr(tensor.node.layer if tensor.node else None, "optional", False):
            raise ValueError(
                f"The input '{tensor.name}' is not optional, but None was passed. Please provide a valid tensor "
                f"of shape {tensor.shape}, or make it optional: Input(..., optional=True)."
            )

    def _adjust_rank(self, tensor: KerasTensor, x: torch.Tensor) -> torch.Tensor:
        """Keras's rank standardisation: a trailing axis of 1 is dropped or added to match the Input."""
        if x.dim() == len(tensor.shape) + 1 and x.shape[-1] == 1:
            return x.squeeze(-1)
        if x.dim() == len(tensor.shape) - 1 and tensor.shape[-1] == 1:
            return x.unsqueeze(-1)
        if x.dim() != len(tensor.shape):
            raise ValueError(
                f"Invalid input shape for input with name {tensor.name!r} of model '{self.name}'. Expected shape "
                f"{tensor.shape}, but input has incompatible shape {tuple(x.shape)}."
            )
        return x

    def _check_input(self, tensor: KerasTensor, x: torch.Tensor) -> None:
        expected = tensor.shape[1:]
        received = tuple(x.shape[1:])
        if any(e is not None and e != r for e, r in zip(expected, received, strict=True)):
            raise ValueError(
                f"Input {tensor.name!r} of model '{self.name}' is incompatible with it: expected "
                f"shape={tensor.shape}, found shape={tuple(x.shape)} (samples of shape {expected})."
            )

    def _run_node(self, node: Node, values: dict[int, tuple[torch.Tensor | None, Any]], training: bool | None) -> None:
        layer = node.layer

        def value(item: Any) -> Any:
            return values[id(item)][0] if isinstance(item, KerasTensor) else item

        if isinstance(layer, Operation):  # Keras's ops carry no masks
            results = layer.compute(*map_structure(value, node.args), **map_structure(value, node.kwargs))
            for tensor, result in zip(node.output_tensors, flatten(results), strict=True):
                values[id(tensor)] = (result, None)
            return

        first, *rest = node.args
        x = map_structure(value, first)
        mask = map_structure(lambda t: values[id(t)][1], first)
        args = map_structure(value, tuple(rest))
        kwargs = map_structure(value, node.kwargs)
        if layer.supports_masking and "mask" not in kwargs and any(m is not None for m in flatten(mask)):
            kwargs["mask"] = mask
        if layer.uses_training and training is not None and "training" not in kwargs:
            kwargs["training"] = training
        if isinstance(layer, Model):
            outputs, output_mask = layer(x, *args, return_mask=True, **kwargs)
        elif isinstance(layer, RNN) and (source := self._embedded_ids(first, values)) is not None:
            outputs = layer.from_token_ids(*source, x, *args, **kwargs)  # may read the ids instead
            output_mask = layer.compute_mask(x, kwargs.get("mask", mask))
        else:
            outputs = layer(x, *args, **kwargs)
            output_mask = layer.compute_mask(x, kwargs.get("mask", mask))
        flat = flatten(outputs)
        if len(flat) != len(node.output_tensors):
            raise ValueError(
                f"Layer '{layer.name}' returned {len(flat)} tensor(s) where its compute_output_shape promised "
                f"{len(node.output_tensors)}."
            )
        flat_masks = flatten(output_mask) if isinstance(output_mask, (list, tuple)) else [output_mask]
        flat_masks += [None] * (len(flat) - len(flat_masks))
        for tensor, out, out_mask in zip(node.output_tensors, flat, flat_masks, strict=False):
            values[id(tensor)] = (out, out_mask)

    def _embedded_ids(self, tensor: Any, values: dict[int, tuple[torch.Tensor | None, Any]]) -> tuple[Any, Any] | None:
        """(token ids, embeddings) when ``tensor`` is an Embedding's output in this call (the class
        itself: a subclass may compute otherwise) as it looked them up, else None; with gradients on,
        also None when the tensor is one of the model's outputs, whose gradient must then see the
        recurrent layer's share."""
        node = tensor.node if isinstance(tensor, KerasTensor) else None
        if node is None or type(node.layer) is not Embedding or not isinstance(node.args[0], KerasTensor):
            return None
        if not node.layer.looks_up_plainly():
            return None
        if torch.is_grad_enabled() and any(tensor is output for output in self.outputs):
            return None
        ids = values[id(node.args[0])][0]
        return None if ids is None else (ids, node.layer.embeddings)

    # -- training with several inputs and outputs -----------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None, **options: Any) -> None:
        """``Model.compile``; with several outputs ``loss`` is one loss for all, a list (one per output)
        or a dict by output name, ``loss_weights`` (list or dict) weighs them in the total, and ``metrics``
        / ``weighted_metrics`` are a list (an entry per output: a metric, a list of them or None) or a dict
        by output name, as in Keras. A list pairs with outputs given as a dict by sorted key, and loss weights
        of another structure than the losses by position, Keras's way (:mod:`rnnlab.training.output_matching`).
        The logs then hold ``<output>_loss`` and ``<output>_<metric>``."""
        loss_weights = options.pop("loss_weights", None)
        if len(self.outputs) == 1:
            super().compile(optimizer, loss, metrics, **options)
            return
        weighted_metrics = options.pop("weighted_metrics", None)
        outputs = self._keras_order()
        per_output = {
            "output_metrics": output_matching.metrics(metrics, outputs, "metrics"),
            "output_weighted_metrics": output_matching.metrics(weighted_metrics, outputs, "weighted_metrics"),
            "loss_weights": output_matching.loss_weights(loss, loss_weights, outputs),
        }
        super().compile(optimizer, output_matching.losses(loss, outputs), None, per_output=per_output, **options)

    def _keras_order(self) -> output_matching.Outputs:
        """The outputs' names (and, for outputs given as a dict, its keys) in the order Keras pairs a list
        given to compile with them: a dict's by sorted key."""
        struct = self._outputs_struct
        flat_dict = isinstance(struct, dict) and all(isinstance(v, KerasTensor) for v in struct.values())
        return output_matching.Outputs.of(self.output_names, sorted_keys(struct) if flat_dict else None)

    def _as_columns(self, data: Any, tensors: list[KerasTensor], names: list[str], what: str) -> Any:
        """A list or dict of arrays for several inputs (outputs) as ``Columns`` by name, in model order."""
        if len(tensors) == 1 or data is None or not isinstance(data, (list, tuple, dict)):
            return data
        if isinstance(data, dict):
            if isinstance(self._inputs_struct, dict) and tensors is self.inputs:
                return Columns(dict(data))
            missing = [n for n in names if n not in data]
            if missing:
                raise ValueError(f"{what} is a dict without {missing}; the model's {what} are named {names}.")
            return Columns({n: data[n] for n in names})
        if len(data) != len(tensors):
            raise ValueError(f"The model has {len(tensors)} {what}; received a list of {len(data)} arrays.")
        return Columns(dict(zip(names, data, strict=True)))

    def _standardize(self, x: Any, y: Any = None) -> tuple[Any, Any]:
        if isinstance(self._inputs_struct, dict) and isinstance(x, (list, tuple)):
            self._warn_structure(x)  # taken in the inputs' order, with Keras's warning
        struct = self._inputs_struct
        names = sorted_keys(struct) if isinstance(struct, dict) else [t.name for t in self.inputs]
        x = self._as_columns(x, self.inputs, names, "inputs")
        outputs = self._outputs_struct
        flat_dict = isinstance(outputs, dict) and all(isinstance(t, KerasTensor) for t in outputs.values())
        if isinstance(y, dict) and flat_dict:
            by_key = dict(zip(sorted_keys(outputs), self.output_names, strict=True))  # the outputs' keys name them too
            y = {by_key.get(key, key): value for key, value in y.items()}
        return x, self._as_columns(y, self.outputs, self.output_names, "outputs")

    def fit(self, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        given = self._flat_inputs(x) if isinstance(x, (list, tuple, dict)) else []  # one array or a dataset: no None
        for tensor, data in zip(self.inputs, given, strict=False):
            if data is None:
                self._check_optional(tensor)
        x, y = self._standardize(x, y)
        validation = kwargs.get("validation_data")
        if isinstance(validation, tuple) and len(validation) >= 2:
            kwargs["validation_data"] = (*self._standardize(validation[0], validation[1]), *validation[2:])
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        x, y = self._standardize(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0) -> Any:
        """Outputs for ``x`` as NumPy arrays: one array, or a list (a dict) of them for several outputs."""
        return super().predict(self._standardize(x)[0], batch_size=batch_size, verbose=verbose)

    # -- shapes and description -----------------------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> Any:
        """The outputs' shapes for inputs of ``input_shape`` (the model's input structure, a shape at
        each leaf): the graph's own shapes, or where the inputs' differ (a known batch size), the
        shapes each layer's ``compute_output_shape`` (each operation's probe) gives along the graph."""
        own = map_structure(lambda t: t.shape, self._outputs_struct)
        try:
            given = [tuple(shape) for shape in _flatten_as(self._inputs_struct, input_shape, "shapes")]
        except (ValueError, TypeError):  # given by name, or in another structure
            return own
        if not all(is_shape(shape) for shape in given) or given == [t.shape for t in self.inputs]:
            return own
        try:
            return self._shapes_along_graph(given)
        except (ValueError, TypeError, IndexError, RuntimeError):
            return own

    def _shapes_along_graph(self, input_shapes: list[Shape]) -> Any:
        tensors = {id(t): KerasTensor(shape, t.dtype) for t, shape in zip(self.inputs, input_shapes, strict=True)}

        def now(item: Any) -> Any:
            return tensors[id(item)] if isinstance(item, KerasTensor) else item

        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            if isinstance(node.layer, Operation):
                args, kwargs = map_structure(now, (node.args, node.kwargs))
                made = flatten(node.layer._symbolic_outputs(args, kwargs))
            else:
                shapes = node.layer.compute_output_shape(map_structure(lambda t: now(t).shape, node.args[0]))
                made = [
                    KerasTensor(tuple(shape), t.dtype)
                    for t, shape in zip(node.output_tensors, _shape_leaves(shapes), strict=True)
                ]
            for old, new in zip(node.output_tensors, made, strict=True):
                tensors[id(old)] = new
        return map_structure(lambda t: tensors[id(t)].shape, self._outputs_struct)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @input_shape.setter
    def input_shape(self, value: Any) -> None:  # Layer.__init__ sets it; a functional model's comes from its inputs
        pass

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input(self) -> Any:
        return self._inputs_struct

    @property
    def output(self) -> Any:
        return self._outputs_struct

    @property
    def output_names(self) -> list[str]:
        """Keras's names of the outputs (the layers that produce them), which name per-output losses.
        Where one layer gives several outputs (an LSTM's sequence and states), the later ones are
        numbered (``lstm``, ``lstm_1``): Keras repeats the name, then trains each output but logs one."""
        names: list[str] = []
        for t in self.outputs:
            base = name = t.node.layer.name if t.node else t.name
            while name in names:
                name = f"{base}_{sum(n == base or n.startswith(base + '_') for n in names)}"
            names.append(name)
        return names

    def summary_rows(self) -> list[tuple[Any, Any]]:  # layers and operations
        rows = []
        for layer in self._graph_layers:
            nodes = self._model_nodes(layer)
            outputs = nodes[-1].outputs if nodes else None
            rows.append((layer, None if outputs is None else map_structure(lambda t: t.shape, _listed(outputs))))
        return rows

    def summary_connections(self) -> list[str] | None:
        """Keras's "Connected to" column, one entry per layer; None for a chain (Keras then prints the
        three-column table of a Sequential)."""
        if self._is_chain():
            return None
        column = []
        for layer in self._graph_layers:
            sources = [
                f"{t.node.layer.name}[{t._keras_history.node_index}][{t.index}]"
                for node in self._model_nodes(layer)
                for t in node.input_tensors
                if t.node is not None
            ]
            column.append(", ".join(sources) or "-")
        return column

    def _is_chain(self) -> bool:
        """One node per layer, each reading one tensor: Keras's "sequential-like" functional model."""
        return all(len(node.input_tensors) <= 1 for node in self._nodes) and len(self._nodes) == len(self._graph_layers)

    # -- config, in Keras's functional form ------------------------------------------------------
    def node_index(self, node: Node) -> int:
        """The index Keras's config gives ``node``: its place among its layer's calls in this model (Keras 3
        writes a nested functional model's first call as 0 too, and reads it so)."""
        return self._model_nodes(node.layer).index(node)

    def _tensor_config(self, tensor: KerasTensor) -> list[Any]:
        assert tensor.node is not None
        return [tensor.node.layer.name, self.node_index(tensor.node), tensor.index]

    def get_config(self) -> dict[str, Any]:
        """Keras's functional config: each layer with the calls (``inbound_nodes``) that connect it, and
        the ``input_layers`` / ``output_layers`` as ``[layer name, node index, tensor index]``."""

        def argument(item: Any) -> Any:
            if not isinstance(item, KerasTensor):
                return _constant_config(item)
            history = self._tensor_config(item)
            return {
                "class_name": "__keras_tensor__",
                "config": {"shape": list(item.shape), "dtype": item.dtype, "keras_history": history},
            }

        layers = []
        for layer in self._graph_layers:
            nodes = [] if isinstance(layer, InputLayer) else self._model_nodes(layer)
            layers.append(
                {
                    **(_operation_spec(layer) if isinstance(layer, Operation) else layer_spec(layer)),
                    "name": layer.name,
                    "inbound_nodes": [
                        {
                            "args": map_structure(argument, list(node.args)),
                            "kwargs": map_structure(argument, node.kwargs),
                        }
                        for node in nodes
                    ],
                }
            )
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": map_structure(self._tensor_config, self._inputs_struct),
            "output_layers": map_structure(self._tensor_config, self._outputs_struct),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], layer_from_config: Any = None) -> Functional:
        """Rebuild the graph: create each layer, then replay its calls in an order where every call's
        inputs exist (``layer_from_config`` turns one layer entry into a layer; rnnlab's by default)."""
        make = layer_from_config or layer_from_spec
        created: dict[str, Layer | Operation] = {}
        outputs: dict[tuple[str, int], list[KerasTensor]] = {}
        pending: list[tuple[Layer | Operation, int, dict[str, Any]]] = []
        for spec in config["layers"]:
            spec = _current_form(spec)
            layer = operation_from_config(spec) if is_operation_config(spec) else make(spec)
            created[spec.get("name", layer.name)] = layer
            if isinstance(layer, InputLayer):
                outputs[(layer.name, 0)] = [layer.output]
            pending += [(layer, i, node) for i, node in enumerate(spec.get("inbound_nodes", []))]

        def tensor(history: Any) -> KerasTensor:
            name, node_index, tensor_index = history
            return outputs[(str(name), int(node_index))][int(tensor_index)]

        def ready(item: Any) -> bool:
            return all(tuple(h[:2]) in outputs for h in _histories(item))

        def resolve(item: Any) -> Any:
            if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
                return tensor(item["config"]["keras_history"])
            if isinstance(item, dict) and item.get("class_name") in _CONSTANTS:
                return _CONSTANTS[item["class_name"]](item.get("config", {}))
            if isinstance(item, (list, tuple)):  # a tuple: an indexing key, as get_config gives it
                return type(item)(resolve(i) for i in item)
            if isinstance(item, dict):
                return {k: resolve(v) for k, v in item.items()}
            return item

        for layer, _, node in pending:
            missing = sorted({str(h[0]) for h in _histories(node)} - set(created))
            if missing:
                raise ValueError(
                    f"The model config cannot be rebuilt. Missing node: {', '.join(missing)} (layer '{layer.name}' "
                    "reads its output, but the config has no such layer)."
                )
        while pending:
            progress = [entry for entry in pending if ready(entry[2])]
            if not progress:
                names = sorted({layer.name for layer, _, _ in pending})
                raise ValueError(
                    f"The model config cannot be rebuilt: the calls of layers {names} wait on each other in a loop, "
                    "or read calls the config does not have."
                )
            for layer, index, node in progress:
                pending.remove((layer, index, node))
                args, kwargs = resolve(node.get("args", [])), resolve(node.get("kwargs", {}))
                kwargs = {k: v for k, v in kwargs.items() if k != "training" and not (k == "mask" and v is None)}
                outputs[(layer.name, index)] = flatten(layer(*args, **kwargs))

        def endpoints(structure: Any) -> Any:
            if isinstance(structure, list) and structure and isinstance(structure[0], str):
                return tensor(structure)
            if isinstance(structure, dict):
                return {k: endpoints(v) for k, v in structure.items()}
            return type(structure)(endpoints(s) for s in structure)  # a tuple stays one, as in Keras

        return cls(
            endpoints(config["input_layers"]),
            endpoints(config["output_layers"]),
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )


def _current_form(spec: dict[str, Any]) -> dict[str, Any]:
    """A layer entry in Keras 3's form: Keras 2's inbound nodes (lists of ``[layer, node, tensor, kwargs]``)
    become ``{"args", "kwargs"}`` and an InputLayer's ``batch_input_shape`` its ``batch_shape``."""
    config = dict(spec.get("config", {}))
    if spec.get("class_name") == "InputLayer" and "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    nodes = []
    for node in spec.get("inbound_nodes", []):
        if isinstance(node, list):  # Keras 2: one entry per input tensor, the call's kwargs last in each
            tensors = [
                {"class_name": "__keras_tensor__", "config": {"keras_history": list(entry[:3])}} for entry in node
            ]
            kwargs = node[0][3] if node and len(node[0]) > 3 else {}
            node = {"args": tensors if len(tensors) == 1 else [tensors], "kwargs": kwargs}
        nodes.append(node)
    return {**spec, "config": config, "inbound_nodes": nodes}


def _histories(item: Any) -> list[Any]:
    if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
        return [item["config"]["keras_history"]]
    if isinstance(item, dict):
        return [h for v in item.values() for h in _histories(v)]
    if isinstance(item, (list, tuple)):
        return [h for v in item for h in _histories(v)]
    return []


_OWN_GRAPH: Any = object()  # stands for that first call in layer._inbound_nodes


def _listed(outputs: Any) -> Any:
    return list(outputs) if isinstance(outputs, tuple) else outputs


def _as_structure(value: Any, what: str) -> Any:
    """Inputs or outputs as given (one tensor, a list, or a dict), checked to be symbolic tensors."""
    structure = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
    if isinstance(value, tuple) and len(value) > 1 and what == "outputs":
        structure = value  # outputs keep their tuple, as in Keras
    for leaf in flatten(structure):
        if not isinstance(leaf, KerasTensor):
            raise ValueError(
                f"Model(inputs, outputs) takes symbolic tensors: rnnlab.Input(...) and the outputs of layers "
                f"called on them. Its {what} include {type(leaf).__name__}, which is not one. Call a functional "
                "model on data after building it, or subclass Model for a model of plain tensors."
            )
    if not flatten(structure):
        raise ValueError(f"Model(inputs, outputs) needs at least one tensor in {what}.")
    return structure[0] if isinstance(structure, list) and len(structure) == 1 and what == "outputs" else structure


def _started_at_inputs(inputs: Any, outputs: Any) -> tuple[Any, Any]:
    """Keras's model from inner tensors: an input that is not an Input's tensor is replaced by a new
    Input of its shape and dtype (named ``<tensor>CLONE``), and the calls between it and the outputs
    are made again from there, so the model holds only the layers after it."""
    if all(isinstance(t.node.layer if t.node else None, InputLayer) for t in flatten(inputs)):
        return inputs, outputs
    replaced: dict[int, KerasTensor] = {}
    for tensor in flatten(inputs):
        if not isinstance(tensor.node.layer if tensor.node else None, InputLayer):
            clone = InputLayer(batch_shape=tensor.shape, dtype=tensor.dtype, name=f"{tensor.name}CLONE")
            replaced[id(tensor)] = clone.output

    def again(tensor: KerasTensor) -> KerasTensor:
        """The tensor of the calls made again from the new Inputs (an Input's tensor stays itself)."""
        if id(tensor) not in replaced:
            node = tensor.node
            assert node is not None
            if isinstance(node.layer, InputLayer):
                return tensor
            args, kwargs = map_structure(
                lambda t: again(t) if isinstance(t, KerasTensor) else t, (node.args, node.kwargs)
            )
            new = flatten(node.layer(*args, **kwargs))
            for old, made in zip(node.output_tensors, new, strict=True):
                replaced[id(old)] = made
        return replaced[id(tensor)]

    return map_structure(again, inputs), map_structure(again, outputs)


def _paths(structure: Any, prefix: str = "") -> list[str]:
    """Keras's path of each leaf, in flatten order: ``output2`` for a dict key, ``0`` for a list index,
    ``others.2`` deeper down."""
    if isinstance(structure, dict):
        items: Any = structure.items()
    elif isinstance(structure, (list, tuple)):
        items = enumerate(structure)
    else:
        return [prefix]
    return [path for key, value in items for path in _paths(value, f"{prefix}.{key}" if prefix else str(key))]


def _is_nested(structure: Any) -> bool:
    """Whether a structure holds lists, tuples or dicts inside its first level."""
    items = (
        structure.values() if isinstance(structure, dict) else structure if isinstance(structure, (list, tuple)) else []
    )
    return any(isinstance(item, (list, tuple, dict)) for item in items)


def _flatten_as(structure: Any, data: Any, what: str) -> list[Any]:
    """The leaves of ``data`` laid out as ``structure`` (dicts by key, lists and tuples by position)."""
    if isinstance(structure, dict):
        if not isinstance(data, dict) or any(key not in data for key in structure):
            raise ValueError(f"{what}: expected a dict with keys {list(structure)}, received {_described(data)}.")
        return [leaf for key in sorted_keys(structure) for leaf in _flatten_as(structure[key], data[key], what)]
    if isinstance(structure, (list, tuple)):
        if not isinstance(data, (list, tuple)) or len(data) != len(structure):
            raise ValueError(f"{what}: expected a list of {len(structure)}, received {_described(data)}.")
        return [leaf for value, item in zip(structure, data, strict=True) for leaf in _flatten_as(value, item, what)]
    return [data]


def _shape_leaves(shapes: Any) -> list[Any]:
    """The shapes in a layer's ``compute_output_shape`` (one shape, or lists, tuples and dicts of them)."""
    if is_shape(shapes):
        return [shapes]
    items = shapes.values() if isinstance(shapes, dict) else shapes
    return [leaf for item in items for leaf in _shape_leaves(item)]


def _described(data: Any) -> str:
    if isinstance(data, dict):
        return f"a dict with keys {list(data)}"
    if isinstance(data, (list, tuple)):
        return f"a {type(data).__name__} of {len(data)}"
    return type(data).__name__


def _operation_spec(operation: Operation) -> dict[str, Any]:
    """A Keras op's entry in the functional config, as Keras writes it."""
    kind = type(operation).__name__
    return {"module": operation.module, "class_name": kind, "config": operation.get_config(), "registered_name": kind}


def _constant_config(item: Any) -> Any:
    """An operation's non-tensor argument in Keras's config form: slices, ``...`` and constant tensors
    are tagged objects (``x[:, -1]`` reads ``[{"class_name": "__slice__", ...}, -1]``)."""
    if isinstance(item, slice):
        return {"class_name": "__slice__", "config": {"start": item.start, "stop": item.stop, "step": item.step}}
    if item is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(item, torch.Tensor):
        dtype = str(item.dtype).removeprefix("torch.")
        return {"class_name": "__tensor__", "config": {"value": item.tolist(), "dtype": dtype}}
    return item


_CONSTANTS: dict[str, Any] = {
    "__slice__": lambda config: slice(config.get("start"), config.get("stop"), config.get("step")),
    "__ellipsis__": lambda config: Ellipsis,
    "__tensor__": lambda config: torch.tensor(config["value"], dtype=getattr(torch, config.get("dtype", "float32"))),
    "__numpy__": lambda config: torch.tensor(config["value"], dtype=getattr(torch, config.get("dtype", "float32"))),
}


Model.functional_class = Functional
