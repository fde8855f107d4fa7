"""Turning what users pass to fit / evaluate / predict into batches of tensors.

A batch is ``(x, y, sample_weight)``; ``y`` is None for predict, ``sample_weight`` None when not
given. Which samples an epoch visits, and in what order, is the sampler's business: a plain
shuffle from torch's global generator (so ``rnnlab.set_seed`` and BackupAndRestore control it),
or, in a data-parallel run, this process's shard.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DistributedSampler


class Batch(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor | None = None
    sample_weight: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        x, y, w = (None if t is None else t.to(device, non_blocking=True) for t in self)
        assert x is not None
        return Batch(x, y, w)


class Columns(dict[str, torch.Tensor]):
    """Named tensors of the same samples (the inputs or targets of a model with several), taken together
    like one tensor: ``len`` counts samples, ``columns[samples]`` takes those samples of each, ``to`` moves
    each. Each keeps its dtype: the model casts its own inputs."""

    def __len__(self) -> int:
        return len(next(iter(self.values())))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return super().__getitem__(index)
        return Columns({key: value[index] for key, value in self.items()})

    def to(self, device: torch.device, non_blocking: bool = False) -> Columns:
        return Columns({key: value.to(device, non_blocking=non_blocking) for key, value in self.items()})

    def is_floating_point(self) -> bool:
        return True  # nothing to cast here


def as_columns(data: dict[str, Any], name: str) -> Columns:
    """A dict of arrays as ``Columns``, each checked as ``as_tensor`` checks one; all of one sample count."""
    if not data:
        raise ValueError(f"{name} is an empty dict: give one array per model input or output.")
    columns = Columns({key: as_tensor(value, f"{name}[{key!r}]") for key, value in data.items()})
    counts = {key: dict.__getitem__(columns, key).shape[0] for key in columns}
    if len(set(counts.values())) > 1:
        raise ValueError(f"The arrays of {name} must have the same number of samples, received {counts}.")
    return columns


def as_tensor(data: Any, name: str) -> torch.Tensor:
    """A tensor from an array, tensor or nested list; floats become float32; bad values raise. A dict of
    arrays becomes ``Columns`` (a model with several inputs or outputs)."""
    if isinstance(data, dict):
        return as_columns(data, name)  # type: ignore[return-value]  # used as a tensor of samples
    if isinstance(data, torch.Tensor):
        tensor = data
    else:
        array = np.asarray(data)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} must be numeric, received an array of dtype {array.dtype}. "
                "Encode text or categories as numbers first (e.g. token ids, to_categorical)."
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    if tensor.is_floating_point():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            rows = torch.nonzero(bad.reshape(len(tensor), -1).any(dim=1)).flatten()[:5].tolist()
            raise ValueError(
                f"{name} contains NaN or infinite values (first bad samples: {rows}). "
                "Fill or drop missing values before training."
            )
    if tensor.dim() == 0:
        raise ValueError(f"{name} must have a batch axis, received a scalar.")
    return tensor


def cast_inputs(x: torch.Tensor, x_dtype: torch.dtype | None) -> torch.Tensor:
    """Integer and boolean inputs as ``x_dtype``, the float type of the model's first layer (Keras casts
    arrays to its input's dtype: ``np.array([[1, 2, 3]])`` and one-hot booleans feed a Dense or an LSTM);
    ``None`` keeps them, as token ids for an Embedding."""
    if x_dtype is None or x.is_floating_point() or x.is_complex():
        return x
    return x.to(x_dtype)


def class_weights(y: torch.Tensor, class_weight: Mapping[int, float]) -> torch.Tensor:
    """Keras's ``class_weight``: each sample weighs its class's weight (one-hot targets: their argmax;
    classes not listed: 1)."""
    if y.dim() > 1 and y.shape[-1] > 1:
        labels = y.argmax(-1)
    else:
        labels = y.reshape(len(y), -1)[:, 0]
    labels = labels.round().long() if labels.is_floating_point() else labels.long()
    if labels.dim() != 1:
        raise ValueError(f"class_weight needs one label per sample; y of shape {tuple(y.shape)} has more.")
    return torch.tensor([float(class_weight.get(int(label), 1.0)) for label in labels.tolist()])


class Shard(NamedTuple):
    """This process's part of a data-parallel run: every ``world``-th sample from ``rank``."""

    rank: int
    world: int
    seed: int  # the shared seed of each epoch's permutation


class ArrayBatches:
    """Batches of in-memory tensors, reshuffled every epoch when ``shuffle``."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        sample_weight: torch.Tensor | None,
        batch_size: int,
        shuffle: bool,
        shard: Shard | None = None,
    ) -> None:
        for name, other in (("y", y), ("sample_weight", sample_weight)):
            if other is not None and len(x) != len(other):
                raise ValueError(
                    f"x and {name} must have the same number of samples: x has {len(x)}, {name} has {len(other)}."
                )
        if len(x) == 0:
            raise ValueError("x is empty: there is nothing to train on.")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle, self.shard = batch_size, shuffle, shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor | None:
        """This epoch's sample order (None: all samples in order)."""
        n = len(self.x)
        if self.shard is None:
            return torch.randperm(n) if self.shuffle else None
        # Every process draws the same permutation (seed + epoch) and takes every world-th sample.
        sampler: DistributedSampler[int] = DistributedSampler(
            range(n),  # type: ignore[arg-type]  # any sized sequence works as the "dataset"
            num_replicas=self.shard.world,
            rank=self.shard.rank,
            shuffle=self.shuffle,
            seed=self.shard.seed,
        )
        sampler.set_epoch(self.epoch)
        return torch.as_tensor(list(sampler))

    def __len__(self) -> int:
        n = len(self.x) if self.shard is None else math.ceil(len(self.x) / self.shard.world)
        return math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.indices()
        n = len(self.x) if order is None else len(order)
        for start in range(0, n, self.batch_size):
            index: slice | torch.Tensor = (
                slice(start, start + self.batch_size) if order is None else order[start : start + self.batch_size]
            )
            yield self._take(index)

    def _take(self, index: slice | torch.Tensor) -> Batch:
        y = None if self.y is None else self.y[index]
        weights = None if self.sample_weight is None else self.sample_weight[index]
        return Batch(self.x[index], y, weights)

    def first(self) -> Batch:
        return self._take(slice(0, self.batch_size))


class IterableBatches:
    """Batches from any iterable of ``(x, y[, sample_weight])`` (or ``x`` alone for predict), e.g. a
    DataLoader. In a data-parallel run its sampler decides each process's share (a DistributedSampler)."""

    shard: Shard | None = None  # not used: the iterable shards itself

    def __init__(self, batches: Iterable[Any], x_dtype: torch.dtype | None = None) -> None:
        self.batches = batches
        self.x_dtype = x_dtype

    def set_epoch(self, epoch: int) -> None:
        set_sampler_epoch = getattr(getattr(self.batches, "sampler", None), "set_epoch", None)
        if callable(set_sampler_epoch):  # a DistributedSampler reshuffles per epoch
            set_sampler_epoch(epoch)

    def __len__(self) -> int:
        try:
            return len(self.batches)  # type: ignore[arg-type]
        except TypeError:
            return 0  # unknown

    def __iter__(self) -> Iterator[Batch]:
        for i, batch in enumerate(self.batches):
            items = batch if isinstance(batch, (tuple, list)) else (batch,)
            if len(items) > 3:
                raise ValueError(f"batch {i} has {len(items)} items; expected (x,), (x, y) or (x, y, sample_weight).")
            x, *rest = (as_tensor(item, f"batch {i}, item {j}") for j, item in enumerate(items))
            yield Batch(cast_inputs(x, self.x_dtype), *rest)

    def first(self) -> Batch:
        return next(iter(self))


def is_array_like(data: Any) -> bool:
    return isinstance(data, (np.ndarray, torch.Tensor, list, dict))


def batches(
    x: Any,
    y: Any = None,
    batch_size: int | None = None,
    shuffle: bool = False,
    name: str = "x",
    sample_weight: Any = None,
    class_weight: Mapping[int, float] | None = None,
    shard: Shard | None = None,
    x_dtype: torch.dtype | None = None,
) -> ArrayBatches | IterableBatches:
    """Batches of ``x`` (and ``y``, ``sample_weight``); integer and boolean ``x`` become ``x_dtype``
    where it is given (``cast_inputs``)."""
    if is_array_like(x):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}.")
        y_tensor = None if y is None else as_tensor(y, "y")
        weights = None if sample_weight is None else as_tensor(sample_weight, "sample_weight").float()
        if class_weight is not None:
            if y_tensor is None:
                raise ValueError("class_weight needs targets y.")
            by_class = class_weights(y_tensor, class_weight)
            weights = by_class if weights is None else weights * by_class
        x_tensor = cast_inputs(as_tensor(x, name), x_dtype)
        return ArrayBatches(x_tensor, y_tensor, weights, batch_size or 32, shuffle, shard)
    if y is not None or sample_weight is not None or class_weight is not None:
        raise ValueError(
            f"y, sample_weight and class_weight must be None when x is an iterable of batches (received "
            f"{type(x).__name__}); the batches carry their own targets and weights."
        )
    if x is None:
        raise ValueError("fit / evaluate / predict need x.")
    return IterableBatches(x, x_dtype)


def split_validation(
    x: Any, y: Any, sample_weight: Any, validation_split: float
) -> tuple[Any, Any, Any, tuple[Any, Any, Any]]:
    """Keras's split: the last ``validation_split`` of the samples, taken before any shuffling."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), received {validation_split}.")
    if not is_array_like(x):
        raise ValueError(
            "validation_split needs arrays or tensors; with an iterable of batches, pass validation_data instead."
        )
    n = len(x)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves "
            f"{'no training' if split_at == 0 else 'no validation'} samples."
        )

    def head(a: Any) -> Any:
        return None if a is None else a[:split_at]

    def tail(a: Any) -> Any:
        return None if a is None else a[split_at:]

    return head(x), head(y), head(sample_weight), (tail(x), tail(y), tail(sample_weight))
