"""Keras's Adam step in one compiled pass (``training.one_pass``): its numbers against a NumPy
reference of the same operations and against PyTorch's foreach form, its finiteness flag, and
where it stands aside."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.kernels import build
from rnnlab.training import one_pass
from rnnlab.training.trainer import UNDONE, FiniteGuard
from rnnlab.training.update_rules import KerasAdam, KerasAdamW

SIZES = [(65, 64), (2048,), (513, 67), (31,), (300_007,)]  # tails of every length; the last splits across threads


@pytest.fixture(autouse=True)
def library():
    if build.library() is None:
        pytest.fail(f"the compiled library is part of the install: {build.unavailable_reason()}")


def tensors(dtype: torch.dtype, seed: int = 0) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=g, dtype=dtype) * scale for s in SIZES] for scale in (1.0, 1.0, 0.1)] + [
        [torch.rand(s, generator=g, dtype=dtype) * 0.01 for s in SIZES]
    ]  # w, g, m, v


def numpy_adam(w, g, m, v, beta_1, beta_2, alpha, epsilon):
    """PyTorch's CPU foreach step, operation by operation, in float32 with a correctly rounded square
    root: the products added in one rounding (add with alpha, addcmul) are exact in float64."""
    f32, f64 = np.float32, np.float64
    m_new = (f64(m * f32(beta_1)) + f64(g) * f64(f32(1.0 - beta_1))).astype(f32)
    v_new = (f64(v * f32(beta_2)) + f64(f32(1.0 - beta_2) * g) * f64(g)).astype(f32)
    denominator = np.sqrt(v_new) + f32(epsilon)
    return w + (f32(-alpha) * m_new) / denominator, m_new, v_new


@pytest.mark.parametrize("threads", [1, 2])
def test_the_pass_rounds_as_the_numpy_reference(threads, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    w, g, m, v = tensors(torch.float32)
    into = tuple([torch.empty_like(t) for t in w] for _ in range(3))
    assert one_pass.adam(w, g, m, v, into, 0.9, 0.999, 1.25e-3, 1e-7)
    for i in range(len(SIZES)):
        want = numpy_adam(w[i].numpy(), g[i].numpy(), m[i].numpy(), v[i].numpy(), 0.9, 0.999, 1.25e-3, 1e-7)
        for got, expected in zip((into[0][i], into[1][i], into[2][i]), want, strict=True):
            np.testing.assert_array_equal(got.numpy(), expected)


def run_adam(pass_on: bool, dtype: torch.dtype, optimizer=KerasAdam, steps: int = 20, **options) -> list[torch.Tensor]:
    params = [torch.nn.Parameter(t) for t in tensors(dtype)[0]]
    adam = optimizer(params, lr=1e-2, **options)
    g = torch.Generator().manual_seed(1)
    runs_on = one_pass.runs_on if pass_on else lambda *tensors: False
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(one_pass, "runs_on", runs_on)
        for _ in range(steps):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g, dtype=dtype)
            adam.step()
    state = [adam.state[p][name] for p in params for name in ("exp_avg", "exp_avg_sq")]
    return [p.detach() for p in params] + state


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("optimizer", [KerasAdam, KerasAdamW])
def test_the_pass_equals_the_foreach_step_up_to_the_square_roots_last_bit(dtype, optimizer):
    """The moments are equal bit for bit where PyTorch runs its x86 kernels; the weights differ where
    PyTorch's square root (MKL's, within one unit in the last place) is not the correctly rounded one."""
    one, foreach = run_adam(True, dtype, optimizer), run_adam(False, dtype, optimizer)
    weights = len(SIZES)
    tolerance = torch.finfo(dtype).eps * 10  # the differences of 20 steps, each within a unit in the last place
    fused_like_pytorch = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")  # its x86 kernels
    for got, want in zip(one[weights:], foreach[weights:], strict=True):
        if fused_like_pytorch:
            assert torch.equal(got, want)
        else:
            torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)
    for got, want in zip(one[:weights], foreach[:weights], strict=True):
        torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)


def test_the_pass_runs_in_place_and_into_other_tensors_alike():
    w, g, m, v = tensors(torch.float32)
    into = tuple([torch.empty_like(t) for t in w] for _ in range(3))
    one_pass.adam(w, g, m, v, into, 0.9, 0.999, 1e-3, 1e-7)
    in_place = [[t.clone() for t in ts] for ts in (w, m, v)]
    one_pass.adam(in_place[0], g, in_place[1], in_place[2], tuple(in_place), 0.9, 0.999, 1e-3, 1e-7)
    assert all(torch.equal(a, b) for ts, us in zip(into, in_place, strict=True) for a, b in zip(ts, us, strict=True))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_the_pass_says_when_a_new_weight_is_not_finite(bad):
    w, g, m, v = tensors(torch.float32)
    into = tuple([torch.empty_like(t) for t in w] for _ in range(3))
    assert one_pass.adam(w, g, m, v, into, 0.9, 0.999, 1e-3, 1e-7)
    g[4][123_456] = bad  # in the second thread's half
    assert not one_pass.adam(w, g, m, v, into, 0.9, 0.999, 1e-3, 1e-7)
    assert not one_pass.adam(w, tensors(torch.float32)[1], m, v, into, 0.9, 0.999, 1e39, 1e-7)  # overflows


def test_the_guard_takes_the_passs_flag_instead_of_reading_the_weights(monkeypatch):
    params = [torch.nn.Parameter(t) for t in tensors(torch.float32)[0]]
    optimizer = KerasAdam(params, lr=1e-2)
    guard = FiniteGuard(params, optimizer)
    read: list[int] = []
    all_finite = guard.all_finite
    monkeypatch.setattr(guard, "all_finite", lambda ts: read.append(len(list(ts))) or all_finite([]))
    for p in params:
        p.grad = torch.ones_like(p)
    proposal = optimizer.propose()
    assert proposal.finite and proposal.unchecked == [] and len(proposal.weights) == len(params)
    assert guard.update() is None and read == [0]  # no weight was read twice
    optimizer.param_groups[0]["lr"] = 1e39
    before = [p.detach().clone() for p in params]
    assert guard.update() == UNDONE
    assert all(torch.equal(p, b) for p, b in zip(params, before, strict=True))


def test_where_the_pass_cannot_run_the_foreach_step_does(monkeypatch):
    """Non-contiguous weights, amsgrad, and no compiled library: the same rule, PyTorch's operations."""
    ran: list[int] = []
    adam = one_pass.adam
    monkeypatch.setattr(one_pass, "adam", lambda *a, **k: ran.append(1) or adam(*a, **k))
    strided = torch.nn.Parameter(torch.randn(5, 4).t())
    for optimizer, params in (
        (KerasAdam, [strided]),
        (lambda ps: KerasAdam(ps, amsgrad=True), [torch.nn.Parameter(torch.randn(6))]),
    ):
        params[0].grad = torch.ones_like(params[0])
        optimizer(params).step()
    assert ran == []
    monkeypatch.setattr(build, "library", lambda: None)
    assert torch.equal(run_adam(True, torch.float32, steps=2)[0], run_adam(False, torch.float32, steps=2)[0])
    assert ran == []


def test_a_step_in_place_tells_autograd_the_weights_changed():
    """As torch's own in-place step does: a graph that saved the weights refuses to run again."""
    weight = torch.nn.Parameter(torch.randn(300, 300))
    loss = (weight * weight).sum()
    loss.backward(retain_graph=True)
    KerasAdam([weight]).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_a_library_built_without_fused_multiply_add_leaves_adam_to_pytorch(monkeypatch):
    library = build.library()
    monkeypatch.setattr(library, "adam_has_fma", False)
    w = tensors(torch.float32)
    assert not one_pass.runs_on(*w)
    monkeypatch.undo()
    assert one_pass.runs_on(*w)
