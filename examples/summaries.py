"""Print the Keras-style summaries of the tutorials' models (parameter counts equal Keras's)."""
import rnnlab
from rnnlab.layers import GRU, LSTM, Dense, Dropout, Embedding, SimpleRNN

rnnlab.Sequential([
    LSTM(64, return_sequences=True, input_shape=(3, 1)),
    SimpleRNN(64),
    Dense(64, activation="relu"), Dropout(0.2), Dense(1),
]).summary()
for cell in (SimpleRNN, LSTM, GRU):
    rnnlab.Sequential([cell(30, return_sequences=True, input_shape=(100, 2)), cell(30), Dense(1)]).summary()
rnnlab.Sequential([rnnlab.Input((None,), dtype="int32"), Embedding(1000, 100), LSTM(100), Dense(46)]).summary()
