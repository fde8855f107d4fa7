"""Whole-sequence implementations of the recurrent layers, behind one contract.

``select`` picks the kernel a layer runs: ``"auto"`` takes the first of ``AUTO_ORDER``
that supports the configuration; a named kernel that cannot run it raises, saying why.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch

from ..cells import RecurrentCell
from . import native, reference, torch_fused
from .contract import Kernel, SequenceOptions, SequenceResult

log = logging.getLogger(__name__)

KERNELS: dict[str, Kernel] = {
    "reference": Kernel("reference", reference.why_not, reference.run),
    "torch_fused": Kernel("torch_fused", torch_fused.why_not, torch_fused.run),
    "native": Kernel("native", native.why_not, native.run),
}
AUTO_ORDER = ("native", "torch_fused", "reference")


def check_name(name: str) -> str:
    if name != "auto" and name not in KERNELS:
        raise ValueError(f"Unknown kernel {name!r}. Expected 'auto' or one of {sorted(KERNELS)}.")
    return name


class Selection(NamedTuple):
    kernel: Kernel
    skipped: dict[str, str]  # kernel name -> why it could not run this call


def select(
    name: str, cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> Selection:
    """The kernel that runs this call: ``name``, or with "auto" the first of ``AUTO_ORDER`` that can."""
    if name != "auto":
        kernel = KERNELS[check_name(name)]
        reason = kernel.why_not(cell, inputs, mask, options)
        if reason is not None:
            raise ValueError(
                f"Kernel {name!r} cannot run layer '{cell.name}': {reason}. "
                "Use implementation='auto' to fall back to one that can."
            )
        return Selection(kernel, {})
    skipped: dict[str, str] = {}
    for candidate in AUTO_ORDER:
        reason = KERNELS[candidate].why_not(cell, inputs, mask, options)
        if reason is None:
            return Selection(KERNELS[candidate], skipped)
        skipped[candidate] = reason
        log.debug("%s: kernel %s skipped: %s", cell.name, candidate, reason)
    raise AssertionError("the reference kernel supports every configuration")


__all__ = ["KERNELS", "AUTO_ORDER", "Kernel", "SequenceOptions", "SequenceResult", "Selection", "select"]
