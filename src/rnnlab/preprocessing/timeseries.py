"""Keras's ``utils.timeseries_dataset_from_array``: batches of sliding windows over a series, in NumPy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class TimeseriesBatches:
    """The windows Keras's function yields, batch by batch: ``(x, y)`` pairs of NumPy arrays, or ``x``
    alone without targets. Iterable again for every epoch, with a length, so ``fit`` takes it as it is.

    Window ``i`` holds the steps ``start_index + p_i + sampling_rate * k`` for ``k < sequence_length``
    and its target is ``targets[start_index + p_i]``, ``p_i`` the ``i``-th start position.
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray | None,
        starts: np.ndarray,
        steps: np.ndarray,
        batch_size: int | None,
        shuffle_seed: int | None,
    ) -> None:
        self.data, self.targets, self.starts, self.steps = data, targets, starts, steps
        self.batch_size = batch_size
        self._rng = None if shuffle_seed is None else np.random.RandomState(shuffle_seed)
        self._passes = 0

    def _order(self) -> np.ndarray:
        """The start positions of this pass: Keras's shuffled order first, a fresh shuffle for each later pass."""
        self._passes += 1
        if self._rng is None or self._passes == 1:
            return self.starts
        order: np.ndarray = self.starts.copy()
        self._rng.shuffle(order)
        return order

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        starts = self._order()
        size = self.batch_size or 1
        for first in range(0, len(starts), size):
            chosen = starts[first : first + size]
            x = self.data[chosen[:, None] + self.steps]  # (B, sequence_length, ...)
            batch = x if self.targets is None else (x, self.targets[chosen])
            if self.batch_size is None:  # single windows, as Keras's batch_size=None
                batch = x[0] if self.targets is None else (x[0], self.targets[chosen][0])
            yield batch


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> TimeseriesBatches:
    """Windows of ``sequence_length`` steps over ``data`` (axis 0 is time), Keras's arguments and batches.

    ``targets[i]`` is the target of the window that starts at step ``i`` (``None``: windows only);
    ``sequence_stride`` steps between window starts, ``sampling_rate`` between the steps inside a
    window; ``start_index`` / ``end_index`` keep the steps in ``[start_index, end_index)``.
    ``shuffle`` shuffles the window starts with ``np.random.RandomState(seed)`` exactly as Keras does
    (the first pass has Keras's order; tf.data's extra shuffle within a buffer is not reproduced).

    >>> batches = timeseries_dataset_from_array(np.arange(10), np.arange(10), sequence_length=3, batch_size=4)
    >>> x, y = next(iter(batches))
    >>> x[1].tolist(), int(y[1])
    ([1, 2, 3], 1)
    """
    data = np.asarray(data)
    _check(data, sequence_length, sequence_stride, sampling_rate, start_index, end_index)
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    count = end - start - (sequence_length - 1) * sampling_rate
    target_array = None if targets is None else np.asarray(targets)
    if target_array is not None:
        count = min(count, len(target_array))
    starts = np.arange(0, max(count, 0), sequence_stride)
    shuffle_seed = None
    if shuffle:
        shuffle_seed = np.random.randint(1_000_000) if seed is None else seed
        np.random.RandomState(shuffle_seed).shuffle(starts)
    steps = np.arange(0, sequence_length * sampling_rate, sampling_rate)
    return TimeseriesBatches(
        data[start:end],
        None if target_array is None else target_array[start:],
        starts,
        steps,
        batch_size,
        shuffle_seed,
    )


def _check(
    data: np.ndarray,
    sequence_length: int,
    sequence_stride: int,
    sampling_rate: int,
    start_index: int | None,
    end_index: int | None,
) -> None:
    """Keras's checks, with Keras's messages."""
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= n:
            raise ValueError(
                "`start_index` must be lower than the length of the data. "
                f"Received: start_index={start_index}, for data of length {n}"
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "`end_index` must be higher than `start_index`. "
                f"Received: start_index={start_index}, and end_index={end_index}"
            )
        if end_index >= n:
            raise ValueError(
                "`end_index` must be lower than the length of the data. "
                f"Received: end_index={end_index}, for data of length {n}"
            )
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, (int, np.integer)) or sequence_length <= 0:
        raise ValueError(f"`sequence_length` must be a positive integer. Received: sequence_length={sequence_length}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= n:
            raise ValueError(
                f"`{name}` must be lower than the length of the data. Received: {name}={value}, for data of length {n}"
            )
