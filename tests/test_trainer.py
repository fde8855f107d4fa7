"""The training loop as an object: call modes, Keras's loss reduction with masks and weights,
stateful fit, finite weights after a blow-up, and callbacks that see the loop's state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import Model, Sequential
from rnnlab.callbacks import BackupAndRestore, Callback, LambdaCallback
from rnnlab.layers import LSTM, Dense, Dropout, Embedding, SimpleRNN


def regression_data(rng, n=64, t=5, f=2):
    x = rng.normal(size=(n, t, f)).astype("float32")
    return x, x.sum(axis=(1, 2)).astype("float32") / t


# -- call modes ---------------------------------------------------------------------------------
def test_a_model_called_directly_runs_in_inference_as_in_keras(rng):
    model = Sequential([LSTM(8, input_shape=(5, 2), dropout=0.5), Dropout(0.5), Dense(1)])
    x = torch.as_tensor(rng.normal(size=(16, 5, 2)), dtype=torch.float32)
    assert model.training  # torch's flag is on, yet a direct call is inference
    torch.testing.assert_close(model(x), model(x, training=False), rtol=0, atol=0)
    torch.testing.assert_close(model(x), torch.as_tensor(model.predict(x.numpy())), rtol=0, atol=0)
    assert not torch.equal(model(x, training=True), model(x))  # dropout on when asked


def test_layers_in_a_plain_torch_module_follow_train_and_eval(rng):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = LSTM(8, dropout=0.5)
            self.drop = Dropout(0.5)

        def forward(self, x):
            return self.drop(self.rnn(x))

    net = Net()
    x = torch.as_tensor(rng.normal(size=(16, 5, 2)), dtype=torch.float32)
    net.eval()
    torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)
    net.train()
    assert not torch.equal(net(x), net(x))


class KerasStyle(Model):
    """A subclassed model as every Keras tutorial writes it: layers in __init__, call()."""

    def __init__(self):
        super().__init__()
        self.rnn = SimpleRNN(6)
        self.drop = Dropout(0.9)
        self.out = Dense(1)
        self.seen_training = []

    def call(self, inputs, training=None):
        self.seen_training.append(training)
        return self.out(self.drop(self.rnn(inputs)))


def test_subclassed_model_with_call_trains_and_inherits_the_training_flag(rng):
    x, y = regression_data(rng)
    model = KerasStyle()
    model(x[:2])
    assert model.seen_training == [False]
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.seen_training[-2:] == [True, True]  # fit's steps
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # the inner Dropout is off


def test_a_model_without_call_or_forward_says_what_to_define():
    with pytest.raises(NotImplementedError, match=r"define call\(self, inputs, training=None\)"):
        Model()(torch.zeros(1, 2))


# -- Keras's loss reduction -----------------------------------------------------------------
def masked_sequence_model():
    model = Sequential([Embedding(5, 3, mask_zero=True), LSTM(4, return_sequences=True), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


def test_the_loss_and_metrics_leave_masked_steps_out():
    model = masked_sequence_model()
    tokens = np.array([[1, 2, 0, 0], [3, 1, 4, 0]])
    y = np.arange(8, dtype="float32").reshape(2, 4, 1)
    y_pred = model.predict(tokens)
    valid = tokens != 0
    errors = (y_pred - y)[..., 0][valid]
    loss, mae = model.evaluate(tokens, y, verbose=0)
    assert loss == pytest.approx(float(np.mean(errors**2)), rel=1e-6)
    assert mae == pytest.approx(float(np.mean(np.abs(errors))), rel=1e-6)


def test_sample_weight_and_class_weight_follow_keras(rng):
    x = rng.normal(size=(12, 3, 2)).astype("float32")
    labels = np.array([0, 1, 2] * 4)
    model = Sequential([SimpleRNN(4, input_shape=(3, 2)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    p = model.predict(x)
    per_sample = -np.log(np.clip(p[np.arange(12), labels], 1e-7, 1 - 1e-7))
    weights = rng.uniform(0, 2, size=12).astype("float32")
    loss, accuracy = model.evaluate(x, labels, sample_weight=weights, batch_size=12, verbose=0)
    assert loss == pytest.approx(float(np.sum(per_sample * weights) / 12), rel=1e-5)  # sum / batch size
    hits = p.argmax(1) == labels
    assert accuracy == pytest.approx(float(np.sum(hits * weights) / weights.sum()), rel=1e-6)

    # class_weight: a sample weighs its class's weight, unlisted classes 1 (Keras)
    twin = Sequential([SimpleRNN(4, input_shape=(3, 2)), Dense(3, activation="softmax")])
    twin.load_state_dict(model.state_dict())
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    twin.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, labels, class_weight={0: 2.0, 1: 0.5}, batch_size=12, shuffle=False, verbose=0)
    twin.fit(x, labels, sample_weight=np.array([2.0, 0.5, 1.0] * 4), batch_size=12, shuffle=False, verbose=0)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_custom_losses_and_metrics_take_keras_argument_order(rng):
    x, y = regression_data(rng, n=16)
    seen = []

    def shifted_mse(y_true, y_pred):
        seen.append((tuple(y_true.shape), tuple(y_pred.shape)))
        return torch.mean((y_pred - y_true.reshape(y_pred.shape) - 1.0) ** 2, dim=-1)

    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="adam", loss=shifted_mse, metrics=[shifted_mse])
    loss, metric = model.evaluate(x, y, batch_size=16, verbose=0)
    assert seen[0] == ((16,), (16, 1))
    want = float(np.mean((model.predict(x)[:, 0] - y - 1.0) ** 2))
    assert loss == pytest.approx(want, rel=1e-5) and metric == pytest.approx(want, rel=1e-5)


# -- stateful fit -------------------------------------------------------------------------------
def test_stateful_fit_equals_a_loop_that_carries_the_states(rng):
    batch, steps, chunks = 4, 3, 5
    x = rng.normal(size=(batch * chunks, steps, 2)).astype("float32")
    y = rng.normal(size=(batch * chunks, 1)).astype("float32")

    def make():
        rnnlab.set_seed(3)
        return Sequential([rnnlab.Input((steps, 2), batch_size=batch), LSTM(5, stateful=True), Dense(1)])

    model = make()
    twin = make()
    model.compile(optimizer="sgd", loss="mse")
    reset = LambdaCallback(on_epoch_begin=lambda epoch, logs: model.reset_states())
    model.fit(x, y, batch_size=batch, epochs=3, shuffle=False, callbacks=[reset], verbose=0)

    optimizer = torch.optim.SGD(twin.parameters(), lr=0.01)
    lstm = twin.layers[0]
    for _ in range(3):
        states = None
        for start in range(0, len(x), batch):
            xb, yb = torch.as_tensor(x[start : start + batch]), torch.as_tensor(y[start : start + batch])
            optimizer.zero_grad()
            out, h_state, c_state = _lstm_step(lstm, xb, states)
            loss = torch.mean((twin.layers[1](out) - yb) ** 2)
            loss.backward()
            optimizer.step()
            states = [h_state.detach(), c_state.detach()]
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def _lstm_step(lstm, x, states):
    from rnnlab.kernels import KERNELS, SequenceOptions

    initial = states if states is not None else lstm.cell.get_initial_state(len(x), x)
    outputs, final = KERNELS["reference"].run(lstm.cell, x, initial, None, SequenceOptions())
    return outputs[:, -1], final[0], final[1]


# -- finite weights -----------------------------------------------------------------------------
def test_an_update_that_makes_weights_non_finite_is_undone(rng):
    x, y = regression_data(rng, n=16)
    model = Sequential([SimpleRNN(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", learning_rate=1e38)  # the first update overflows
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match=r"Epoch 1, batch 0: the update made weights non-finite, so it was undone"):
        history = model.fit(x, y * 1e3, epochs=3, batch_size=16, verbose=0)
    assert history.epoch == [0]
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.isfinite(model.predict(x)).all()


def test_non_finite_gradients_skip_the_step_and_keep_the_optimizer_state(rng):
    x, y = regression_data(rng, n=32)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    calls = []

    def sqrt_loss(y_true, y_pred):  # finite value, infinite gradient at the second batch
        calls.append(1)
        error = (y_pred[:, 0] - y_true) if len(calls) != 2 else y_pred[:, 0] * 0.0
        return torch.sqrt(error.abs())

    model.compile(optimizer="adam", loss=sqrt_loss)
    snapshots = []
    keep = LambdaCallback(on_train_batch_end=lambda b, logs: snapshots.append(model.get_weights()))
    with pytest.warns(RuntimeWarning, match=r"batch 1: the gradients are not finite"):
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, callbacks=[keep], verbose=0)
    assert len(snapshots) == 2
    for got, want in zip(snapshots[1], snapshots[0], strict=True):
        np.testing.assert_array_equal(got, want)
    state = model.optimizer.state_dict()["state"]
    assert all(int(s["step"]) == 1 for s in state.values())  # the skipped step left no trace
    assert all(np.isfinite(w).all() for w in model.get_weights())


# -- the loop's state -----------------------------------------------------------------------------
def test_callbacks_see_the_trainer_and_its_state(rng):
    x, y = regression_data(rng, n=32)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    seen = []

    class Watch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, self.trainer.state.epoch, self.trainer.state.step, self.trainer.is_main_process))
            if epoch == 1:
                self.model.stop_training = True

    history = model.fit(x, y, epochs=5, batch_size=16, callbacks=[Watch()], verbose=0)
    assert seen == [(0, 1, 2, True), (1, 2, 4, True)] and history.epoch == [0, 1]
    assert model.trainer.state.epoch == 2


def test_backup_and_restore_deletes_only_what_it_wrote(tmp_path, rng):
    x, y = regression_data(rng, n=16)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "model.safetensors").write_text("also mine")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "notes.txt"]
    fresh = tmp_path / "backup"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(fresh)])
    assert not fresh.exists()  # created by the callback, empty again: removed
    with pytest.raises(ValueError, match="BackupAndRestore: .*notes.txt is a file; backup_dir must be a folder"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path / "notes.txt")])


def test_a_backup_resumes_whatever_the_display(tmp_path, rng):
    """The progress bar has no place in a backup: a run shown with verbose=2 resumes silently,
    as the other processes of a data-parallel run (which display nothing) must."""
    x, y = regression_data(rng, n=16)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")

    crashes = [1]

    def crash(epoch, logs):
        if epoch == 1 and crashes:
            crashes.pop()
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        model.fit(x, y, epochs=2, verbose=2, callbacks=[BackupAndRestore(tmp_path), LambdaCallback(on_epoch_end=crash)])
    history = model.fit(
        x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path), LambdaCallback(on_epoch_end=crash)]
    )
    assert history.epoch == [0, 1] and model.trainer.state.epoch == 2  # epoch 0 from the backup
