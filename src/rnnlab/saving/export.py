"""``Model.export``: a trained model as a file other runtimes run, ONNX or torch.export's program.

Formats: ``"onnx"`` (``onnx_export``, for ONNX Runtime and the servers and phones it runs on) and
``"torch"`` (``torch.export``'s ``.pt2`` program, loaded with ``torch.export.load``). Without a
format, the file name's extension chooses (``.onnx`` / ``.pt2``). Either way, a model that cannot be
exported is one ValueError naming the layer or the reason, and nothing is written.
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch

from ..core.files import atomic_path
from . import onnx_export

FORMATS = {"onnx": ".onnx", "torch": ".pt2"}


def export_format(path: str | os.PathLike[str], format: str | None) -> str:
    """The format asked for: ``format`` itself, or the one the extension names."""
    if format is None:
        for name, extension in FORMATS.items():
            if os.fspath(path).endswith(extension):
                return name
        raise ValueError(
            f"export() cannot tell the format of {os.fspath(path)!r}: pass format='onnx' or format='torch', "
            "or name the file *.onnx or *.pt2."
        )
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}. Expected one of {list(FORMATS)}.")
    return format


def export_model(model: Any, path: str | os.PathLike[str], format: str | None = None) -> str:
    """Write ``model`` to ``path`` in ``format`` (see the module docstring); returns the format written."""
    chosen = export_format(path, format)
    if chosen == "onnx":
        onnx_export.export_onnx(model, path)
    else:
        export_torch(model, path)
    return chosen


def export_torch(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``torch.export``'s program of ``model``, with dynamic batch and time axes, atomically."""
    example, dynamic = _functional_example(model) if hasattr(model, "_nodes") else _sequential_example(model)
    try:
        program = torch.export.export(model.eval(), (example,), dynamic_shapes=(dynamic,))
    except Exception as err:
        detail = (str(err).strip().splitlines() or [""])[0][:300]
        raise ValueError(
            f"torch.export could not trace model '{model.name}' ({type(err).__name__}: {detail}); "
            "export it with format='onnx' instead."
        ) from err
    archive = io.BytesIO()  # torch.export.save wants a .pt2 name or a buffer; the temporary has neither
    torch.export.save(program, archive)
    with atomic_path(path) as tmp:
        tmp.write_bytes(archive.getvalue())


def _sequential_example(model: Any) -> tuple[torch.Tensor, dict[int, Any]]:
    """The model's example input and its dynamic axes: batch, and time where the Input leaves it free."""
    example, time_free = _example_input(model)
    axes = {0: torch.export.Dim("batch", min=1)}
    if time_free:
        axes[1] = torch.export.Dim("time", min=2)
    return example, axes


def _functional_example(model: Any) -> tuple[Any, Any]:
    """One example per Input of a functional model (a list for several), each free axis (time) its own
    dynamic dimension and length, so that the program ties no two lengths together; batch is one for all."""
    batch = torch.export.Dim("batch", min=1)
    examples, axes = [], []
    for k, tensor in enumerate(model.inputs):
        free = [axis for axis, size in enumerate(tensor.shape) if axis and size is None]  # time, usually
        dtype = torch.int64 if "int" in str(tensor.dtype) else torch.float32
        examples.append(torch.ones((2, *(size or 3 + k for size in tensor.shape[1:])), dtype=dtype))
        axes.append({0: batch, **{axis: torch.export.Dim(f"axis_{axis}_of_input_{k}", min=2) for axis in free}})
    return (examples, axes) if len(examples) > 1 else (examples[0], axes[0])


def _example_input(model: Any) -> tuple[torch.Tensor, bool]:
    """An input of the model's declared shape (batch 2, time 3 where it is free), and whether time is free."""
    spec = getattr(model, "input_spec", None)
    shape = getattr(spec, "shape", None)
    if not shape:
        raise ValueError("format='torch' needs the model's input shape: build it with Input((time, features)).")
    time, *rest = shape
    dtype = getattr(spec, "dtype", None)
    if dtype is not None and "int" in str(dtype):
        return torch.ones((2, time or 3, *rest), dtype=torch.int64), time is None
    return torch.zeros((2, time or 3, *rest)), time is None
