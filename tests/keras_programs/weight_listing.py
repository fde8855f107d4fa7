# The weight-listing tutorial: a SimpleRNN's weights by name, and its output by hand.
import numpy as np

from rnnlab.layers import Dense, Input, SimpleRNN
from rnnlab.models import Sequential

model = Sequential([Input((3, 1)), SimpleRNN(2, activation="linear"), Dense(1, activation="linear")])
w_xh, w_hh, b_h = model.layers[0].weights
w_ho, b_o = model.layers[1].weights
print([w.name for w in model.layers[0].weights], w_xh.shape, w_hh.shape, b_h.shape)
x = np.array([1, 2, 3]).reshape(1, 3, 1).astype("float32")
h = np.zeros(2)
for t in range(3):
    h = x[0, t] @ np.asarray(w_xh) + h @ np.asarray(w_hh) + np.asarray(b_h)
by_hand = h @ np.asarray(w_ho) + np.asarray(b_o)
print("difference", float(np.abs(by_hand - model.predict(x)).max()))
