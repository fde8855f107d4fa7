"""The native loop reading each step's input side from a table instead of multiplying x_t by
the kernel (``native_cpu.cpp``'s ``Args.ids``): step t of row b adds row ``ids[b, t]`` of the
table, and multiplies only h_{t-1} by the recurrent kernel.

- Token ids (``run_from_ids``), in inference and training: the table is ``embeddings @ kernel +
  bias``, one row per vocabulary entry, where a layer reads an Embedding's output.
- Training with the input side projected first (``run_projected``, the kernel
  ``native_projected``): the table is ``x @ kernel + bias`` for every step, one large multiply
  before the loop, whose gradients autograd takes as two large multiplies after it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import RecurrentCell
from ..core.variables import kept_while_steady
from . import recycled
from .contract import SequenceOptions, SequenceResult
from .native import (
    _biases,
    _native,
    _sequence,
    _sequence_backward,
    _weight_gradients,
    in_argument_order,
    prepare,
    run_prepared,
    traced,
)


def reads_ids_faster(cell: RecurrentCell, ids: torch.Tensor, embeddings: torch.Tensor) -> bool:
    """Whether ``run_from_ids`` pays: its table (one row per vocabulary entry) costs no more
    multiplies than the steps' x_t @ kernel it replaces (one row per token)."""
    return embeddings.shape[0] <= ids.numel() and embeddings.dtype == cell.kernel.dtype


def run_from_ids(
    cell: RecurrentCell,
    ids: torch.Tensor,
    embeddings: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> SequenceResult:
    """``run`` on ``embeddings[ids]`` with the input side done once per vocabulary entry: the table
    ``embeddings @ kernel + input bias`` holds every token's share of the gates, and each step adds
    its tokens' rows where ``run`` multiplies x_t by the kernel. Equal to ``run`` up to the order of
    the float sums. In training the table's gradient gathers its rows' d_gates (one index_add), and
    autograd takes it to the embeddings, kernel and bias through the table's small multiply."""
    B, T = ids.shape
    V = embeddings.shape[0]
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise ValueError(f"token ids must lie in [0, {V - 1}]")  # the loop reads table rows by them
    input_bias, recurrent_bias = _biases(cell)
    kernel, recurrent_kernel = cell.kernel.contiguous(), cell.recurrent_kernel.contiguous()
    if options.go_backwards:
        ids = ids.flip(1)
        mask = None if mask is None else mask.flip(1)
    ids = ids.to(torch.int64).contiguous()
    mask_bytes = None if mask is None else mask.to(torch.uint8).contiguous()
    h0 = states[0].contiguous()
    c0 = states[1].contiguous() if len(states) == 2 else None
    cell_code = int(_native(cell.fused_form))
    trained = (embeddings, kernel, recurrent_kernel, input_bias, recurrent_bias, h0, c0)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in trained):
        with torch.autocast("cpu", enabled=False):  # the loop's dtype, as the ordinary call's x @ kernel
            table = embeddings @ kernel if input_bias is None else torch.addmm(input_bias, embeddings, kernel)
        outputs, hT, cT = _TableSequence.apply(  # type: ignore[no-untyped-call]
            table, ids, kernel, recurrent_kernel, recurrent_bias, mask_bytes, h0, c0, cell_code, False,
            options.zero_output_for_mask, True,
        )  # fmt: skip
        return SequenceResult(outputs, [hT] if c0 is None else [hT, cT])
    table = _input_table(cell, embeddings, kernel, input_bias)
    absent = table.new_empty(0)
    outputs, hT, cT, *_ = _sequence(
        table, kernel, recurrent_kernel, None, recurrent_bias, mask_bytes, h0, c0, cell_code, False,
        options.zero_output_for_mask, False, lambda: absent, options.last_output_only, ids,
    )  # fmt: skip
    return SequenceResult(outputs, [hT] if c0 is None else [hT, cT])


# -- training with the input side projected before the loop ------------------------------------
# The loop multiplies [x_t | h_{t-1}] by [kernel; recurrent_kernel] at every step, a few rows at a
# time. x @ kernel for all steps at once is one large multiply instead (and dx, d_kernel two after
# the loop), nearer the processor's peak where x is wide and the batch small; the loop then
# multiplies h_{t-1} alone and reads its share of x from that table. Elsewhere the table's memory
# traffic costs more than it saves, so "auto" times this kernel against the others (choice). It
# runs what the native kernel runs; without gradients, or traced, it is the native kernel.
def run_projected(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> SequenceResult:
    """The native kernel's call with x projected first where it trains eagerly; else ``native.run``."""
    call, flags = prepare(cell, inputs, states, mask, options)
    _, go_backwards, _, save = flags
    if not save or traced():
        return run_prepared(call, flags, options)
    x, kernel, recurrent_kernel, input_bias, recurrent_bias, mask_bytes, h0, c0 = call
    B, T, _ = x.shape
    table = _Projection.apply(x, kernel, input_bias)  # type: ignore[no-untyped-call]
    ids = torch.arange(T * B, device=x.device).view(T, B).t()  # step t of batch row b: row t * B + b
    if go_backwards:
        ids = ids.flip(1)
    outputs, hT, cT = _TableSequence.apply(  # type: ignore[no-untyped-call]
        table, ids.contiguous(), kernel, recurrent_kernel, recurrent_bias, mask_bytes, h0, c0, *flags[:3], False
    )
    return SequenceResult(outputs, [hT] if c0 is None else [hT, cT])


class _Projection(torch.autograd.Function):
    """x (B, T, F) -> the table ``x_t @ kernel + bias`` with a row per step and batch row, time-major
    (row t * B + b), in the loop's dtype. With a bias, x gets a column of ones and the kernel the
    bias as its last row: one multiply makes the table, and in backward one multiply makes both
    d_kernel and d_bias (its last row), where a separate sum would read d_table once more. The
    table, x's time-major copy and dx are buffers from ``recycled``: fresh memory at every step
    costs more than the copies."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, kernel: Tensor, bias: Tensor | None) -> Tensor:
        B, T, F = x.shape
        width = F if bias is None else F + 1
        rows = recycled.empty((T, B, width), x.dtype)
        rows[..., :F].copy_(x.transpose(0, 1))
        weights = kernel
        if bias is not None:
            rows[..., F] = 1.0
            weights = torch.cat([kernel, bias[None]], out=recycled.empty((width, kernel.shape[1]), x.dtype))
        rows = rows.view(T * B, width)
        with torch.autocast("cpu", enabled=False):
            table = torch.mm(rows, weights, out=recycled.empty((T * B, kernel.shape[1]), x.dtype))
        ctx.save_for_backward(rows, kernel)
        ctx.shape = (B, T, F)
        return table

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_table: Tensor) -> Any:
        rows, kernel = ctx.saved_tensors
        B, T, F = ctx.shape
        needs = ctx.needs_input_grad
        d_x = d_kernel = d_bias = None
        if needs[0]:  # time-major as the table: a (B, T, F) view of it, which the loop reads by its strides
            d_x = torch.mm(d_table, kernel.t(), out=recycled.empty((T * B, F), d_table.dtype))
            d_x = d_x.view(T, B, F).transpose(0, 1)
        if needs[1] or needs[2]:
            d_weights = recycled.mm(rows.t(), d_table)  # with a bias (F + 1, G*U): [d_kernel; d_bias]
            d_kernel, d_bias = d_weights[:F], d_weights[F:].view(-1)
        return d_x, d_kernel if needs[1] else None, d_bias if needs[2] else None


class _TableSequence(torch.autograd.Function):
    """The loop on a table of the gates' input side (``native._sequence`` with ids), differentiable
    in the table, the recurrent weights and the initial states. ``by_token``: the table has a row per
    vocabulary entry, whose gradient gathers the d_gates of the steps that read it; else a row per
    step (projected inputs), whose gradient is d_gates itself."""

    @staticmethod
    def forward(ctx: Any, table: Tensor, ids: Tensor, kernel: Tensor, recurrent_kernel: Tensor, *rest: Any) -> Any:
        recurrent_bias, mask, h0, c0, cell, go_backwards, zero_output, by_token = rest
        outputs, hT, cT, xh, cells, gates, extra = _sequence(
            table, kernel, recurrent_kernel, None, recurrent_bias, mask, h0, c0, cell, False, zero_output, True,
            ids=ids,
        )  # fmt: skip
        ctx.cell, ctx.go_backwards, ctx.zero_output, ctx.table_rows = cell, go_backwards, zero_output, table.shape[0]
        read = ids if by_token else None  # token ids: the rows each step read; else step t read rows t*B + b
        ctx.save_for_backward(kernel, recurrent_kernel, mask, c0, outputs, xh, cells, gates, extra, read)
        ctx.set_materialize_grads(False)
        return outputs, hT, cT

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: Tensor | None, d_hT: Tensor | None, d_cT: Tensor | None) -> Any:
        kernel, recurrent_kernel, mask, c0, outputs, xh, cells, gates, extra, ids = ctx.saved_tensors
        needs = ctx.needs_input_grad  # table, ids, kernel, recurrent_kernel, recurrent_bias, mask, h0, c0, ...
        d_gates, d_gates_rec, _, d_h0, d_c0 = _sequence_backward(
            d_outputs, d_hT, d_cT, kernel, recurrent_kernel, mask, c0, outputs, xh, cells, gates, extra,
            ctx.cell, ctx.go_backwards, ctx.zero_output, False,
        )  # fmt: skip
        B, T, U = outputs.shape
        d_table = d_gates  # the gradient of step t's rows, which read the table's step t (T-1-t backwards)
        if ids is not None:  # step t of row b read the table's row ids[b, t]
            d_table = d_gates.new_zeros(ctx.table_rows, d_gates.shape[1]).index_add_(0, ids.t().reshape(-1), d_gates)
        elif ctx.go_backwards:
            d_table = d_gates.view(T, B, -1).flip(0).reshape(T * B, -1)
        _, d_recurrent = _weight_gradients(ctx.cell, U, xh, extra, d_gates, d_gates_rec, recycle=True)
        return in_argument_order(
            needs, d_table, None, None, d_recurrent, d_gates_rec.sum(0) if needs[4] else None, None, d_h0, d_c0
        )


def _input_table(
    cell: RecurrentCell, embeddings: torch.Tensor, kernel: torch.Tensor, input_bias: torch.Tensor | None
) -> torch.Tensor:
    """``embeddings @ kernel + input_bias``: made once per ``steady_weights`` stretch (``predict``),
    otherwise for every call."""
    kept = kept_while_steady()
    key = ("input_table", id(cell), *(None if t is None else t.data_ptr() for t in (embeddings, kernel, input_bias)))
    if kept is not None and key in kept:
        table: torch.Tensor = kept[key]
        return table
    with torch.no_grad(), torch.autocast("cpu", enabled=False):
        table = embeddings @ kernel if input_bias is None else torch.addmm(input_bias, embeddings, kernel)
    if kept is not None:
        kept[key] = table
    return table
