"""Keras 3.15's own tests of Conv1D and Conv2D (keras/src/layers/convolutional/conv_test.py), ported to rnnlab.

The parameters and the NumPy reference convolutions are Keras's, unchanged; ``layer.kernel.assign``
becomes ``set_weights``. Conv3D, the transposed, depthwise and separable convolutions and LoRA are
not rnnlab layers, so their tests are not here.
"""

import numpy as np
import pytest
import torch
from layer_conformance import run_layer_test
from numpy.lib.stride_tricks import as_strided

from rnnlab import constraints
from rnnlab.layers import Conv1D, Conv2D, Input


def _same_padding(input_size, kernel_size, stride):
    if input_size % stride == 0:
        padding = max(kernel_size - stride, 0)
    else:
        padding = max(kernel_size - (input_size % stride), 0)
    return padding // 2, padding - padding // 2


def np_conv1d(
    x,
    kernel_weights,
    bias_weights,
    strides,
    padding,
    data_format,
    dilation_rate,
    groups,
):
    if data_format == "channels_first":
        x = x.swapaxes(1, 2)
    if isinstance(strides, (tuple, list)):
        h_stride = strides[0]
    else:
        h_stride = strides
    if isinstance(dilation_rate, (tuple, list)):
        dilation_rate = dilation_rate[0]
    kernel_size, ch_in, ch_out = kernel_weights.shape

    if dilation_rate > 1:
        new_kernel_size = kernel_size + (dilation_rate - 1) * (kernel_size - 1)
        new_kernel_weights = np.zeros((new_kernel_size, ch_in, ch_out), dtype=kernel_weights.dtype)
        new_kernel_weights[::dilation_rate] = kernel_weights
        kernel_weights = new_kernel_weights
        kernel_size = kernel_weights.shape[0]

    if padding != "valid":
        n_batch, h_x, _ = x.shape
        h_pad = _same_padding(h_x, kernel_size, h_stride)
        npad = [(0, 0)] * x.ndim
        if padding == "causal":
            npad[1] = (h_pad[0] + h_pad[1], 0)
        else:
            npad[1] = h_pad
        x = np.pad(x, pad_width=npad, mode="constant", constant_values=0)

    n_batch, h_x, _ = x.shape
    h_out = int((h_x - kernel_size) / h_stride) + 1

    kernel_weights = kernel_weights.reshape(-1, ch_out)
    bias_weights = bias_weights.reshape(1, ch_out)

    out_grps = []
    for grp in range(1, groups + 1):
        x_in = x[..., (grp - 1) * ch_in : grp * ch_in]
        stride_shape = (n_batch, h_out, kernel_size, ch_in)
        strides = (
            x_in.strides[0],
            h_stride * x_in.strides[1],
            x_in.strides[1],
            x_in.strides[2],
        )
        inner_dim = kernel_size * ch_in
        x_strided = as_strided(x_in, shape=stride_shape, strides=strides).reshape(n_batch, h_out, inner_dim)
        ch_out_groups = ch_out // groups
        kernel_weights_grp = kernel_weights[..., (grp - 1) * ch_out_groups : grp * ch_out_groups]
        bias_weights_grp = bias_weights[..., (grp - 1) * ch_out_groups : grp * ch_out_groups]
        out_grps.append(x_strided @ kernel_weights_grp + bias_weights_grp)
    out = np.concatenate(out_grps, axis=-1)
    if data_format == "channels_first":
        out = out.swapaxes(1, 2)
    return out


def np_conv2d(
    x,
    kernel_weights,
    bias_weights,
    strides,
    padding,
    data_format,
    dilation_rate,
    groups,
):
    if data_format == "channels_first":
        x = x.transpose((0, 2, 3, 1))
    if isinstance(strides, (tuple, list)):
        h_stride, w_stride = strides
    else:
        h_stride = strides
        w_stride = strides
    if isinstance(dilation_rate, (tuple, list)):
        h_dilation, w_dilation = dilation_rate
    else:
        h_dilation = dilation_rate
        w_dilation = dilation_rate
    h_kernel, w_kernel, ch_in, ch_out = kernel_weights.shape

    if h_dilation > 1 or w_dilation > 1:
        new_h_kernel = h_kernel + (h_dilation - 1) * (h_kernel - 1)
        new_w_kernel = w_kernel + (w_dilation - 1) * (w_kernel - 1)
        new_kenel_size_tuple = (new_h_kernel, new_w_kernel)
        new_kernel_weights = np.zeros(
            (*new_kenel_size_tuple, ch_in, ch_out),
            dtype=kernel_weights.dtype,
        )
        new_kernel_weights[::h_dilation, ::w_dilation] = kernel_weights
        kernel_weights = new_kernel_weights
        h_kernel, w_kernel = kernel_weights.shape[:2]

    if padding == "same":
        n_batch, h_x, w_x, _ = x.shape
        h_pad = _same_padding(h_x, h_kernel, h_stride)
        w_pad = _same_padding(w_x, w_kernel, w_stride)
        npad = [(0, 0)] * x.ndim
        npad[1] = h_pad
        npad[2] = w_pad
        x = np.pad(x, pad_width=npad, mode="constant", constant_values=0)

    n_batch, h_x, w_x, _ = x.shape
    h_out = int((h_x - h_kernel) / h_stride) + 1
    w_out = int((w_x - w_kernel) / w_stride) + 1

    out_grps = []
    for grp in range(1, groups + 1):
        x_in = x[..., (grp - 1) * ch_in : grp * ch_in]
        stride_shape = (n_batch, h_out, w_out, h_kernel, w_kernel, ch_in)
        strides = (
            x_in.strides[0],
            h_stride * x_in.strides[1],
            w_stride * x_in.strides[2],
            x_in.strides[1],
            x_in.strides[2],
            x_in.strides[3],
        )
        inner_dim = h_kernel * w_kernel * ch_in
        x_strided = as_strided(x_in, shape=stride_shape, strides=strides).reshape(-1, inner_dim)
        ch_out_groups = ch_out // groups
        kernel_weights_grp = kernel_weights[..., (grp - 1) * ch_out_groups : grp * ch_out_groups].reshape(
            -1, ch_out_groups
        )
        bias_weights_grp = bias_weights[..., (grp - 1) * ch_out_groups : grp * ch_out_groups]
        out_grps.append(x_strided @ kernel_weights_grp + bias_weights_grp)
    out = np.concatenate(out_grps, axis=-1).reshape(n_batch, h_out, w_out, ch_out)
    if data_format == "channels_first":
        out = out.transpose((0, 3, 1, 2))
    return out


CONV1D_BASIC = [
    {
        "filters": 5,
        "kernel_size": 2,
        "strides": 1,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 1,
        "input_shape": (3, 5, 4),
        "output_shape": (3, 4, 5),
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": (2,),
        "groups": 2,
        "input_shape": (3, 4, 4),
        "output_shape": (3, 4, 6),
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "causal",
        "data_format": "channels_last",
        "dilation_rate": (2,),
        "groups": 2,
        "input_shape": (3, 4, 4),
        "output_shape": (3, 4, 6),
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": (2,),
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 2,
        "input_shape": (3, 5, 4),
        "output_shape": (3, 2, 6),
    },
]
CONV2D_BASIC = [
    {
        "filters": 5,
        "kernel_size": 2,
        "strides": 1,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 1,
        "input_shape": (3, 5, 5, 4),
        "output_shape": (3, 4, 4, 5),
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": (2, 2),
        "groups": 2,
        "input_shape": (3, 4, 4, 4),
        "output_shape": (3, 4, 4, 6),
    },
    {
        "filters": 6,
        "kernel_size": (2, 2),
        "strides": (2, 1),
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": (1, 1),
        "groups": 2,
        "input_shape": (3, 5, 5, 4),
        "output_shape": (3, 2, 4, 6),
    },
]
CONV1D_CORRECTNESS = [
    {
        "filters": 5,
        "kernel_size": 2,
        "strides": 1,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 1,
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": (2,),
        "groups": 2,
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "causal",
        "data_format": "channels_last",
        "dilation_rate": (2,),
        "groups": 2,
    },
    {
        "filters": 6,
        "kernel_size": (2,),
        "strides": (2,),
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 2,
    },
    {
        "filters": 6,
        "kernel_size": (2,),
        "strides": (2,),
        "padding": "valid",
        "data_format": "channels_first",
        "dilation_rate": 1,
        "groups": 2,
    },
]
CONV2D_CORRECTNESS = [
    {
        "filters": 5,
        "kernel_size": 2,
        "strides": 1,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 1,
    },
    {
        "filters": 4,
        "kernel_size": 3,
        "strides": 2,
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "groups": 1,
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": (2, 2),
        "groups": 2,
    },
    {
        "filters": 6,
        "kernel_size": 2,
        "strides": 1,
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": (2, 3),
        "groups": 2,
    },
    {
        "filters": 6,
        "kernel_size": (4, 3),
        "strides": (2, 1),
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": (1, 1),
        "groups": 2,
    },
    {
        "filters": 6,
        "kernel_size": (4, 3),
        "strides": (2, 1),
        "padding": "valid",
        "data_format": "channels_first",
        "dilation_rate": (1, 1),
        "groups": 2,
    },
]


def _basic(cls, filters, kernel_size, strides, padding, data_format, dilation_rate, groups, input_shape, output_shape):
    run_layer_test(
        cls,
        init_kwargs={
            "filters": filters,
            "kernel_size": kernel_size,
            "strides": strides,
            "padding": padding,
            "data_format": data_format,
            "dilation_rate": dilation_rate,
            "groups": groups,
        },
        input_shape=input_shape,
        expected_output_shape=output_shape,
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        expected_num_losses=0,
        supports_masking=False,
    )


@pytest.mark.parametrize("params", CONV1D_BASIC)
def test_conv1d_basic(params):
    _basic(Conv1D, **params)


@pytest.mark.parametrize("params", CONV2D_BASIC)
def test_conv2d_basic(params):
    _basic(Conv2D, **params)


@pytest.mark.skip(reason="Conv3D is not an rnnlab layer")
def test_conv3d_basic():
    pass


def test_bad_init_args():
    with pytest.raises(
        ValueError,
        match="Invalid value for argument `filters`. Expected a strictly positive value. Received filters=0.",
    ):
        Conv1D(filters=0, kernel_size=1)
    with pytest.raises(
        ValueError,
        match=r"The `kernel_size` argument must be a tuple of \d+ integers. Received kernel_size=\(1, 0\), "
        r"including values \{0\} that do not satisfy `value > 0`",
    ):
        Conv2D(filters=2, kernel_size=(1, 0))
    with pytest.raises(
        ValueError,
        match=r"The `strides` argument must be a tuple of \d+ integers. Received strides=\(1, 0\), "
        r"including values \{0\} that do not satisfy `value > 0`",
    ):
        Conv2D(filters=2, kernel_size=(2, 2), strides=(1, 0))
    with pytest.raises(
        ValueError,
        match=r"`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
        r"Received: strides=\(2, 2\) and dilation_rate=\(2, 1\)",
    ):
        Conv2D(filters=2, kernel_size=(2, 2), strides=2, dilation_rate=(2, 1))
    with pytest.raises(ValueError, match="The number of groups must be a positive integer. Received: groups=0."):
        Conv2D(filters=5, kernel_size=(2, 2), groups=0)
    with pytest.raises(
        ValueError,
        match="The number of filters must be evenly divisible by the number of groups. Received: groups=2, filters=5.",
    ):
        Conv2D(filters=5, kernel_size=(2, 2), groups=2)


@pytest.mark.skip(reason="LoRA (enable_lora, lora_rank) is not part of rnnlab's layers")
def test_enable_lora():
    pass


@pytest.mark.parametrize(
    ("layer_cls", "input_shape", "kernel_size", "dilation_rate"),
    [(Conv1D, (10, 3), 2, 10), (Conv2D, (10, 10, 3), (2, 2), (10, 10))],
)
def test_conv_symbolic_invalid_configuration(layer_cls, input_shape, kernel_size, dilation_rate):
    """Keras calls the layer on a symbolic Input; rnnlab checks the same shape when a model is built."""
    from rnnlab import Sequential

    with pytest.raises(ValueError):
        Sequential([Input(input_shape), layer_cls(filters=1, kernel_size=kernel_size, dilation_rate=dilation_rate)])


def _correct(cls, size, reference, filters, kernel_size, strides, padding, data_format, dilation_rate, groups, rtol):
    layer = cls(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding=padding,
        data_format=data_format,
        dilation_rate=dilation_rate,
        groups=groups,
    )
    inputs = np.random.normal(size=size)
    layer.ensure_built(inputs.shape)
    kernel_weights = np.random.normal(size=tuple(layer.kernel.shape))
    bias_weights = np.random.normal(size=(filters,))
    layer.set_weights([kernel_weights, bias_weights])
    outputs = layer(torch.as_tensor(inputs, dtype=torch.float32))
    expected = reference(
        inputs,
        kernel_weights,
        bias_weights,
        strides=strides,
        padding=padding,
        data_format=data_format,
        dilation_rate=dilation_rate,
        groups=groups,
    )
    np.testing.assert_allclose(outputs.detach().numpy(), expected, rtol=rtol, atol=1e-6 if rtol < 5e-4 else 1e-5)


@pytest.mark.parametrize("params", CONV1D_CORRECTNESS)
def test_conv1d(params):
    _correct(Conv1D, [2, 8, 4], np_conv1d, **params, rtol=1e-6)


@pytest.mark.parametrize("params", CONV2D_CORRECTNESS)
def test_conv2d(params):
    _correct(Conv2D, [2, 8, 8, 4], np_conv2d, **params, rtol=5e-4)


@pytest.mark.skip(reason="Conv3D is not an rnnlab layer")
def test_conv3d():
    pass


def test_conv_constraints():
    layer = Conv2D(filters=4, kernel_size=3, kernel_constraint="non_neg")
    layer.ensure_built((None, 5, 5, 3))
    assert isinstance(layer.weight_constraints["kernel"], constraints.NonNeg)
    layer = Conv2D(filters=4, kernel_size=3, bias_constraint="non_neg")
    layer.ensure_built((None, 5, 5, 3))
    assert isinstance(layer.weight_constraints["bias"], constraints.NonNeg)


def test_conv_raises_exception_on_zero_dims():
    x = np.random.rand(3, 4, 4, 4)
    layer = Conv2D(6, [5, 5], 1, "valid")
    with pytest.raises(ValueError):
        layer(x)
