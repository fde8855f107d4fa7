"""torch.compile and torch.export through the recurrent layers: the native kernel is one custom op
(``rnnlab::native_sequence``, its backward ``rnnlab::native_sequence_backward``), so neither breaks
the graph at a recurrent layer, and both give eager mode's outputs and gradients.

torch.compile runs on the ``aot_eager`` backend: it traces forward and backward through the ops'
fake implementations as inductor does, without compiling C++ (the slow test runs inductor).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import pytest
import torch

from rnnlab.cells import NativeCell
from rnnlab.kernels import build, native
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from rnnlab.models import Sequential

pytestmark = pytest.mark.skipif(build.library() is None, reason="the native kernel could not be built")

F, U = 3, 4  # input features != units
CASES: dict[str, Callable[[], Sequential]] = {
    "SimpleRNN": lambda: Sequential([SimpleRNN(U, return_sequences=True), SimpleRNN(U), Dense(2)]),
    "LSTM": lambda: Sequential([LSTM(U, return_sequences=True), LSTM(U, go_backwards=True), Dense(2)]),
    "GRU": lambda: Sequential([GRU(U, return_sequences=True), Dense(2)]),
    "GRU_reset_before": lambda: Sequential([GRU(U, reset_after=False), Dense(2)]),
    "Bidirectional": lambda: Sequential([Bidirectional(LSTM(U, return_sequences=True)), Dense(2)]),
}


def inputs(batch: int, time: int) -> torch.Tensor:
    return torch.randn(batch, time, F, generator=torch.Generator().manual_seed(batch * 100 + time))


@functools.cache
def built(case: str) -> Sequential:
    torch.manual_seed(0)
    model = CASES[case]()
    model(inputs(2, 5))
    return model


@functools.cache
def compiled(case: str) -> Callable[..., torch.Tensor]:
    return torch.compile(built(case), backend="aot_eager", dynamic=True)


def outputs_and_gradients(model: Callable[..., torch.Tensor], params: list[torch.nn.Parameter], x: torch.Tensor):  # type: ignore[no-untyped-def]
    x = x.clone().requires_grad_(x.is_floating_point())
    y = model(x)
    weights = torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape).sin()  # every output counts differently
    grads = torch.autograd.grad((y * weights).sum(), [*params, x] if x.requires_grad else params)
    return y.detach(), grads


def ran_native(model: Sequential) -> bool:
    kernels = {m.last_kernel for m in model.modules() if hasattr(m, "last_kernel")}
    return kernels == {"native"}


def graph_breaks(model: Callable[..., object], *args: object) -> int:
    torch._dynamo.reset()
    return int(torch._dynamo.explain(model)(*args).graph_break_count)


@pytest.mark.parametrize("case", CASES)
def test_compile_gives_eager_outputs_and_gradients(case: str) -> None:
    model = built(case)
    params = list(model.parameters())
    for batch, time in [(2, 5), (3, 7)]:  # the second shape runs the dynamic graph
        x = inputs(batch, time)
        expected, expected_grads = outputs_and_gradients(model, params, x)
        assert ran_native(model)
        got, got_grads = outputs_and_gradients(compiled(case), params, x)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        for g, e in zip(got_grads, expected_grads, strict=True):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def test_native_projected_compiles_to_the_native_op() -> None:
    """Traced, a layer named native_projected records the native kernel's op (its projection runs
    eagerly only): compiled, it gives eager mode's (projected) outputs and gradients, unbroken."""
    torch.manual_seed(0)
    model = Sequential([LSTM(U, implementation="native_projected", return_sequences=True), Dense(2)])
    params = list(model.parameters())
    x = inputs(3, 7)
    expected, expected_grads = outputs_and_gradients(model, params, x)
    assert model.layers[0].last_kernel == "native_projected"
    got, got_grads = outputs_and_gradients(torch.compile(model, backend="aot_eager", dynamic=True), params, x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
    assert graph_breaks(model, x) == 0


@pytest.mark.parametrize("case", CASES)
def test_no_graph_break(case: str) -> None:
    assert graph_breaks(built(case), inputs(2, 5)) == 0


@pytest.mark.parametrize("case", CASES)
def test_export_with_dynamic_batch_and_time(case: str) -> None:
    model = built(case)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    program = torch.export.export(model, (inputs(2, 5),), dynamic_shapes=({0: batch, 1: time},))
    ops = {str(node.target) for node in program.graph.nodes}
    assert "rnnlab.native_sequence.default" in ops
    for b, t in [(2, 5), (4, 9), (1, 2)]:
        x = inputs(b, t)
        torch.testing.assert_close(program.module()(x), model(x), rtol=0, atol=0)


def test_export_without_gradients_keeps_nothing_for_backward() -> None:
    model = built("LSTM")
    x = inputs(2, 5)
    with torch.no_grad():
        program = torch.export.export(model, (x,))
    saves = [node.args[-1] for node in program.graph.nodes if "native_sequence" in str(node.target)]
    assert saves == [False, False]
    y = program.module()(x)
    torch.testing.assert_close(y, model(x), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="ran with save=False, keeping nothing for backward"):
        y.sum().backward()


OP_CELLS = [NativeCell.SIMPLE_TANH, NativeCell.LSTM, NativeCell.GRU, NativeCell.GRU_RESET_BEFORE]


def op_arguments(cell: NativeCell) -> tuple[object, ...]:
    """The op's arguments for a small float64 layer: masked, read backwards, saving for backward."""
    g = torch.Generator().manual_seed(int(cell))
    G = {NativeCell.SIMPLE_TANH: 1, NativeCell.LSTM: 4}.get(cell, 3)
    B, T = 2, 5

    def weight(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()

    recurrent_bias = weight(G * U) if cell is NativeCell.GRU else None  # reset after: a row of its own
    mask = (torch.rand(B, T, generator=g) > 0.3).to(torch.uint8)
    c0 = weight(B, U) if cell is NativeCell.LSTM else None
    return (weight(B, T, F), weight(F, G * U), weight(U, G * U), weight(G * U), recurrent_bias, mask,
            weight(B, U), c0, int(cell), True, False, True)  # fmt: skip


@pytest.mark.parametrize("cell", OP_CELLS, ids=lambda cell: cell.name)
def test_op_registration_and_gradients(cell: NativeCell) -> None:
    """torch.library's own checks (schema, autograd registration, fake shapes), then the op's
    backward (the second op) against finite differences."""
    args = op_arguments(cell)
    checks = ("test_schema", "test_autograd_registration", "test_faketensor")
    assert set(torch.library.opcheck(native.native_sequence, args, test_utils=checks).values()) == {"SUCCESS"}
    tensors = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad]
    inputs = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]

    def layer(*values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        call = list(args)
        for i, value in zip(tensors, values, strict=True):
            call[i] = value
        outputs, hT, cT, *_ = native.native_sequence(*call)
        return (outputs, hT, cT) if cell is NativeCell.LSTM else (outputs, hT)

    assert torch.autograd.gradcheck(layer, inputs)


def masked_model() -> Sequential:
    torch.manual_seed(1)
    model = Sequential([Embedding(10, F, mask_zero=True), LSTM(U, return_sequences=True), GRU(U), Dense(2)])
    model(padded_tokens(2, 5))
    return model


def padded_tokens(batch: int, time: int) -> torch.Tensor:
    tokens = torch.randint(1, 10, (batch, time), generator=torch.Generator().manual_seed(batch + time))
    lengths = torch.arange(batch) % time + 1  # ragged right padding, a full row when batch > time
    tokens[torch.arange(time) >= lengths[:, None]] = 0
    return tokens


def test_masks_compile_and_export() -> None:
    model = masked_model()
    params = list(model.parameters())
    tokens = padded_tokens(3, 6)
    expected, expected_grads = outputs_and_gradients(model, params, tokens)
    assert ran_native(model)
    got, got_grads = outputs_and_gradients(torch.compile(model, backend="aot_eager"), params, tokens)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
    assert graph_breaks(model, tokens) == 0

    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    program = torch.export.export(model, (padded_tokens(3, 6),), dynamic_shapes=({0: batch, 1: time},))
    for b, t in [(3, 6), (5, 4)]:
        x = padded_tokens(b, t)
        # eager reads the token ids (native_tables), the program embeds them: sums in another order
        torch.testing.assert_close(program.module()(x), model(x), rtol=0, atol=1e-6)


def test_stateful_layers_carry_states_when_compiled() -> None:
    torch.manual_seed(2)
    eager = Sequential([LSTM(U, stateful=True, return_sequences=True), GRU(U, stateful=True), Dense(2)])
    x1, x2 = inputs(2, 5), inputs(2, 6)
    eager(x1)
    twin = Sequential.from_config(eager.get_config())
    twin(x1)
    twin.load_state_dict(eager.state_dict())
    eager.reset_states()
    twin.reset_states()
    fast = torch.compile(twin, backend="aot_eager")
    for x in (x1, x2):  # the second call starts from the first's final states
        torch.testing.assert_close(fast(x), eager(x), rtol=0, atol=1e-6)
    assert graph_breaks(twin, x1) == 0
    twin.reset_states()
    program = torch.export.export(twin, (x1,))  # from zero states, as after reset_states()
    eager.reset_states()
    torch.testing.assert_close(program.module()(x1), eager(x1), rtol=0, atol=0)


def test_sequential_called_with_every_default_by_position() -> None:
    """torch.onnx.export and torch.jit trace call ``model(x, None, None, False)``: ``forward``'s defaults."""
    model = built("LSTM")
    x = inputs(2, 5)
    torch.testing.assert_close(model(x, None, None, False), model(x), rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit, still what older tools call
        traced = torch.jit.trace(model, (x,), check_trace=False)  # type: ignore[no-untyped-call]
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@pytest.mark.slow
def test_inductor_gives_eager_outputs_and_gradients() -> None:
    """The default backend: inductor compiles the graph around the ops (C++ on CPU, slow to build)."""
    model = built("LSTM")
    params = list(model.parameters())
    x = inputs(3, 7)
    expected, expected_grads = outputs_and_gradients(model, params, x)
    got, got_grads = outputs_and_gradients(torch.compile(model), params, x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


# -- the benchmark workloads' models (benchmarks/workloads.py, tiny sizes) ----------------------
def workload_models() -> dict[str, tuple[Callable[..., object], torch.Tensor]]:
    tokens = torch.randint(0, 20, (2, 6))
    models: dict[str, tuple[Callable[..., object], torch.Tensor]] = {}
    for name, layer in {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}.items():
        w1 = Sequential([layer(U, return_sequences=True), layer(U), Dense(1)])
        models[f"W1-{name}"] = (w1, inputs(2, 5)[..., :2])
        w2 = Sequential([Embedding(20, F), layer(U, return_sequences=True), layer(U, return_sequences=True), Dense(20)])
        models[f"W2-{name}"] = (w2, tokens)
    models["W4"] = (Sequential([Embedding(20, F), LSTM(U), Dense(5, activation="softmax")]), tokens)
    embed, first, second, dense = (
        Embedding(20, F),
        *(LSTM(U, return_sequences=True, return_state=True) for _ in "12"),
        Dense(20),
    )

    def w3_step(token: torch.Tensor, h1: torch.Tensor, c1: torch.Tensor, h2: torch.Tensor, c2: torch.Tensor) -> object:
        h, *states1 = first(embed(token), initial_state=[h1, c1])
        h, *states2 = second(h, initial_state=[h2, c2])
        return torch.softmax(dense(h[:, -1]), dim=-1), states1, states2

    zeros = torch.zeros(1, U)
    w3_step(tokens[:1, :1], zeros, zeros, zeros, zeros)
    models["W3"] = (functools.partial(w3_step, h1=zeros, c1=zeros, h2=zeros, c2=zeros), tokens[:1, :1])
    return models


def test_workload_models_have_no_graph_break() -> None:
    breaks = {}
    for name, (model, x) in workload_models().items():
        model(x)
        breaks[name] = graph_breaks(model, x)
    assert breaks == dict.fromkeys(breaks, 0)
