"""Export a run's trained models for other runtimes: ONNX (ONNX Runtime, servers, phones) or
torch.export's program.

Reads a run directory (its model-<cell>.safetensors or model.safetensors) or one model file and
writes each model beside it, or into ``--out``, under the same name with the format's extension:
``model-lstm.onnx`` or ``model-lstm.pt2``. ONNX needs ``pip install 'rnnlab[export]'``; its graph
has dynamic batch and time axes, and computes the masks (Embedding's mask_zero, Masking) itself,
exact wherever the padding stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..saving.export import FORMATS, export_model
from ..saving.load import load_model
from .options import option
from .saved import LABELS, find_models


@dataclass
class ExportConfig:
    model: str | None = option(None, "the model: a run directory or a model file", required=True)
    format: str = option("onnx", "what to write: an ONNX graph or torch.export's program", choices=sorted(FORMATS))
    cells: list[str] = option(
        [], "which models of a run directory that holds several", choices=sorted(LABELS), shown="all"
    )


def run(config: ExportConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    if config.model is None:
        raise ValueError("--model is required: a run directory or a model file.")
    files, _ = find_models(config.model, config.cells)
    written: dict[str, str] = {}
    for label, file in files.items():
        target = Path(out or file.parent) / (file.stem + FORMATS[config.format])
        try:
            export_model(load_model(file), target, config.format)
        except ImportError as err:  # the optional extra is missing: a setup to fix, not a crash
            raise ValueError(str(err)) from None
        written[label] = str(target)
        print(f"{label}: {target}")
    return written
