# A subclassed character model with call(), trained, then a stateful sampler generating text.
import numpy as np

import rnnlab
from rnnlab import layers
from rnnlab.utils import set_random_seed

set_random_seed(2)
text = "hello world, hello keras, hello rnn. " * 20
chars = sorted(set(text))
ids = np.array([chars.index(c) for c in text])
x = np.stack([ids[i : i + 10] for i in range(0, len(ids) - 11, 3)])
y = np.stack([ids[i + 1 : i + 11] for i in range(0, len(ids) - 11, 3)])


class CharModel(rnnlab.Model):
    def __init__(self, vocab, units, stateful=False, batch_size=None):
        super().__init__()
        self.embedding = layers.Embedding(vocab, 8)
        self.gru = layers.GRU(units, return_sequences=True, stateful=stateful)
        self.dense = layers.Dense(vocab)

    def call(self, inputs, training=None):
        return self.dense(self.gru(self.embedding(inputs), training=training))


model = CharModel(len(chars), 32)
model.compile(optimizer="adam", loss=rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
print("loss", round(history.history["loss"][0], 3), "->", round(history.history["loss"][-1], 3))

sampler = CharModel(len(chars), 32, stateful=True)
sampler(np.zeros((1, 1), dtype="int64"))
sampler.set_weights(model.get_weights())
sampler.reset_states()
out, token = "h", np.array([[chars.index("h")]])
for _ in range(20):
    logits = sampler(token)[0, -1]  # a direct call: inference, the states carried
    token = np.array([[int(np.argmax(np.asarray(logits.detach())))]])
    out += chars[token[0, 0]]
print("generated", repr(out))
