# An Embedding + LSTM text classifier on synthetic token sequences (the IMDB tutorial's shape).
import numpy as np

from rnnlab import layers, losses, metrics, optimizers
from rnnlab.models import Sequential
from rnnlab.preprocessing.sequence import pad_sequences
from rnnlab.utils import set_random_seed, to_categorical

set_random_seed(1)
rng = np.random.default_rng(1)
sequences = [list(rng.integers(1, 50, size=rng.integers(3, 12))) for _ in range(128)]
labels = np.array([int(sum(s) / len(s) > 25) for s in sequences])
x = pad_sequences(sequences, maxlen=12)
model = Sequential(
    [
        layers.Input(shape=(12,), dtype="int32"),
        layers.Embedding(50, 8, mask_zero=True),
        layers.LSTM(16, kernel_regularizer="l2"),
        layers.Dense(2),
    ]
)
model.compile(
    optimizer=optimizers.Adam(learning_rate=0.01),
    loss=losses.CategoricalCrossentropy(from_logits=True),
    metrics=[metrics.CategoricalAccuracy(), "acc"],
)
history = model.fit(x, to_categorical(labels, 2), epochs=10, batch_size=32, validation_split=0.25, verbose=0)
print(sorted(history.history))
print("accuracy", round(history.history["acc"][-1], 3))
model.get_layer("lstm").trainable = False
print("trainable weights", len(model.trainable_weights), "of", len(model.weights))
