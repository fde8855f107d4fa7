"""The ONNX graph under construction: nodes and initializers, each value named once."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch


class Unsupported(ValueError):
    """Why one layer cannot be exported; the model's builder names the layer."""


def numpy_of(tensor: torch.Tensor) -> np.ndarray:
    """A weight as the float32 array an ONNX initializer holds."""
    array: np.ndarray = tensor.detach().cpu().to(torch.float32).numpy()
    return array


class Graph:
    """Nodes and initializers of one ONNX graph, each value named once."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.numbers = itertools.count(1)
        self.state_inputs: list[Any] = []  # a stateful layer's carried states, in and out of the graph
        self.state_outputs: list[Any] = []

    def name(self, hint: str) -> str:
        return f"{hint}_{next(self.numbers)}"

    def branch(self) -> Graph:
        """A subgraph (an ``If`` branch) under construction: nodes of its own, names and weights shared,
        so that every value is named once in the whole model and the weights live at the top."""
        child = Graph()
        child.initializers, child.numbers = self.initializers, self.numbers
        return child

    def subgraph(self, outputs: list[str], ranks: list[int]) -> Any:
        """This branch as an ONNX graph with no inputs and ``outputs`` (float tensors of ``ranks`` axes)."""
        from onnx import TensorProto

        names = [self.name("branch_out") for _ in outputs]
        for source, target in zip(outputs, names, strict=True):
            self.nodes.append(self.helper.make_node("Identity", [source], [target]))
        infos = [
            self.helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * r)
            for n, r in zip(names, ranks, strict=True)
        ]
        return self.helper.make_graph(self.nodes, self.name("branch"), [], infos)

    def const(self, hint: str, value: Any, dtype: Any = np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """One node with one output; the output's name."""
        return self.ops(op_type, inputs, 1, **attributes)[0]

    def ops(self, op_type: str, inputs: list[str], outputs: int, **attributes: Any) -> list[str]:
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, inputs, names, **attributes))
        return names

    def batch_zeros(self, like: str, size: int) -> str:
        """Zeros ``(B, size)``, B read from ``like``'s first axis."""
        batch = self.op("Shape", [like], start=0, end=1)  # (1,)
        shape = self.op("Concat", [batch, self.const("size", [size], np.int64)], axis=0)
        return self.op("ConstantOfShape", [shape], value=self.helper.make_tensor("zero", 1, [1], [0.0]))
