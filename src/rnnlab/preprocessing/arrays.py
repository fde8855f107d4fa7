"""Array helpers from the Keras tutorials: windows for forecasting, padding, one-hot labels (NumPy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["split_x", "make_windows", "pad_sequences", "to_categorical"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, received {value!r}. Pass e.g. {name}=1.")
    return int(value)


def _series(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim not in (1, 2):
        raise ValueError(f"`{name}` must be 1-D (time,) or 2-D (time, features), received shape {array.shape}.")
    return array


def _windows(array: np.ndarray, size: int) -> np.ndarray:
    """A read-only view of all windows of ``size`` steps along axis 0: (N, size) or (N, size, F)."""
    view = np.lib.stride_tricks.sliding_window_view(array, size, axis=0)  # (N, size) or (N, F, size)
    return np.moveaxis(view, -1, 1) if array.ndim == 2 else view


def split_x(sequence: Any, size: int) -> np.ndarray:
    """Every window of ``size`` consecutive values: shape ``(len - size + 1, size)`` (``(n, size, F)`` for 2-D).

    >>> split_x(range(1, 11), 5)
    array([[ 1,  2,  3,  4,  5],
           [ 2,  3,  4,  5,  6],
           [ 3,  4,  5,  6,  7],
           [ 4,  5,  6,  7,  8],
           [ 5,  6,  7,  8,  9],
           [ 6,  7,  8,  9, 10]])
    """
    size = _positive_int(size, "size")
    array = _series(sequence, "sequence")
    if size > len(array):
        raise ValueError(
            f"A window of size {size} needs at least {size} values, but the sequence has "
            f"{len(array)}. Use a smaller `size` or a longer sequence."
        )
    windows: np.ndarray = _windows(array, size).copy()
    return windows


def make_windows(
    series: Any, timesteps: int, horizon: int = 1, *, target: Any = None, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows for next-value forecasting: ``x[i] = series[s:s+timesteps]``, ``y[i]`` the values after.

    With ``s = i * stride``: ``x`` has shape ``(N, timesteps, F)`` (a 1-D series gets ``F = 1``) and
    ``y[i] = target[s+timesteps : s+timesteps+horizon]``, shaped ``(N,)`` for ``horizon == 1`` and
    ``(N, horizon)`` otherwise, with a trailing feature axis when the target is 2-D
    (``(N, F)`` / ``(N, horizon, F)``). ``N = (T - timesteps - horizon) // stride + 1``.

    Args:
        series: ``(T,)`` or ``(T, F)`` values.
        target: what to predict: ``None`` (the series itself), an int column of a 2-D series, or an
            array with ``T`` rows.

    >>> x, y = make_windows([10, 20, 30, 40, 50], timesteps=3)
    >>> x[..., 0], y
    (array([[10, 20, 30],
           [20, 30, 40]]), array([40, 50]))
    """
    timesteps, horizon = _positive_int(timesteps, "timesteps"), _positive_int(horizon, "horizon")
    stride = _positive_int(stride, "stride")
    values = _series(series, "series")
    if target is None:
        target_values = values
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if values.ndim != 2:
            raise ValueError(
                f"`target={target}` selects a column, but the series is 1-D (shape {values.shape}). "
                "Pass target=None or the target values as an array."
            )
        if not -values.shape[1] <= target < values.shape[1]:
            raise ValueError(
                f"`target={target}` is not a column of the series of shape {values.shape}. Pass a "
                f"column index in 0..{values.shape[1] - 1} or the target values as an array."
            )
        target_values = values[:, target]
    else:
        target_values = _series(target, "target")
        if len(target_values) != len(values):
            raise ValueError(
                f"`target` must have one value per time step of the series ({len(values)}), "
                f"received {len(target_values)}. Pass a target of the same length."
            )
    needed = timesteps + horizon
    if len(values) < needed:
        raise ValueError(
            f"A window of {timesteps} timesteps plus a horizon of {horizon} needs at least "
            f"{needed} values, but the series has {len(values)}. Use a longer series or a "
            "smaller `timesteps`/`horizon`."
        )
    count = (len(values) - needed) // stride + 1
    starts = np.arange(count) * stride
    # Fancy indexing with `starts` copies the windows out of the read-only views.
    x = _windows(values if values.ndim == 2 else values[:, None], timesteps)[starts]  # (N, timesteps, F)
    y = _windows(target_values[timesteps:], horizon)[starts]  # (N, horizon) or (N, horizon, F)
    return x, (y[:, 0] if horizon == 1 else y)


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (or cut) sequences to one length, exactly as ``keras.utils.pad_sequences``.

    ``maxlen=None`` uses the longest sequence; ``"pre"`` pads / cuts at the start, ``"post"`` at the
    end. Sequences of vectors give ``(n, maxlen, *vector_shape)``.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post", truncating="post")
    array([[1, 0],
           [2, 3],
           [4, 5]], dtype=int32)
    """
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f'{name.capitalize()} type "{choice}" not understood: expected "pre" or "post".')
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"`maxlen` must be None or a non-negative int, received {maxlen!r}.")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"`sequences` must be a list of sequences, received {type(sequences).__name__}.")
    lengths, sample_shape = [], None
    for index, seq in enumerate(sequences):
        if not hasattr(seq, "__len__"):
            raise ValueError(
                f"`sequences` must be a list of iterables; the one at position {index} is "
                f"{seq!r}. Wrap single values in a list."
            )
        lengths.append(len(seq))
        if sample_shape is None and len(seq):
            sample_shape = np.asarray(seq).shape[1:]  # Keras: the first non-empty sequence decides
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if isinstance(value, str) and dtype is not object and not np.issubdtype(dtype, np.str_):
        raise ValueError(
            f"`dtype` {dtype} is not compatible with a str `value` ({value!r}). "
            "Use dtype=object for variable-length strings."
        )
    out = np.full((len(lengths), int(maxlen)) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return out  # Keras would slice s[-0:] (the whole sequence) here and fail
    for index, seq in enumerate(sequences):
        if not len(seq):
            continue
        cut = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if cut.shape[1:] != sample_shape:
            raise ValueError(
                f"Shape of sample {cut.shape[1:]} of sequence at position {index} is different "
                f"from expected shape {sample_shape} (taken from the first non-empty sequence)."
            )
        if padding == "post":
            out[index, : len(cut)] = cut
        else:
            out[index, -len(cut) :] = cut
    return out


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer labels on a new last axis, as ``keras.utils.to_categorical``.

    A trailing axis of size 1 is dropped first (``(n, 1)`` gives ``(n, num_classes)``);
    ``num_classes`` defaults to ``max(y) + 1``. Unlike Keras, non-integer labels such as 1.5 are
    an error rather than silently truncated.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.dtype.kind not in "iub":
        if labels.dtype.kind != "f":
            raise TypeError(f"`y` must hold integer class labels, received dtype {labels.dtype}.")
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not np.all(whole):
            raise ValueError(
                f"Class labels must be whole numbers, received {labels[~whole].flat[0].item()}. "
                "Round or map the labels to 0..num_classes-1 first."
            )
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1)
    if flat.size and flat.min() < 0:
        raise ValueError(
            f"Class labels must be >= 0, received label {flat.min()}. Map the labels to 0..num_classes-1 first."
        )
    if num_classes is None:
        if not flat.size:
            raise ValueError("Cannot infer `num_classes` from an empty `y`; pass num_classes=...")
        num_classes = int(flat.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int or None, received {num_classes!r}.")
    if flat.size and flat.max() >= num_classes:
        raise ValueError(
            f"Class label {flat.max()} is out of range for num_classes={num_classes} (labels "
            f"must be < num_classes). Pass num_classes={flat.max() + 1} or more."
        )
    out = np.zeros((flat.size, int(num_classes)), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (int(num_classes),))
