"""Sequential: Keras parameter counts, summary, shape inference, masks, config round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from helpers import randomize
from rnnlab import Input, Sequential
from rnnlab.layers import GRU, LSTM, RNN, Bidirectional, Dense, Dropout, Embedding, GRUCell, SimpleRNN, TimeDistributed


@pytest.mark.parametrize(
    "layer,count", [(SimpleRNN(10), 120), (LSTM(10), 480), (GRU(10), 390), (GRU(10, reset_after=False), 360)]
)
def test_single_layer_counts(layer, count):
    model = Sequential([Input((3, 1)), layer])
    assert model.count_params() == count
    assert f"{count:,}" in model.summary(print_fn=None)


@pytest.mark.parametrize("cls,count", [(SimpleRNN, 2851), (LSTM, 11311), (GRU, 8671)])
def test_stacked_counts(cls, count):
    model = Sequential([cls(30, return_sequences=True, input_shape=(100, 2)), cls(30), Dense(1)])
    assert model.count_params() == count
    assert f" Total params: {count:,} " in model.summary(print_fn=None)


def test_embedding_lstm_dense_count():
    model = Sequential([Input((None,), dtype="int32"), Embedding(1000, 100), LSTM(100), Dense(46)])
    assert model.count_params() == 185_046
    text = model.summary(print_fn=None)
    assert "│ embedding (Embedding)           │ (None, None, 100)      │       100,000 │" in text
    assert "│ lstm (LSTM)                     │ (None, 100)            │        80,400 │" in text
    assert "│ dense (Dense)                   │ (None, 46)             │         4,646 │" in text


def test_issue_example_summary_and_call():
    model = Sequential(
        [
            LSTM(64, return_sequences=True, input_shape=(3, 1)),
            SimpleRNN(64),
            Dense(64, activation="relu"),
            Dropout(0.2),
            Dense(1),
        ]
    )
    text = model.summary(print_fn=None)
    assert text.splitlines()[0] == 'Model: "sequential"'
    assert "│ lstm (LSTM)                     │ (None, 3, 64)          │        16,896 │" in text
    assert "│ simple_rnn (SimpleRNN)          │ (None, 64)             │         8,256 │" in text
    assert " Total params: 29,377 (114.75 KB)" in text
    assert "lstm: auto -> native" in text
    assert model.count_params() == 29_377
    y = model(torch.randn(13, 3, 1))
    assert isinstance(model, torch.nn.Module) and y.shape == (13, 1)


def test_lazy_build_from_first_call():
    model = Sequential([GRU(8, return_sequences=True), Bidirectional(LSTM(4)), Dense(2)])
    assert "0 (unbuilt)" in model.summary(print_fn=None)
    assert model.layers[0].get_weights() == [] and model.layers[0].weights == []  # Keras: nothing yet
    with pytest.raises(ValueError, match="has no weights yet"):
        model.layers[0].count_params()
    model(np.zeros((2, 5, 3)))  # NumPy input works too
    assert model.count_params() == 3 * 8 * (8 + 3 + 2) + 2 * 4 * 4 * (4 + 8 + 1) + 9 * 2
    assert "(None, 5, 8)" in model.summary(print_fn=None)


def test_masks_flow_through_sequential(rng):
    model = Sequential([Embedding(20, 4, mask_zero=True), LSTM(5, return_sequences=True), GRU(3), Dense(2)])
    tokens = np.array([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    y = model(torch.as_tensor(tokens))
    # Left padding must not change the result of the valid part.
    y_short = model(torch.as_tensor(tokens[:1, 2:]))
    torch.testing.assert_close(y[:1], y_short)
    assert model.layers[1].last_kernel == "native"


def test_time_distributed(rng):
    model = Sequential([Input((4, 3)), SimpleRNN(5, return_sequences=True), TimeDistributed(Dense(2))])
    x = torch.as_tensor(rng.normal(size=(2, 4, 3)), dtype=torch.float32)
    y = model(x)
    dense = model.layers[1].layer
    hidden = model.layers[0](x)
    torch.testing.assert_close(y, hidden @ dense.kernel + dense.bias)
    assert model.count_params() == 5 * (5 + 3 + 1) + 12


# -- configs rebuild ------------------------------------------------------------------------
CONFIG_LAYERS = {
    "simple_rnn": lambda: SimpleRNN(4, activation="relu", go_backwards=True, return_sequences=True),
    "lstm": lambda: LSTM(4, recurrent_activation="hard_sigmoid", unit_forget_bias=False, return_state=True),
    "gru": lambda: GRU(4, reset_after=False, use_bias=False),
    "rnn": lambda: RNN(GRUCell(4), return_sequences=True),
    "bidirectional": lambda: Bidirectional(LSTM(4, return_sequences=True), merge_mode="ave"),
    "dense": lambda: Dense(3, activation="tanh"),
    "time_distributed": lambda: TimeDistributed(Dense(2)),
    "dropout": lambda: Dropout(0.3),
}


@pytest.mark.parametrize("name", CONFIG_LAYERS)
def test_from_config_rebuilds_identical_layer(name, rng):
    layer = CONFIG_LAYERS[name]()
    x = torch.as_tensor(rng.normal(size=(2, 5, 3)), dtype=torch.float32)
    layer(x)
    if layer.get_weights():
        randomize(layer, rng)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    layer.eval(), clone.eval()
    as_tuple = lambda y: y if isinstance(y, tuple) else (y,)  # noqa: E731
    for a, b in zip(as_tuple(layer(x)), as_tuple(clone(x)), strict=True):
        torch.testing.assert_close(a, b)


def test_sequential_config_round_trip(rng):
    model = Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(30, 4, mask_zero=True),
            Bidirectional(GRU(5, return_sequences=True)),
            LSTM(3),
            Dense(2, activation="softmax"),
        ]
    )
    randomize(model, rng)
    clone = Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    tokens = torch.as_tensor([[0, 3, 4, 9], [1, 2, 3, 4]])
    torch.testing.assert_close(model(tokens), clone(tokens))
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]


# -- errors ---------------------------------------------------------------------------------
def test_2d_input_after_last_step_layer_says_return_sequences():
    with pytest.raises(ValueError) as err:
        Sequential([LSTM(8, input_shape=(5, 2)), LSTM(4)])
    assert str(err.value) == (
        "LSTM layer 'lstm_1' expects a 3-D input (batch, time, features), received a 2-D input of shape "
        "(None, 8). The previous layer 'lstm' returns only its last step: set return_sequences=True on it "
        "to feed this layer the whole sequence."
    )
    lazy = Sequential([GRU(8), SimpleRNN(4)])
    with pytest.raises(
        ValueError, match="The previous layer 'gru' returns only its last step: set return_sequences=True on it"
    ):
        lazy(torch.zeros(2, 5, 3))


def test_2d_input_to_first_layer():
    with pytest.raises(
        ValueError,
        match=r"expects a 3-D input \(batch, time, features\), received a 2-D input "
        r"of shape \(4, 10\). For a single feature per step, reshape x to "
        r"\(batch, time, 1\)",
    ):
        LSTM(3)(torch.zeros(4, 10))


def test_wrong_feature_size():
    layer = GRU(4)
    layer(torch.zeros(2, 5, 3))
    with pytest.raises(
        ValueError,
        match=r"GRU layer 'gru' was built for 3 input features, received input of "
        r"shape \(2, 5, 7\) with 7 features",
    ):
        layer(torch.zeros(2, 5, 7))


@pytest.mark.parametrize("units", [0, -3, 2.5, True])
def test_bad_units(units):
    with pytest.raises(ValueError, match=f"units must be a positive integer, received {units!r}"):
        LSTM(units)


def test_unknown_activation_and_initializer():
    with pytest.raises(ValueError, match=r"Unknown activation 'tanhh'. Expected one of \["):
        LSTM(4, activation="tanhh")
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'"):
        GRU(4, kernel_initializer="glorot")
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\), received 1.5"):
        SimpleRNN(4, dropout=1.5)


def test_bad_mask_and_embedding_ids():
    with pytest.raises(
        ValueError, match=r"expects a mask of shape \(batch, time\) = \(2, 5\), received shape \(2, 4\)"
    ):
        LSTM(3)(torch.zeros(2, 5, 1), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"received token id 10, but input_dim is 10: ids must lie in \[0, 9\]"):
        Embedding(10, 3)(torch.tensor([[1, 10]]))


def test_set_weights_shape_errors():
    layer = LSTM(3, input_shape=(5, 2))
    with pytest.raises(
        ValueError,
        match=r"expects 3 weight arrays \(shapes \[\(2, 12\), \(3, 12\), \(12,\)\]\), "
        r"received 2",
    ):
        layer.set_weights(layer.get_weights()[:2])
    weights = layer.get_weights()
    weights[1] = weights[1].T
    with pytest.raises(ValueError, match=r"weight 1 should have shape \(3, 12\), received \(12, 3\)"):
        layer.set_weights(weights)


def test_plain_pytorch_training_loop(rng):
    """The layers are ordinary modules: any optimizer and state_dict work on them."""
    model = Sequential([LSTM(8, input_shape=(6, 2)), Dense(1)])
    assert list(model.state_dict()) == [
        "layers.0.cell.kernel",
        "layers.0.cell.recurrent_kernel",
        "layers.0.cell.bias",
        "layers.1.kernel",
        "layers.1.bias",
    ]
    x = torch.as_tensor(rng.normal(size=(32, 6, 2)), dtype=torch.float32)
    y = x.sum(dim=(1, 2)).unsqueeze(-1) / 6
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    first = None
    for _ in range(60):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.2 * first
    rnnlab.set_seed(0)
