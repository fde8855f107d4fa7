"""Long-range dependency problems of Hochreiter & Schmidhuber (1997): marked adding and multiplication."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["adding_problem", "multiplication_problem"]


def _generator(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"`rng` must be an int seed, a numpy.random.Generator or None, received "
        f"{type(rng).__name__}. Pass e.g. rng=0 or rng=np.random.default_rng(0)."
    )


POSITIONS = ("anywhere", "paper")


def _marker_positions(
    gen: np.random.Generator, n_samples: int, length: int, positions: str
) -> tuple[np.ndarray, np.ndarray]:
    """Two distinct marked steps per sample: uniform over the whole sequence ("anywhere"), or the
    paper's rule: the first among the first min(10, T/2) steps, the second among the first T/2."""
    if positions == "anywhere":
        first_span = second_span = length
    elif positions == "paper":
        first_span, second_span = min(10, length // 2), max(length // 2, 2)
    else:
        raise ValueError(f"`positions` must be one of {POSITIONS}, received {positions!r}.")
    first = gen.integers(0, first_span, size=n_samples)
    second = gen.integers(0, second_span - 1, size=n_samples)
    second += second >= first  # uniform over the second span without `first` (first < first_span <= second_span)
    return first, second


def _marked_problem(
    n_samples: int, length: int, rng: Any, positions: str, combine: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    for name, value, low in (("n_samples", n_samples, 1), ("length", length, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            why = " (two marked steps need at least 2)" if name == "length" else ""
            raise ValueError(f"`{name}` must be an int >= {low}{why}, received {value!r}.")
    gen = _generator(rng)
    values = gen.random((n_samples, length), dtype=np.float32)  # (N, T), uniform in [0, 1)
    first, second = _marker_positions(gen, n_samples, length, positions)
    rows = np.arange(n_samples)
    x = np.zeros((n_samples, length, 2), dtype=np.float32)  # (N, T, [marker, value])
    x[rows, first, 0] = 1.0
    x[rows, second, 0] = 1.0
    x[:, :, 1] = values
    y = combine(values[rows, first], values[rows, second]).astype(np.float32)  # (N,)
    return x, y


def multiplication_problem(
    n_samples: int = 3000, length: int = 100, *, rng: Any = None, positions: str = "anywhere"
) -> tuple[np.ndarray, np.ndarray]:
    """The marked multiplication problem (Hochreiter & Schmidhuber 1997, experiment 5).

    ``x`` float32 ``(n_samples, length, 2)``: feature 0 is the marker (1.0 at exactly two steps, 0.0
    elsewhere), feature 1 a value drawn uniformly from [0, 1). ``y`` float32 ``(n_samples,)`` is the
    product of the two marked values. Always predicting the mean (1/4) gives MSE 7/144 ~ 0.049.

    Args:
        rng: an int seed, a ``np.random.Generator``, or None for fresh entropy.
        positions: where the two markers go: "anywhere" (two distinct steps, uniformly), or
            "paper" (the first uniformly among the first ``min(10, length // 2)`` steps, the
            second among the first ``max(length // 2, 2)``, as in the 1997 paper: every
            dependency then spans at least half the sequence).

    >>> x, y = multiplication_problem(4, 20, rng=0)
    >>> x.shape, y.shape, x.dtype.name, x[..., 0].sum(axis=1).tolist()
    ((4, 20, 2), (4,), 'float32', [2.0, 2.0, 2.0, 2.0])
    """
    return _marked_problem(n_samples, length, rng, positions, np.multiply)


def adding_problem(
    n_samples: int = 3000, length: int = 100, *, rng: Any = None, positions: str = "anywhere"
) -> tuple[np.ndarray, np.ndarray]:
    """The marked adding problem: the layout and marker rules of :func:`multiplication_problem`, target the sum.

    ``x`` float32 ``(n_samples, length, 2)`` = (marker, value uniform in [0, 1)). ``y`` float32
    ``(n_samples,)`` = the sum of the two marked values; always predicting the mean (1) gives
    MSE 1/6 ~ 0.167.

    >>> x, y = adding_problem(3, 10, rng=1)
    >>> bool(np.allclose(y, (x[..., 0] * x[..., 1]).sum(axis=1)))
    True
    """
    return _marked_problem(n_samples, length, rng, positions, np.add)
