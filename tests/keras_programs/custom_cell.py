# Keras's RNN guide, "RNN layers and RNN cells": a cell of one's own (the RNN layer's MinimalRNNCell),
# alone and stacked, in a model that trains; small synthetic data.
import numpy as np

from rnnlab import Input, Sequential, layers, ops, utils


class MinimalRNNCell(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
        )

    def call(self, inputs, states):
        prev_output = states[0]
        h = ops.matmul(inputs, self.kernel)
        output = h + ops.matmul(prev_output, self.recurrent_kernel)
        return output, [output]


utils.set_random_seed(0)
x = np.random.normal(size=(64, 10, 5)).astype("float32")
y = x.sum(axis=(1, 2))[:, None] / 10

single = Sequential([Input((None, 5)), layers.RNN(MinimalRNNCell(32)), layers.Dense(1)])
stacked = Sequential([Input((None, 5)), layers.RNN([MinimalRNNCell(32), MinimalRNNCell(64)]), layers.Dense(1)])
for model in (single, stacked):
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    print(model.count_params(), [w.name for w in model.layers[0].weights])
    print("loss", history.history["loss"][0], history.history["loss"][-1])
