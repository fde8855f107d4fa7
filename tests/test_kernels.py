"""Every kernel of the registry against the reference kernel: outputs, final states and gradients.

The tests are parametrised over ``KERNELS``: a new kernel is tested by registering it. A
kernel may decline a configuration (``why_not``); the test then checks that it says why and
that ``auto`` moves on, and ``test_fast_kernels_accept_the_fused_cells`` makes sure no kernel
declines everything.
"""

from __future__ import annotations

import itertools
import logging
import re

import numpy as np
import pytest
import torch

from helpers import ragged_mask, randomize
from rnnlab import Sequential
from rnnlab.cells import NativeCell
from rnnlab.kernels import AUTO_ORDER, KERNELS, SequenceOptions, build, select
from rnnlab.kernels.layouts import keras_to_torch, torch_to_keras
from rnnlab.layers import GRU, LSTM, RNN, Bidirectional, Dense, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell

B, T, F, U = 4, 7, 3, 5
FAST = [name for name in KERNELS if name != "reference"]

CELLS = {
    "simple_rnn": lambda: SimpleRNNCell(U),
    "simple_rnn_relu": lambda: SimpleRNNCell(U, activation="relu"),
    "lstm": lambda: LSTMCell(U),
    "lstm_no_bias": lambda: LSTMCell(U, use_bias=False),
    "gru": lambda: GRUCell(U),
    "gru_no_bias": lambda: GRUCell(U, use_bias=False),
    "gru_reset_before": lambda: GRUCell(U, reset_after=False),
}
MASKS = {
    "none": None,
    "right_padded": ragged_mask([7, 5, 2, 1], T),
    "left_padded": ragged_mask([7, 4, 6, 3], T, left={1, 3}),
    "middle_block": np.array([[0, 1, 1, 1, 0, 0, 0]] * 2 + [[1] * 7] * 2, dtype=bool),
    "empty_row": ragged_mask([7, 0, 3, 6], T),
    "holes": np.array([[1, 0, 1, 1, 0, 1, 0], [0, 0, 1, 1, 0, 1, 1], [1] * 7, [0, 1, 0, 0, 0, 0, 1]], dtype=bool),
}
TOLERANCE = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10)}


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


def random_call(cell_name, mask_name, dtype, rng):
    cell = CELLS[cell_name]()
    cell.ensure_built((None, F))
    randomize(cell, rng)
    cell.to(dtype)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=dtype)
    states = [torch.as_tensor(rng.normal(size=(B, s)), dtype=dtype) for s in cell.state_size]
    mask = None if MASKS[mask_name] is None else torch.as_tensor(MASKS[mask_name])
    return cell, x, states, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    "cell_name,mask_name,go_backwards,zero_output",
    [
        (c, m, g, z)
        for c, m, g, z in itertools.product(CELLS, MASKS, [False, True], [False, True])
        if not (z and m == "none")
    ],
)
@pytest.mark.parametrize("kernel", FAST)
def test_kernel_matches_reference(kernel, cell_name, mask_name, go_backwards, zero_output, dtype, rng):
    cell, x, states, mask = random_call(cell_name, mask_name, dtype, rng)
    options = SequenceOptions(go_backwards=go_backwards, zero_output_for_mask=zero_output)
    reason = KERNELS[kernel].why_not(cell, x, mask, options)
    if reason is not None:
        assert isinstance(reason, str) and reason
        assert select("auto", cell, x, mask, options).kernel.name != kernel
        pytest.skip(f"{kernel} declines this configuration: {reason}")

    want = run_kernel("reference", cell, x, states, mask, options)
    got = run_kernel(kernel, cell, x, states, mask, options)
    rtol, atol = TOLERANCE[dtype]
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=atol)
    for g, w in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(g, w, rtol=rtol, atol=atol)
    for g, w in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(g, w, rtol=10 * rtol, atol=atol)


class KernelCall(torch.nn.Module):
    """One kernel call as a module, so that gradcheck can swap the cell's weights for its inputs."""

    def __init__(self, kernel, cell, mask, options):
        super().__init__()
        self.kernel, self.cell, self.mask, self.options = kernel, cell, mask, options

    def forward(self, x, *states):
        outputs, final = KERNELS[self.kernel].run(self.cell, x, list(states), self.mask, self.options)
        return (outputs, *final)


@pytest.mark.parametrize("cell_name", ["simple_rnn", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("kernel", FAST)
def test_gradcheck_float64(kernel, cell_name):
    rng = np.random.default_rng(3)
    cell = CELLS[cell_name]()
    cell.ensure_built((None, 2))
    randomize(cell, rng)
    cell.double()
    x = torch.as_tensor(rng.normal(size=(3, 4, 2)))
    states = [torch.as_tensor(rng.normal(size=(3, s))) for s in cell.state_size]
    mask = torch.as_tensor([[1, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.bool)
    for options, m in [(SequenceOptions(), None), (SequenceOptions(go_backwards=True), mask)]:
        if KERNELS[kernel].why_not(cell, x, m, options) is not None:
            continue
        module = KernelCall(kernel, cell, m, options)
        names = [name for name, _ in module.named_parameters()]
        weights = [p.detach().clone().requires_grad_(True) for p in module.parameters()]

        def call(x, *rest, module=module, names=names):
            params = dict(zip(names, rest[: len(names)], strict=True))
            return torch.func.functional_call(module, params, (x, *rest[len(names) :]))

        inputs = (x.requires_grad_(True), *weights, *(s.requires_grad_(True) for s in states))
        assert torch.autograd.gradcheck(call, inputs)


@pytest.mark.parametrize("kernel", FAST)
def test_fast_kernels_accept_the_fused_cells(kernel):
    """Each fast kernel runs the common configurations on CPU float32: it cannot pass by declining all."""
    x = torch.zeros(B, T, F)
    for name in ("simple_rnn", "lstm", "gru"):
        cell = CELLS[name]()
        cell.ensure_built((None, F))
        assert KERNELS[kernel].why_not(cell, x, None, SequenceOptions(training=True)) is None


def test_auto_takes_native_and_says_why_it_passes_over_it():
    assert AUTO_ORDER == ("native", "native_projected", "torch_fused", "reference")
    x = torch.zeros(2, 7, U)
    options = SequenceOptions()
    for make in (lambda: SimpleRNNCell(U), lambda: LSTMCell(U), lambda: GRUCell(U)):
        assert select("auto", make(), x, None, options) == (KERNELS["native"], {})
    holes = torch.as_tensor([[1, 0, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert select("auto", LSTMCell(U), x[:1], holes, options).kernel.name == "native"  # any mask

    gru_before = GRUCell(U, reset_after=False)  # PyTorch's layout cannot, the native kernel can
    assert select("auto", gru_before, x, None, options).kernel.name == "native"
    with pytest.raises(
        ValueError, match=r"Kernel 'torch_fused' cannot run layer .*reset_after=False.*implementation='auto'"
    ):
        select("torch_fused", gru_before, x, None, options)

    hard = LSTMCell(U, recurrent_activation="hard_sigmoid")
    chosen = select("auto", hard, x, None, options)
    assert chosen.kernel.name == "reference"
    activations = "activation='tanh', recurrent_activation='hard_sigmoid' (fused: tanh and sigmoid)"
    assert chosen.skipped == {"native": activations, "native_projected": activations, "torch_fused": activations}
    dropping = LSTMCell(U, recurrent_dropout=0.2)
    assert select("auto", dropping, x, None, SequenceOptions(training=True)).skipped == dict.fromkeys(
        ("native", "native_projected", "torch_fused"), "recurrent dropout is applied inside the step"
    )
    assert select("auto", dropping, x, None, SequenceOptions(training=False)).kernel.name == "native"
    recording = select("auto", LSTMCell(U), x, None, SequenceOptions(record=True))
    assert recording.kernel.name == "reference"
    assert set(recording.skipped.values()) == {"recording gate values needs the step-by-step loop"}
    half = LSTMCell(U)
    assert select("auto", half, x.half(), None, options).skipped["native"] == (
        "float32 and float64 only; these inputs are torch.float16"
    )
    with pytest.raises(ValueError, match="Unknown kernel 'cudnn'"):
        LSTM(3, implementation="cudnn")


def test_without_a_compiler_auto_falls_back_with_one_notice(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(build, "_library", None)
    monkeypatch.setattr(build, "_unavailable", None)
    monkeypatch.setenv("RNNLAB_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "find_compiler", lambda: None)
    x = torch.zeros(2, 7, U)
    with caplog.at_level(logging.WARNING, logger="rnnlab.kernels.build"):
        first = select("auto", LSTMCell(U), x, None, SequenceOptions())
        second = select("auto", GRUCell(U), x, None, SequenceOptions())
    reason = "the native CPU kernel could not be built: no C++ compiler found (install g++ or set CXX)"
    assert first == (KERNELS["torch_fused"], {"native": reason, "native_projected": reason})
    assert second.kernel.name == "torch_fused"
    assert [r.getMessage() for r in caplog.records] == [
        f"rnnlab: {reason}; recurrent layers run on the other kernels (torch_fused or reference), "
        "Adam on PyTorch's operations."
    ]
    assert list(tmp_path.iterdir()) == []


def test_the_library_is_built_once_per_source_and_flags(monkeypatch, tmp_path):
    library = build.library()
    assert library is not None and library.path.parent == build.cache_dir()
    compiler = build.find_compiler()
    key = build._key(compiler, build.FLAGS)
    assert library.path.name == f"native_cpu-{key}.so"
    assert build._key(compiler, build.FALLBACK_FLAGS) != key
    sources = build.SOURCES
    for i, source in enumerate(sources):  # each source is part of the key
        changed = tmp_path / source.name
        changed.write_text(source.read_text() + "// changed\n")
        monkeypatch.setattr(build, "SOURCES", (*sources[:i], changed, *sources[i + 1 :]))
        assert build._key(compiler, build.FLAGS) != key


def test_layer_shows_the_kernel_and_why_auto_passed_over_others():
    layer = LSTM(3, recurrent_activation="hard_sigmoid")
    layer(torch.zeros(2, 5, 4))
    assert layer.last_kernel == "reference"
    assert set(layer.last_kernel_skipped) == {"native", "native_projected", "torch_fused"}
    assert "hard_sigmoid" in layer.last_kernel_skipped["native"]


def twin(make, rng, x, kernel):
    """The same model twice, one on ``kernel``, one on the reference kernel, with equal weights."""
    fast, slow = make(kernel), make("reference")
    fast(x), slow(x)
    randomize(fast, rng)
    slow.load_state_dict(fast.state_dict())
    return fast, slow


MODELS = {
    "stacked": lambda impl: Sequential(
        [
            LSTM(U, return_sequences=True, implementation=impl),
            GRU(4, return_sequences=True, implementation=impl),
            SimpleRNN(3, implementation=impl),
            Dense(1),
        ]
    ),
    "bidirectional": lambda impl: Sequential(
        [
            Bidirectional(GRU(U, return_sequences=True, implementation=impl)),
            Bidirectional(LSTM(4, implementation=impl), merge_mode="sum"),
            Dense(1),
        ]
    ),
    "input_dropout": lambda impl: Sequential(
        [LSTM(U, dropout=0.3, return_sequences=True, implementation=impl), GRU(3, dropout=0.5, implementation=impl)]
    ),
}


@pytest.mark.parametrize("kind", ["stacked", "bidirectional", "bidirectional_masked", "input_dropout"])
@pytest.mark.parametrize("kernel", FAST)
def test_models_agree_across_kernels(kernel, kind, rng):
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32)
    mask = torch.as_tensor(ragged_mask([7, 5, 2, 3], T)) if kind.endswith("masked") else None
    fast, slow = twin(MODELS[kind.removesuffix("_masked")], rng, x, kernel)
    results = []
    for model in (fast, slow):
        torch.manual_seed(5)  # the same dropout masks in both models
        xi = x.clone().requires_grad_(True)
        y = model(xi, mask=mask, training=True)
        y.pow(2).sum().backward()
        results.append((y.detach(), xi.grad, [p.grad for p in model.parameters()]))
    assert fast.layers[0].kernel_label() == kernel
    assert slow.layers[0].kernel_label() == "reference"
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    for g, w in zip(results[0][2], results[1][2], strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel", FAST)
def test_stateful_and_initial_state_agree_across_kernels(kernel, rng):
    x1, x2 = (torch.as_tensor(rng.normal(size=(B, T, F)), dtype=torch.float32) for _ in range(2))
    h0 = [torch.as_tensor(rng.normal(size=(B, U)), dtype=torch.float32) for _ in range(2)]
    results = []
    for impl in (kernel, "reference"):
        layer = LSTM(U, stateful=True, return_sequences=True, return_state=True, implementation=impl)
        layer(x1)
        randomize(layer, np.random.default_rng(11))
        layer.reset_states()
        first = layer(x1, initial_state=h0)
        second = layer(x2)  # carries the states of the first call
        assert layer.last_kernel == impl
        results.append([t.detach() for t in (*first, *second)])
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_python_cell_codes_are_the_compiled_kernels():
    library = build.library()
    assert library is not None
    assert library.cell_codes() == {cell.name: cell.value for cell in NativeCell}
    assert list(NativeCell) == [NativeCell(code) for code in range(len(NativeCell))]  # dense, as the C switch


ACTIVATIONS = "activation='tanh', recurrent_activation='hard_sigmoid' (fused: tanh and sigmoid)"
RESET_BEFORE = "GRU(reset_after=False) applies the reset gate before the matmul; PyTorch's GRU after it"
FORMS = {  # cell -> native cell, PyTorch op, why neither fused kernel computes it, why PyTorch's cannot
    "simple_rnn": (lambda: SimpleRNNCell(U), NativeCell.SIMPLE_TANH, "rnn_tanh", None, None),
    "simple_rnn_relu": (lambda: SimpleRNNCell(U, activation="relu"), NativeCell.SIMPLE_RELU, "rnn_relu", None, None),
    "simple_rnn_sigmoid": (
        lambda: SimpleRNNCell(U, activation="sigmoid"),
        None,
        None,
        "SimpleRNN activation 'sigmoid' (fused: tanh or relu)",
        None,
    ),
    "lstm": (lambda: LSTMCell(U), NativeCell.LSTM, "lstm", None, None),
    "lstm_hard_sigmoid": (lambda: LSTMCell(U, recurrent_activation="hard_sigmoid"), None, None, ACTIVATIONS, None),
    "gru": (lambda: GRUCell(U), NativeCell.GRU, "gru", None, None),
    "gru_reset_before": (lambda: GRUCell(U, reset_after=False), NativeCell.GRU_RESET_BEFORE, None, None, RESET_BEFORE),
    "gru_reset_before_hard_sigmoid": (
        lambda: GRUCell(U, reset_after=False, recurrent_activation="hard_sigmoid"),
        None,
        None,
        ACTIVATIONS,
        RESET_BEFORE,
    ),
}


@pytest.mark.parametrize("name", FORMS)
def test_each_cell_declares_its_fused_form_and_the_kernels_read_it(name):
    make, native, torch_op, unfused, no_torch_op = FORMS[name]
    cell = make()
    cell.ensure_built((None, F))
    form = cell.fused_form
    assert (form.native, form.torch_op, form.unfused, form.no_torch_op) == (native, torch_op, unfused, no_torch_op)
    assert len(form.gates) == cell.gates and form.state_names == cell.state_names
    assert form.bias_rows == len(cell.bias_shape())  # (G*U,) or (2, G*U)
    x = torch.zeros(B, T, F)
    options = SequenceOptions(training=True)
    assert KERNELS["native"].why_not(cell, x, None, options) == unfused
    assert KERNELS["torch_fused"].why_not(cell, x, None, options) == (unfused or no_torch_op)


def test_stacked_cells_have_no_fused_form_and_run_on_the_reference_kernel():
    layer = RNN([LSTMCell(U), GRUCell(4)], return_state=True)
    output, lstm_states, gru_states = layer(torch.zeros(2, T, F))
    reason = "stacked cells run one after another within each step; stack layers to fuse them"
    assert layer.cell.fused_form.unfused == reason
    assert (layer.last_kernel, layer.last_kernel_skipped) == ("reference", dict.fromkeys(FAST, reason))
    assert [tuple(s.shape) for s in (output, *lstm_states, *gru_states)] == [(2, 4), (2, U), (2, U), (2, 4)]


@pytest.mark.parametrize("name", ["simple_rnn", "lstm", "lstm_hard_sigmoid", "gru", "gru_reset_before"])
def test_weight_layouts_follow_the_fused_form_both_ways(name, rng):
    cell = FORMS[name][0]()
    cell.ensure_built((None, F))
    randomize(cell, rng)
    weights = [cell.kernel, cell.recurrent_kernel, cell.bias]
    if cell.fused_form.torch_order is None:
        with pytest.raises(ValueError, match=rf"PyTorch has no layout for this cell: {re.escape(RESET_BEFORE)}\."):
            keras_to_torch(cell.fused_form, *weights)
        return
    torch_weights = keras_to_torch(cell.fused_form, *weights)
    first = 1 if name == "gru" else 0  # PyTorch's GRU starts with r, Keras's second block; the others keep the order
    torch.testing.assert_close(torch_weights.weight_ih[:U], cell.kernel[:, first * U : (first + 1) * U].t())
    for got, want in zip(torch_to_keras(cell.fused_form, torch_weights), weights, strict=True):
        torch.testing.assert_close(got, want.detach())


# The native kernel's two multiplies: MKL's packed one (float32, where PyTorch has MKL) and its
# own. Large enough for packed weights (more than a few rows) and two threads' blocks of rows.
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("cell_name", ["simple_rnn", "lstm", "gru", "gru_no_bias", "gru_reset_before"])
@pytest.mark.parametrize("multiply", ["mkl", "own"])
def test_native_multiplies_match_reference(multiply, cell_name, go_backwards, dtype, monkeypatch, rng):
    from rnnlab.kernels import native

    if multiply == "mkl" and (dtype != torch.float32 or native.blas() is None):
        pytest.skip("MKL's packed multiply serves float32 where PyTorch has MKL")
    if multiply == "own":
        monkeypatch.setattr(native, "blas", lambda: None)
    monkeypatch.setattr(native, "BLAS_MIN_VALUES", 0)  # MKL for every multiply, however small
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # two blocks of 16 rows
    batch, time, features, units = 32, 20, 16, 40
    cell = {"simple_rnn": lambda: SimpleRNNCell(units), "lstm": lambda: LSTMCell(units),
            "gru": lambda: GRUCell(units), "gru_no_bias": lambda: GRUCell(units, use_bias=False),
            "gru_reset_before": lambda: GRUCell(units, reset_after=False)}[cell_name]()  # fmt: skip
    cell.ensure_built((None, features))
    randomize(cell, rng)
    with torch.no_grad():  # weights of a trainable scale: a chaotic recurrence would amplify rounding
        for weights in cell.parameters():
            weights.mul_(2 / units**0.5)
    cell.to(dtype)
    x = torch.as_tensor(rng.normal(size=(batch, time, features)), dtype=dtype)
    states = [torch.as_tensor(rng.normal(size=(batch, s)), dtype=dtype) for s in cell.state_size]
    mask = torch.as_tensor(rng.random((batch, time)) < 0.8)
    options = SequenceOptions(go_backwards=go_backwards)
    want = run_kernel("reference", cell, x, states, mask, options)
    got = run_kernel("native", cell, x, states, mask, options)
    rtol, atol = TOLERANCE[dtype]
    for g, w in zip([got[0], *got[1], *got[2]], [want[0], *want[1], *want[2]], strict=True):
        torch.testing.assert_close(g, w, rtol=10 * rtol, atol=10 * atol)


# The threads' blocks of rows can straddle the few-rows size (unpacked weights, a block of at
# most four rows) and the packed one: 9 rows at two threads are blocks of 4 and 5. Every block
# must compute all of its rows, at every batch size.
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("cell_name", ["simple_rnn", "lstm", "gru"])
def test_native_blocks_of_every_size_match_reference(cell_name, threads, monkeypatch, rng):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    time, features, units = 60, 16, 100  # enough work for every thread (the kernel's threshold)
    for batch in range(1, 15):
        cell = {"simple_rnn": lambda: SimpleRNNCell(units), "lstm": lambda: LSTMCell(units),
                "gru": lambda: GRUCell(units)}[cell_name]()  # fmt: skip
        cell.ensure_built((None, features))
        randomize(cell, rng)
        with torch.no_grad():
            for weights in cell.parameters():
                weights.mul_(2 / units**0.5)
        x = torch.as_tensor(rng.normal(size=(batch, time, features)), dtype=torch.float32)
        states = [torch.as_tensor(rng.normal(size=(batch, s)), dtype=torch.float32) for s in cell.state_size]
        want = run_kernel("reference", cell, x, states, None, SequenceOptions())
        got = run_kernel("native", cell, x, states, None, SequenceOptions())
        for g, w in zip([got[0], *got[1], *got[2]], [want[0], *want[1], *want[2]], strict=True):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4, msg=lambda m, b=batch: f"batch {b}: {m}")
        with torch.no_grad():
            inferred, _ = KERNELS["native"].run(cell, x, states, None, SequenceOptions())
        torch.testing.assert_close(inferred, want[0], rtol=1e-5, atol=1e-5, msg=lambda m, b=batch: f"batch {b}: {m}")


# A layer without return_sequences reads the last output alone: the native kernel then writes
# no other step's output in inference, and its (B, 1, U) must hold what the reference's last
# step holds, masks, directions and zero_output_for_mask included.
@pytest.mark.parametrize(
    "cell_name,mask_name,go_backwards,zero_output",
    [
        (c, m, g, z)
        for c, m, g, z in itertools.product(CELLS, MASKS, [False, True], [False, True])
        if not (z and m == "none")
    ],
)
def test_native_inference_writes_the_last_output_alone(cell_name, mask_name, go_backwards, zero_output, rng):
    cell, x, states, mask = random_call(cell_name, mask_name, torch.float32, rng)
    options = SequenceOptions(go_backwards=go_backwards, zero_output_for_mask=zero_output, last_output_only=True)
    with torch.no_grad():
        want, want_states = KERNELS["reference"].run(cell, x, states, mask, options)
        got, got_states = KERNELS["native"].run(cell, x, states, mask, options)
    assert got.shape == (B, 1, U)
    torch.testing.assert_close(got[:, -1], want[:, -1], rtol=1e-5, atol=1e-5)
    for g, w in zip(got_states, want_states, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


# The native kernel's float activations (exp and tanh by range reduction and a polynomial)
# against float64 over the whole range: within a few units in the last place, exact limits,
# NaN kept. One unit reads one value per batch row: tanh(x) from a SimpleRNN, sigmoid(x) from
# an LSTM whose output gate sees x while its other gates are saturated (h = sigmoid(x) tanh(1);
# the other gates' zero weights would turn an infinite x into NaN there).
EXTREMES = np.concatenate(
    [
        np.linspace(-12, 12, 4801),
        np.geomspace(1e-30, 100, 400),
        -np.geomspace(1e-30, 100, 400),
        [0.0, 80.0, -80.0, 1e10, -1e10, np.nan],
    ]
).astype(np.float32)  # the values the kernel reads


def one_unit_outputs(cell, kernel, bias, x):
    cell.ensure_built((None, 1))
    with torch.no_grad():
        cell.kernel.copy_(torch.tensor([kernel]))
        cell.recurrent_kernel.zero_()
        cell.bias.copy_(torch.tensor(bias))
        inputs = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 1)
        states = [torch.zeros(len(x), 1) for _ in cell.state_size]
        outputs, _ = KERNELS["native"].run(cell, inputs, states, None, SequenceOptions())
    return outputs[:, 0, 0].double().numpy()


def test_native_float_activations_are_accurate_everywhere():
    x = np.append(EXTREMES, [np.inf, -np.inf]).astype(np.float64)
    tanh = one_unit_outputs(SimpleRNNCell(1), [1.0], [0.0], x)
    np.testing.assert_allclose(tanh, np.tanh(x), rtol=5e-7, atol=0)  # NaN where x is NaN
    assert list(tanh[-2:]) == [1.0, -1.0]

    x = EXTREMES.astype(np.float64)
    sigmoid = one_unit_outputs(LSTMCell(1), [0.0, 0.0, 0.0, 1.0], [30.0, 0.0, 30.0, 0.0], x) / np.tanh(1.0)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-x)), rtol=1e-6, atol=1e-37)


def test_native_projected_runs_inference_as_the_native_kernel(rng):
    """Named, it serves a whole model's life: training projects x, inference (predict) runs native's loop."""
    model = Sequential([LSTM(U, implementation="native_projected", input_shape=(T, F)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = rng.normal(size=(8, T, F)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.layers[0].last_kernel == "native_projected"
    predicted = model.predict(x, verbose=0)
    native = Sequential([LSTM(U, implementation="native", input_shape=(T, F)), Dense(1)])
    native.set_weights(model.get_weights())
    np.testing.assert_array_equal(predicted, native.predict(x, verbose=0))  # the same loop, bit for bit


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("units", [7, 8, 9, 15, 16, 17, 31, 33])
def test_native_lstm_rows_of_every_width(units, dtype, rng):
    """The LSTM's one-pass row: whole vectors, then the last units % width lanes, for widths around
    the vector's (16 floats and 8 doubles with AVX-512, 8 and 4 with AVX), training and inference."""
    cell = LSTMCell(units)
    cell.ensure_built((None, F))
    randomize(cell, rng)
    cell.to(dtype)
    x = torch.as_tensor(rng.normal(size=(B, T, F)), dtype=dtype)
    states = [torch.as_tensor(rng.normal(size=(B, units)), dtype=dtype) for _ in range(2)]
    mask = torch.as_tensor(MASKS["holes"])
    want = run_kernel("reference", cell, x, states, mask, SequenceOptions())
    got = run_kernel("native", cell, x, states, mask, SequenceOptions())
    rtol, atol = TOLERANCE[dtype]
    for g, w in zip([got[0], *got[1], *got[2]], [want[0], *want[1], *want[2]], strict=True):
        torch.testing.assert_close(g, w, rtol=10 * rtol, atol=atol)
    with torch.no_grad():
        outputs, final = KERNELS["native"].run(cell, x, states, mask, SequenceOptions(last_output_only=True))
    torch.testing.assert_close(outputs[:, -1], want[0][:, -1], rtol=rtol, atol=atol)
    for g, w in zip(final, want[1], strict=True):
        torch.testing.assert_close(g, w, rtol=rtol, atol=atol)


@pytest.mark.parametrize("kernel", ["native", "native_projected"])
def test_the_native_kernels_say_they_cannot_be_differentiated_twice(kernel):
    layer = LSTM(4, implementation=kernel, return_sequences=True)
    x = torch.randn(3, 5, 6, requires_grad=True)
    outputs = layer(x)
    upstream = torch.ones_like(outputs, requires_grad=True)  # a gradient that itself wants gradients
    (d_x,) = torch.autograd.grad(outputs, x, upstream, create_graph=True)
    assert layer.last_kernel == kernel
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with @once_differentiable"):
        d_x.sum().backward()
