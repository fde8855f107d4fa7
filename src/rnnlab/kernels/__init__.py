"""Whole-sequence implementations of the recurrent layers, behind one contract.

``select`` picks the kernel a layer runs: ``"auto"`` takes the first of ``AUTO_ORDER``
that supports the configuration, or, where two or more fast kernels can, the fastest of them,
measured once per configuration (``choice``); a named kernel that cannot run it raises, saying why.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch

from ..cells import RecurrentCell
from . import choice, native, native_tables, reference, torch_fused
from .contract import Kernel, SequenceOptions, SequenceResult

log = logging.getLogger(__name__)

KERNELS: dict[str, Kernel] = {
    "reference": Kernel("reference", reference.why_not, reference.run),
    "torch_fused": Kernel("torch_fused", torch_fused.why_not, torch_fused.run),
    "native": Kernel("native", native.why_not, native.run),
    "native_projected": Kernel("native_projected", native.why_not, native_tables.run_projected),
}
AUTO_ORDER = ("native", "native_projected", "torch_fused", "reference")


def check_name(name: str) -> str:
    if name != "auto" and name not in KERNELS:
        raise ValueError(f"Unknown kernel {name!r}. Expected 'auto' or one of {sorted(KERNELS)}.")
    return name


class Selection(NamedTuple):
    kernel: Kernel
    skipped: dict[str, str]  # kernel name -> why it could not run this call


def select(
    name: str,
    cell: RecurrentCell,
    inputs: torch.Tensor,
    mask: torch.Tensor | None,
    options: SequenceOptions,
    measure: bool = True,
) -> Selection:
    """The kernel that runs this call: ``name``, or with "auto" the faster of the fast kernels that
    can (measured, ``choice``), else the first of ``AUTO_ORDER`` that can; ``measure=False``: the order."""
    if name != "auto":
        kernel = KERNELS[check_name(name)]
        reason = kernel.why_not(cell, inputs, mask, options)
        if reason is not None:
            raise ValueError(
                f"Kernel {name!r} cannot run layer '{cell.name}': {reason}. "
                "Use implementation='auto' to fall back to one that can."
            )
        return Selection(kernel, {})
    if measure and choice.may_measure(inputs):
        return _fastest(cell, inputs, mask, options)
    return _first(cell, inputs, mask, options)


def _first(cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions) -> Selection:
    skipped: dict[str, str] = {}
    for candidate in AUTO_ORDER:
        reason = KERNELS[candidate].why_not(cell, inputs, mask, options)
        if reason is None:
            return Selection(KERNELS[candidate], skipped)
        skipped[candidate] = reason
        log.debug("%s: kernel %s skipped: %s", cell.name, candidate, reason)
    raise AssertionError("the reference kernel supports every configuration")


def _fastest(
    cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> Selection:
    """The faster of the fast kernels that can run the call, else the reference loop. An unmasked
    call like an earlier one takes that one's selection: a step-by-step caller (sampling a character
    at a time) would otherwise pay for the kernels' checks and the measurement's key at every step."""
    if mask is not None:
        return _measured(cell, inputs, mask, options)
    weights = getattr(cell, "kernel", None)
    call = (
        tuple(inputs.shape), inputs.dtype, inputs.device, None if weights is None else weights.dtype,
        options.go_backwards, options.zero_output_for_mask, options.record, options.training,
        torch.is_grad_enabled(), inputs.requires_grad, torch.get_num_threads(), cell.built,
    )  # fmt: skip
    memo: dict[tuple[object, ...], Selection] = cell.__dict__.setdefault("_kernel_selections", {})
    if call not in memo:
        memo[call] = _measured(cell, inputs, mask, options)
    return memo[call]


def _measured(
    cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> Selection:
    skipped: dict[str, str] = {}
    contenders = []
    for candidate in choice.FAST:
        reason = KERNELS[candidate].why_not(cell, inputs, mask, options) or choice.not_timed(candidate, cell, inputs)
        if reason is None:
            contenders.append(KERNELS[candidate])
        else:
            skipped[candidate] = reason
    if len(contenders) > 1 and cell.built:  # a cell without weights yet cannot be timed: the order
        kernel, slower = choice.choose(cell, inputs, mask, options, contenders)
        return Selection(kernel, {**skipped, **slower})
    return Selection(contenders[0] if contenders else KERNELS["reference"], skipped)


def undecided(
    name: str, cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> list[str]:
    """The fast kernels that "auto" would time against each other for this call, before it runs."""
    if name != "auto" or choice.mode() == "order":
        return []
    contenders = [
        k
        for k in choice.FAST
        if KERNELS[k].why_not(cell, inputs, mask, options) is None and choice.not_timed(k, cell, inputs) is None
    ]
    return contenders if len(contenders) > 1 else []


__all__ = ["KERNELS", "AUTO_ORDER", "Kernel", "SequenceOptions", "SequenceResult", "Selection", "select", "undecided"]
