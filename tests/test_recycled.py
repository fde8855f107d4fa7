"""The native kernel's training buffers come from a pool (``kernels.recycled``) that hands a
buffer out again only once nothing holds its storage. A buffer still in use (a tensor, a view,
a tensor saved for backward, a NumPy array) must never be handed out twice, and training from
the pool must give what the reference kernel gives, step after step."""

from __future__ import annotations

import pytest
import torch

from helpers import randomize
from rnnlab.kernels import KERNELS, SequenceOptions, recycled
from rnnlab.layers import GRUCell, LSTMCell


@pytest.fixture
def pool(monkeypatch):
    """An empty pool that takes every buffer, however small."""
    monkeypatch.setattr(recycled, "MIN_BYTES", 0)
    recycled.release()
    yield recycled
    recycled.release()


def test_a_buffer_comes_back_once_nothing_holds_it(pool):
    first = pool.empty((4, 8), torch.float32)
    address = first.data_ptr()
    assert pool.empty((4, 8), torch.float32).data_ptr() != address  # in use: another buffer

    holders = {
        "view": lambda t: t[1:],
        "saved for backward": lambda t: _saved(t),
        "NumPy array": lambda t: t.numpy(),
        "detached": lambda t: t.detach(),
    }
    for name, hold in holders.items():
        held = hold(first)
        del first
        assert pool.empty((4, 8), torch.float32).data_ptr() != address, name
        del held
        first = pool.empty((4, 8), torch.float32)
        assert first.data_ptr() == address, name  # free again: the same memory

    assert pool.empty((32,), torch.float32).data_ptr() != address  # same bytes, still held by `first`
    del first
    reused = pool.empty((16,), torch.float64)  # any shape and dtype of the same size
    assert reused.data_ptr() == address and reused.shape == (16,) and reused.dtype == torch.float64


def _saved(tensor):
    """A graph that keeps ``tensor`` for its backward."""
    weight = torch.ones(8, requires_grad=True)
    return tensor * weight  # MulBackward saves tensor


def test_the_pool_keeps_at_most_max_bytes(pool, monkeypatch):
    monkeypatch.setattr(recycled, "MAX_BYTES", 3 * 400)
    a = pool.empty((100,), torch.float32)  # 400 bytes each
    b = pool.empty((100,), torch.float32)
    c = pool.empty((100,), torch.float32)
    assert pool.held_bytes() == 1200
    d = pool.empty((100,), torch.float32)  # all held: not kept, still a working buffer
    assert pool.held_bytes() == 1200 and d.shape == (100,)
    address = a.data_ptr()
    del a
    e = pool.empty((25,), torch.float32)  # 100 bytes, too few for a's 400: the free one makes room
    assert pool.held_bytes() == 900 and e.data_ptr() != address
    del b, c, d, e
    pool.release()
    assert pool.held_bytes() == 0


def test_a_request_takes_the_smallest_free_buffer_up_to_twice_its_size(pool):
    large, small = pool.empty((100,), torch.float32), pool.empty((60,), torch.float32)
    addresses = large.data_ptr(), small.data_ptr()
    del large, small
    first = pool.empty((50,), torch.float32)
    assert first.data_ptr() == addresses[1]  # 240 bytes for 200
    del first
    second = pool.empty((80,), torch.float32)
    assert second.data_ptr() == addresses[0]  # 400 for 320: 240 is too few
    assert pool.empty((25,), torch.float32).data_ptr() not in addresses  # 240 is over twice 100
    assert pool.held_bytes() == 400 + 240 + 100


def test_a_buffer_no_request_takes_is_dropped(pool, monkeypatch):
    monkeypatch.setattr(recycled, "MAX_IDLE", 3)
    idle = pool.empty((100,), torch.float32)
    del idle
    for _ in range(4):  # another size, taken again and again
        pool.empty((10,), torch.float32)
    assert pool.held_bytes() == 40


def _training_step(kernel, cell, x, states, upstream, mask):
    x = x.clone().requires_grad_(True)
    outputs, final = KERNELS[kernel].run(cell, x, states, mask, SequenceOptions())
    cell.zero_grad()
    (outputs * upstream).sum().backward(retain_graph=True)
    first = [x.grad.clone(), *(p.grad.clone() for p in cell.parameters())]
    cell.zero_grad()
    x.grad = None
    (outputs * upstream).sum().backward()  # the graph's buffers, once more
    second = [x.grad, *(p.grad for p in cell.parameters())]
    return outputs.detach(), first, second


@pytest.mark.parametrize("kernel", ["native", "native_projected"])
@pytest.mark.parametrize("cell_name", ["lstm", "gru"])
def test_training_from_the_pool_matches_reference_step_after_step(pool, kernel, cell_name, rng):
    cell = {"lstm": LSTMCell, "gru": GRUCell}[cell_name](12)
    cell.ensure_built((None, 5))
    randomize(cell, rng)
    kept = []  # every step's outputs stay alive while the next steps run
    for _ in range(3):
        x = torch.as_tensor(rng.normal(size=(6, 9, 5)), dtype=torch.float32)
        states = [torch.as_tensor(rng.normal(size=(6, 12)), dtype=torch.float32) for _ in cell.state_size]
        upstream = torch.as_tensor(rng.normal(size=(6, 9, 12)), dtype=torch.float32)
        mask = torch.as_tensor(rng.random((6, 9)) < 0.8)
        got, first, second = _training_step(kernel, cell, x, states, upstream, mask)
        want, reference, _ = _training_step("reference", cell, x, states, upstream, mask)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        for g, again, w in zip(first, second, reference, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(again, g, rtol=0, atol=0)
        kept.append((got, want))
        with torch.no_grad():
            cell.kernel.mul_(0.9)
    for got, want in kept:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)  # no later step wrote over them
    assert pool.held_bytes() > 0


def test_the_projected_kernel_takes_its_table_and_dx_from_the_pool(pool, monkeypatch, rng):
    """x in time-major order, the table x @ kernel + bias and dx are as large as the loop's buffers."""
    asked: list[tuple[int, ...]] = []
    empty = recycled.empty
    monkeypatch.setattr(recycled, "empty", lambda shape, dtype: asked.append(tuple(shape)) or empty(shape, dtype))
    cell = LSTMCell(12)
    cell.ensure_built((None, 5))
    x = torch.as_tensor(rng.normal(size=(6, 9, 5)), dtype=torch.float32)
    _training_step("native_projected", cell, x, [torch.zeros(6, 12)] * 2, torch.ones(6, 9, 12), None)
    assert {(9, 6, 5 + 1), (9 * 6, 4 * 12), (9 * 6, 5)} <= set(asked)  # x and its column of ones, the table, dx


def test_release_lets_go_the_memory_the_compiled_library_kept_and_calls_go_on(pool, monkeypatch, rng):
    from rnnlab.kernels import build

    released: list[int] = []
    library = build.library()
    assert library is not None
    monkeypatch.setattr(library, "release", lambda release=library.release: released.append(1) or release())
    cell = LSTMCell(12)
    cell.ensure_built((None, 5))
    randomize(cell, rng)
    x = torch.as_tensor(rng.normal(size=(6, 9, 5)), dtype=torch.float32)
    states, upstream = [torch.zeros(6, 12)] * 2, torch.ones(6, 9, 12)
    want = _training_step("reference", cell, x, states, upstream, None)
    for _ in range(2):
        got = _training_step("native", cell, x, states, upstream, None)
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
        pool.release()
    assert released == [1, 1] and pool.held_bytes() == 0


def test_a_tensor_is_held_alone_until_a_view_or_another_process_shares_it():
    tensor = torch.zeros(1000)
    assert recycled.held_alone(tensor)
    view = tensor[10:]
    assert not recycled.held_alone(tensor)
    del view
    assert recycled.held_alone(tensor)
    assert not recycled.held_alone(tensor.share_memory_())


def test_without_pytorchs_use_count_every_buffer_is_new(pool, monkeypatch):
    """The storage's use count is a private function of PyTorch's: where it is gone, no pool."""
    monkeypatch.setattr(recycled, "_storage_use_count", None)
    first = pool.empty((4, 8), torch.float32)
    assert first.shape == (4, 8) and pool.held_bytes() == 0


def test_a_layers_pooled_outputs_are_plain_tensors(pool, rng):
    """The pool hands out plain tensors, not views: autograd refuses in-place operations on a
    custom Function's view outputs, and backward must not see a view's base instead."""
    cell = LSTMCell(12)
    cell.ensure_built((None, 5))
    randomize(cell, rng)
    x = torch.as_tensor(rng.normal(size=(6, 9, 5)), dtype=torch.float32).requires_grad_(True)
    states = [torch.zeros(6, 12), torch.zeros(6, 12)]
    outputs, _ = KERNELS["native"].run(cell, x, states, None, SequenceOptions())
    assert pool.held_bytes() > 0 and not outputs._is_view() and outputs._base is None
    outputs.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():
        outputs += 1.0  # after backward, as on any tensor


def test_a_storage_moved_to_shared_memory_leaves_the_pool(pool):
    """Another process's hold on shared memory does not count in the use count."""
    shared = pool.empty((100,), torch.float32)
    shared.share_memory_()
    address = shared.data_ptr()
    del shared
    assert pool.empty((100,), torch.float32).data_ptr() != address
    assert pool.held_bytes() == 400  # the new buffer alone


def test_buffers_are_on_the_cpu_whatever_the_default_device(pool, monkeypatch):
    with torch.device("meta"):
        assert pool.empty((100,), torch.float32).device.type == "cpu"
        monkeypatch.setattr(recycled, "MIN_BYTES", 1 << 20)
        assert pool.empty((2,), torch.float32).device.type == "cpu"  # under MIN_BYTES too
