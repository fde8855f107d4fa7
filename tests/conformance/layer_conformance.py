"""Keras's ``testing.TestCase.run_layer_test`` (keras/src/testing/test_case.py, Keras 3.15), ported to
rnnlab layers, so Keras's own layer tests run here with only their imports changed.

Each of Keras's checks maps to rnnlab's counterpart:
- config round trip: ``from_config(get_config())`` gives the same config (tuples kept apart from
  lists, as Keras's JSON check does) and the same attributes; then the same through
  ``rnnlab.layers.deserialize`` (Keras's ``serialize_keras_object`` round trip);
- build: ``layer.build(shape)`` builds it, with the expected number of weights;
- symbolic call: ``compute_output_shape`` of the input shape, which is what rnnlab's models use
  to know shapes before data (Keras runs the layer on KerasTensors);
- eager call: the output's shape, dtype and values (``assertAllClose``'s tolerances, 1e-6),
  and the number of losses;
- training step: Keras fits one step with ``loss = sum(y_pred)`` and SGD; here the same loss is
  backpropagated to the inputs and the weights and one SGD step is taken.
Keras's mixed-precision check is skipped: Keras itself skips it on CPU, and rnnlab layers
compute in one precision.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from rnnlab.layers import deserialize

ATOL = RTOL = 1e-6  # Keras's assertAllClose defaults


def assert_all_close(actual: Any, expected: Any, atol: float = ATOL, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(_numpy(actual), _numpy(expected), atol=atol, rtol=rtol)


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _json_with_tuples(config: Any) -> str:
    """Keras's ``to_json_with_tuples``: a tuple and a list of the same items are different configs."""

    def mark(value: Any) -> Any:
        if isinstance(value, tuple):
            return {"__tuple__": [mark(v) for v in value]}
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        return value

    return json.dumps(mark(config), sort_keys=True, default=repr)


def run_class_serialization_test(instance: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    cls = type(instance)
    config = instance.get_config()
    config_json = _json_with_tuples(config)
    ref_dir = set(dir(instance))
    extra = {"custom_objects": custom_objects} if custom_objects else {}
    revived = cls.from_config(config, **extra)
    assert _json_with_tuples(revived.get_config()) == config_json
    assert set(dir(revived)) == ref_dir
    # Keras's second round trip goes through its registry; rnnlab's is ``deserialize``, which takes no
    # custom objects, so a layer that needs them (a Lambda of a named function) is rebuilt by its class.
    spec = {"class_name": cls.__name__, "config": config}
    revived = cls.from_config(config, **extra) if custom_objects else deserialize(spec)
    assert _json_with_tuples(revived.get_config()) == config_json
    assert set(dir(revived)) == ref_dir
    return revived


def _is_shape_list(shape: Any) -> bool:
    return isinstance(shape, list | tuple) and len(shape) > 0 and isinstance(shape[0], list | tuple)


def _eager_tensors(shape: Any, dtype: Any = None) -> Any:
    if _is_shape_list(shape):
        return [_eager_tensors(s, dtype) for s in shape]
    if dtype is not None and "int" in str(dtype):
        return torch.randint(0, 2, tuple(shape))
    return torch.rand(tuple(shape))


def _shape_of(data: Any) -> Any:
    if isinstance(data, list | tuple):
        return [tuple(np.shape(x)) for x in data]
    return tuple(np.shape(data))


def _shapes_match(expected: Any, actual: Any) -> bool:
    if len(expected) != len(actual):
        return False
    return all(e is None or e == a for e, a in zip(expected, actual, strict=True))


def run_layer_test(
    layer_cls: type,
    init_kwargs: dict[str, Any],
    input_shape: Any = None,
    input_dtype: Any = None,
    input_data: Any = None,
    call_kwargs: dict[str, Any] | None = None,
    expected_output_shape: Any = None,
    expected_output_dtype: str | None = None,
    expected_output: Any = None,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    expected_num_seed_generators: int | None = None,
    expected_num_losses: int | None = None,
    supports_masking: bool | None = None,
    custom_objects: dict[str, Any] | None = None,
    run_training_check: bool = True,
    assert_built_after_instantiation: bool = False,
) -> None:
    """Keras's checks of one layer class (see the module docstring); ``expected_num_seed_generators``
    is accepted for the ports' sake: rnnlab layers draw from the one torch generator."""
    assert input_shape is None or input_data is None, "input_shape and input_data cannot be passed at the same time."
    call_kwargs = call_kwargs or {}

    if input_data is not None or input_shape is not None:
        if input_data is None:
            input_data = _eager_tensors(input_shape, input_dtype)
        layer = layer_cls(**init_kwargs)
        layer(input_data, **call_kwargs)
        if expected_num_trainable_weights is None:
            expected_num_trainable_weights = len(layer.trainable_weights)
        if expected_num_non_trainable_weights is None:
            expected_num_non_trainable_weights = len(layer.non_trainable_weights)

    layer = layer_cls(**init_kwargs)
    run_class_serialization_test(layer, custom_objects)
    if supports_masking is not None:
        assert layer.supports_masking == supports_masking, "Unexpected supports_masking value"

    def build_asserts(layer: Any) -> None:
        assert layer.built
        if expected_num_trainable_weights is not None:
            assert len(layer.trainable_weights) == expected_num_trainable_weights, (
                "Unexpected number of trainable_weights"
            )
        if expected_num_non_trainable_weights is not None:
            assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    if input_data is None and input_shape is None:
        return
    build_shape = input_shape if input_shape is not None else _shape_of(input_data)
    layer = layer_cls(**init_kwargs)
    layer.build(build_shape)
    build_asserts(layer)

    layer = layer_cls(**init_kwargs)  # the symbolic call: shapes without data
    output_shape = layer.compute_output_shape(build_shape)
    if expected_output_shape is not None:
        assert _shapes_match(expected_output_shape, output_shape), (
            f"Expected output shapes {expected_output_shape} but received {output_shape}"
        )

    if assert_built_after_instantiation:
        assert layer_cls(**init_kwargs).built, f"{layer_cls} is stateless, so it should be built after instantiation."

        class ModifiedBuildLayer(layer_cls):  # type: ignore[misc, valid-type]
            def build(self, *args: Any, **kwargs: Any) -> None:
                pass

        assert not ModifiedBuildLayer(**init_kwargs).built, "a layer whose build is overridden is not built at once"

    layer = layer_cls(**init_kwargs)  # the eager call
    output = layer(input_data, **call_kwargs)
    if expected_output_shape is not None:
        assert _shapes_match(expected_output_shape, tuple(output.shape)), (
            f"Expected output shapes {expected_output_shape} but received {tuple(output.shape)}"
        )
    if expected_output_dtype is not None:
        assert str(output.dtype).removeprefix("torch.") == expected_output_dtype
    if expected_output is not None:
        assert_all_close(output, expected_output)
    if expected_num_losses is not None:
        assert len(layer.losses) == expected_num_losses

    if run_training_check:
        _training_step(layer, input_data, call_kwargs)


def _training_step(layer: Any, input_data: Any, call_kwargs: dict[str, Any]) -> None:
    """One SGD step on ``sum(layer(x))``: gradients reach every floating input and every weight."""
    inputs = input_data if isinstance(input_data, list | tuple) else [input_data]
    token_ids = getattr(layer, "integer_inputs", False)  # an Embedding's input has no gradient
    leaves = [_leaf(torch.as_tensor(np.asarray(_numpy(x))), token_ids) for x in inputs]
    kwargs = dict(call_kwargs)
    if layer.uses_training:
        kwargs.setdefault("training", True)
    output = layer(leaves if isinstance(input_data, list | tuple) else leaves[0], **kwargs)
    output.sum().backward()
    for leaf in leaves:
        if leaf.requires_grad:
            assert leaf.grad is not None and bool(torch.isfinite(leaf.grad).all())
    params = [p for p in layer.parameters() if p.requires_grad]
    if params:
        torch.optim.SGD(params, lr=0.01).step()


def _leaf(x: torch.Tensor, token_ids: bool) -> torch.Tensor:
    """A float32 leaf that collects its gradient, or the token ids as they are."""
    return x if token_ids else x.float().requires_grad_(True)
