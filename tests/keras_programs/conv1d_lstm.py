# A Conv1D + LSTM text classifier (Keras's imdb_cnn_lstm example, without its Dropout, whose random
# masks each framework draws its own way) on synthetic token sequences.
import numpy as np

from rnnlab import layers
from rnnlab.models import Sequential

rng = np.random.default_rng(3)
max_features, maxlen = 40, 24
x = rng.integers(1, max_features, size=(96, maxlen))
y = (x == 7).any(axis=1).astype("float32")  # does the "keyword" 7 occur? (about half the samples)

model = Sequential(
    [
        layers.Input(shape=(maxlen,), dtype="int32"),
        layers.Embedding(max_features, 16),
        layers.Conv1D(32, 5, padding="valid", activation="relu", strides=1),
        layers.MaxPooling1D(pool_size=4),
        layers.LSTM(24),
        layers.Dense(1),
        layers.Activation("sigmoid"),
    ]
)
# The same starting weights in any framework, so the losses can be compared epoch by epoch.
model.set_weights([np.random.default_rng(i).normal(scale=0.2, size=w.shape) for i, w in enumerate(model.get_weights())])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
print("params", model.count_params())
print("shape", model.predict(x[:2], verbose=0).shape)
history = model.fit(x, y, batch_size=16, epochs=12, shuffle=False, verbose=0)
print("loss", " ".join(f"{v:.5f}" for v in history.history["loss"]))
print("accuracy", round(history.history["accuracy"][-1], 3))
