"""Training that blows up leaves the model as it was at its last finite loss.

The loss of step k is computed from the weights W_k; when loss_k is finite and loss_{k+1} is not,
the update of step k did the harm, and the model must hold W_k, the weights before that update.
A twin trained for the same number of finite steps on the same batches holds exactly those weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.callbacks import LambdaCallback
from rnnlab.layers import Dense, SimpleRNN

BLOW_UP = (
    r"Epoch 1, batch 3: the loss is inf, so the update before it was undone: the model holds the weights that "
    r"gave the last finite loss\. Training stops here: lower the learning rate, clip gradients "
    r"\(compile\(clipnorm=1\.0\)\) or check the data\."
)


def relu_rnn(momentum: float = 0.0, learning_rate: float = 1e6) -> rnnlab.Sequential:
    rnnlab.set_seed(0)
    model = rnnlab.Sequential([rnnlab.Input((5, 1)), SimpleRNN(8, activation="relu"), Dense(1)])
    model.compile(optimizer=rnnlab.optimizers.SGD(learning_rate, momentum=momentum), loss="mse")
    return model


def data() -> tuple[np.ndarray, np.ndarray]:
    """Small inputs, so that SGD at 1e6 takes a few finite steps before the loss overflows."""
    x = (np.random.default_rng(0).normal(size=(64, 5, 1)) * 1e-3).astype("float32")
    return x, x.sum(axis=(1, 2))


def twin_after(steps: int, momentum: float = 0.0) -> rnnlab.Sequential:
    """The same model trained on the same first batches, stopped after ``steps`` updates."""
    x, y = data()
    twin = relu_rnn(momentum)
    stop = LambdaCallback(on_train_batch_end=lambda batch, logs: setattr(twin, "stop_training", batch + 1 == steps))
    twin.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0, callbacks=[stop])
    assert twin.trainer.state.step == steps
    return twin


def test_a_blow_up_leaves_the_weights_of_the_last_finite_loss():
    x, y = data()
    model = relu_rnn()
    with pytest.warns(RuntimeWarning, match=BLOW_UP):
        history = model.fit(x, y, epochs=20, batch_size=4, shuffle=False, verbose=0)
    assert history.history["loss"] == [np.inf]
    assert model.trainer.state.step == 2  # batches 0, 1 and 2 had finite losses; the update of batch 2 is undone
    predictions = model.predict(x)
    assert np.isfinite(predictions).all()
    twin = twin_after(2)
    np.testing.assert_array_equal(predictions, twin.predict(x))
    for got, want in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_optimizer_state_goes_back_with_the_weights():
    x, y = data()
    model = relu_rnn(momentum=0.5)
    with pytest.warns(RuntimeWarning, match="so the update before it was undone"):
        model.fit(x, y, epochs=20, batch_size=4, shuffle=False, verbose=0)
    steps = model.trainer.state.step
    assert steps >= 1
    twin = twin_after(steps, momentum=0.5)
    np.testing.assert_array_equal(model.predict(x), twin.predict(x))
    got, want = model.optimizer.state_dict()["state"], twin.optimizer.state_dict()["state"]
    assert got.keys() == want.keys() and got
    for key in want:
        for name in want[key]:
            np.testing.assert_array_equal(got[key][name].numpy(), want[key][name].numpy(), err_msg=f"{key}/{name}")


def test_a_first_loss_that_is_not_finite_leaves_the_weights_as_they_were():
    x, y = data()
    model = relu_rnn()
    before = model.get_weights()
    message = (
        r"Epoch 1, batch 0: the loss is inf and no update of this fit came before it: the model holds the weights "
        r"it had\. Training stops here"
    )
    with pytest.warns(RuntimeWarning, match=message):
        model.fit(x, y * 1e30, epochs=2, batch_size=4, shuffle=False, verbose=0)  # its square overflows
    assert model.trainer.state.step == 0
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_weights_set_between_fits_are_never_replaced_by_an_older_copy():
    """The copy kept from the last update of one fit is stale once that fit ends."""
    x, y = data()
    model = relu_rnn(learning_rate=1e-3)
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    chosen = [w + 0.25 for w in model.get_weights()]
    model.set_weights(chosen)
    with pytest.warns(RuntimeWarning, match="no update of this fit came before it"):
        model.fit(x, y * 1e30, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), chosen, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_every_process_steps_back_when_one_loss_is_not_finite(tmp_path):
    """Process 1's loss is infinite at batch 3: both processes undo batch 2's update and agree."""
    script = Path(__file__).with_name("ddp_blowup.py")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*torchrun, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank, problem in zip(ranks, ["another process's loss is not finite", "the loss is inf"], strict=True):
        assert rank["steps"] == 2
        assert rank["weights"] == rank["held"][1]  # as after batch 1: batch 2's update is undone
        assert rank["warnings"] == [
            f"Epoch 1, batch 3: {problem}, so the update before it was undone: the model holds the weights that "
            "gave the last finite loss. Training stops here: lower the learning rate, clip gradients "
            "(compile(clipnorm=1.0)) or check the data."
        ]
    assert ranks[0]["weights"] == ranks[1]["weights"]
