"""Optimizers by Keras name: each described once (Keras's config, the torch class it builds, its
stored spec), the update rules of Nadam, Adagrad, Adadelta, Adamax and Lion written out in NumPy,
and the finite-weights guard undoing a blown-up update of each, optimizer state included.
Real Keras checks the same optimizers step for step in tests/test_keras_live.py."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import optimizers as ro
from rnnlab.layers import LSTM, Dense, Input
from rnnlab.training import update_rules as optim
from rnnlab.training.optimizers import ALL, build, from_spec

NEW = ["nadam", "adagrad", "adadelta", "adamax", "lion"]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_each_torch_class_defaults_to_its_keras_description(cls):
    """The torch class's own defaults are Keras's: building it bare equals building the description."""
    w = torch.nn.Parameter(torch.zeros(3))
    bare = {k: v for k, v in cls.torch_class([w]).param_groups[0].items() if k != "params"}
    described = build(cls().spec(), [w]).param_groups[0]
    assert {k: described[k] for k in bare} == bare
    assert from_spec(cls().spec()).get_config() == cls().get_config()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_a_description_survives_its_spec_and_its_config(cls):
    chosen = cls(learning_rate=0.25, weight_decay=0.01, clipvalue=0.5, name="mine")
    assert from_spec(chosen.spec(), clipvalue=0.5).get_config() == {**chosen.get_config(), "name": cls().name}
    assert cls.from_config(chosen.get_config()).get_config() == chosen.get_config()
    assert ro.deserialize(ro.serialize(chosen)).get_config() == chosen.get_config()


def test_new_optimizers_by_name_use_keras_defaults():
    model = rnnlab.Sequential([Input((4, 2)), LSTM(3), Dense(1)])
    expected = {
        "nadam": (optim.KerasNadam, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.0}),
        "adagrad": (optim.KerasAdagrad, {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7}),
        "adadelta": (optim.KerasAdadelta, {"lr": 1e-3, "rho": 0.95, "eps": 1e-7}),
        "adamax": (optim.KerasAdamax, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7}),
        "lion": (optim.KerasLion, {"lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.0}),
    }
    for name, (cls, group) in expected.items():
        model.compile(optimizer=name, loss="mse", learning_rate=None)
        optimizer = model.build_optimizer()
        assert type(optimizer) is cls
        assert {k: optimizer.param_groups[0][k] for k in group} == group
    model.compile(optimizer="Lion", loss="mse", learning_rate=3e-4)
    assert model.build_optimizer().param_groups[0]["lr"] == 3e-4
    assert ro.get("adam_w").name == "adam_w" and type(ro.get("rmsprop")) is ro.RMSprop


def test_refused_and_unknown_arguments_say_what_to_do():
    with pytest.raises(TypeError, match=r"Nadam does not support \['use_ema'\] in rnnlab"):
        ro.Nadam(use_ema=True)
    with pytest.raises(TypeError, match=r"Lion got unexpected arguments \['epsilon'\]"):
        ro.Lion(epsilon=1e-7)
    with pytest.raises(ValueError, match="Only one of clipnorm, clipvalue and global_clipnorm"):
        ro.Adagrad(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match=r"Lion needs beta_1 in \(0, 1\]"):
        optim.KerasLion([torch.nn.Parameter(torch.zeros(1))], betas=(0.0, 0.99))
    with pytest.raises(ValueError, match="Unknown optimizer 'adafactor'"):
        ro.get("adafactor")


# -- the update rules, written out --------------------------------------------------------------
def numpy_steps(name: str, grads: list[np.ndarray], lr: float) -> np.ndarray:
    """Keras's equations for ``grads`` applied in turn to a weight starting at zero, in float64."""
    w = np.zeros_like(grads[0])
    m, v = np.zeros_like(w), np.zeros_like(w)
    accumulator = np.full_like(w, 0.1)
    product = 1.0
    for t, g in enumerate(grads, start=1):
        if name == "nadam":
            u_t, u_next = 0.9 * (1 - 0.5 * 0.96**t), 0.9 * (1 - 0.5 * 0.96 ** (t + 1))
            product *= u_t
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
            m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
            w = w - lr * m_hat / (np.sqrt(v / (1 - 0.999**t)) + 1e-7)
        elif name == "adagrad":
            accumulator = accumulator + g**2
            w = w - lr * g / np.sqrt(accumulator + 1e-7)
        elif name == "adadelta":
            m = 0.95 * m + 0.05 * g**2  # accumulated squared gradients
            delta = -np.sqrt(v + 1e-7) * g / np.sqrt(m + 1e-7)
            v = 0.95 * v + 0.05 * delta**2  # accumulated squared updates
            w = w + lr * delta
        elif name == "adamax":
            m, v = 0.9 * m + 0.1 * g, np.maximum(0.999 * v, np.abs(g))
            w = w - lr * m / ((v + 1e-7) * (1 - 0.9**t))
        elif name == "lion":
            w = w - lr * np.sign(0.9 * m + 0.1 * g)
            m = 0.99 * m + 0.01 * g
    return w


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("device_loop", ["per tensor", "foreach"])
def test_update_rules_follow_kerass_equations(name, device_loop, monkeypatch):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(2, 3)) * scale for scale in (1e-3, 1.0, 1e-2, 3.0)]
    w = torch.nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
    other = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))  # a second tensor in the group
    lr = 1.0 if name == "adadelta" else 0.1
    optimizer = build(ro.get(name).spec(), [w, other])
    optimizer.param_groups[0]["lr"] = lr
    if device_loop == "foreach":  # the accelerator path: one operation over all the group's tensors
        monkeypatch.setattr(optim.KerasOptimizer, "_per_tensor", staticmethod(lambda params: False))
    for g in grads:
        w.grad, other.grad = torch.as_tensor(g), torch.ones(4, dtype=torch.float64)
        optimizer.step()
    np.testing.assert_allclose(w.detach().numpy(), numpy_steps(name, grads, lr), rtol=1e-6, atol=1e-12)


# -- the finite-weights guard and resumed runs ----------------------------------------------------
def regression(rng):
    x = rng.normal(size=(24, 5, 2)).astype("float32")
    return x, x.sum(axis=(1, 2)).astype("float32") / 5


@pytest.mark.parametrize("name", NEW)
def test_a_blown_up_update_is_undone_with_its_optimizer_state(name, rng):
    x, y = regression(rng)
    model = rnnlab.Sequential([Input((5, 2)), LSTM(4), Dense(1)])
    model.compile(optimizer=name, loss="mse", learning_rate=1e-2)
    model.fit(x[:16], y[:16], batch_size=8, epochs=1, shuffle=False, verbose=0)
    weights, state = model.get_weights(), copy.deepcopy(model.optimizer.state_dict()["state"])
    model.optimizer.param_groups[0]["lr"] = math.inf  # the next update makes the weights non-finite
    with pytest.warns(RuntimeWarning, match="the update made weights non-finite, so it was undone"):
        model.fit(x[16:], y[16:], batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    after = model.optimizer.state_dict()["state"]
    assert after.keys() == state.keys()
    for key, slots in state.items():
        assert after[key].keys() == slots.keys()
        for slot, value in slots.items():
            torch.testing.assert_close(after[key][slot], value, rtol=0, atol=0, msg=f"{key}/{slot}")


def test_a_resumed_nadam_continues_its_momentum_schedule(tmp_path, rng):
    x, y = regression(rng)

    def fresh():
        rnnlab.set_seed(0)
        model = rnnlab.Sequential([Input((5, 2)), LSTM(4), Dense(1)])
        model.compile(optimizer=ro.Nadam(0.01), loss="mse")
        return model

    straight = fresh()
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    first = fresh()
    first.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert set(first.optimizer.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "mu_product"}
    first.save(tmp_path / "m.safetensors")
    resumed = rnnlab.load_model(tmp_path / "m.safetensors")
    resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
