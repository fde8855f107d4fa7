"""Large CPU buffers that the native kernel's training calls reuse from one step to the next.

A training step's loop buffers (gates, states, their gradients: about 170 MB for W2's two
512-unit LSTMs) are fresh memory at every step for the C library's allocator, which maps it and
has the kernel zero it page by page on first touch: 20 ms per 52 MB against 4 ms to write
memory already mapped, on the machine the README's table comes from. PyTorch's CUDA allocator
caches blocks for the same reason. Here a buffer's storage stays in the pool after use and is
handed out again once nothing else holds it: no tensor, view, tensor saved for backward or
NumPy array shares its storage (the storage's use count is the pool's own). A buffer is
never handed out twice at once, so nothing is overwritten while it is in use, with
``retain_graph`` or tensors kept from an earlier step.

Buffers under ``MIN_BYTES`` come from ``torch.empty`` (the allocator keeps small blocks anyway),
and the pool holds at most ``MAX_BYTES``: past it, buffers nothing holds are dropped first,
then new ones are not kept. ``release()`` returns the memory.
"""

from __future__ import annotations

import math
import threading

import torch

MIN_BYTES = 1 << 20
MAX_BYTES = 1 << 30

_lock = threading.Lock()
_pool: list[tuple[torch.Tensor, int]] = []  # (flat byte buffer, its storage's use count when free)


# How many tensors share a storage: a private function of PyTorch's; without it, no pool.
_storage_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _use_count(base: torch.Tensor) -> int:
    assert _storage_use_count is not None
    return int(_storage_use_count(base.untyped_storage()._cdata))


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype)`` on the CPU, from the pool where the buffer is large."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES or _storage_use_count is None:
        return torch.empty(shape, dtype=dtype)
    with _lock:
        for base, free in _pool:
            if base.numel() == nbytes and _use_count(base) == free:
                return base.view(dtype).view(shape)
        base = torch.empty(nbytes, dtype=torch.uint8)
        if _make_room(nbytes):
            _pool.append((base, _use_count(base)))
        return base.view(dtype).view(shape)


def _make_room(nbytes: int) -> bool:
    """Whether a buffer of nbytes fits under MAX_BYTES, after dropping free buffers, oldest first."""
    held = sum(base.numel() for base, _ in _pool)
    for entry in list(_pool):
        if held + nbytes <= MAX_BYTES:
            break
        base, free = entry
        if _use_count(base) == free:
            _pool.remove(entry)
            held -= base.numel()
    return held + nbytes <= MAX_BYTES


def held_bytes() -> int:
    """The bytes the pool holds, in use or free."""
    with _lock:
        return sum(base.numel() for base, _ in _pool)


def release() -> None:
    """Forget every buffer: the memory goes back once the tensors still using it are gone."""
    with _lock:
        _pool.clear()
