"""Every kernel against the reference kernel: outputs, final states and gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from helpers import ragged_mask, randomize
from rnnlab import Sequential
from rnnlab.kernels import KERNELS, SequenceOptions, select
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell

B, T, F, U = 4, 7, 3, 5

CELLS = {
    "simple_rnn": lambda: SimpleRNNCell(U),
    "simple_rnn_relu": lambda: SimpleRNNCell(U, activation="relu"),
    "lstm": lambda: LSTMCell(U),
    "gru": lambda: GRUCell(U),
    "lstm_no_bias": lambda: LSTMCell(U, use_bias=False),
}
MASKS = {
    "none": None,
    "right_padded": ragged_mask([7, 5, 2, 1], T),
    "left_padded": ragged_mask([7, 4, 6, 3], T, left={1, 3}),
    "middle_block": np.array([[0, 1, 1, 1, 0, 0, 0]] * 2 + [[1] * 7] * 2, dtype=bool),
    "empty_row": ragged_mask([7, 0, 3, 6], T),
}


def run_kernel(name, cell, x, states, mask, options):
    x = x.clone().requires_grad_(True)
    states = [s.clone().requires_grad_(True) for s in states]
    outputs, final = KERNELS[name].run(cell, x, states, mask, options)
    rng = np.random.default_rng(7)  # the same projection for both kernels
    loss = (outputs * torch.as_tensor(rng.normal(size=outputs.shape), dtype=outputs.dtype)).sum()
    for s in final:
        loss = loss + (s * torch.as_tensor(rng.normal(size=s.shape), dtype=s.dtype)).sum()
    cell.zero_grad()
    loss.backward()
    grads = [x.grad] + [s.grad for s in states] + [p.grad.clone() for p in cell.parameters()]
    return outputs.detach(), [s.detach() for s in final], grads


@pytest.mark.parametrize(
    "cell_name,mask_name,go_backwards,zero_output",
    [
        (c, m, g, z)
        for c, m, g, z in itertools.product(CELLS, MASKS, [False, True], [False, True])
        if not (z and m == "none")
    ],
)
def test_torch_fused_matches_reference(cell_name, mask_name, go_backwards, zero_output, rng):
    cell = CELLS[cell_name]()
    cell.ensure_built((None, F))
    randomize(cell, rng)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    states = [torch.as_tensor(rng.normal(size=(B, s)), dtype=torch.float32) for s in cell.state_size]
    mask = None if MASKS[mask_name] is None else torch.as_tensor(MASKS[mask_name])
    options = SequenceOptions(go_backwards=go_backwards, zero_output_for_mask=zero_output)
    assert select("auto", cell, x, mask, options).kernel.name == "torch_fused"

    want = run_kernel("reference", cell, x, states, mask, options)
    got = run_kernel("torch_fused", cell, x, states, mask, options)
    torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
    for g, w in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    for g, w in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_selection_falls_back_and_says_why():
    options = SequenceOptions()
    x = torch.zeros(2, 7, U)
    gru_before = GRUCell(U, reset_after=False)
    chosen = select("auto", gru_before, x, None, options)
    assert chosen.kernel.name == "reference"
    assert chosen.skipped == {
        "torch_fused": "GRU(reset_after=False) applies the reset gate before the matmul; PyTorch's GRU after it"
    }
    with pytest.raises(
        ValueError,
        match=r"Kernel 'torch_fused' cannot run layer .*reset_after=False.*"
        r"Use implementation='auto'",
    ):
        select("torch_fused", gru_before, x, None, options)
    hard = LSTMCell(U, recurrent_activation="hard_sigmoid")
    assert select("auto", hard, x, None, options).kernel.name == "reference"
    holes = torch.as_tensor([[1, 0, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert select("auto", LSTMCell(U), x[:1], holes, options).skipped == {
        "torch_fused": "the mask has gaps inside a sequence (valid steps must be one contiguous block)"
    }
    dropping = LSTMCell(U, recurrent_dropout=0.2)
    assert select("auto", dropping, x, None, SequenceOptions(training=True)).kernel.name == "reference"
    assert select("auto", dropping, x, None, SequenceOptions(training=False)).kernel.name == "torch_fused"
    recording = select("auto", LSTMCell(U), x, None, SequenceOptions(record=True))
    assert recording.skipped == {"torch_fused": "recording gate values needs the step-by-step loop"}
    with pytest.raises(ValueError, match="Unknown kernel 'cudnn'"):
        LSTM(3, implementation="cudnn")


def test_layer_shows_the_kernel_and_why_auto_passed_over_others():
    layer = LSTM(3, recurrent_activation="hard_sigmoid")
    layer(torch.zeros(2, 5, 4))
    assert layer.last_kernel == "reference"
    assert set(layer.last_kernel_skipped) == {"torch_fused"}
    assert "hard_sigmoid" in layer.last_kernel_skipped["torch_fused"]


def twin(make, rng, x):
    """The same model twice, one forced to the reference kernel, with equal weights."""
    fast, slow = make("auto"), make("reference")
    fast(x), slow(x)
    randomize(fast, rng)
    slow.load_state_dict(fast.state_dict())
    return fast, slow


@pytest.mark.parametrize("kind", ["stacked", "bidirectional", "bidirectional_masked"])
def test_models_agree_across_kernels(kind, rng):
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    mask = torch.as_tensor(ragged_mask([7, 5, 2, 3], T)) if kind.endswith("masked") else None
    if kind == "stacked":

        def make(impl):
            return Sequential(
                [
                    LSTM(U, return_sequences=True, implementation=impl),
                    GRU(4, return_sequences=True, implementation=impl),
                    SimpleRNN(3, implementation=impl),
                    Dense(1),
                ]
            )
    else:

        def make(impl):
            return Sequential(
                [
                    Bidirectional(GRU(U, return_sequences=True, implementation=impl)),
                    Bidirectional(LSTM(4, implementation=impl), merge_mode="sum"),
                    Dense(1),
                ]
            )

    fast, slow = twin(make, rng, x)
    results = []
    for model in (fast, slow):
        xi = x.clone().requires_grad_(True)
        y = model(xi, mask=mask)
        y.pow(2).sum().backward()
        results.append((y.detach(), xi.grad, [p.grad for p in model.parameters()]))
    assert fast.layers[0].kernel_label().endswith("torch_fused")
    assert slow.layers[0].kernel_label() == "reference"
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    for g, w in zip(results[0][2], results[1][2], strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
