# The encoder-decoder of Keras's RNN guide ("RNN state reuse"): the encoder LSTM's final states become
# the decoder LSTM's initial state, built with the functional API; trained here on synthetic token
# sequences (the decoder names the class of a pair of sequences).
import numpy as np

import rnnlab
from rnnlab import layers

encoder_vocab = 1000
decoder_vocab = 2000

encoder_input = layers.Input(shape=(None,))
encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)

# Return states in addition to output
output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
encoder_state = [state_h, state_c]

decoder_input = layers.Input(shape=(None,))
decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)

# Pass the 2 states to a new LSTM layer, as initial state
decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
output = layers.Dense(10)(decoder_output)

model = rnnlab.Model([encoder_input, decoder_input], output)
print("params", model.count_params())
print("layers", [layer.name for layer in model.layers])

rng = np.random.default_rng(5)
encoder_tokens = rng.integers(1, encoder_vocab, size=(64, 7))
decoder_tokens = rng.integers(1, decoder_vocab, size=(64, 5))
labels = (encoder_tokens[:, 0] + decoder_tokens[:, -1]) % 10
# The same starting weights in any framework, so the losses can be compared epoch by epoch.
model.set_weights([np.random.default_rng(i).normal(scale=0.1, size=w.shape) for i, w in enumerate(model.get_weights())])
model.compile(
    optimizer=rnnlab.optimizers.Adam(0.01),
    loss=rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
history = model.fit([encoder_tokens, decoder_tokens], labels, batch_size=16, epochs=5, shuffle=False, verbose=0)
print("loss", " ".join(f"{v:.5f}" for v in history.history["loss"]))
print("shape", model.predict([encoder_tokens[:3], decoder_tokens[:3]], verbose=0).shape)
