"""The kernel choice by measurement: "auto" times the fast kernels once per configuration.

A kernel made slow on purpose (its run sleeps first) must be passed over, with its time in
``last_kernel_skipped``; the answer is measured once per configuration and process, read back
by a second process from the file beside the library, keyed by what changes it, and never
measured while tracing. The rest of the suite runs with ``RNNLAB_KERNEL_CHOICE=order``
(conftest.py); these tests turn measuring back on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import pytest
import torch

from rnnlab import Sequential
from rnnlab.kernels import KERNELS, Kernel, SequenceOptions, build, choice, select
from rnnlab.layers import LSTM, Dense, GRUCell, LSTMCell, SimpleRNN

B, T, F, U = 4, 7, 3, 5
SLOWER = r"slower here: ([\d.e+-]+) ms against (\w+)'s ([\d.e+-]+) ms for this configuration \(measured once, (.*)\)"


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """Measuring on, with an empty cache folder holding this process's library and no answers yet."""
    library = build.library()
    if library is None:
        pytest.skip(f"no native kernel: {build.unavailable_reason()}")
    folder = tmp_path / "kernels"
    folder.mkdir(mode=0o700)
    for name in (library.path.name, library.path.name + build.RECORD_SUFFIX):  # a second process loads it
        shutil.copy2(library.path.parent / name, folder / name)
    monkeypatch.setenv("RNNLAB_KERNEL_CACHE", str(folder))
    monkeypatch.setenv("RNNLAB_KERNEL_CHOICE", "measure")
    monkeypatch.setattr(choice, "_answers", {})
    monkeypatch.setattr(choice, "_warned", set())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # PyTorch's threads wait for each other for long on a busy machine
    yield folder
    torch.set_num_threads(threads)


@pytest.fixture
def measurements(monkeypatch):
    """The configurations measured, one entry per measurement."""
    seen: list[str] = []
    real = choice._measure

    def counted(cell, inputs, mask, options, contenders):
        seen.append(choice.configuration(cell, inputs, mask, options))
        return real(cell, inputs, mask, options, contenders)

    monkeypatch.setattr(choice, "_measure", counted)
    return seen


def slow_down(monkeypatch, name: str, seconds: float = 0.25) -> list[bool]:
    """Make kernel ``name`` sleep before each run; returns whether each run built a graph."""
    real = KERNELS[name]
    graphs: list[bool] = []

    def run(cell, inputs, states, mask, options):
        graphs.append(torch.is_grad_enabled())
        time.sleep(seconds)
        return real.run(cell, inputs, states, mask, options)

    monkeypatch.setitem(KERNELS, name, Kernel(name, real.why_not, run))
    return graphs


def choices_file(folder) -> os.PathLike:
    library = build.library()
    assert library is not None
    return folder / f"{library.path.stem}.choices.json"


def built(cell, features: int = F):
    cell.build((None, features))
    return cell


@pytest.mark.parametrize("fast", choice.FAST)
def test_slower_kernels_are_passed_over_and_say_why(cache, measurements, monkeypatch, fast):
    slow = [name for name in choice.FAST if name != fast]
    for name in slow:
        slow_down(monkeypatch, name)
    model = Sequential([LSTM(U, input_shape=(T, F)), Dense(1)])
    assert "lstm: auto -> native or native_projected or torch_fused (measured on the first call)" in model.summary(
        print_fn=None
    )
    model(torch.randn(B, T, F))  # training: the weights want gradients, so native_projected runs too
    layer = model.layers[0]
    assert layer.last_kernel == fast, layer.last_kernel_skipped
    assert list(layer.last_kernel_skipped) == slow
    for name in slow:
        found = re.fullmatch(SLOWER, layer.last_kernel_skipped[name])
        assert found is not None, layer.last_kernel_skipped
        assert found[2] == fast and float(found[1]) > max(250.0, float(found[3]))
        assert found[4] == f"cached in {choices_file(cache)}"
    assert f"lstm: auto -> {fast}" in model.summary(print_fn=None)
    assert len(measurements) == 1


def test_inference_is_timed_forward_only_and_training_with_backward(cache, measurements, monkeypatch):
    graphs = slow_down(monkeypatch, "native", 0.0)
    layer = LSTM(U)
    x = torch.randn(B, T, F)
    with torch.no_grad():
        layer(x)
    assert graphs and not any(graphs)
    graphs.clear()
    layer(x)  # the weights want gradients
    assert graphs and all(graphs)
    assert len(measurements) == 2


def test_measuring_leaves_the_layer_the_generators_and_autograd_as_they_were(cache, measurements):
    cell = built(LSTMCell(U))
    weights = [w.detach().clone() for w in cell.parameters()]
    x = torch.randn(B, T, F, requires_grad=True)
    generator = torch.get_rng_state()
    chosen = select("auto", cell, x, None, SequenceOptions(training=True))
    assert chosen.kernel.name in choice.FAST and len(measurements) == 1
    assert torch.equal(torch.get_rng_state(), generator)
    assert all(torch.equal(w, v) for w, v in zip(cell.parameters(), weights, strict=True))
    assert x.grad is None and all(w.grad is None for w in cell.parameters())


def test_the_answer_is_measured_once_per_process(cache, measurements):
    cell = built(GRUCell(U))
    options = SequenceOptions(training=True)
    first = select("auto", cell, torch.randn(8, T, F), None, options)
    again = select("auto", cell, torch.randn(8, T, F), None, options)
    nearby = select("auto", cell, torch.randn(6, 5, F), None, options)  # the same powers of two
    assert len(measurements) == 1
    assert first == again == nearby


def test_the_answer_is_keyed_by_what_changes_it(cache, measurements):
    options = SequenceOptions(training=True)
    x = torch.randn(B, T, F)
    select("auto", built(LSTMCell(U)), x, None, options)
    select("auto", built(LSTMCell(U + 1)), x, None, options)  # units
    select("auto", built(GRUCell(U)), x, None, options)  # the cell
    select("auto", built(LSTMCell(U), F + 1), torch.randn(B, T, F + 1), None, options)  # features
    select("auto", built(LSTMCell(U)), torch.randn(4 * B, T, F), None, options)  # batch
    select("auto", built(LSTMCell(U)), torch.randn(B, 4 * T, F), None, options)  # length
    select("auto", built(LSTMCell(U)), x, torch.ones(B, T, dtype=torch.bool), options)  # a mask
    select("auto", built(LSTMCell(U)), x, None, SequenceOptions(go_backwards=True))  # direction
    with torch.no_grad():
        select("auto", built(LSTMCell(U)), x, None, options)  # no gradients
    double = built(LSTMCell(U)).double()
    select("auto", double, x.double(), None, options)  # dtype
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        select("auto", built(LSTMCell(U)), x, None, options)
    finally:
        torch.set_num_threads(threads)
    assert len(measurements) == len(set(measurements)) == 11
    assert len(json.loads(choices_file(cache).read_text())["choices"]) == 11


def test_a_second_process_reads_the_answer_and_measures_nothing(cache, measurements, monkeypatch):
    slow_down(monkeypatch, "native")
    slow_down(monkeypatch, "native_projected")
    layer = LSTM(U)
    layer(torch.randn(B, T, F))
    assert (layer.last_kernel, len(measurements)) == ("torch_fused", 1)
    path = choices_file(cache)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    program = f"""
import json, torch
from rnnlab.kernels import choice
from rnnlab.layers import LSTM
measured = []
real = choice._measure
choice._measure = lambda *call: measured.append(1) or real(*call)
torch.set_num_threads({torch.get_num_threads()})
layer = LSTM({U})
layer(torch.randn({B}, {T}, {F}))
print(json.dumps([layer.last_kernel, layer.last_kernel_skipped, len(measured)]))
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kernel, skipped, measured = json.loads(done.stdout.splitlines()[-1])
    assert (kernel, measured) == ("torch_fused", 0)  # the native kernels run at full speed there: the file decided
    assert re.fullmatch(SLOWER, skipped["native"])[4] == f"cached in {path}"


def partial_entry(library: str) -> dict:
    """A measurement file whose one entry times only one kernel."""
    return {"format": 1, "library": library, "choices": {"k": {"kernel": "native", "milliseconds": {"native": 1.0}}}}


@pytest.mark.parametrize(
    "plant, problem",
    [
        (lambda path: path.write_bytes(b'{"format": 1, "choi'), "are damaged or foreign"),
        (lambda path: path.write_text('{"format": 1, "library": "native_cpu-0", "choices": {}}'), "another build"),
        (lambda path: path.write_text(json.dumps({"format": 1, "library": path.stem[:-8], "choices": {"k": []}})), ""),
        (lambda path: path.write_text(json.dumps(partial_entry(path.stem[:-8]))), "does not time two or more"),
        (lambda path: (path.write_text("{}"), path.chmod(0o666)), "is writable by group or others"),
        (lambda path: path.symlink_to(path.parent / "elsewhere.json"), "is a symbolic link"),
    ],
    ids=["truncated", "another_build", "wrong_entry", "one_kernel_timed", "group_writable", "link"],
)
def test_a_damaged_or_foreign_file_is_ignored_with_one_warning(cache, measurements, caplog, plant, problem):
    path = choices_file(cache)
    plant(path)
    options = SequenceOptions(training=True)
    with caplog.at_level(logging.WARNING, logger="rnnlab.kernels.choice"):
        select("auto", built(LSTMCell(U)), torch.randn(B, T, F), None, options)
        select("auto", built(LSTMCell(U + 1)), torch.randn(B, T, F), None, options)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(path) in warnings[0] and problem in warnings[0], warnings
    assert len(measurements) == 2
    assert not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o600  # rewritten, ours alone
    assert len(json.loads(path.read_text())["choices"]) == 2


def test_nothing_is_measured_while_tracing(cache, measurements):
    model = Sequential([LSTM(U, input_shape=(T, F)), Dense(1)])
    x = torch.randn(B, T, F)
    expected = model(x)
    measurements.clear()
    compiled = torch.compile(model, backend="aot_eager")
    torch.testing.assert_close(compiled(x), expected)
    program = torch.export.export(model, (x,))
    assert "rnnlab.native_sequence" in str(program.graph)  # the first of the order
    torch.testing.assert_close(program.module()(x), expected)
    assert measurements == []


def test_order_takes_the_first_that_can_run(cache, measurements, monkeypatch):
    slow_down(monkeypatch, "native")
    monkeypatch.setenv("RNNLAB_KERNEL_CHOICE", "order")
    layer = SimpleRNN(U)
    layer(torch.randn(B, T, F))
    assert (layer.last_kernel, layer.last_kernel_skipped, measurements) == ("native", {}, [])
    assert not choices_file(cache).exists()
    monkeypatch.setenv("RNNLAB_KERNEL_CHOICE", "fastest")
    with pytest.raises(ValueError, match=r"RNNLAB_KERNEL_CHOICE must be 'measure' .* or 'order' .*'fastest'"):
        layer(torch.randn(B, T, F))


def test_a_data_parallel_group_takes_the_order(cache, measurements, monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    chosen = select("auto", built(LSTMCell(U)), torch.randn(B, T, F), None, SequenceOptions())
    assert (chosen.kernel.name, measurements) == ("native", [])


def test_inference_times_native_projected_not_at_all(cache, measurements):
    """Without gradients native_projected is the native kernel: "auto" times native and torch_fused alone."""
    with torch.no_grad():
        chosen = select("auto", built(LSTMCell(U)), torch.randn(B, T, F), None, SequenceOptions())
    assert chosen.kernel.name in ("native", "torch_fused") and len(measurements) == 1
    assert chosen.skipped["native_projected"] == (
        "projects the inputs of training calls; in inference it is the native kernel"
    )
    entry = json.loads(choices_file(cache).read_text())["choices"]
    assert [set(e["milliseconds"]) for e in entry.values()] == [{"native", "torch_fused"}]
