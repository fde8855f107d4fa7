"""What Keras programs touch around the layers: variables, trainable, get_layer, summary, Keras 2
arguments, dtype, regularizer configs, Masking, stacked cells, file extensions, optimizer objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import regularizers
from rnnlab.layers import GRU, LSTM, RNN, Bidirectional, Dense, Embedding, GRUCell, Input, LSTMCell, Masking
from rnnlab.models import Sequential
from rnnlab.training.update_rules import KerasAdam, KerasRMSprop


def test_weights_are_keras_variables_viewing_the_parameters():
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    kernel, recurrent, bias = model.layers[0].weights
    assert (kernel.name, kernel.path, kernel.shape, kernel.dtype) == (
        "kernel",
        "sequential/lstm/lstm_cell/kernel",
        (3, 16),
        "float32",
    )
    assert [w.path for w in model.weights][-2:] == ["sequential/dense/kernel", "sequential/dense/bias"]
    np.testing.assert_array_equal(np.asarray(kernel), model.layers[0].get_weights()[0])
    kernel.assign(np.ones((3, 16)))
    assert float(model.layers[0].cell.kernel.sum()) == 48.0  # the same tensor, not a copy
    assert repr(bias).startswith("<Variable path=sequential/lstm/lstm_cell/bias, shape=(16,), dtype=float32, value=")


def test_trainable_false_after_build_freezes_fit_and_summary(rng):
    model = Sequential([Input((5, 2)), LSTM(4), Dense(1)])
    model.get_layer("lstm").trainable = False
    before = model.layers[0].get_weights()
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 3
    assert " Non-trainable params: 112 " in model.summary(print_fn=None)
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.normal(size=(16, 5, 2)), rng.normal(size=(16, 1)), epochs=2, verbose=0)
    for a, b in zip(before, model.layers[0].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer(index=-1) is model.layers[1]
    with pytest.raises(ValueError, match="No such layer: 'gru'"):
        model.get_layer("gru")


def test_summary_prints_once_and_returns_none(capsys):
    model = Sequential([Input((5, 2)), LSTM(4)])
    print(model.summary())
    out = capsys.readouterr().out
    assert out.count("Total params") == 1 and out.rstrip().endswith("None")


def test_keras2_shape_arguments():
    assert Sequential([LSTM(4, input_dim=3, input_length=5), Dense(1)]).input_spec.shape == (5, 3)
    assert Sequential([LSTM(4, input_dim=3)]).input_spec.shape == (None, 3)
    spec = Sequential([LSTM(4, batch_input_shape=(2, 5, 3), stateful=True)]).input_spec
    assert (spec.shape, spec.batch_size) == ((5, 3), 2)
    assert Sequential([Dense(2, input_dim=8)]).count_params() == 18
    assert Input(batch_shape=(4, 7, 1)).shape == Input((7, 1), batch_size=4).shape == (4, 7, 1)


def test_dtype_and_weight_options_round_trip_through_configs():
    layer = LSTM(3, dtype="float64", kernel_regularizer=regularizers.L2(0.1), bias_constraint="non_neg")
    y = layer(np.zeros((2, 4, 1), dtype="float32"))
    assert y.dtype == torch.float64 and layer.dtype == "float64"
    config = layer.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.1}}
    clone = LSTM.from_config(config)
    clone(np.zeros((2, 4, 1)))
    assert clone.cell.weight_regularizers["kernel"].l2 == 0.1 and "bias" in clone.cell.weight_constraints
    with pytest.raises(TypeError, match="unexpected keyword argument 'kernal_regularizer'"):
        Dense(2, kernal_regularizer="l2")
    with pytest.raises(ValueError, match="mixed-precision"):
        Dense(2, dtype="mixed_float16")


def test_penalties_join_the_loss(rng):
    model = Sequential([Input((3,)), Dense(2, kernel_regularizer=regularizers.L2(0.5))])
    kernel = model.layers[0].kernel
    assert float(model.losses[0]) == pytest.approx(0.5 * float(kernel.square().sum()))
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    plain = float(((model.predict(x) - y) ** 2).mean())
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain + float(model.losses[0]), rel=1e-5)


def test_masking_layer_masks_steps_for_the_rnn(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    masked = Sequential([Input((5, 3)), Masking(), LSTM(4)])
    lstm = masked.layers[1]
    torch.testing.assert_close(masked(x)[0], lstm(torch.as_tensor(x[:1, :3]))[0])


def test_stacked_cells_equal_stacked_layers(rng):
    x = torch.as_tensor(rng.normal(size=(2, 5, 3)), dtype=torch.float32)
    stacked = RNN([LSTMCell(4), GRUCell(2)])
    y = stacked(x)
    first, second = LSTM(4, return_sequences=True), GRU(2)
    first(x), second(torch.zeros(1, 1, 4))
    first.set_weights(stacked.get_weights()[:3])
    second.set_weights(stacked.get_weights()[3:])
    torch.testing.assert_close(y, second(first(x)))
    assert [w.path for w in stacked.weights][3] == "rnn/stacked_rnn_cells/gru_cell/kernel"
    clone = RNN.from_config(stacked.get_config())
    clone(x)
    clone.set_weights(stacked.get_weights())
    torch.testing.assert_close(clone(x), y)


def test_bidirectional_without_merge_returns_a_flat_tuple():
    out = Bidirectional(LSTM(3, return_state=True), merge_mode=None)(torch.zeros(2, 4, 1))
    assert isinstance(out, tuple) and len(out) == 6 and all(isinstance(t, torch.Tensor) for t in out)
    assert isinstance(Bidirectional(LSTM(3), merge_mode=None)(torch.zeros(2, 4, 1)), tuple)


def test_file_extensions_choose_the_format(tmp_path):
    model = Sequential([Input((4,), dtype="int32"), Embedding(5, 2, mask_zero=True), LSTM(3), Dense(1)])
    with pytest.raises(ValueError, match=r"does not know the file type of .*model\.pt.*\*\.keras"):
        model.save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"\*\.weights\.h5"):
        model.save_weights(tmp_path / "w.h5")

    class Net(rnnlab.Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(
        ValueError,
        match="Net cannot be written as a Keras file: rnnlab does so for Sequential and functional models only",
    ):
        Net().save(tmp_path / "net.keras")
    assert list(tmp_path.iterdir()) == []  # nothing written by a refused save
    model.save(tmp_path / "m.keras")
    x = np.array([[1, 2, 0, 0], [3, 4, 1, 0]])
    np.testing.assert_array_equal(rnnlab.load_model(tmp_path / "m.keras").predict(x), model.predict(x))


def test_optimizer_objects_describe_themselves():
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer=rnnlab.optimizers.RMSprop(learning_rate=0.01, rho=0.8, clipnorm=2.0), loss="mse")
    optimizer = model.build_optimizer()
    assert isinstance(optimizer, KerasRMSprop) and optimizer.param_groups[0]["alpha"] == 0.8
    assert model.compile_config["clipnorm"] == 2.0
    model.compile(optimizer=rnnlab.optimizers.Adam(beta_1=0.8), loss=rnnlab.losses.MeanSquaredError())
    assert isinstance(model.build_optimizer(), KerasAdam) and model.build_optimizer().param_groups[0]["betas"][0] == 0.8
    assert model.compile_config["loss"] == "mean_squared_error"
    with pytest.raises(ValueError, match="Only one of clipnorm"):
        rnnlab.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_keras_epsilon_placement_differs_from_torch():
    """At a gradient of 1e-3 torch's RMSprop first step is 41% larger than Keras's."""
    steps = {}
    for cls, kwargs in ((KerasRMSprop, {}), (torch.optim.RMSprop, {"alpha": 0.9, "eps": 1e-7})):
        w = torch.nn.Parameter(torch.zeros(1))
        optimizer = cls([w], lr=1e-3, **kwargs)
        w.grad = torch.full((1,), 1e-3)
        optimizer.step()
        steps[cls] = -float(w)
    assert steps[KerasRMSprop] == pytest.approx(1e-3 * 1e-3 / np.sqrt(0.1 * 1e-6 + 1e-7), rel=1e-5)
    assert steps[torch.optim.RMSprop] / steps[KerasRMSprop] == pytest.approx(1.41, abs=0.01)


def test_keras_module_names_exist():
    from rnnlab.preprocessing.sequence import pad_sequences
    from rnnlab.utils import set_random_seed, to_categorical

    assert pad_sequences([[1, 2], [3]], maxlen=3).tolist() == [[0, 1, 2], [0, 0, 3]]
    assert to_categorical([0, 2], 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    set_random_seed(3)
    for name in rnnlab.datasets.keras_datasets():
        module = __import__(f"rnnlab.datasets.{name}", fromlist=["load_data"])
        assert callable(module.load_data)
