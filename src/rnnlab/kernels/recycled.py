"""Large CPU buffers that the native kernel's training calls reuse from one step to the next.

A training step's loop buffers (gates, states, their gradients: about 125 MB for W2's two
512-unit LSTMs) are fresh memory at every step for the C library's allocator, which maps it, and
the operating system zeroes it page by page on first touch: 20 ms per 52 MB against 4 ms to write
memory already mapped, on the machine the README's table comes from. PyTorch's CUDA allocator
caches blocks for the same reason. Here a buffer's storage stays in the pool after use and is
handed out again once nothing else holds it: no tensor, view, tensor saved for backward or
NumPy array shares its storage (the storage's use count is the pool's own). A buffer is
never handed out twice at once, so nothing is overwritten while it is in use, with
``retain_graph`` or tensors kept from an earlier step. Another process's hold does not count
here, so a storage moved to shared memory (``torch.multiprocessing``) leaves the pool. What
the pool hands out is a plain tensor on the buffer's storage, as ``torch.empty``'s is, not a
view (autograd treats a custom Function's view outputs apart).

A request takes the smallest free buffer of its size up to twice it (batches of varying
length reuse each other's), else a new one. Buffers under ``MIN_BYTES`` come from
``torch.empty`` (the allocator keeps small blocks anyway). The pool holds at most
``MAX_BYTES``, and drops a free buffer that no request took for ``MAX_IDLE`` requests, so it
follows the working set of recent steps; ``release()`` returns the memory.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch

from . import build

MIN_BYTES = 1 << 20
MAX_BYTES = 1 << 30
MAX_IDLE = 256  # requests

# How many tensors share a storage: a private function of PyTorch's; without it, no pool.
_storage_use_count = getattr(torch._C, "_storage_Use_Count", None)


@dataclass
class _Buffer:
    base: torch.Tensor  # flat bytes
    free_count: int  # its storage's use count when only the pool holds it
    last_taken: int  # the request that last took it

    def free(self) -> bool:
        assert _storage_use_count is not None
        return int(_storage_use_count(self.base.untyped_storage()._cdata)) == self.free_count

    def kept(self, now: int) -> bool:
        """Whether the pool keeps it: in use, or taken lately, and still this process's own."""
        return not self.base.untyped_storage().is_shared() and (now - self.last_taken <= MAX_IDLE or not self.free())


_lock = threading.Lock()
_pool: list[_Buffer] = []
_requests = 0


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype)`` on the CPU, from the pool where the buffer is large."""
    global _requests
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES or _storage_use_count is None:
        return torch.empty(shape, dtype=dtype, device="cpu")
    with _lock:
        _requests += 1
        _pool[:] = [b for b in _pool if b.kept(_requests)]
        fits = [b for b in _pool if nbytes <= b.base.numel() <= 2 * nbytes and b.free()]
        if fits:
            taken = min(fits, key=lambda b: b.base.numel())
        else:
            base = torch.empty(nbytes, dtype=torch.uint8, device="cpu")
            taken = _Buffer(base, int(_storage_use_count(base.untyped_storage()._cdata)), _requests)
            if _make_room(nbytes):
                _pool.append(taken)
        taken.last_taken = _requests
        strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]  # contiguous
        return torch.empty(0, dtype=dtype, device="cpu").set_(taken.base.untyped_storage(), 0, shape, strides)


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.mm(a, b)`` into a buffer from the pool."""
    return torch.mm(a, b, out=empty((a.shape[0], b.shape[1]), a.dtype))


def held_alone(tensor: torch.Tensor) -> bool:
    """Whether no other tensor or view shares this tensor's storage, nor another process (shared
    memory); False where PyTorch's use count is gone: nothing can then be proven free. References
    to this very tensor (a ``state_dict()`` kept without a copy) are not counted."""
    if _storage_use_count is None or tensor.untyped_storage().is_shared():
        return False
    return _use_count(tensor) == _use_count(torch.empty(0))  # the count includes the storage object asked


def _use_count(tensor: torch.Tensor) -> int:
    assert _storage_use_count is not None
    return int(_storage_use_count(tensor.untyped_storage()._cdata))


def _make_room(nbytes: int) -> bool:
    """Whether a buffer of nbytes fits under MAX_BYTES, after dropping free buffers, oldest first."""
    held = sum(b.base.numel() for b in _pool)
    for b in sorted(_pool, key=lambda b: b.last_taken):
        if held + nbytes <= MAX_BYTES:
            break
        if b.free():
            _pool.remove(b)
            held -= b.base.numel()
    return held + nbytes <= MAX_BYTES


def held_bytes() -> int:
    """The bytes the pool holds, in use or free."""
    with _lock:
        return sum(b.base.numel() for b in _pool)


def release() -> None:
    """Forget every buffer: the memory goes back once the tensors still using it are gone. The
    compiled library lets go what it kept for this thread's calls too."""
    with _lock:
        _pool.clear()
    library = build.loaded()
    if library is not None:
        library.release()
