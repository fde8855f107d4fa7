"""Keras's ``testing.TestCase`` (keras/src/testing/test_case.py, Keras 3.15) for rnnlab layers, so
Keras's class-based layer tests run with only their imports changed
(``from keras.src import testing`` becomes ``import keras_testcase as testing``).

``run_layer_test`` is ``layer_conformance.run_layer_test``; Keras's arguments about its own
variables have no rnnlab counterpart and are dropped: ``expected_num_non_trainable_variables``
counts Keras's seed-generator state (rnnlab layers draw from the one torch generator) and
``run_mixed_precision_check`` Keras skips on CPU. ``tpu_atol`` / ``tpu_rtol`` apply on TPUs only.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import numpy as np
from absl.testing import parameterized
from layer_conformance import ATOL, RTOL, _numpy, run_class_serialization_test, run_layer_test

KERAS_ONLY = ("expected_num_non_trainable_variables", "run_mixed_precision_check")


class TestCase(parameterized.TestCase):
    def run_layer_test(self, layer_cls: type, init_kwargs: dict[str, Any], **kwargs: Any) -> None:
        for name in KERAS_ONLY:
            kwargs.pop(name, None)
        run_layer_test(layer_cls, init_kwargs, **kwargs)

    def run_class_serialization_test(self, instance: Any, custom_objects: dict[str, Any] | None = None) -> Any:
        return run_class_serialization_test(instance, custom_objects)

    def get_temp_dir(self) -> str:
        temp_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, temp_dir)
        return temp_dir

    def assertAllClose(
        self,
        x1: Any,
        x2: Any,
        atol: float = ATOL,
        rtol: float = RTOL,
        tpu_atol: float | None = None,
        tpu_rtol: float | None = None,
        msg: str | None = None,
    ) -> None:
        np.testing.assert_allclose(_numpy(x1), _numpy(x2), atol=atol, rtol=rtol, err_msg=msg or "")

    def assertNotAllClose(
        self, x1: Any, x2: Any, atol: float = ATOL, rtol: float = RTOL, msg: str | None = None
    ) -> None:
        if np.allclose(_numpy(x1), _numpy(x2), atol=atol, rtol=rtol):
            self.fail(msg or "The two values are close at all elements.")

    def assertAllEqual(self, x1: Any, x2: Any, msg: str | None = None) -> None:
        np.testing.assert_array_equal(_numpy(x1), _numpy(x2), err_msg=msg or "")


def tensorflow_uses_gpu() -> bool:
    return False


class backend:
    """What Keras's tests ask of ``keras.src.backend``: rnnlab runs on torch, with dense tensors only."""

    SUPPORTS_SPARSE_TENSORS = False
    SUPPORTS_RAGGED_TENSORS = False

    class config:
        @staticmethod
        def image_data_format() -> str:
            return "channels_last"

    @staticmethod
    def backend() -> str:
        return "torch"

    @staticmethod
    def convert_to_numpy(x: Any) -> np.ndarray:
        return _numpy(x)
