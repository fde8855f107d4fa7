"""PyTorch's own fused recurrent ops (oneDNN/ATen on CPU, cuDNN on GPU), fed Keras weights.

The cell's ``fused_form`` names the op; the Keras weights are mapped on the fly by
``layouts.keras_to_torch``, so gradients flow back to ``kernel`` / ``recurrent_kernel`` /
``bias``. A mask whose valid steps form one
contiguous block per row (right padding, left padding, or both) runs as a packed sequence;
the outputs are then put back where Keras has them: zeros before the block, the last
valid output repeated after it.
"""

from __future__ import annotations

import torch
from torch import _VF  # the fused entry points nn.RNN / nn.LSTM / nn.GRU call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import RecurrentCell
from .contract import SequenceOptions, SequenceResult
from .layouts import keras_to_torch


def why_not(
    cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> str | None:
    reason = cell.fused_form.why_not_torch
    if reason is not None:
        return reason
    if options.record:
        return "recording gate values needs the step-by-step loop"
    if options.training and cell.recurrent_dropout > 0:
        return "recurrent dropout is applied inside the step"
    if mask is not None and _blocks(mask) is None:
        return "the mask has gaps inside a sequence (valid steps must be one contiguous block)"
    return None


def _blocks(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(start, length) of each row's single block of valid steps, or None if a row has gaps."""
    T = mask.shape[1]
    length = mask.sum(dim=1)  # (B,)
    start = torch.where(length > 0, mask.int().argmax(dim=1), 0)  # first valid step
    t = torch.arange(T, device=mask.device)
    block = (t >= start[:, None]) & (t < (start + length)[:, None])  # (B, T)
    return (start, length) if bool((block == mask).all()) else None


def _fused_params(cell: RecurrentCell) -> list[torch.Tensor]:
    """PyTorch's flat weight list for one layer: w_ih, w_hh (+ b_ih, b_hh), views of the Keras weights."""
    w = keras_to_torch(cell.fused_form, cell.kernel, cell.recurrent_kernel, cell.bias)
    if w.bias_ih is None or w.bias_hh is None:
        return [w.weight_ih, w.weight_hh]
    return [w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh]


def _fused_call(
    cell: RecurrentCell,
    data: torch.Tensor,
    batch_sizes: torch.Tensor | None,
    states: list[torch.Tensor],
    training: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One fused single-layer call on (B, T, F) batch-first ``data``, or on packed ``data`` with
    its ``batch_sizes``; states are (1, B, S): one layer, one direction."""
    params = _fused_params(cell)
    has_bias = len(params) == 4
    op_name = cell.fused_form.torch_op  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    assert op_name is not None, "why_not() admits cells with a PyTorch op only"
    op = getattr(_VF, op_name)
    if len(states) == 2:  # LSTM: the op takes and returns (h, c)
        if batch_sizes is None:
            out, h, c = op(data, tuple(states), params, has_bias, 1, 0.0, training, False, True)
        else:
            out, h, c = op(data, batch_sizes, tuple(states), params, has_bias, 1, 0.0, training, False)
        return out, [h, c]
    if batch_sizes is None:
        out, h = op(data, states[0], params, has_bias, 1, 0.0, training, False, True)
    else:
        out, h = op(data, batch_sizes, states[0], params, has_bias, 1, 0.0, training, False)
    return out, [h]


def _run_packed(
    cell: RecurrentCell, packed: PackedSequence, states: list[torch.Tensor], training: bool
) -> tuple[PackedSequence, list[torch.Tensor]]:
    hx = [s.unsqueeze(0).index_select(1, packed.sorted_indices) for s in states]  # type: ignore[arg-type]
    out, new_states = _fused_call(cell, packed.data, packed.batch_sizes, hx, training)
    out_packed = PackedSequence(out, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    return out_packed, [s.index_select(1, packed.unsorted_indices).squeeze(0) for s in new_states]  # type: ignore[arg-type]


def run(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
    options: SequenceOptions,
) -> SequenceResult:
    if options.go_backwards:
        inputs = inputs.flip(1)
        mask = None if mask is None else mask.flip(1)
    if mask is None:
        outputs, new_states = _fused_call(cell, inputs, None, [s.unsqueeze(0) for s in states], options.training)
        return SequenceResult(outputs, [s.squeeze(0) for s in new_states])

    B, T, F = inputs.shape
    blocks = _blocks(mask)
    assert blocks is not None, "why_not() admits contiguous masks only"
    start, length = blocks
    t = torch.arange(T, device=inputs.device)
    if bool((start > 0).any()):  # shift each row's block to the front
        src = (start[:, None] + t).clamp(max=T - 1)  # (B, T)
        inputs = inputs.gather(1, src[..., None].expand(B, T, F))
    packed = pack_padded_sequence(inputs, length.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    packed_out, new_states = _run_packed(cell, packed, states, options.training)
    block_out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=T)  # (B, T, U)

    # Back to Keras's positions: step t shows block output t - start, held at the last one.
    k = (t - start[:, None]).clamp(min=0).minimum((length - 1).clamp(min=0)[:, None])  # (B, T)
    outputs = block_out.gather(1, k[..., None].expand(-1, -1, block_out.shape[-1]))
    after = t >= (start + length)[:, None]
    hide = (t < start[:, None]) | (length == 0)[:, None]
    if options.zero_output_for_mask:
        hide = hide | after
    outputs = outputs.masked_fill(hide[..., None], 0.0)
    empty = (length == 0)[:, None]  # rows with no valid step keep their initial state
    new_states = [torch.where(empty, old, new) for new, old in zip(new_states, states, strict=True)]
    return SequenceResult(outputs, new_states)
