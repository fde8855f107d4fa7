"""Keras 3.15's tests of SpatialDropout1D (keras/src/layers/regularization/spatial_dropout_test.py),
ported to rnnlab. SpatialDropout2D and 3D are not rnnlab layers (the 1-D form is the one sequence
models use); their tests are kept, skipped, so the count stays Keras's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_conformance import assert_all_close, run_layer_test

from rnnlab import layers

NO_2D_3D = "rnnlab has SpatialDropout1D only; SpatialDropout2D/3D (image and volume feature maps) are not rnnlab layers"


def test_spatial_dropout_1d():
    run_layer_test(
        layers.SpatialDropout1D,
        init_kwargs={"rate": 0.5},
        call_kwargs={"training": True},
        input_shape=(2, 3, 4),
        assert_built_after_instantiation=True,
    )
    run_layer_test(
        layers.SpatialDropout1D,
        init_kwargs={"rate": 0.5},
        call_kwargs={"training": False},
        input_shape=(2, 3, 4),
        assert_built_after_instantiation=True,
    )


@pytest.mark.skip(reason=NO_2D_3D)
def test_spatial_dropout_2d():
    pass


@pytest.mark.skip(reason=NO_2D_3D)
def test_spatial_dropout_3d():
    pass


def test_spatial_dropout_1D_dynamic():
    # Keras calls the layer on layers.Input((3, 2)): its shape passes through, with the batch unknown
    layer = layers.SpatialDropout1D(0.5)
    assert layer.compute_output_shape((None, 3, 2)) == (None, 3, 2)
    layer(torch.ones(5, 3, 2), training=True)


def test_spatial_dropout_1D_correctness():
    inputs = np.ones((10, 3, 10))
    layer = layers.SpatialDropout1D(0.5)
    outputs = layer(inputs, training=True)
    assert_all_close(outputs[:, 0, :], outputs[:, 1, :])


@pytest.mark.skip(reason=NO_2D_3D)
def test_spatial_dropout_2D_dynamic():
    pass


@pytest.mark.skip(reason=NO_2D_3D)
def test_spatial_dropout_2D_correctness():
    pass


@pytest.mark.skip(reason=NO_2D_3D)
def test_spatial_dropout_3D_dynamic():
    pass


@pytest.mark.skip(reason=NO_2D_3D)
def test_spatial_dropout_3D_correctness():
    pass
