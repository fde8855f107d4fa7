"""The Trainer's protocol: a plain ``torch.nn.Module`` (an ``nn.LSTM`` and an ``nn.Linear``, no rnnlab
in it) fits, evaluates, predicts and runs callbacks, or is told what it lacks; the optional hooks
are used where a module has them; ``fit`` takes its arguments by name, with one signature."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import callbacks as keras_callbacks
from rnnlab.callbacks import (
    BackupAndRestore,
    Callback,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from rnnlab.layers import LSTM, Dense
from rnnlab.models import Model, Sequential
from rnnlab.training import Compiled, Trainer
from rnnlab.training.protocol import Hooks

KERAS_FIT = [  # keras.Model.fit, up to the arguments rnnlab does not take (steps_per_epoch, ...)
    "x",
    "y",
    "batch_size",
    "epochs",
    "verbose",
    "callbacks",
    "validation_split",
    "validation_data",
    "shuffle",
    "class_weight",
    "sample_weight",
    "initial_epoch",
]


class Net(nn.Module):
    """An LSTM and a read-out of its last output, as a PyTorch user writes them."""

    def __init__(self, features: int = 2, units: int = 8) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)
        self.out = nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)  # (B, T, U)
        return self.out(h[:, -1])  # (B, 1)


def mean_task(rng, n: int = 64, t: int = 5, f: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Learnable: the target is the mean of every input value of the sequence."""
    x = rng.normal(size=(n, t, f)).astype("float32")
    return x, x.mean(axis=(1, 2))[:, None].astype("float32")


def trainer(net: nn.Module, optimizer: str = "adam", learning_rate: float = 0.01) -> Trainer:
    return Trainer(net, Compiled.create(optimizer, "mse", learning_rate=learning_rate))


def weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


# -- fit, evaluate, predict ---------------------------------------------------------------------
def test_a_plain_module_fits_evaluates_and_predicts(rng):
    x, y = mean_task(rng)
    net = Net()
    loop = trainer(net)
    history = loop.fit(x, y, batch_size=16, epochs=15, verbose=0, validation_split=0.25)
    losses = history.history["loss"]
    assert len(losses) == 15 and len(history.history["val_loss"]) == 15
    assert losses[-1] < 0.5 * losses[0]  # it learns
    predicted = loop.predict(x, batch_size=10)
    loss = loop.evaluate(x, y, verbose=0)
    assert net.training  # fit, evaluate and predict leave the module's mode as they found it
    with torch.no_grad():
        direct = net.eval()(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(predicted, direct, rtol=1e-6, atol=1e-6)
    assert loss == pytest.approx(float(np.mean((direct - y) ** 2)), rel=1e-5)


def test_three_sgd_steps_equal_a_hand_written_loop(rng):
    x, y = mean_task(rng, n=48)
    ours, theirs = Net(), Net()
    theirs.load_state_dict(ours.state_dict())

    loop = trainer(ours, "sgd", learning_rate=0.1)
    loop.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)

    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for start in range(0, 48, 16):
        xb, yb = torch.as_tensor(x[start : start + 16]), torch.as_tensor(y[start : start + 16])
        optimizer.zero_grad()
        nn.functional.mse_loss(theirs(xb), yb).backward()
        optimizer.step()

    assert loop.state.step == 3
    for name, value in weights(theirs).items():
        torch.testing.assert_close(weights(ours)[name], value, msg=name)


# -- callbacks ------------------------------------------------------------------------------------
def test_early_stopping_stops_a_plain_module_and_the_next_fit_starts_afresh(rng):
    x, y = mean_task(rng, n=32)
    net = Net()
    loop = trainer(net)
    never_better = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    history = loop.fit(x, y, batch_size=16, epochs=10, verbose=0, callbacks=[never_better])
    assert history.epoch == [0, 1]
    assert loop.fit(x, y, batch_size=16, epochs=3, verbose=0).epoch == [0, 1, 2]


def test_a_keras_style_callback_stops_a_plain_module_after_the_batch(rng):
    x, y = mean_task(rng, n=64)
    net = Net()
    loop = trainer(net)

    class StopAfterTwoBatches(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True  # as in Keras

    history = loop.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[StopAfterTwoBatches()])
    assert history.epoch == [0] and loop.state.step == 2


def test_backup_and_restore_resumes_a_plain_module_exactly(tmp_path, rng):
    x, y = mean_task(rng, n=32)
    start = Net()

    rnnlab.set_seed(1)
    whole = copy.deepcopy(start)
    trainer(whole).fit(x, y, batch_size=8, epochs=3, verbose=0)

    crashes = [1]

    def crash(epoch, logs):
        if epoch == 1 and crashes:
            crashes.pop()
            raise RuntimeError("killed")

    rnnlab.set_seed(1)
    resumed = copy.deepcopy(start)
    with pytest.raises(RuntimeError, match="killed"):
        trainer(resumed).fit(
            x, y, batch_size=8, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path), LambdaCallback(crash)]
        )
    history = trainer(resumed).fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path), LambdaCallback(crash)]
    )
    assert history.epoch == [0, 1, 2]  # epoch 0 and its logs came from the backup
    for name, value in weights(whole).items():
        torch.testing.assert_close(weights(resumed)[name], value, rtol=0, atol=0, msg=name)
    assert not (tmp_path / BackupAndRestore.FILENAME).exists()


@pytest.mark.parametrize(
    ("callback", "missing"),
    [
        (lambda d: ModelCheckpoint(str(d / "m.safetensors"), monitor="loss"), r"model\.save"),
        (
            lambda d: ModelCheckpoint(str(d / "m.safetensors"), monitor="loss", save_weights_only=True),
            r"model\.save_weights",
        ),
        (
            lambda d: EarlyStopping(monitor="loss", restore_best_weights=True),
            r"model\.get_weights and model\.set_weights",
        ),
        (lambda d: ReduceLROnPlateau(monitor="loss"), r"model\.optimizer"),
    ],
)
def test_a_callback_that_needs_a_keras_model_says_what_is_missing_before_training(tmp_path, rng, callback, missing):
    x, y = mean_task(rng, n=16)
    net = Net()
    before = weights(net)
    with pytest.raises(TypeError, match=rf"uses {missing}, which Net does not have \(an rnnlab Model does\): \w+"):
        trainer(net).fit(x, y, epochs=2, verbose=0, callbacks=[callback(tmp_path)])
    for name, value in before.items():
        torch.testing.assert_close(net.state_dict()[name], value, rtol=0, atol=0)
    assert list(tmp_path.iterdir()) == []


def test_every_callback_runs_on_a_plain_module_or_says_what_is_missing(tmp_path, rng):
    """A callback added to rnnlab.callbacks must be listed here: it runs, or fails as above."""
    made = {
        "Callback": lambda: Callback(),
        "History": lambda: keras_callbacks.History(),
        "LambdaCallback": lambda: LambdaCallback(on_epoch_end=lambda epoch, logs: None),
        "TerminateOnNaN": lambda: keras_callbacks.TerminateOnNaN(),
        "BackupAndRestore": lambda: BackupAndRestore(tmp_path / "backup"),
        "ModelCheckpoint": lambda: ModelCheckpoint(str(tmp_path / "m.safetensors"), monitor="loss"),
        "CSVLogger": lambda: keras_callbacks.CSVLogger(str(tmp_path / "log.csv")),
        "EpochProgress": lambda: keras_callbacks.EpochProgress(),
        "ProgressBar": lambda: keras_callbacks.ProgressBar(0),
        "TensorBoard": None,  # needs the optional tensorboard package; uses only the logs
        "EarlyStopping": lambda: EarlyStopping(monitor="loss"),
        "ReduceLROnPlateau": lambda: ReduceLROnPlateau(monitor="loss"),
    }
    exported = [
        name
        for name in keras_callbacks.__all__
        if isinstance(getattr(keras_callbacks, name), type) and issubclass(getattr(keras_callbacks, name), Callback)
    ]
    assert sorted(exported) == sorted(made), "list the new callback here"
    x, y = mean_task(rng, n=16)
    for name, make in made.items():
        if make is None:
            continue
        try:
            trainer(Net()).fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[make()])
        except TypeError as err:
            assert f"{name} uses model." in str(err), name


# -- the optional hooks ---------------------------------------------------------------------------
class Hooked(Net):
    """A plain module that offers the optional hooks: penalties and constraints."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[torch.Tensor] = []
        self.constrained = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        self.losses = [0.5 * y.square().mean()]  # an activity penalty of this call
        return y

    @torch.no_grad()
    def apply_constraints(self) -> None:
        self.constrained += 1
        self.out.weight.clamp_(-0.05, 0.05)


def test_the_optional_hooks_are_used_where_a_plain_module_has_them(rng):
    x, y = mean_task(rng, n=32)
    net = Hooked()
    loop = trainer(net)
    assert loop.hooks == Hooks(penalties=True, constraints=True)
    loop.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert net.constrained == 4 and float(net.out.weight.detach().abs().max()) <= np.float32(0.05)
    with torch.no_grad():
        y_pred = net.eval()(torch.as_tensor(x))
    expected = float(((y_pred.numpy() - y) ** 2).mean() + 0.5 * y_pred.square().mean())
    assert loop.evaluate(x, y, batch_size=32, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_hooks_are_looked_up_once_without_running_properties():
    class Costly(Net):
        @property
        def losses(self) -> list[torch.Tensor]:
            raise AssertionError("looked up by running it")

    assert Hooks.of(Costly()) == Hooks(penalties=True)
    assert Hooks.of(Net()) == Hooks()
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    assert Hooks.of(model) == Hooks(call_options=True, penalties=True, constraints=True, own_stop_flag=True)


# -- one signature --------------------------------------------------------------------------------
def test_fit_takes_keras_arguments_in_keras_order_and_hands_them_over_by_name():
    model_fit = inspect.signature(Model.fit).parameters
    trainer_fit = inspect.signature(Trainer.fit).parameters
    assert [n for n, p in model_fit.items() if p.kind is p.POSITIONAL_OR_KEYWORD][1:] == KERAS_FIT
    assert model_fit["strategy"].kind is inspect.Parameter.KEYWORD_ONLY
    assert {n: p.default for n, p in model_fit.items()} == {n: p.default for n, p in trainer_fit.items()}
    after_x_y = [p.kind for n, p in trainer_fit.items() if n not in ("self", "x", "y")]
    assert set(after_x_y) == {inspect.Parameter.KEYWORD_ONLY}
    for method in (Trainer.evaluate, Trainer.predict):
        kinds = {n: p.kind for n, p in inspect.signature(method).parameters.items() if n not in ("self", "x", "y")}
        assert set(kinds.values()) == {inspect.Parameter.KEYWORD_ONLY}, method.__name__


def test_model_fit_passes_every_argument_to_the_trainer_under_its_own_name(rng):
    x, y = mean_task(rng, n=16)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    received = {}

    def record(self, x=None, y=None, **options):
        received.update(options)
        return "history"

    model.trainer.fit = record.__get__(model.trainer)
    values = dict(
        batch_size=4,
        epochs=2,
        verbose=0,
        callbacks=[],
        validation_split=0.5,
        validation_data=None,
        shuffle=False,
        class_weight={0: 1.0},
        sample_weight=np.ones(16),
        initial_epoch=1,
    )
    model.fit(x, y, *values.values(), strategy="single")  # by position, as Keras allows
    assert received == {**values, "strategy": "single"}
