"""A piece of torch code as ONNX nodes: ``torch.onnx``'s tracer over one call, then inlined.

Used where a hand-written graph would copy a computation the code already states: a cell's step
(the body of ``onnx_loop``'s Scan) and the layers ``onnx_export`` has no form of its own for. The
trace records one call with every free axis dynamic; a value read into Python during it (a
``float(tensor)``, a NumPy array, a size used in Python arithmetic) would be a constant of the graph,
so the graph is run at other sizes and values by ONNX's reference evaluator and refused, rather than
exported wrong, when it disagrees with the code.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from typing import Any

import numpy as np
import torch

from .onnx_graph import Graph, Unsupported


def _float32_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A float32 copy of ``module`` alone: the graph nodes that lead to a layer (``_inbound_nodes``
    and what they reach, the layers upstream) stay shared instead of being copied with it."""
    memo: dict[int, Any] = {}
    for inner in module.modules():
        for node in getattr(inner, "_inbound_nodes", []):
            memo[id(node)] = node
    return copy.deepcopy(module, memo).float()


def trace(
    module: torch.nn.Module,
    examples: tuple[torch.Tensor, ...],
    dynamic: list[list[int]],
    what: str,
    opset: int,
) -> tuple[Any, list[torch.Tensor]]:
    """The ONNX graph of ``module(*examples)`` (inputs ``input_k``, outputs ``output_k``; ``dynamic[k]``
    the free axes of input k, every output axis free) and the example's outputs, checked against the
    module at other sizes and values. ``what`` names the code in the Unsupported error (``its forward``)."""
    import onnx

    inputs = [f"input_{k}" for k in range(len(examples))]
    axes: dict[str, Any] = {name: {a: f"{name}_{a}" for a in free} for name, free in zip(inputs, dynamic, strict=True)}
    module = _float32_copy(module).eval()  # ONNX graphs here are float32, as the weights written
    try:
        with torch.no_grad(), warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
            warnings.simplefilter("ignore")  # the exporter's deprecation notice and its tracer's: _check decides
            produced = _outputs(module(*examples))
            names = [f"output_{k}" for k in range(len(produced))]
            for name, tensor in zip(names, produced, strict=True):
                axes[name] = {a: f"{name}_{a}" for a in range(tensor.dim())}
            path = os.path.join(folder, "traced.onnx")
            torch.onnx.export(
                module,
                examples,
                path,
                dynamo=False,  # the TorchScript tracer: one call, its dynamic axes kept dynamic
                opset_version=opset,
                input_names=inputs,
                output_names=names,
                dynamic_axes=axes,
            )
            traced = _negative_perms_resolved(onnx.load_model(path))
            onnx.shape_inference.infer_shapes(traced, strict_mode=True)  # what ONNX Runtime checks on load
    except Exception as err:
        detail = (str(err).strip().splitlines() or [""])[0].split(". ")[0].rstrip(".")[:200]
        raise Unsupported(
            f"{what} could not be traced to ONNX ({detail}); write it with torch operations only"
        ) from err
    _check(traced, module, examples, dynamic, what)
    return traced.graph, produced


def _negative_perms_resolved(traced: Any) -> Any:
    """The exporter writes ``permute(0, -1, 1)`` as is; ONNX's Transpose takes axes from 0 (its rank is the
    permutation's length)."""
    from onnx import helper

    for node in traced.graph.node:
        for attribute in node.attribute:
            if node.op_type == "Transpose" and attribute.name == "perm" and min(attribute.ints, default=0) < 0:
                rank = len(attribute.ints)
                attribute.CopyFrom(helper.make_attribute("perm", [axis % rank for axis in attribute.ints]))
    return traced


def _outputs(result: Any) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _check(
    traced: Any, module: torch.nn.Module, examples: tuple[torch.Tensor, ...], dynamic: list[list[int]], what: str
) -> None:
    """The traced graph, run by ONNX's reference evaluator on other sizes (each free axis 2 longer) and
    other values, must give the module's outputs: a value the code read into Python during the trace
    (``float(t)``, ``.item()``, a NumPy array, a size in Python arithmetic) is a constant of the graph."""
    from onnx.reference import ReferenceEvaluator

    generator = torch.Generator().manual_seed(1)
    others = []
    for example, free in zip(examples, dynamic, strict=True):
        shape = [size + 2 if axis in free else size for axis, size in enumerate(example.shape)]
        if example.is_floating_point():
            others.append(torch.randn(shape, generator=generator, dtype=example.dtype))
        else:
            others.append(torch.ones(shape, dtype=example.dtype))
    with torch.no_grad():
        expected = [t.numpy() for t in _outputs(module(*others))]
    feeds = {f"input_{k}": t.numpy() for k, t in enumerate(others)}
    got = ReferenceEvaluator(traced).run(None, feeds)
    same = all(
        g.shape == e.shape and np.allclose(g, e, rtol=1e-4, atol=1e-4, equal_nan=True)
        for g, e in zip(got, expected, strict=True)
    )
    if not same:
        raise Unsupported(
            f"{what} traced to ONNX gives other outputs at another batch size, length or values: a value it reads "
            "into Python (float(), .item(), NumPy, a size in Python arithmetic) became a constant; write it with "
            "torch operations only"
        )


def inline(graph: Graph, traced: Any, renames: dict[str, str]) -> tuple[list[Any], list[str]]:
    """The traced graph's nodes and outputs with every value renamed into ``graph`` (``renames`` for its
    inputs, a fresh prefix for the rest); its weights become ``graph``'s initializers, which a Scan body
    reads by scope."""
    prefix = graph.name("traced")

    def rename(name: str) -> str:
        return renames.get(name) or (name and f"{prefix}/{name}")

    for initializer in traced.initializer:
        initializer.name = rename(initializer.name)
        graph.initializers.append(initializer)
    nodes = []
    for node in traced.node:
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = rename(node.name or node.output[0])
        nodes.append(node)
    return nodes, [rename(output.name) for output in traced.output]
