"""rnnlab.data: hand-worked windows, Keras's documented pad_sequences / to_categorical outputs, every error."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from rnnlab.preprocessing.arrays import make_windows, pad_sequences, split_x, to_categorical

SERIES_2D = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]])  # (T=5, F=2)


# ---------------------------------------------------------------- split_x
def test_split_x_tutorial_example():
    out = split_x(range(1, 11), 5)
    assert out.shape == (6, 5)
    assert_array_equal(
        out, [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8], [5, 6, 7, 8, 9], [6, 7, 8, 9, 10]]
    )


def test_split_x_2d_and_full_length_and_copy():
    out = split_x(SERIES_2D[:4], 3)
    assert_array_equal(out, [[[1, 10], [2, 20], [3, 30]], [[2, 20], [3, 30], [4, 40]]])
    source = np.arange(4.0)
    whole = split_x(source, 4)
    assert_array_equal(whole, [[0, 1, 2, 3]])
    whole[0, 0] = 99  # a copy, not a view of the input
    assert source[0] == 0


@pytest.mark.parametrize(
    "size, message",
    [
        (6, r"A window of size 6 needs at least 6 values, but the sequence has 5\. Use a smaller `size`"),
        (0, r"`size` must be a positive int, received 0\. Pass e\.g\. size=1\."),
        (2.0, r"`size` must be a positive int, received 2\.0"),
    ],
)
def test_split_x_errors(size, message):
    with pytest.raises(ValueError, match=message):
        split_x([1, 2, 3, 4, 5], size)


def test_split_x_rejects_3d():
    with pytest.raises(
        ValueError,
        match=r"`sequence` must be 1-D \(time,\) or 2-D \(time, features\), "
        r"received shape \(2, 2, 2\)",
    ):
        split_x(np.zeros((2, 2, 2)), 1)


# ---------------------------------------------------------------- make_windows
def test_make_windows_1d_horizon_1():
    x, y = make_windows([10, 20, 30, 40, 50, 60], timesteps=3)
    assert x.shape == (3, 3, 1) and y.shape == (3,)
    assert_array_equal(x[..., 0], [[10, 20, 30], [20, 30, 40], [30, 40, 50]])
    assert_array_equal(y, [40, 50, 60])


def test_make_windows_1d_horizon_3():
    x, y = make_windows(np.arange(1, 9), timesteps=3, horizon=3)  # N = (8 - 3 - 3) + 1 = 3
    assert_array_equal(x[..., 0], [[1, 2, 3], [2, 3, 4], [3, 4, 5]])
    assert_array_equal(y, [[4, 5, 6], [5, 6, 7], [6, 7, 8]])


def test_make_windows_stride():
    x, y = make_windows(np.arange(10), timesteps=3, stride=2)  # N = (10 - 4) // 2 + 1 = 4
    assert_array_equal(x[..., 0], [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]])
    assert_array_equal(y, [3, 5, 7, 9])
    x, y = make_windows(np.arange(10), timesteps=3, stride=4)  # N = 6 // 4 + 1 = 2, the tail is dropped
    assert_array_equal(x[..., 0], [[0, 1, 2], [4, 5, 6]])
    assert_array_equal(y, [3, 7])


def test_make_windows_exact_length_gives_one_window():
    x, y = make_windows([1, 2, 3, 4], timesteps=2, horizon=2)
    assert_array_equal(x, [[[1], [2]]])
    assert_array_equal(y, [[3, 4]])


def test_make_windows_2d_series_targets():
    x, y = make_windows(SERIES_2D, timesteps=2)  # target = the whole series: (N, F)
    assert x.shape == (3, 2, 2)
    assert_array_equal(x[0], [[1, 10], [2, 20]])
    assert_array_equal(x[2], [[3, 30], [4, 40]])
    assert_array_equal(y, [[3, 30], [4, 40], [5, 50]])
    _, y = make_windows(SERIES_2D, timesteps=2, horizon=2)  # (N, horizon, F)
    assert_array_equal(y, [[[3, 30], [4, 40]], [[4, 40], [5, 50]]])
    _, y = make_windows(SERIES_2D, timesteps=2, target=1)  # one column: (N,)
    assert_array_equal(y, [30, 40, 50])
    _, y = make_windows(SERIES_2D, timesteps=2, target=-2)
    assert_array_equal(y, [3, 4, 5])
    _, y = make_windows(SERIES_2D, timesteps=2, horizon=2, target=1)
    assert_array_equal(y, [[30, 40], [40, 50]])


def test_make_windows_array_target():
    x, y = make_windows([1, 2, 3, 4, 5], timesteps=2, target=[100, 200, 300, 400, 500])
    assert_array_equal(x[..., 0], [[1, 2], [2, 3], [3, 4]])
    assert_array_equal(y, [300, 400, 500])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(series=[1, 2, 3], timesteps=3),
            r"A window of 3 timesteps plus a horizon of 1 needs at least 4 values, but the series has 3\. "
            r"Use a longer series or a smaller `timesteps`/`horizon`\.",
        ),
        (
            dict(series=np.arange(6), timesteps=3, horizon=4),
            r"3 timesteps plus a horizon of 4 needs at least 7 values, but the series has 6",
        ),
        (dict(series=np.arange(6), timesteps=0), r"`timesteps` must be a positive int, received 0"),
        (dict(series=np.arange(6), timesteps=True), r"`timesteps` must be a positive int, received True"),
        (dict(series=np.arange(6), timesteps=2, horizon=-1), r"`horizon` must be a positive int, received -1"),
        (dict(series=np.arange(6), timesteps=2, stride=1.5), r"`stride` must be a positive int, received 1\.5"),
        (
            dict(series=np.arange(5), timesteps=2, target=[1, 2, 3, 4]),
            r"`target` must have one value per time step of the series \(5\), received 4",
        ),
        (
            dict(series=np.arange(5), timesteps=2, target=0),
            r"`target=0` selects a column, but the series is 1-D \(shape \(5,\)\)\. Pass target=None",
        ),
        (
            dict(series=SERIES_2D, timesteps=2, target=2),
            r"`target=2` is not a column of the series of shape \(5, 2\)\. Pass a column index in 0\.\.1",
        ),
        (dict(series=np.zeros((4, 2, 2)), timesteps=2), r"`series` must be 1-D \(time,\) or 2-D"),
    ],
)
def test_make_windows_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_windows(**kwargs)


# ---------------------------------------------------------------- pad_sequences
SEQUENCES = [[1], [2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    "kwargs, expected",
    [  # the first four are the examples in Keras's docstring
        ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
        (dict(value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
        (dict(padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
        (dict(maxlen=2), [[0, 1], [2, 3], [5, 6]]),
        (dict(maxlen=2, truncating="post"), [[0, 1], [2, 3], [4, 5]]),
        (dict(maxlen=2, padding="post", truncating="post"), [[1, 0], [2, 3], [4, 5]]),
        (dict(maxlen=4), [[0, 0, 0, 1], [0, 0, 2, 3], [0, 4, 5, 6]]),
        (dict(maxlen=4, padding="post", value=9), [[1, 9, 9, 9], [2, 3, 9, 9], [4, 5, 6, 9]]),
    ],
)
def test_pad_sequences_keras_examples(kwargs, expected):
    out = pad_sequences(SEQUENCES, **kwargs)
    assert out.dtype == np.int32
    assert_array_equal(out, expected)


def test_pad_sequences_dtype_and_float_value():
    out = pad_sequences([[1.5], [2.5, 3.5]], dtype="float32", value=0.25)
    assert out.dtype == np.float32
    assert_array_equal(out, [[0.25, 1.5], [2.5, 3.5]])
    assert_array_equal(pad_sequences([[1.7, 2.2]]), [[1, 2]])  # int32 cast truncates, as in Keras


def test_pad_sequences_empty_sequences_and_maxlen_zero():
    assert_array_equal(pad_sequences([[], [1, 2]]), [[0, 0], [1, 2]])
    assert_array_equal(pad_sequences([[], [1, 2]], padding="post", value=7), [[7, 7], [1, 2]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences(SEQUENCES, maxlen=0).shape == (3, 0)


def test_pad_sequences_of_vectors():
    out = pad_sequences([[[1, 2]], [[3, 4], [5, 6]], []])
    assert out.shape == (3, 2, 2)
    assert_array_equal(out, [[[0, 0], [1, 2]], [[3, 4], [5, 6]], [[0, 0], [0, 0]]])
    out = pad_sequences([np.ones((3, 2)), np.full((1, 2), 2.0)], maxlen=2, padding="post", dtype="float32")
    assert_array_equal(out, [[[1, 1], [1, 1]], [[2, 2], [0, 0]]])


def test_pad_sequences_strings_with_object_dtype():
    out = pad_sequences([["a"], ["b", "c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["<pad>", "a"], ["b", "c"]]


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((SEQUENCES,), dict(padding="middle"), r'Padding type "middle" not understood: expected "pre" or "post"\.'),
        ((SEQUENCES,), dict(truncating="end"), r'Truncating type "end" not understood: expected "pre" or "post"\.'),
        ((SEQUENCES,), dict(maxlen=-1), r"`maxlen` must be None or a non-negative int, received -1\."),
        (([1, [2]],), {}, r"`sequences` must be a list of iterables; the one at position 0 is 1\."),
        ((5,), {}, r"`sequences` must be a list of sequences, received int\."),
        (
            ([[[1, 2]], [[3, 4, 5]]],),
            {},
            r"Shape of sample \(3,\) of sequence at position 1 is different from expected shape \(2,\)",
        ),
        (
            (SEQUENCES,),
            dict(value="x"),
            r"`dtype` int32 is not compatible with a str `value` \('x'\)\. "
            r"Use dtype=object",
        ),
    ],
)
def test_pad_sequences_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences(*args, **kwargs)


# ---------------------------------------------------------------- to_categorical
def test_to_categorical_keras_example():
    out = to_categorical([0, 1, 2, 3], num_classes=4)
    assert out.dtype == np.float32
    assert_array_equal(out, np.eye(4))


def test_to_categorical_shapes():
    expected = [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert_array_equal(to_categorical([0, 2, 1]), expected)
    assert_array_equal(to_categorical(np.array([[0], [2], [1]])), expected)  # trailing axis 1 squeezed
    out = to_categorical([[0, 1], [1, 0]])
    assert out.shape == (2, 2, 2)
    assert_array_equal(out, [[[1, 0], [0, 1]], [[0, 1], [1, 0]]])
    assert_array_equal(to_categorical([1], num_classes=3), [[0, 1, 0]])
    assert_array_equal(to_categorical(2, num_classes=3), [0, 0, 1])  # a scalar gives one vector
    assert to_categorical([1.0, 0.0], dtype="int64").dtype == np.int64
    assert to_categorical([], num_classes=3).shape == (0, 3)


@pytest.mark.parametrize(
    "y, num_classes, message",
    [
        ([0, -1], None, r"Class labels must be >= 0, received label -1\."),
        (
            [0, 3],
            3,
            r"Class label 3 is out of range for num_classes=3 \(labels must be < num_classes\)\. "
            r"Pass num_classes=4 or more\.",
        ),
        ([0, 1.5], None, r"Class labels must be whole numbers, received 1\.5\."),
        ([0, 1], 0, r"`num_classes` must be a positive int or None, received 0\."),
        ([], None, r"Cannot infer `num_classes` from an empty `y`; pass num_classes=\.\.\."),
    ],
)
def test_to_categorical_errors(y, num_classes, message):
    with pytest.raises(ValueError, match=message):
        to_categorical(y, num_classes)


def test_to_categorical_rejects_text_labels():
    with pytest.raises(TypeError, match=r"`y` must hold integer class labels, received dtype <U3"):
        to_categorical(["cat", "dog"])
