"""The finite-weights guard and Keras's update rules in one pass: each rule computes its step into
new tensors (``propose``), the guard checks them and swaps them in (``commit``). The result must
equal, bit for bit, the rule's step in place, and the guard must still refuse what it refused."""

from __future__ import annotations

import pytest
import torch

import rnnlab
from rnnlab import optimizers
from rnnlab.layers import LSTM, Dense
from rnnlab.training import one_pass, update_rules
from rnnlab.training.batches import Batch
from rnnlab.training.trainer import SKIPPED, UNDONE, FiniteGuard
from rnnlab.training.update_rules import KERAS_OPTIMIZERS, KerasAdam, KerasOptimizer

RULES = {
    "Adam": lambda: optimizers.Adam(1e-2),
    "Adam amsgrad": lambda: optimizers.Adam(1e-2, amsgrad=True),
    "AdamW": lambda: optimizers.AdamW(1e-2, weight_decay=0.05),
    "SGD": lambda: optimizers.SGD(0.1),
    "SGD momentum": lambda: optimizers.SGD(0.1, momentum=0.9),
    "SGD nesterov, decay": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "RMSprop": lambda: optimizers.RMSprop(1e-2),
    "RMSprop centered, momentum": lambda: optimizers.RMSprop(1e-2, momentum=0.5, centered=True),
    "Nadam": lambda: optimizers.Nadam(1e-2),
    "Adagrad": lambda: optimizers.Adagrad(1e-1),
    "Adadelta": lambda: optimizers.Adadelta(1.0),
    "Adamax": lambda: optimizers.Adamax(1e-2),
    "Lion": lambda: optimizers.Lion(1e-3, weight_decay=0.01),
}
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def lstm_model(optimizer: optimizers.Optimizer, device: str) -> rnnlab.Sequential:
    rnnlab.set_seed(0)
    model = rnnlab.Sequential([rnnlab.Input((6, 3)), LSTM(8, return_sequences=True), LSTM(5), Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    model.to(device)
    model.build_optimizer()
    return model


def batches(count: int, device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(16, 6, 3, generator=generator).to(device), torch.randn(16, 2, generator=generator).to(device))
        for _ in range(count)
    ]


def step_in_place(model: rnnlab.Sequential, x: torch.Tensor, y: torch.Tensor) -> None:
    """The step without the guard: forward, loss, backward, the rule's ``step`` into the weights."""
    optimizer = model.trainer.optimizer
    optimizer.zero_grad(set_to_none=True)
    model.trainer.compute_loss(y, model(x, training=True), None, None).backward()
    optimizer.step()


def assert_same_weights_and_state(got: rnnlab.Sequential, want: rnnlab.Sequential) -> None:
    for (name, a), b in zip(got.named_parameters(), want.parameters(), strict=True):
        assert torch.equal(a, b), name
    got_state, want_state = got.trainer.optimizer.state_dict()["state"], want.trainer.optimizer.state_dict()["state"]
    assert got_state.keys() == want_state.keys() and got_state
    for key, state in want_state.items():
        assert got_state[key].keys() == state.keys()
        for name, tensor in state.items():
            assert torch.equal(got_state[key][name], tensor), f"{key}/{name}"


@pytest.fixture(params=[True, False], ids=["tensor by tensor", "one launch per operation"])
def per_tensor(request, monkeypatch):
    """Both ways a rule runs in PyTorch's operations: tensor by tensor (the CPU's) and over the whole
    group (accelerators'); Adam's compiled pass apart (below)."""
    monkeypatch.setattr(KerasOptimizer, "_per_tensor", staticmethod(lambda params: request.param))
    monkeypatch.setattr(one_pass, "runs_on", lambda *tensors: False)
    return request.param


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rule", RULES)
def test_the_fused_step_equals_the_step_in_place_bit_for_bit(rule, device, per_tensor):
    fused, in_place = lstm_model(RULES[rule](), device), lstm_model(RULES[rule](), device)
    start = [p.detach().clone() for p in fused.parameters()]
    for x, y in batches(20, device):
        *_, problem = fused.trainer.train_step(Batch(x, y))
        assert problem is None
        step_in_place(in_place, x, y)
    assert fused.trainer.state.step == 20 and fused.trainer._guard.previous is not None  # the fused form ran
    assert_same_weights_and_state(fused, in_place)
    assert not any(torch.equal(p, s) for p, s in zip(fused.parameters(), start, strict=True))  # it trained


@pytest.mark.parametrize("rule", ["Adam", "AdamW"])
def test_the_fused_step_in_one_compiled_pass_equals_its_step_in_place_bit_for_bit(rule, monkeypatch):
    passes: list[bool] = []
    adam = one_pass.adam
    monkeypatch.setattr(one_pass, "adam", lambda *a, **k: passes.append(a[4][1] is a[2]) or adam(*a, **k))
    fused, in_place = lstm_model(RULES[rule](), "cpu"), lstm_model(RULES[rule](), "cpu")
    for x, y in batches(20, "cpu"):
        *_, problem = fused.trainer.train_step(Batch(x, y))
        assert problem is None
        step_in_place(in_place, x, y)
    assert_same_weights_and_state(fused, in_place)
    assert fused.trainer._guard.previous is not None and len(passes) == 2 * 20  # small tensors: one call a step
    assert False in passes and True in passes  # into new tensors (proposed) and in place


def guarded_adam() -> tuple[list[torch.nn.Parameter], KerasOptimizer, FiniteGuard]:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    optimizer = KerasAdam(params, lr=1e-2)
    return params, optimizer, FiniteGuard(params, optimizer)


def set_gradients(params: list[torch.nn.Parameter], scale: float = 1.0) -> None:
    for p in params:
        p.grad = torch.full_like(p, scale)


def snapshot(params, optimizer):
    return [p.detach().clone() for p in params], {
        i: {k: v.clone() for k, v in optimizer.state[p].items()} for i, p in enumerate(params) if optimizer.state.get(p)
    }


def assert_unchanged(params, optimizer, before) -> None:
    weights, states = snapshot(params, optimizer)
    assert all(torch.equal(a, b) for a, b in zip(weights, before[0], strict=True))
    assert states.keys() == before[1].keys()
    for i, state in states.items():
        assert all(torch.equal(state[k], before[1][i][k]) for k in state)


def test_a_proposal_leaves_the_weights_and_state_until_it_is_committed():
    params, optimizer, _ = guarded_adam()
    set_gradients(params)
    optimizer.step()
    before, pointers = snapshot(params, optimizer), [p.data_ptr() for p in params]
    set_gradients(params, 0.5)
    proposal = optimizer.propose()
    assert_unchanged(params, optimizer, before)
    assert [p.data_ptr() for p in params] == pointers
    replaced = optimizer.commit(proposal)
    assert [w.data_ptr() for w in replaced.weights] == pointers  # swapped, not copied
    assert all(torch.equal(p, w) for p, w in zip(params, proposal.weights, strict=True))
    assert all(int(optimizer.state[p]["step"]) == 2 for p in params)
    optimizer.commit(replaced)  # and back
    assert_unchanged(params, optimizer, before)


def test_on_the_cpu_a_step_is_written_into_the_tensors_the_one_before_replaced(monkeypatch):
    """Two sets of tensors take turns: no copy, and no new memory once both exist (for tensors large
    enough to be updated one by one; these small ones stand for them)."""
    monkeypatch.setattr(update_rules, "PER_TENSOR_FROM", 1)
    params, optimizer, guard = guarded_adam()

    def pointers() -> list[int]:
        return [
            t.data_ptr() for p in params for t in (p, optimizer.state[p]["exp_avg"], optimizer.state[p]["exp_avg_sq"])
        ]

    set_gradients(params)
    for _ in range(3):
        assert guard.update() is None
    held = pointers()
    assert guard.update() is None
    assert not set(pointers()) & set(held)
    assert guard.update() is None
    assert pointers() == held


def test_a_step_is_never_written_into_memory_that_something_else_still_reads(monkeypatch):
    monkeypatch.setattr(update_rules, "PER_TENSOR_FROM", 1)
    params, optimizer, guard = guarded_adam()
    set_gradients(params)
    for _ in range(2):
        assert guard.update() is None
    kept = params[0].detach()  # shares the weights' storage, which the next commit replaces
    value = kept.clone()
    for _ in range(3):
        assert guard.update() is None
    assert torch.equal(kept, value) and not torch.equal(params[0].detach(), value)


def test_a_new_fit_writes_its_first_step_into_the_memory_the_last_one_left(rng, monkeypatch):
    monkeypatch.setattr(update_rules, "PER_TENSOR_FROM", 1)
    model = lstm_model(optimizers.Adam(1e-2), "cpu")
    x, y = rng.normal(size=(32, 6, 3)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    free = {w.data_ptr() for w in model.trainer._guard.previous.weights}
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # one step
    assert {p.data_ptr() for p in model.parameters()} == free


def test_an_update_that_would_make_weights_non_finite_is_not_taken():
    params, optimizer, guard = guarded_adam()
    set_gradients(params)
    assert guard.update() is None and guard.holds_last_finite
    before = snapshot(params, optimizer)
    optimizer.param_groups[0]["lr"] = 1e39  # finite gradients, an infinite step
    assert guard.update() == UNDONE
    assert not guard.holds_last_finite and not guard.step_back()
    assert_unchanged(params, optimizer, before)
    assert all(int(optimizer.state[p]["step"]) == 1 for p in params)


def test_a_first_update_that_is_not_taken_leaves_no_optimizer_state():
    params, optimizer, guard = guarded_adam()
    optimizer.param_groups[0]["lr"] = 1e39
    set_gradients(params)
    assert guard.update() == UNDONE
    assert not optimizer.state


def test_stepping_back_puts_back_the_weights_and_state_from_before_the_last_update():
    params, optimizer, guard = guarded_adam()
    set_gradients(params)
    guard.update()
    before = snapshot(params, optimizer)
    set_gradients(params, -2.0)
    assert guard.update() is None
    assert not torch.equal(params[0], before[0][0])
    assert guard.step_back()
    assert_unchanged(params, optimizer, before)
    assert not guard.step_back()  # once: the weights before are not kept


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("rule", sorted(KERAS_OPTIMIZERS))
def test_every_rule_skips_a_non_finite_gradient(rule, bad):
    """Each rule either carries a non-finite gradient into its weight, or (Lion) has the guard look at
    the gradients: either way the step is skipped and the weights and state stay."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 4)), torch.nn.Parameter(torch.randn(4))]
    optimizer = KERAS_OPTIMIZERS[rule](params)
    guard = FiniteGuard(params, optimizer)
    set_gradients(params, 0.25)
    assert guard.update() is None
    before = snapshot(params, optimizer)
    set_gradients(params, 0.25)
    params[1].grad[2] = bad
    assert guard.update() == SKIPPED
    assert_unchanged(params, optimizer, before)


def test_an_optimizer_of_torch_keeps_the_copy_before_the_step():
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizer = torch.optim.SGD(params, lr=1e38)
    guard = FiniteGuard(params, optimizer)
    params[0].grad = torch.full((3,), 10.0)
    assert guard.update() == UNDONE
    assert torch.equal(params[0].detach(), torch.ones(3))
    optimizer.param_groups[0]["lr"] = 0.5
    assert guard.update() is None and guard.step_back()
    assert torch.equal(params[0].detach(), torch.ones(3))
