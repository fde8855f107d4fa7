"""The seed-000 toy run in real Keras, over several seeds: the band rnnlab's test checks against.

Run with the fixture environment (see make_fixtures.py):
    /tmp/kv/bin/python scripts/keras_fixtures/seed000_keras.py > tests/fixtures/keras/seed000.json
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import keras
import numpy as np

x = np.array([[i, i + 1, i + 2] for i in range(1, 11)] + [[20, 30, 40], [30, 40, 50], [40, 50, 60]], dtype="float32")[
    ..., None
]
y = np.array(list(range(4, 14)) + [50, 60, 70], dtype="float32")
runs = []
for seed in range(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((3, 1)),
            keras.layers.LSTM(64, return_sequences=True),
            keras.layers.SimpleRNN(64),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1),
        ]
    )
    model.compile(loss="mse", optimizer="adam")
    es = keras.callbacks.EarlyStopping(monitor="loss", mode="min", patience=32, restore_best_weights=True)
    history = model.fit(x, y, epochs=512, batch_size=1, callbacks=[es], verbose=0)
    runs.append(
        {
            "seed": seed,
            "epochs": len(history.history["loss"]),
            "best_loss": float(min(history.history["loss"])),
            "evaluate_loss": float(model.evaluate(x, y, verbose=0)),
            "prediction": float(model.predict(np.array([[50, 60, 70]], dtype="float32")[..., None], verbose=0)[0, 0]),
        }
    )
    print(runs[-1], file=sys.stderr)
print(json.dumps({"keras_version": keras.__version__, "runs": runs}, indent=1))
