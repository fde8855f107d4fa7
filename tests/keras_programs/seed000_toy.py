# The seed-000 toy: windows of a counting sequence, LSTM -> SimpleRNN -> Dense stack, early stopping.
import numpy as np

from rnnlab.callbacks import EarlyStopping
from rnnlab.layers import LSTM, Dense, Dropout, SimpleRNN
from rnnlab.models import Sequential
from rnnlab.utils import set_random_seed

set_random_seed(0)
x = np.array([[i, i + 1, i + 2] for i in range(1, 11)], dtype="float32")[..., None]
y = x[:, -1, 0] + 1
model = Sequential(
    [
        LSTM(64, return_sequences=True, input_shape=(3, 1)),
        SimpleRNN(64),
        Dense(64, activation="relu"),
        Dropout(0.2),
        Dense(1),
    ]
)
model.compile(loss="mse", optimizer="adam")
stop = EarlyStopping(monitor="loss", patience=8, restore_best_weights=True)
history = model.fit(x, y, epochs=60, batch_size=1, callbacks=[stop], verbose=0)
print("epochs", len(history.history["loss"]), "final loss", history.history["loss"][-1])
print("prediction", float(model.predict(np.array([[[8], [9], [10]]], dtype="float32"), verbose=0)[0, 0]))
