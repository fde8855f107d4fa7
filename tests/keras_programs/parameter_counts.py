# Parameter counts of the three cells, as the tutorials tabulate them.
from rnnlab.layers import GRU, LSTM, Dense, Input, SimpleRNN
from rnnlab.models import Sequential

for layer in (SimpleRNN(16), LSTM(16), GRU(16)):
    model = Sequential([Input((10, 8)), layer, Dense(1)])
    print(type(layer).__name__, model.count_params())
model.summary()
