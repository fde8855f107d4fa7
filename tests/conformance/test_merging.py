"""Keras 3.15's tests of the merging layers (keras/src/layers/merging/merging_test.py), ported to rnnlab.

Keras builds ``Model([input_1, input_2], layer([input_1, input_2]))`` and calls it on data; the
port calls the layer on the same list of arrays (what that model computes) and reads the
symbolic shape from ``compute_output_shape``. Keras attaches masks to tensors (``Masking()(x)``
carries one); rnnlab passes them explicitly, so ``layer([x1, x2])`` on masked tensors becomes
``layer([x1, x2], mask=[m1, m2])`` and ``backend.get_keras_mask(output)`` becomes
``layer.compute_mask([x1, x2], [m1, m2])``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_conformance import assert_all_close, run_layer_test

from rnnlab import layers


def np_dot(a, b, axes):
    if isinstance(axes, int):
        axes = (axes, axes)
    axes = [axis if axis < 0 else axis - 1 for axis in axes]
    res = np.stack([np.tensordot(a[i], b[i], axes) for i in range(a.shape[0])])
    if len(res.shape) == 1:
        res = np.expand_dims(res, axis=1)
    return res


TEST_PARAMETERS = {
    "add": {"layer_class": layers.Add, "np_op": np.add},
    "subtract": {"layer_class": layers.Subtract, "np_op": np.subtract},
    "minimum": {"layer_class": layers.Minimum, "np_op": np.minimum},
    "maximum": {"layer_class": layers.Maximum, "np_op": np.maximum},
    "multiply": {"layer_class": layers.Multiply, "np_op": np.multiply},
    "average": {"layer_class": layers.Average, "np_op": lambda a, b: np.multiply(np.add(a, b), 0.5)},
    "concat": {
        "layer_class": layers.Concatenate,
        "np_op": lambda a, b, **kwargs: np.concatenate((a, b), **kwargs),
        "init_kwargs": {"axis": -1},
        "expected_output_shape": (2, 4, 10),
    },
    "dot_2d": {
        "layer_class": layers.Dot,
        "np_op": np_dot,
        "init_kwargs": {"axes": -1},
        "input_shape": (2, 4),
        "expected_output_shape": (2, 1),
        "skip_mask_test": True,
    },
    "dot_3d": {
        "layer_class": layers.Dot,
        "np_op": np_dot,
        "init_kwargs": {"axes": -1},
        "expected_output_shape": (2, 4, 4),
        "skip_mask_test": True,
    },
}
CASES = pytest.mark.parametrize("case", list(TEST_PARAMETERS))


def parameters(case):
    """Keras's defaults for each case: init_kwargs={}, input_shape=(2, 4, 5), expected (2, 4, 5)."""
    p = {"init_kwargs": {}, "input_shape": (2, 4, 5), "expected_output_shape": (2, 4, 5), "skip_mask_test": False}
    return {**p, **TEST_PARAMETERS[case]}


@CASES
def test_basic(case):
    p = parameters(case)
    run_layer_test(
        p["layer_class"],
        init_kwargs=p["init_kwargs"],
        input_shape=(p["input_shape"], p["input_shape"]),
        expected_output_shape=p["expected_output_shape"],
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=True,
    )


@CASES
def test_correctness_static(case):
    p = parameters(case)
    input_shape, init_kwargs = p["input_shape"], p["init_kwargs"]
    x1 = np.random.rand(*input_shape)
    x2 = np.random.rand(*input_shape)
    x3 = p["np_op"](x1, x2, **init_kwargs)

    layer = p["layer_class"](**init_kwargs)
    assert layer.compute_output_shape([input_shape, input_shape]) == p["expected_output_shape"]  # the symbolic call
    res = layer([x1, x2])
    assert tuple(res.shape) == p["expected_output_shape"]
    assert_all_close(res, x3, atol=1e-4)
    assert layer.compute_mask([x1, x2], [None, None]) is None
    if not p["skip_mask_test"]:
        mask1 = np.ones(input_shape[:-1], dtype=np.bool_)
        mask2 = np.ones(input_shape[:-1], dtype=np.bool_)
        assert bool(layer.compute_mask([x1, x2], [mask1, mask2]).all())


@CASES
def test_correctness_dynamic(case):
    p = parameters(case)
    input_shape, init_kwargs = p["input_shape"], p["init_kwargs"]
    x1 = np.random.rand(*input_shape)
    x2 = np.random.rand(*input_shape)
    x3 = p["np_op"](x1, x2, **init_kwargs)

    layer = p["layer_class"](**init_kwargs)
    symbolic = (None, *input_shape[1:])  # Input(shape=...): the batch size is not known
    assert layer.compute_output_shape([symbolic, symbolic]) == (None, *p["expected_output_shape"][1:])
    res = layer([x1, x2])
    assert tuple(res.shape) == p["expected_output_shape"]
    assert_all_close(res, x3, atol=1e-4)
    assert layer.compute_mask([x1, x2], [None, None]) is None
    if not p["skip_mask_test"]:
        assert bool(layer.compute_mask([x1, x2], [torch.as_tensor(x1), torch.as_tensor(x2)]).all())


@CASES
def test_errors(case):
    p = parameters(case)
    if p["skip_mask_test"]:
        pytest.skip("Masking not supported")
    input_shape = p["input_shape"]
    x1 = np.random.rand(*input_shape)
    input_1, input_2 = torch.rand(input_shape), torch.rand(input_shape)
    layer = p["layer_class"](**p["init_kwargs"])

    with pytest.raises(ValueError, match="`mask` should be a list."):
        layer.compute_mask([input_1, input_2], x1)
    with pytest.raises(ValueError, match="`inputs` should be a list."):
        layer.compute_mask(input_1, [None, None])
    with pytest.raises(ValueError, match=" should have the same length."):
        layer.compute_mask([input_1, input_2], [None])


def test_subtract_layer_inputs_length_errors():
    shape = (2, 4, 5)
    input_1, input_2, input_3 = torch.rand(shape), torch.rand(shape), torch.rand(shape)
    with pytest.raises(ValueError, match="layer should be called on exactly 2 inputs"):
        layers.Subtract()([input_1, input_2, input_3])
    with pytest.raises(ValueError, match="layer should be called on exactly 2 inputs"):
        layers.Subtract()([input_1])


def test_dot_higher_dim():
    a_shape = (1, 3, 2)
    b_shape = (1, 1, 2, 3)
    assert layers.Dot(axes=(-2, -1)).compute_output_shape([a_shape, b_shape]) == (1, 2, 1, 2)
    a = np.random.random(a_shape)
    b = np.random.random(b_shape)
    c = layers.Dot(axes=(-2, -1))([a, b])
    assert tuple(c.shape) == (1, 2, 1, 2)


def masked(values):
    """Keras's ``layers.Masking()(x)``: the output and the mask it carries."""
    x = torch.as_tensor(values)
    mask = layers.Masking()
    return mask(x), mask.compute_mask(x)


X1 = [[[0, 0], [1, 2], [0, 0], [3, 4]]]
X2 = [[[0, 0], [0, 0], [1, 2], [3, 4]]]


def check_with_mask(layer_class, x1_values, x2_values, unmasked_expected, masked_expected):
    """Keras's ``test_*_with_mask``: x1 masked, then both masked."""
    x1, m1 = masked(x1_values)
    x2 = torch.as_tensor(x2_values)
    layer = layer_class()
    output = layer([x1, x2], mask=[m1, None])
    assert_all_close(output, unmasked_expected)
    assert layer.compute_mask([x1, x2], [m1, None]) is None

    x2, m2 = masked(x2_values)
    layer = layer_class()
    output = layer([x1, x2], mask=[m1, m2])
    assert_all_close(output, masked_expected)
    assert_all_close(layer.compute_mask([x1, x2], [m1, m2]), [[0, 1, 1, 1]])


def test_add_with_mask():
    expected = [[[0, 0], [1, 2], [1, 2], [6, 8]]]
    check_with_mask(layers.Add, X1, X2, expected, expected)


def test_subtract_with_mask():
    expected = [[[0, 0], [1, 2], [-1, -2], [0, 0]]]
    check_with_mask(layers.Subtract, X1, X2, expected, expected)


def test_average_with_mask():
    expected = [[[0, 0], [0.5, 1], [0.5, 1], [3, 4]]]
    check_with_mask(layers.Average, X1, X2, expected, expected)


def test_multiply_with_mask():
    check_with_mask(layers.Multiply, X1, X2, [[[0, 0], [0, 0], [1, 2], [9, 16]]], [[[0, 0], [1, 2], [1, 2], [9, 16]]])


def test_maximum_with_mask():
    x1 = [[[0, 0], [-1, -2], [0, 0], [-3, -4]]]
    x2 = [[[0, 0], [0, 0], [-1, -2], [-3, -4]]]
    check_with_mask(
        layers.Maximum, x1, x2, [[[0, 0], [0, 0], [-1, -2], [-3, -4]]], [[[0, 0], [-1, -2], [-1, -2], [-3, -4]]]
    )


def test_minimum_with_mask():
    check_with_mask(layers.Minimum, X1, X2, [[[0, 0], [0, 0], [1, 2], [3, 4]]], [[[0, 0], [1, 2], [1, 2], [3, 4]]])


def test_concatenate_with_mask():
    x1, m1 = masked(X1)
    x2 = torch.as_tensor(X2)

    layer = layers.Concatenate(axis=1)
    output = layer([x1, x2], mask=[m1, None])
    assert_all_close(output, [[[0, 0], [1, 2], [0, 0], [3, 4], [0, 0], [0, 0], [1, 2], [3, 4]]])
    assert_all_close(layer.compute_mask([x1, x2], [m1, None]), [[0, 1, 0, 1, 1, 1, 1, 1]])

    layer = layers.Concatenate(axis=2)
    output = layer([x1, x2], mask=[m1, None])
    assert_all_close(output, [[[0, 0, 0, 0], [1, 2, 0, 0], [0, 0, 1, 2], [3, 4, 3, 4]]])
    assert_all_close(layer.compute_mask([x1, x2], [m1, None]), [[1, 1, 1, 1]])


@pytest.mark.skip(
    reason="needs the functional API with a mask as a model output (Model(inputs, outputs=get_keras_mask(...))), "
    "which rnnlab does not have; the same mask is checked eagerly by test_concatenate_with_mask"
)
def test_concatenate_with_mask_symbolic():
    pass


def test_concatenate_errors():
    x1 = np.ones((1, 1, 1, 1, 5))
    x2 = np.ones((1, 1, 1, 1, 4))
    out = layers.Concatenate(axis=-1)([x1, x2])
    assert tuple(out.shape) == (1, 1, 1, 1, 9)

    x1 = np.ones((1, 2, 1, 1, 5))
    x2 = np.ones((1, 1, 1, 1, 4))
    with pytest.raises(ValueError, match="requires inputs with matching shapes except for the concatenation axis"):
        layers.Concatenate(axis=-1)([x1, x2])
    x1 = np.ones((1, 2, 1, 2, 1))
    x2 = np.ones((1, 1, 1, 3, 1))
    with pytest.raises(ValueError, match="requires inputs with matching shapes except for the concatenation axis"):
        layers.Concatenate(axis=1)([x1, x2])


@CASES
@pytest.mark.skip(reason="rnnlab has no sparse tensors (Keras runs this test on the TensorFlow and JAX backends only)")
def test_sparse(case):
    pass
