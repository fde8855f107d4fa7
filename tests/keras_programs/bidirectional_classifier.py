# Keras's bidirectional LSTM classifier (the "Bidirectional LSTM on IMDB" example) on synthetic token
# sequences, smaller than the example's (embedding 16 for 128, 8 units for 64) so it trains in seconds.
import numpy as np

import rnnlab
from rnnlab import layers

max_features = 50  # Only consider the top 50 words
maxlen = 20  # Only consider the first 20 words of each sequence

rng = np.random.default_rng(11)
x_train = rng.integers(1, max_features, size=(128, maxlen))
y_train = (x_train == 3).any(axis=1).astype("float32")  # does the "keyword" 3 occur?
x_val, y_val = x_train[96:], y_train[96:]
x_train, y_train = x_train[:96], y_train[:96]

# Input for variable-length sequences of integers
inputs = rnnlab.Input(shape=(None,), dtype="int32")
# Embed each integer in a 16-dimensional vector
x = layers.Embedding(max_features, 16)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(8))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = rnnlab.Model(inputs, outputs)
print("params", model.count_params())

# The same starting weights in any framework, so the losses can be compared epoch by epoch.
model.set_weights([np.random.default_rng(i).normal(scale=0.2, size=w.shape) for i, w in enumerate(model.get_weights())])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=8, shuffle=False, verbose=0, validation_data=(x_val, y_val))
print("keys", sorted(history.history))
print("loss", " ".join(f"{v:.5f}" for v in history.history["loss"]))
print("val_loss", " ".join(f"{v:.5f}" for v in history.history["val_loss"]))
