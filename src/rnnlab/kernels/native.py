"""rnnlab's own CPU kernel: each layer's whole sequence is one call and one autograd node.

The compiled loop (``native_cpu.cpp``, built on first use by ``build``) multiplies, at each
step, the rows ``[x_t | h_{t-1}]`` by ``[kernel; recurrent_kernel]`` (packed once per call),
and applies
the cell in one fused elementwise pass that keeps what backward needs. Backward runs the steps
in reverse and writes the pre-activation gradients ``dg (T, B, G*U)`` and ``dx``; the weight
gradients are then one large multiply over all steps (PyTorch)::

    [d_kernel; d_recurrent_kernel] = [x | h_prev]^T dg

The batch is split into one block of rows per thread (``torch.get_num_threads()``), each
running the whole sequence. The kernel works on Keras's weight layout, float32 and float64
CPU tensors, any mask, and every cell whose ``fused_form`` names a ``NativeCell``: both GRU
variants, unlike PyTorch's fused ops.
"""

from __future__ import annotations

from typing import Any

import torch

from ..cells import FusedForm, NativeCell, RecurrentCell
from . import build
from .contract import SequenceOptions, SequenceResult

DTYPES = {torch.float32: 0, torch.float64: 1}


def why_not(
    cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> str | None:
    reason = cell.fused_form.unfused  # first: what the cell is decides before what the inputs are
    if reason is not None:
        return reason
    if inputs.device.type != "cpu":
        return f"runs on CPU tensors; these inputs are on {inputs.device}"
    if inputs.dtype not in DTYPES:
        return f"float32 and float64 only; these inputs are {inputs.dtype}"
    weights = getattr(cell, "kernel", None)  # None before the cell is built
    if weights is not None and weights.dtype != inputs.dtype:
        return f"the weights ({weights.dtype}) and the inputs ({inputs.dtype}) differ in dtype"
    if options.record:
        return "recording gate values needs the step-by-step loop"
    if options.training and cell.recurrent_dropout > 0:
        return "recurrent dropout is applied inside the step"
    if build.library() is None:
        return build.unavailable_reason()
    return None


def _library() -> build.Library:
    library = build.library()
    assert library is not None, "why_not() admits calls only when the library is built"
    return library


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"the native CPU kernel rejected its arguments ({what}: status {status})")


def _ptr(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _time_pointer(tensor: torch.Tensor, go_backwards: bool) -> tuple[int, int, int]:
    """Address and (batch, time) strides of a (B, T, .) tensor, read from its last step when
    ``go_backwards`` (a negative time stride), as the compiled loop walks it."""
    batch_stride, time_stride = tensor.stride(0), tensor.stride(1)
    if not go_backwards:
        return tensor.data_ptr(), batch_stride, time_stride
    last = tensor.data_ptr() + (tensor.shape[1] - 1) * time_stride * tensor.element_size()
    return last, batch_stride, -time_stride


def _native(form: FusedForm) -> NativeCell:
    assert form.native is not None, "why_not() admits cells with a native form only"
    return form.native


def _args(cell: RecurrentCell, dtype: torch.dtype, shape: tuple[int, ...], zero_output: bool) -> build.Args:
    B, T, F = shape
    args = build.Args()
    args.dtype, args.cell, args.zero_output = DTYPES[dtype], _native(cell.fused_form), int(zero_output)
    args.threads = torch.get_num_threads()
    args.batch, args.time, args.features, args.units = B, T, F, cell.units
    return args


def _forward(
    cell: RecurrentCell,
    x: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    input_bias: torch.Tensor | None,
    recurrent_bias: torch.Tensor | None,
    mask: torch.Tensor | None,
    h0: torch.Tensor,
    c0: torch.Tensor | None,
    go_backwards: bool,
    zero_output: bool,
    save: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    """Outputs (B, T, U), final h and c, and (with ``save``) what backward reads, time-major."""
    B, T, F = x.shape
    U = cell.units
    form = cell.fused_form
    args = _args(cell, x.dtype, tuple(x.shape), zero_output)
    new = x.new_empty
    outputs, hT = new(B, T, U), new(B, U)
    cT = new(B, U) if c0 is not None else None
    saved: dict[str, torch.Tensor] = {}
    if save:
        saved["xh"] = new(T, B, F + U)  # [x_t | h_{t-1}]
        if c0 is not None:  # LSTM: the cell state c_t
            saved["cells"] = new(T, B, U)
        if len(form.gates) > 1:
            saved["gates"] = new(T, B, _library().gate_width(args))
            saved["extra"] = new(T, B, U)  # LSTM: tanh(c_t); GRU: h_{t-1} @ U_h + b_h, or r * h_{t-1}
    args.x, args.x_batch_stride, args.x_time_stride = _time_pointer(x, go_backwards)
    args.kernel, args.recurrent_kernel = kernel.data_ptr(), recurrent_kernel.data_ptr()
    args.input_bias, args.recurrent_bias = _ptr(input_bias), _ptr(recurrent_bias)
    args.h0, args.c0, args.mask = h0.data_ptr(), _ptr(c0), _ptr(mask)
    args.outputs, args.hT, args.cT = outputs.data_ptr(), hT.data_ptr(), _ptr(cT)
    for name in ("xh", "cells", "gates", "extra"):
        setattr(args, name, _ptr(saved.get(name)))
    _check(_library().forward(args), "forward")
    return outputs, hT, cT, saved


class _Sequence(torch.autograd.Function):
    """One recurrent layer over a whole sequence: a single node in the autograd graph."""

    @staticmethod
    def forward(
        ctx: Any,
        cell: RecurrentCell,
        go_backwards: bool,
        zero_output: bool,
        inputs: torch.Tensor,
        kernel: torch.Tensor,
        recurrent_kernel: torch.Tensor,
        input_bias: torch.Tensor | None,
        recurrent_bias: torch.Tensor | None,
        mask: torch.Tensor | None,
        h0: torch.Tensor,
        c0: torch.Tensor | None,
    ) -> tuple[torch.Tensor, ...]:
        outputs, hT, cT, saved = _forward(
            cell,
            inputs,
            kernel,
            recurrent_kernel,
            input_bias,
            recurrent_bias,
            mask,
            h0,
            c0,
            go_backwards,
            zero_output,
            save=True,
        )
        ctx.cell, ctx.go_backwards, ctx.zero_output = cell, go_backwards, zero_output
        ctx.shape = inputs.shape
        ctx.saved_names = list(saved)
        ctx.save_for_backward(kernel, recurrent_kernel, mask, c0, outputs, *saved.values())
        ctx.set_materialize_grads(False)
        return (outputs, hT) if cT is None else (outputs, hT, cT)

    @staticmethod
    def backward(ctx: Any, d_outputs: torch.Tensor | None, d_hT: torch.Tensor | None, *d_cT: Any) -> Any:
        kernel, recurrent_kernel, mask, c0, outputs, *rest = ctx.saved_tensors
        saved = dict(zip(ctx.saved_names, rest, strict=True))
        cell: RecurrentCell = ctx.cell
        B, T, F = ctx.shape
        U, GU = cell.units, cell.gates * cell.units
        needs = ctx.needs_input_grad  # cell, go_backwards, zero_output, inputs, kernel, recurrent_kernel,
        # input_bias, recurrent_bias, mask, h0, c0
        native = _native(cell.fused_form)
        new = outputs.new_empty
        d_gates = new(T * B, GU)
        d_gates_rec = new(T * B, GU) if native is NativeCell.GRU else None  # reset after: the recurrent side's own
        d_inputs = new(B, T, F) if needs[3] else None
        d_h0 = new(B, U)
        d_c0 = new(B, U) if c0 is not None else None
        d_c = d_cT[0] if d_cT else None

        args = _args(cell, outputs.dtype, (B, T, F), ctx.zero_output)
        args.kernel, args.recurrent_kernel = kernel.data_ptr(), recurrent_kernel.data_ptr()
        args.c0, args.mask, args.outputs = _ptr(c0), _ptr(mask), outputs.data_ptr()
        for name in ("xh", "cells", "gates", "extra"):
            setattr(args, name, _ptr(saved.get(name)))
        if d_outputs is not None:
            if d_outputs.stride(2) != 1:
                d_outputs = d_outputs.contiguous()
            args.d_outputs = d_outputs.data_ptr()
            args.d_out_batch_stride, args.d_out_time_stride = d_outputs.stride(0), d_outputs.stride(1)
        d_hT = None if d_hT is None else d_hT.contiguous()  # kept alive until the call returns
        d_c = None if d_c is None else d_c.contiguous()
        args.d_hT, args.d_cT = _ptr(d_hT), _ptr(d_c)
        args.d_gates, args.d_gates_rec = d_gates.data_ptr(), _ptr(d_gates_rec)
        if d_inputs is not None:
            args.d_inputs, args.x_batch_stride, args.x_time_stride = _time_pointer(d_inputs, ctx.go_backwards)
        args.d_h0, args.d_c0 = d_h0.data_ptr(), _ptr(d_c0)
        _check(_library().backward(args), "backward")

        # The weight gradients, one multiply over every step: [x | h_prev]^T @ dg
        xh = saved["xh"].view(T * B, F + U)
        d_kernel = d_recurrent = None
        if native not in (NativeCell.GRU, NativeCell.GRU_RESET_BEFORE):  # x and h_prev share each gate's dg
            both = torch.mm(xh.t(), d_gates)  # (F+U, G*U)
            d_kernel, d_recurrent = both[:F], both[F:]
        else:
            d_kernel = torch.mm(xh[:, :F].t(), d_gates)
            if d_gates_rec is not None:  # reset after: the recurrent side has its own gradients
                d_recurrent = torch.mm(xh[:, F:].t(), d_gates_rec)
            else:  # the candidate's recurrent weights multiply r * h_prev
                d_recurrent = torch.cat(
                    [
                        torch.mm(xh[:, F:].t(), d_gates[:, : 2 * U]),
                        torch.mm(saved["extra"].view(T * B, U).t(), d_gates[:, 2 * U :]),
                    ],
                    dim=1,
                )
        d_input_bias = d_gates.sum(0) if needs[6] else None
        d_recurrent_bias = d_gates_rec.sum(0) if needs[7] and d_gates_rec is not None else None
        return (
            None,
            None,
            None,
            d_inputs,
            d_kernel if needs[4] else None,
            d_recurrent if needs[5] else None,
            d_input_bias,
            d_recurrent_bias,
            None,
            d_h0 if needs[9] else None,
            d_c0 if needs[10] else None,
        )


def run(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> SequenceResult:
    if inputs.stride(2) != 1:
        inputs = inputs.contiguous()
    if options.go_backwards and mask is not None:  # the loop reads x backwards through its strides
        mask = mask.flip(1)
    form = cell.fused_form
    input_bias = recurrent_bias = None
    if cell.bias is not None:
        if form.bias_rows == 2:
            input_bias, recurrent_bias = cell.bias[0], cell.bias[1]  # (2, G*U): input row, recurrent row
        else:
            input_bias = cell.bias
    kernel, recurrent_kernel = cell.kernel.contiguous(), cell.recurrent_kernel.contiguous()
    mask_bytes = None if mask is None else mask.to(torch.uint8).contiguous()
    h0 = states[0].contiguous()
    c0 = states[1].contiguous() if len(form.state_names) == 2 else None  # LSTM: [h, c]
    call = (inputs, kernel, recurrent_kernel, input_bias, recurrent_bias, mask_bytes, h0, c0)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in call):
        outputs, *final = _Sequence.apply(  # type: ignore[no-untyped-call]
            cell, options.go_backwards, options.zero_output_for_mask, *call
        )
        return SequenceResult(outputs, list(final))
    outputs, hT, cT, _ = _forward(
        cell, *call, go_backwards=options.go_backwards, zero_output=options.zero_output_for_mask, save=False
    )
    return SequenceResult(outputs, [hT] if cT is None else [hT, cT])
