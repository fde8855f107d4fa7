"""Keras 3's side of the benchmark, one backend per process (``KERAS_BACKEND``).

Run by ``run.py`` as ``python keras_worker.py '<json config>'``; prints one JSON object:
``{"keras": version, "backend": name, "results": [{"workload", "variant", "times"}...]}``.
It imports neither rnnlab nor PyTorch itself, so it also runs from a virtual environment
that has only Keras and TensorFlow. The data have the workloads' shapes and distributions,
drawn here with NumPy.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _set_threads(threads: int) -> None:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


def _timed(unit, repeats: int) -> list[float]:
    unit()  # warm-up: graph tracing, first allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        unit()
        times.append(time.perf_counter() - start)
    return times


def main(config: dict) -> dict:
    _set_threads(config["threads"])
    import keras
    from keras import layers

    s = config["sizes"]
    repeats = config["repeats"]
    cells = {"SimpleRNN": layers.SimpleRNN, "LSTM": layers.LSTM, "GRU": layers.GRU}
    results = []

    def record(workload: str, variant: str, unit) -> None:
        results.append({"workload": workload, "variant": variant, "times": _timed(unit, repeats)})

    rng = np.random.default_rng(3)
    if "W1" in config["workloads"]:
        n, length = s["w1_train"] + s["w1_val"], s["w1_length"]
        x = np.zeros((n, length, 2), dtype="float32")
        x[..., 1] = rng.random((n, length))
        for row in range(n):
            x[row, rng.choice(length, 2, replace=False), 0] = 1.0
        y = (x[..., 0] * x[..., 1]).sum(1, keepdims=True).astype("float32")
        xt, yt, xv, yv = x[: s["w1_train"]], y[: s["w1_train"]], x[s["w1_train"] :], y[s["w1_train"] :]
        for name, cell in cells.items():
            units = s["w1_units"]
            model = keras.Sequential(
                [keras.Input((length, 2)), cell(units, return_sequences=True), cell(units), layers.Dense(1)]
            )
            model.compile(optimizer="adam", loss="mse")

            def epoch(m=model) -> None:
                m.fit(xt, yt, batch_size=32, epochs=1, validation_data=(xv, yv), verbose=0)

            record("W1", name, epoch)

    if "W2" in config["workloads"]:
        text = rng.integers(0, s["w2_vocab"], size=(s["w2_batch"] * s["w2_steps"], s["w2_length"] + 1))
        x2, y2 = text[:, :-1], text[:, 1:]
        for name in ("LSTM", "GRU"):
            model = keras.Sequential(
                [
                    keras.Input((s["w2_length"],), dtype="int32"),
                    layers.Embedding(s["w2_vocab"], s["w2_embed"]),
                    cells[name](s["w2_units"], return_sequences=True),
                    cells[name](s["w2_units"], return_sequences=True),
                    layers.Dense(s["w2_vocab"]),
                ]
            )
            model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            record("W2", name, lambda m=model: m.fit(x2, y2, batch_size=s["w2_batch"], shuffle=False, verbose=0))

    if "W3" in config["workloads"]:
        model = keras.Sequential(
            [
                keras.Input(batch_shape=(1, 1), dtype="int32"),
                layers.Embedding(s["w2_vocab"], s["w2_embed"]),
                layers.LSTM(s["w2_units"], return_sequences=True, stateful=True),
                layers.LSTM(s["w2_units"], return_sequences=True, stateful=True),
                layers.Dense(s["w2_vocab"]),
            ]
        )
        sampler = np.random.default_rng(0)

        def generate() -> None:  # the model called once per character, as the text-generation tutorial does
            token = np.zeros((1, 1), dtype="int32")
            for _ in range(s["w3_chars"]):
                logits = keras.ops.convert_to_numpy(model(token, training=False))[0, -1].astype("float64")
                probs = np.exp(logits - logits.max())
                token = np.array([[sampler.choice(len(probs), p=probs / probs.sum())]], dtype="int32")

        record("W3", "LSTM", generate)

    if "W4" in config["workloads"]:
        x4 = rng.integers(1, s["w4_vocab"], size=(s["w4_train"], s["w4_length"]))
        y4 = rng.integers(0, s["w4_classes"], size=s["w4_train"])
        x4_test = rng.integers(1, s["w4_vocab"], size=(s["w4_test"], s["w4_length"]))
        model = keras.Sequential(
            [
                keras.Input((s["w4_length"],), dtype="int32"),
                layers.Embedding(s["w4_vocab"], s["w4_embed"]),
                layers.LSTM(s["w4_units"]),
                layers.Dense(s["w4_classes"], activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        record("W4", "train", lambda: model.fit(x4, y4, batch_size=s["w4_batch"], epochs=1, verbose=0))
        record("W4", "predict", lambda: model.predict(x4_test, batch_size=s["w4_batch"], verbose=0))

    return {"keras": keras.__version__, "backend": keras.backend.backend(), "results": results}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
