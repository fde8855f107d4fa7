"""PyTorch's own fused recurrent ops (oneDNN/ATen on CPU, cuDNN on GPU), fed Keras weights.

The Keras weights are mapped on the fly by ``layouts.keras_to_torch``, so gradients flow
back to ``kernel`` / ``recurrent_kernel`` / ``bias``. A mask whose valid steps form one
contiguous block per row (right padding, left padding, or both) runs as a packed sequence;
the outputs are then put back where Keras has them: zeros before the block, the last
valid output repeated after it.
"""

from __future__ import annotations

import torch
from torch import _VF  # the fused entry points nn.RNN / nn.LSTM / nn.GRU call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import RecurrentCell
from ..layouts import keras_to_torch
from .contract import SequenceOptions, SequenceResult

_STANDARD = {"lstm": ("tanh", "sigmoid"), "gru": ("tanh", "sigmoid")}


def why_not(cell: RecurrentCell, mask: torch.Tensor | None, options: SequenceOptions) -> str | None:
    if cell.kind == "simple_rnn":
        if cell.activation not in ("tanh", "relu"):
            return f"SimpleRNN activation {cell.activation!r} (fused: tanh or relu)"
    elif cell.kind in _STANDARD:
        if (cell.activation, cell.recurrent_activation) != _STANDARD[cell.kind]:
            return (
                f"activation={cell.activation!r}, recurrent_activation={cell.recurrent_activation!r} "
                "(fused: tanh and sigmoid)"
            )
        if cell.kind == "gru" and not cell.reset_after:
            return "GRU(reset_after=False) has no PyTorch op"
    else:
        return f"cell kind {cell.kind!r} has no fused op"
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


def _fused_call(
    cell: RecurrentCell, x: torch.Tensor | PackedSequence, states: list[torch.Tensor], training: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One fused single-layer call; ``x`` is (B, T, F) batch-first or packed."""
    w = keras_to_torch(cell.kind, cell.kernel, cell.recurrent_kernel, cell.bias, getattr(cell, "reset_after", True))
    has_bias = w.bias_ih is not None
    params = [w.weight_ih, w.weight_hh] + ([w.bias_ih, w.bias_hh] if has_bias else [])
    hx = [s.unsqueeze(0) for s in states]  # (1, B, S): one layer, one direction
    packed = isinstance(x, PackedSequence)
    if packed:
        hx = [h.index_select(1, x.sorted_indices) for h in hx]
        head = (x.data, x.batch_sizes)
    else:
        head = (x,)
    tail = (has_bias, 1, 0.0, training, False) + (() if packed else (True,))  # ..., batch_first
    if cell.kind == "lstm":
        out, h, c = _VF.lstm(*head, tuple(hx), params, *tail)
        new_states = [h, c]
    else:
        op = _VF.gru if cell.kind == "gru" else (_VF.rnn_tanh if cell.activation == "tanh" else _VF.rnn_relu)
        out, h = op(*head, hx[0], params, *tail)
        new_states = [h]
    if packed:
        out = PackedSequence(out, x.batch_sizes, x.sorted_indices, x.unsorted_indices)
        new_states = [s.index_select(1, x.unsorted_indices) for s in new_states]
    return out, [s.squeeze(0) for s in new_states]


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
        outputs, new_states = _fused_call(cell, inputs, states, options.training)
        return SequenceResult(outputs, new_states)

    B, T, F = inputs.shape
    start, length = _blocks(mask)
    t = torch.arange(T, device=inputs.device)
    if bool((start > 0).any()):  # shift each row's block to the front
        src = (start[:, None] + t).clamp(max=T - 1)  # (B, T)
        inputs = inputs.gather(1, src[..., None].expand(B, T, F))
    packed = pack_padded_sequence(inputs, length.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    packed_out, new_states = _fused_call(cell, packed, states, options.training)
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
