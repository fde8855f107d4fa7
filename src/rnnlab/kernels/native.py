"""rnnlab's own CPU kernel: each layer's whole sequence is one call and one autograd node.

The compiled loop (``native_cpu.cpp``, built on first use by ``build``) multiplies, at each
step, the rows ``[x_t | h_{t-1}]`` by ``[kernel; recurrent_kernel]`` (packed once per call:
for float32 by MKL's packed multiply, taken from the PyTorch library in the process where it
has MKL, as PyTorch's x86 builds do; otherwise by the loop's own), and applies
the cell in one fused elementwise pass that keeps what backward needs. Backward runs the steps
in reverse and writes the pre-activation gradients ``dg (T, B, G*U)`` and ``dx``; the weight
gradients are then one large multiply over all steps (PyTorch)::

    [d_kernel; d_recurrent_kernel] = [x | h_prev]^T dg

The batch is split into one block of rows per thread (``torch.get_num_threads()``), each
running the whole sequence. The kernel works on Keras's weight layout, float32 and float64
CPU tensors, any mask, and every cell whose ``fused_form`` names a ``NativeCell``: both GRU
variants, unlike PyTorch's fused ops.

Both passes are ``torch.library`` custom ops, ``rnnlab::native_sequence`` and
``rnnlab::native_sequence_backward``, with fake implementations that give their outputs' shapes
without running the loop: torch.compile and torch.export see one opaque node per layer, with
dynamic batch and time. The forward op also returns what backward reads (``save``: only when a
gradient is wanted), since a custom op's backward sees nothing else.

The same loop can read each step's input side from a table instead (``native_tables``): a row per
token id after an Embedding, or x projected before the loop in training (``native_projected``).
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import FusedForm, NativeCell, RecurrentCell
from . import build, recycled
from .contract import SequenceOptions, SequenceResult

DTYPES = {torch.float32: 0, torch.float64: 1}
BLAS_SYMBOLS = ("cblas_sgemm_pack_get_size", "cblas_sgemm_pack", "cblas_sgemm_compute")
# MKL multiplies a step's weights of this many values or more (LSTM: from about 192 units): then
# they no longer fit in L2 and MKL's blocking beats the loop's own multiply (1.3x at 512 units,
# one thread), while below it MKL's fixed cost per call makes it up to 2x slower (30 units).
BLAS_MIN_VALUES = 1 << 18


@functools.cache
def blas() -> tuple[int, ...] | None:
    """The addresses of MKL's packed float multiply in the PyTorch library this process runs
    (PyTorch's x86 builds link MKL), for the loop's per-step multiplies; None where PyTorch has
    no MKL or ``RNNLAB_NATIVE_BLAS=off`` asks for the kernel's own multiply."""
    if os.environ.get("RNNLAB_NATIVE_BLAS", "").lower() in ("off", "0", "no") or not _one_openmp_runtime():
        return None
    path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:  # already loaded by torch: RTLD_NOLOAD finds it without loading anything
        library = ctypes.CDLL(str(path), mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
        return tuple(ctypes.cast(getattr(library, name), ctypes.c_void_p).value or 0 for name in BLAS_SYMBOLS)
    except (OSError, AttributeError):
        return None


def _one_openmp_runtime() -> bool:
    """Whether the process maps one OpenMP runtime, shared by MKL and the loop's threads. MKL called
    inside the loop's parallel region then runs on the calling thread; under a second runtime it
    would not see the region and start threads of its own in every one of the loop's."""
    build.library()  # the loop's library and its runtime are loaded first
    try:
        with open("/proc/self/maps") as maps:
            runtimes = {line.split()[-1] for line in maps if re.search(r"/lib(g|i)?omp[^/]*\.so", line)}
    except OSError:
        return False
    return len(runtimes) <= 1


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


def _args(cell: int, dtype: torch.dtype, B: int, T: int, F: int, U: int, zero_output: bool) -> build.Args:
    args = build.Args()
    args.dtype, args.cell, args.zero_output = DTYPES[dtype], cell, int(zero_output)
    args.threads = torch.get_num_threads()
    args.batch, args.time, args.features, args.units = B, T, F, U
    entry_points = blas()
    if entry_points is not None and all(entry_points):
        args.blas_pack_size, args.blas_pack, args.blas_compute = entry_points
        args.blas_min_values = BLAS_MIN_VALUES
    return args


def _gate_width(cell: int, dtype: torch.dtype, U: int) -> int:
    """Row width of the saved gates buffer: the library pads each row for its vector width."""
    return int(_library().gate_width(_args(cell, dtype, 0, 0, 0, U, False)))


def _gates(recurrent_kernel: torch.Tensor) -> int:
    U, GU = recurrent_kernel.shape  # (U, G*U)
    return GU // U


Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


# -- the forward op ---------------------------------------------------------------------------
# One recurrent layer over a whole sequence, registered with torch.library so that
# torch.compile and torch.export see one opaque node with known output shapes. Custom ops
# return tensors only: an output a configuration does not have is an empty (0,) tensor.
def _sequence(
    x: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    input_bias: torch.Tensor | None,
    recurrent_bias: torch.Tensor | None,
    mask: torch.Tensor | None,
    h0: torch.Tensor,
    c0: torch.Tensor | None,
    cell: int,
    go_backwards: bool,
    zero_output: bool,
    save: bool,
    placeholder: Callable[[], torch.Tensor] | None = None,
    last_only: bool = False,
    ids: torch.Tensor | None = None,
) -> Tensors:
    """outputs (B, T, U) (``last_only``: (B, 1, U), the last step's alone), h_T, c_T (LSTM), and with
    ``save`` what backward reads, time-major:
    xh (T, B, F+U) = [x_t | h_{t-1}], cells (T, B, U) (LSTM: c_t), gates (T, B, width) and
    extra (T, B, U) (LSTM: tanh(c_t); GRU: h_{t-1} @ U_h + b_h, or r * h_{t-1}).
    ``placeholder`` makes the absent outputs (eager mode shares one; the op's outputs may not alias).
    In training the large buffers come from ``recycled``.
    With ``ids`` (B, T) (``native_tables``), x is a table of rows of G*U values, the input bias
    included: step t of row b adds row ``ids[b, t]`` to its gates where the loop would multiply x_t
    by the kernel, F is 0 and xh holds the rows h_{t-1}."""
    kernel, recurrent_kernel, h0 = kernel.contiguous(), recurrent_kernel.contiguous(), h0.contiguous()
    c0, mask = _contiguous(c0), _contiguous(mask)  # no copies when run() passes them, as it does
    if ids is None:
        x = x if x.stride(2) == 1 else x.contiguous()  # the loop takes any batch and time strides
        B, T, F = x.shape
    else:  # the loop reads ids[b * T + t] and table rows id * G*U as they lie in memory
        assert not go_backwards and ids.dtype == torch.int64 and ids.is_contiguous() and x.is_contiguous()
        assert x.dim() == 2 and x.shape[1] == recurrent_kernel.shape[1], "a table has rows of G*U values"
        (B, T), F = ids.shape, 0
    outputs, hT, cT, xh, cells, gates, extra = _sequence_buffers(
        x if ids is None else x.new_empty(B, T, 0),
        recurrent_kernel, c0 is not None, cell, save, placeholder, last_only, recycle=save,
    )  # fmt: skip
    args = _args(cell, x.dtype, B, T, F, recurrent_kernel.shape[0], zero_output)
    args.last_only = int(last_only)
    if ids is None:
        args.x, args.x_batch_stride, args.x_time_stride = _time_pointer(x, go_backwards)
    else:  # the ids are read in the loop's order already
        args.x, args.ids = x.data_ptr(), ids.data_ptr()
    args.kernel, args.recurrent_kernel = kernel.data_ptr(), recurrent_kernel.data_ptr()
    args.input_bias, args.recurrent_bias = _ptr(input_bias), _ptr(recurrent_bias)
    args.h0, args.c0, args.mask = h0.data_ptr(), _ptr(c0), _ptr(mask)
    args.outputs, args.hT, args.cT = outputs.data_ptr(), hT.data_ptr(), _address(cT)
    for name, buffer in (("xh", xh), ("cells", cells), ("gates", gates), ("extra", extra)):
        setattr(args, name, _address(buffer))
    _check(_library().forward(args), "forward")
    return outputs, hT, cT, xh, cells, gates, extra


def _sequence_buffers(
    x: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    lstm: bool,
    cell: int,
    save: bool,
    placeholder: Callable[[], torch.Tensor] | None = None,
    last_only: bool = False,
    recycle: bool = False,
) -> Tensors:
    """The forward op's outputs, allocated (shapes only: the fake implementation returns them);
    ``recycle``: the large ones from ``recycled`` (the real implementation, in training)."""
    B, T, F = x.shape
    U = recurrent_kernel.shape[0]
    new = x.new_empty
    big = (lambda *shape: recycled.empty(shape, x.dtype)) if recycle else new
    none = placeholder or (lambda: new(0))
    gated = _gates(recurrent_kernel) > 1
    return (
        big(B, min(T, 1) if last_only else T, U),
        new(B, U),
        new(B, U) if lstm else none(),
        big(T, B, F + U) if save else none(),
        big(T, B, U) if save and lstm else none(),
        big(T, B, _gate_width(cell, x.dtype, U)) if save and gated else none(),
        big(T, B, U) if save and gated else none(),
    )


def _op_sequence(
    x: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    input_bias: torch.Tensor | None,
    recurrent_bias: torch.Tensor | None,
    mask: torch.Tensor | None,
    h0: torch.Tensor,
    c0: torch.Tensor | None,
    cell: int,
    go_backwards: bool,
    zero_output: bool,
    save: bool,
) -> Tensors:
    return _sequence(
        x, kernel, recurrent_kernel, input_bias, recurrent_bias, mask, h0, c0, cell, go_backwards, zero_output, save
    )


native_sequence = torch.library.custom_op("rnnlab::native_sequence", _op_sequence, mutates_args=())


@native_sequence.register_fake
def _sequence_shapes(
    x: Tensor,
    kernel: Tensor,
    recurrent_kernel: Tensor,
    input_bias: Tensor | None,
    recurrent_bias: Tensor | None,
    mask: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    cell: int,
    go_backwards: bool,
    zero_output: bool,
    save: bool,
) -> Tensors:
    return _sequence_buffers(x, recurrent_kernel, c0 is not None, cell, save)


def _contiguous(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.contiguous()


def _address(tensor: torch.Tensor) -> int | None:
    """The data address, None for an output this configuration does not have (the (0,) placeholder)."""
    return None if tensor.dim() == 1 and tensor.shape[0] == 0 else tensor.data_ptr()


# -- the backward op --------------------------------------------------------------------------
def _sequence_backward(
    d_outputs: torch.Tensor | None,
    d_hT: torch.Tensor | None,
    d_cT: torch.Tensor | None,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    mask: torch.Tensor | None,
    c0: torch.Tensor | None,
    outputs: torch.Tensor,
    xh: torch.Tensor,
    cells: torch.Tensor,
    gates: torch.Tensor,
    extra: torch.Tensor,
    cell: int,
    go_backwards: bool,
    zero_output: bool,
    needs_inputs: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The steps in reverse: d_gates (T*B, G*U) (pre-activations), d_gates_rec (GRU reset after:
    the recurrent side's own), d_inputs (B, T, F) (with ``needs_inputs``), d_h0, d_c0 (LSTM); the
    large buffers come from ``recycled``."""
    d_gates, d_gates_rec, d_inputs, d_h0, d_c0 = _gradient_buffers(
        outputs, xh, recurrent_kernel, c0 is not None, cell, needs_inputs, recycle=True
    )
    kernel, recurrent_kernel = kernel.contiguous(), recurrent_kernel.contiguous()
    c0, mask = _contiguous(c0), _contiguous(mask)
    B, T, U = outputs.shape
    args = _args(cell, outputs.dtype, B, T, xh.shape[2] - U, U, zero_output)
    args.kernel, args.recurrent_kernel = kernel.data_ptr(), recurrent_kernel.data_ptr()
    args.c0, args.mask, args.outputs = _ptr(c0), _ptr(mask), outputs.data_ptr()
    for name, buffer in (("xh", xh), ("cells", cells), ("gates", gates), ("extra", extra)):
        setattr(args, name, _address(buffer))
    if d_outputs is not None:
        if d_outputs.stride(2) != 1:
            d_outputs = d_outputs.contiguous()
        args.d_outputs = d_outputs.data_ptr()
        args.d_out_batch_stride, args.d_out_time_stride = d_outputs.stride(0), d_outputs.stride(1)
    d_hT = None if d_hT is None else d_hT.contiguous()  # kept alive until the call returns
    d_cT = None if d_cT is None else d_cT.contiguous()
    args.d_hT, args.d_cT = _ptr(d_hT), _ptr(d_cT)
    args.d_gates, args.d_gates_rec = d_gates.data_ptr(), _address(d_gates_rec)
    if needs_inputs:
        args.d_inputs, args.x_batch_stride, args.x_time_stride = _time_pointer(d_inputs, go_backwards)
    args.d_h0, args.d_c0 = d_h0.data_ptr(), _address(d_c0)
    _check(_library().backward(args), "backward")
    return d_gates, d_gates_rec, d_inputs, d_h0, d_c0


def _gradient_buffers(
    outputs: torch.Tensor,
    xh: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    lstm: bool,
    cell: int,
    needs_inputs: bool,
    recycle: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    B, T, U = outputs.shape
    GU = recurrent_kernel.shape[1]
    new = outputs.new_empty
    big = (lambda *shape: recycled.empty(shape, outputs.dtype)) if recycle else new
    return (
        big(T * B, GU),
        big(T * B, GU) if cell == NativeCell.GRU else new(0),
        big(B, T, xh.shape[2] - U) if needs_inputs else new(0),
        new(B, U),
        new(B, U) if lstm else new(0),
    )


native_sequence_backward = torch.library.custom_op(
    "rnnlab::native_sequence_backward", _sequence_backward, mutates_args=()
)


@native_sequence_backward.register_fake
def _backward_shapes(
    d_outputs: Tensor | None,
    d_hT: Tensor | None,
    d_cT: Tensor | None,
    kernel: Tensor,
    recurrent_kernel: Tensor,
    mask: Tensor | None,
    c0: Tensor | None,
    outputs: Tensor,
    xh: Tensor,
    *saved_and_flags: Any,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    *_, cell, _, _, needs_inputs = saved_and_flags
    return _gradient_buffers(outputs, xh, recurrent_kernel, c0 is not None, cell, needs_inputs)


# -- autograd: the backward op, then the weight gradients as one multiply over all steps ----------
def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensors) -> None:
    x, kernel, recurrent_kernel, _, _, mask, _, c0, cell, go_backwards, zero_output, save = inputs
    outputs, _, _, *saved = output
    ctx.cell, ctx.go_backwards, ctx.zero_output, ctx.saved_steps = cell, go_backwards, zero_output, save
    ctx.save_for_backward(kernel, recurrent_kernel, mask, c0, outputs, *saved)
    ctx.mark_non_differentiable(*saved)
    ctx.set_materialize_grads(False)


def _gradients(
    ctx: Any,
    d_outputs: torch.Tensor | None,
    d_hT: torch.Tensor | None,
    d_cT: torch.Tensor | None,
    backward: Callable[..., tuple[torch.Tensor, ...]],
    recycle: bool = False,
) -> tuple[torch.Tensor | None, ...]:
    """The inputs' gradients: ``backward`` (the op, or its body in eager mode) runs the steps in
    reverse; the weight gradients are then one multiply over all steps (``recycle``: eager mode,
    into buffers from ``recycled``)."""
    if not ctx.saved_steps:  # a program exported or compiled under torch.no_grad()
        raise RuntimeError(
            "rnnlab::native_sequence ran with save=False, keeping nothing for backward: "
            "trace the program with gradients enabled to differentiate it."
        )
    kernel, recurrent_kernel, mask, c0, outputs, xh, cells, gates, extra = ctx.saved_tensors
    needs = ctx.needs_input_grad  # x, kernel, recurrent_kernel, input_bias, recurrent_bias, mask, h0, c0, ...
    d_gates, d_gates_rec, d_inputs, d_h0, d_c0 = backward(
        d_outputs, d_hT, d_cT, kernel, recurrent_kernel, mask, c0, outputs, xh, cells, gates, extra,
        ctx.cell, ctx.go_backwards, ctx.zero_output, needs[0],
    )  # fmt: skip
    d_kernel, d_recurrent = _weight_gradients(ctx.cell, outputs.shape[2], xh, extra, d_gates, d_gates_rec, recycle)
    return in_argument_order(
        needs, d_inputs, d_kernel, d_recurrent, d_gates.sum(0) if needs[3] else None,
        d_gates_rec.sum(0) if needs[4] else None, None, d_h0, d_c0,
    )  # fmt: skip


def in_argument_order(needs: tuple[bool, ...], *gradients: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """An autograd Function's backward result: the leading arguments' gradients where
    ``ctx.needs_input_grad`` asks for them, None elsewhere and for the arguments after them."""
    return tuple(g if need else None for g, need in zip(gradients, needs, strict=False)) + (None,) * (
        len(needs) - len(gradients)
    )


def _weight_gradients(
    cell: int,
    U: int,
    xh: torch.Tensor,
    extra: torch.Tensor,
    d_gates: torch.Tensor,
    d_gates_rec: torch.Tensor,
    recycle: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """d_kernel (F, G*U) and d_recurrent_kernel (U, G*U): [x | h_prev]^T @ dg over all steps;
    ``recycle``: into buffers from ``recycled`` (eager mode), which the weights' ``grad`` holds
    until ``zero_grad`` lets it go."""
    T, B, FU = xh.shape
    F = FU - U
    xh = xh.view(T * B, FU)
    mm = recycled.mm if recycle else torch.mm
    if cell not in (NativeCell.GRU, NativeCell.GRU_RESET_BEFORE):  # x and h_prev share each gate's dg
        both = mm(xh.t(), d_gates)  # (F+U, G*U)
        return both[:F], both[F:]
    d_kernel = mm(xh[:, :F].t(), d_gates)
    if cell == NativeCell.GRU:  # reset after: the recurrent side has its own gradients
        return d_kernel, mm(xh[:, F:].t(), d_gates_rec)
    # reset before: the candidate's recurrent weights multiply r * h_prev
    h_side = torch.mm(xh[:, F:].t(), d_gates[:, : 2 * U])
    return d_kernel, torch.cat([h_side, torch.mm(extra.view(T * B, U).t(), d_gates[:, 2 * U :])], dim=1)


def _op_gradients(ctx: Any, d_outputs: Tensor | None, d_hT: Tensor | None, d_cT: Tensor | None, *_: Any) -> Any:
    return _gradients(ctx, d_outputs, d_hT, d_cT, native_sequence_backward)


native_sequence.register_autograd(_op_gradients, setup_context=_setup_context)


class _EagerSequence(torch.autograd.Function):
    """The same node without the dispatcher, whose Python round trip costs more than a short
    sequence's loop: what eager mode runs."""

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> Tensors:
        output = _sequence(*inputs)
        _setup_context(ctx, inputs, output)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_outputs: Tensor | None, d_hT: Tensor | None, d_cT: Tensor | None, *_: Any) -> Any:
        return _gradients(ctx, d_outputs, d_hT, d_cT, _sequence_backward, recycle=True)


def _biases(cell: RecurrentCell) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The input side's bias row and the recurrent side's (GRU with reset_after), or None."""
    if cell.bias is None:
        return None, None
    if cell.fused_form.bias_rows == 2:
        return cell.bias[0], cell.bias[1]  # (2, G*U): input row, recurrent row
    return cell.bias, None


# the op's x, kernel, recurrent_kernel, input_bias, recurrent_bias, mask, h0, c0; and its flags
Call = tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None, Tensor, Tensor | None]
Flags = tuple[int, bool, bool, bool]  # cell, go_backwards, zero_output, save


def prepare(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> tuple[Call, Flags]:
    """The op's arguments for this call: (x, kernel, recurrent_kernel, input_bias, recurrent_bias,
    mask bytes (read backwards with ``go_backwards``), h0, c0), and (cell, go_backwards,
    zero_output, save): save when a gradient is wanted."""
    if inputs.stride(2) != 1:
        inputs = inputs.contiguous()
    if options.go_backwards and mask is not None:  # the loop reads x backwards through its strides
        mask = mask.flip(1)
    form = cell.fused_form
    input_bias, recurrent_bias = _biases(cell)
    kernel, recurrent_kernel = cell.kernel.contiguous(), cell.recurrent_kernel.contiguous()
    mask_bytes = None if mask is None else mask.to(torch.uint8).contiguous()
    h0 = states[0].contiguous()
    c0 = states[1].contiguous() if len(form.state_names) == 2 else None  # LSTM: [h, c]
    call = (inputs, kernel, recurrent_kernel, input_bias, recurrent_bias, mask_bytes, h0, c0)
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in call)
    return call, (int(_native(form)), options.go_backwards, options.zero_output_for_mask, save)


def traced() -> bool:
    """Whether torch.compile, torch.export or torch.jit.trace is recording: then the graph records the op."""
    return bool(torch.compiler.is_compiling() or torch.jit.is_tracing())  # type: ignore[attr-defined,no-untyped-call]


def run(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> SequenceResult:
    return run_prepared(*prepare(cell, inputs, states, mask, options), options)


def run_prepared(call: Call, flags: Flags, options: SequenceOptions) -> SequenceResult:
    """The op on ``prepare``'s arguments: recorded when traced, else run eagerly, as an autograd node
    when a gradient is wanted."""
    save = flags[3]
    if traced():
        outputs, hT, cT, *_ = native_sequence(*call, *flags)
    elif save:
        outputs, hT, cT, *_ = _EagerSequence.apply(*call, *flags)  # type: ignore[no-untyped-call]
    else:
        absent = call[0].new_empty(0)
        outputs, hT, cT, *_ = _sequence(*call, *flags, placeholder=lambda: absent, last_only=options.last_output_only)
    return SequenceResult(outputs, [hT] if call[-1] is None else [hT, cT])
