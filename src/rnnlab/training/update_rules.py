"""Keras 3's update rules as ``torch.optim.Optimizer`` subclasses.

Each class takes PyTorch's argument names (``lr``, ``betas``, ``eps``, ``alpha`` for Keras's
``rho`` in RMSprop), so schedulers and callbacks that change ``param_groups[i]["lr"]`` work;
its Keras-named description in :mod:`rnnlab.training.optimizers` is the one map between the
two. Each applies exactly the equations of the Keras optimizer of the same name, in Keras's order: the decoupled
weight decay ``w <- w * (1 - lr * weight_decay)`` first (when ``weight_decay`` is set), then the
update. ``t`` counts steps from 1. Updates run as ``torch._foreach_*`` operations over all the
parameters of a group at once on accelerators, and tensor by tensor on the CPU, where keeping
one tensor's state in cache through all the operations is faster (as torch's own CPU default).
Adam's step on the CPU is one compiled pass over each tensor instead (:mod:`.one_pass`).

State tensors live in ``self.state[p]`` (``step`` included, as a tensor; Nadam's momentum
product too), so ``state_dict()`` and ``load_state_dict()`` work as for torch's optimizers.
Besides ``step``, each computes its step into new tensors (``propose``) and swaps them in
(``commit``): the trainer's finite-weights guard checks the new weights before it takes them,
and keeps the replaced tensors to step back, with no copy of the weights or the state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import torch

from ..kernels.recycled import held_alone
from . import one_pass

Params = Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]]
Group = dict[str, Any]  # a param group: its hyper-parameters under torch's names
Tensors = list[torch.Tensor]
States = dict[str, Tensors]  # state name -> one tensor per parameter
Spares = dict[int, tuple[torch.Tensor, torch.Tensor]]  # id(tensor) -> (tensor, a tensor free to hold its next value)


PER_TENSOR_FROM = 1 << 16  # values per tensor, on average, from which the CPU updates tensor by tensor


class Writes:
    """Where an update rule writes the weights and state it changes.

    In place (``step``, as every ``torch.optim`` optimizer), or out of place (``propose``): then the
    first write to each list of tensors runs the same foreach operation without its trailing
    underscore, whose result lands in new tensors, and the later writes go into those. Both run the
    same kernels on the same values in the same order, so the new tensors equal, bit for bit, what
    the step in place leaves, and the tensors read stay as they were.

    ``spares`` maps a tensor to one free to be written over (its value before the last commit): on
    the CPU, where a foreach operation runs tensor by tensor anyway, the first write goes into the
    spare (``torch.<op>(..., out=spare)``, the same kernel) instead of newly allocated memory.
    """

    def __init__(self, in_place: bool, spares: Spares | None = None) -> None:
        self.in_place = in_place
        self.spares = spares or {}
        self.made: list[Tensors] = []  # the lists of new tensors made so far
        self.checked: set[int] = set()  # the ids of new weights a rule checked for finiteness itself
        self.finite = True  # whether all of those were finite

    def __call__(self, op: str, tensors: Tensors, *args: Any, **kwargs: Any) -> Tensors:
        """``torch._foreach_<op>_(tensors, ...)``; out of place, the first time ``torch._foreach_<op>(tensors)``."""
        if self.in_place or any(tensors is made for made in self.made):
            getattr(torch, f"_foreach_{op}_")(tensors, *args, **kwargs)
            return tensors
        made: Tensors = self._into_spares(op, tensors, args, kwargs) or getattr(torch, f"_foreach_{op}")(
            tensors, *args, **kwargs
        )
        self.made.append(made)
        return made

    def into(self, tensors: Tensors) -> Tensors:
        """Where a rule that writes each tensor's new value itself writes it: the tensors themselves
        in place (or once made), else each one's spare or a new tensor."""
        if self.in_place or any(tensors is made for made in self.made):
            return tensors
        made = [spare if (spare := self._spare(t)) is not None else torch.empty_like(t) for t in tensors]
        self.made.append(made)
        return made

    def checked_finite(self, weights: Tensors, finite: bool) -> None:
        """Records that the rule looked at these new weights: all finite or not."""
        self.checked.update(id(w) for w in weights)
        self.finite = self.finite and finite

    def _into_spares(self, op: str, tensors: Tensors, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensors:
        """The operation tensor by tensor into the spares, as the CPU's foreach runs it; [] where one has none."""
        spares = [self._spare(t) for t in tensors]
        if any(spare is None for spare in spares):
            return []
        for i, (tensor, spare) in enumerate(zip(tensors, spares, strict=True)):
            operands = [a[i] if isinstance(a, (list, tuple)) else a for a in args]  # a list: an operand per tensor
            getattr(torch, op)(tensor, *operands, out=spare, **kwargs)
        return cast(Tensors, spares)

    def _spare(self, tensor: torch.Tensor) -> torch.Tensor | None:
        """The tensor's spare, where it matches and nothing else (a view kept by the caller, a graph
        kept for backward) still reads its storage."""
        live, spare = self.spares.get(id(tensor), (None, None))
        if live is not tensor or spare is None or tensor.device.type != "cpu":
            return None
        same = spare.shape == tensor.shape and spare.stride() == tensor.stride()
        same = same and spare.dtype == tensor.dtype and spare.device == tensor.device  # moved since?
        return spare if same and spare.data_ptr() != tensor.data_ptr() and held_alone(spare) else None


@dataclass
class Proposal:
    """An update as tensors of its own: each parameter it moves, its new value, its new optimizer state
    (``step`` included). ``KerasOptimizer.commit`` puts them in place and gives back a ``Proposal`` of
    those they replaced, which puts the old ones back when committed in turn."""

    params: list[torch.nn.Parameter] = field(default_factory=list)
    weights: Tensors = field(default_factory=list)
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    unchecked: Tensors = field(default_factory=list)  # new weights the rule did not check for finiteness
    finite: bool = True  # whether those it checked are all finite


class KerasOptimizer(torch.optim.Optimizer):
    """The shared loop: collect the parameters that have gradients, decay, then ``update``.

    ``step`` writes into the parameters and their state; ``propose`` computes the same step into new
    tensors and ``commit`` swaps them in, so a caller can look at the new weights before it takes them
    (the trainer's finite-weights guard) without copying the old ones.
    """

    state_names: tuple[str, ...] = ()  # state tensors, created on first use by ``_initial_state``
    # a non-finite gradient always makes its weight's new value non-finite (false where a rule can hide it)
    shows_non_finite_gradients = True

    def _state_names(self, group: Group) -> tuple[str, ...]:
        return self.state_names

    def _initial_state(self, name: str, p: torch.Tensor, group: Group) -> torch.Tensor:
        """A state tensor before the first step: zeros shaped like the parameter, unless a rule says otherwise."""
        return torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step(Writes(in_place=True))
        return loss

    @torch.no_grad()
    def propose(self, spare: Proposal | None = None) -> Proposal:
        """The next step's weights and state as new tensors, bit for bit what ``step`` would write;
        the parameters and ``self.state`` stay as they are until ``commit``. ``spare``: what an earlier
        commit replaced, free to be written over; the step goes into its tensors where it can."""
        by_tensor = any(self._per_tensor(group["params"]) for group in self.param_groups if group["params"])
        return self._step(Writes(in_place=False, spares=self._spares(spare) if by_tensor else None))

    def _spares(self, spare: Proposal | None) -> Spares:
        """Each live weight and state tensor's predecessor in ``spare``, by the live tensor's id."""
        spares: Spares = {}
        if spare is None:
            return spares
        for p, weight, state in zip(spare.params, spare.weights, spare.states, strict=True):
            spares[id(p)] = (p, weight)
            live = self.state.get(p, {})
            spares.update({id(live[name]): (live[name], tensor) for name, tensor in state.items() if name in live})
        return spares

    @torch.no_grad()
    def commit(self, proposal: Proposal) -> Proposal:
        """Makes the proposal's tensors the parameters' values and state (the storage is swapped, nothing
        is copied) and returns the replaced ones as a proposal. A parameter proposed without state (it
        had none before the step) is left without."""
        replaced = Proposal()
        for p, weight, state in zip(proposal.params, proposal.weights, proposal.states, strict=True):
            replaced.params.append(p)
            replaced.weights.append(p.data)
            replaced.states.append(self.state.pop(p, {}))
            p.data = weight
            if state:
                self.state[p] = state
        return replaced

    def _step(self, write: Writes) -> Proposal:
        proposal = Proposal()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients.")
            names = self._state_names(group)
            olds = [self._state(p, group, names, store=write.in_place) for p in params]
            steps = write("add", [old["step"] for old in olds], 1.0)
            t = float(steps[0])
            states = {name: [old[name] for old in olds] for name in names}
            if self._per_tensor(params):
                weights = []
                for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                    one = {name: [tensors[i]] for name, tensors in states.items()}
                    weights += self._decay_and_update(group, [p], [g], one, t, write)
                    for name in names:
                        states[name][i] = one[name][0]
            else:  # one launch per operation over the whole group
                weights = self._decay_and_update(group, params, grads, states, t, write)
            proposal.params += params
            proposal.weights += weights
            proposal.unchecked += [w for w in weights if id(w) not in write.checked]
            proposal.finite = write.finite
            for i, step in enumerate(steps):
                proposal.states.append({"step": step, **{name: states[name][i] for name in names}})
        return proposal

    def _state(self, p: torch.Tensor, group: Group, names: tuple[str, ...], store: bool) -> dict[str, torch.Tensor]:
        """The parameter's state; before its first step a new one (``store``: kept in ``self.state``)."""
        state: dict[str, torch.Tensor] = self.state.get(p) or {}
        if not state:
            state = {"step": torch.zeros((), dtype=torch.float32)}
            state.update({name: self._initial_state(name, p, group) for name in names})
            if store:
                self.state[p] = state
        return state

    def _decay_and_update(
        self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes
    ) -> Tensors:
        if group.get("weight_decay"):  # Keras: decoupled, before the update
            params = write("mul", params, 1.0 - group["lr"] * group["weight_decay"])
        return self.update(group, params, grads, states, t, write)

    @staticmethod
    def _per_tensor(params: Tensors) -> bool:
        """On the CPU, one tensor at a time where tensors are large (its state stays in cache across the
        operations); small ones in one call per operation, where Python's cost per call would dominate."""
        return params[0].device.type == "cpu" and sum(p.numel() for p in params) >= PER_TENSOR_FROM * len(params)

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        """One step of the rule: its new weights; each state it changes goes back into ``states``. Every
        write to a weight or state list goes through ``write``."""
        raise NotImplementedError


class KerasSGD(KerasOptimizer):
    r"""Keras's ``SGD``.

    .. math::
        \begin{aligned}
        \text{momentum} = 0:&\quad w \leftarrow w - \eta g \\
        \text{else}:&\quad m \leftarrow \mu m - \eta g;\quad
            w \leftarrow w + m \ \ (\text{nesterov: } w \leftarrow w + \mu m - \eta g)
        \end{aligned}

    Keras's velocity ``m`` carries the learning rate, where torch's SGD buffer does not.
    """

    def __init__(
        self, params: Params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None:
        if lr < 0 or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD needs lr >= 0 and momentum in [0, 1], received lr={lr}, momentum={momentum}.")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def _state_names(self, group: Group) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] else ()

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        lr, mu = group["lr"], group["momentum"]
        if not mu:
            return write("add", params, grads, alpha=-lr)
        m = states["momentum_buffer"] = write("mul", states["momentum_buffer"], mu)
        torch._foreach_add_(m, grads, alpha=-lr)
        if group["nesterov"]:
            params = write("add", params, grads, alpha=-lr)
            return write("add", params, m, alpha=mu)
        return write("add", params, m)


def _scalar(value: float, dtype: torch.dtype) -> torch.Tensor:
    """A number in the weights' precision (float32 for half precision), where Keras computes its step scalars."""
    return torch.tensor(value, dtype=dtype if dtype in (torch.float32, torch.float64) else torch.float32)


def _bias_corrected_rate(lr: float, beta_1: float, beta_2: float, t: float, dtype: torch.dtype) -> float:
    """``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``, computed in the weights' precision as Keras does."""
    one = _scalar(1.0, dtype)
    b1, b2 = _scalar(beta_1, dtype) ** t, _scalar(beta_2, dtype) ** t
    return float(lr * torch.sqrt(one - b2) / (one - b1))


class KerasAdam(KerasOptimizer):
    r"""Keras's ``Adam`` (and, with ``weight_decay``, ``AdamW``).

    .. math::
        \begin{aligned}
        m &\leftarrow \beta_1 m + (1 - \beta_1) g \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \quad (\text{amsgrad: } \hat v \leftarrow \max(\hat v, v)) \\
        \alpha_t &= \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t) \\
        w &\leftarrow w - \alpha_t\, m / (\sqrt{v} + \epsilon)
        \end{aligned}

    Epsilon is added to :math:`\sqrt{v}` before the bias correction, where torch's Adam adds it
    after (:math:`\sqrt{\hat v} + \epsilon`): the steps differ visibly once gradients are near epsilon.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam needs lr >= 0, eps >= 0, betas in [0, 1); received {lr}, {eps}, {betas}.")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _state_names(self, group: Group) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        beta_1, beta_2 = group["betas"]
        alpha = _bias_corrected_rate(group["lr"], beta_1, beta_2, t, params[0].dtype)
        m, v = states["exp_avg"], states["exp_avg_sq"]
        if not group["amsgrad"] and one_pass.runs_on(params, grads, m, v):  # memory read once (one_pass)
            into = write.into(params), write.into(m), write.into(v)
            write.checked_finite(into[0], one_pass.adam(params, grads, m, v, into, beta_1, beta_2, alpha, group["eps"]))
            states["exp_avg"], states["exp_avg_sq"] = into[1], into[2]
            return into[0]
        m = states["exp_avg"] = write("mul", states["exp_avg"], beta_1)
        torch._foreach_add_(m, grads, alpha=1.0 - beta_1)
        v = states["exp_avg_sq"] = write("mul", states["exp_avg_sq"], beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - beta_2)
        if group["amsgrad"]:
            v = states["max_exp_avg_sq"] = write("maximum", states["max_exp_avg_sq"], v)
        denominator = torch._foreach_sqrt(v)
        torch._foreach_add_(denominator, group["eps"])
        return write("addcdiv", params, m, denominator, value=-alpha)


class KerasAdamW(KerasAdam):
    """Keras's ``AdamW``: ``KerasAdam`` with Keras's default ``weight_decay=0.004``."""

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        weight_decay: float = 0.004,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class KerasRMSprop(KerasOptimizer):
    r"""Keras's ``RMSprop`` (``alpha`` is Keras's ``rho``).

    .. math::
        \begin{aligned}
        v &\leftarrow \rho v + (1 - \rho) g^2 \\
        d &= v + \epsilon \quad (\text{centered: } a \leftarrow \rho a + (1 - \rho) g,\ d = v - a^2 + \epsilon) \\
        \Delta &= \eta g / \sqrt{d} \\
        w &\leftarrow w - \Delta \quad (\text{momentum: } b \leftarrow \mu b + \Delta,\ w \leftarrow w - b)
        \end{aligned}

    Epsilon is inside the square root, where torch's RMSprop adds it to :math:`\sqrt{v}`: at a
    gradient of 1e-3 torch's first step is 41% larger.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        alpha: float = 0.9,
        eps: float = 1e-7,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps < 0 or not 0.0 <= alpha <= 1.0 or momentum < 0:
            raise ValueError(
                f"RMSprop needs lr >= 0, eps >= 0, rho in [0, 1], momentum >= 0; received {lr}, {eps}, {alpha}, "
                f"{momentum}."
            )
        defaults = dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _state_names(self, group: Group) -> tuple[str, ...]:
        names = ["square_avg"]
        if group["centered"]:
            names.append("grad_avg")
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        return tuple(names)

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        rho, lr = group["alpha"], group["lr"]
        v = states["square_avg"] = write("mul", states["square_avg"], rho)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - rho)
        denominator = torch._foreach_add(v, group["eps"])
        if group["centered"]:
            a = states["grad_avg"] = write("mul", states["grad_avg"], rho)
            torch._foreach_add_(a, grads, alpha=1.0 - rho)
            torch._foreach_addcmul_(denominator, a, a, value=-1.0)
        torch._foreach_sqrt_(denominator)
        if group["momentum"] > 0:
            b = states["momentum_buffer"] = write("mul", states["momentum_buffer"], group["momentum"])
            torch._foreach_addcdiv_(b, grads, denominator, value=lr)
            return write("sub", params, b)
        return write("addcdiv", params, grads, denominator, value=-lr)


def _check(name: str, lr: float, eps: float = 0.0, **betas: float) -> None:
    """Keras's limits: a learning rate and epsilon >= 0, each beta in [0, 1]."""
    if lr < 0 or eps < 0 or not all(0.0 <= b <= 1.0 for b in betas.values()):
        raise ValueError(
            f"{name} needs lr >= 0, eps >= 0 and {', '.join(betas)} in [0, 1]; received lr={lr}, eps={eps}, {betas}."
        )


class _Moments(KerasOptimizer):
    """Adam's arguments without ``amsgrad``, which Nadam and Adamax take."""

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _check(type(self).__name__.removeprefix("Keras"), lr, eps, beta_1=betas[0], beta_2=betas[1])
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))


class KerasNadam(_Moments):
    r"""Keras's ``Nadam``: Adam with Nesterov momentum and Keras's momentum schedule.

    .. math::
        \begin{aligned}
        u_t &= \beta_1 (1 - \tfrac12\, 0.96^{t}) \qquad \Pi_t = \Pi_{t-1} u_t \quad (\Pi_0 = 1) \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \hat m &= \frac{u_{t+1} m}{1 - \Pi_t u_{t+1}} + \frac{(1 - u_t) g}{1 - \Pi_t} \qquad
        \hat v = \frac{v}{1 - \beta_2^t} \\
        w &\leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)
        \end{aligned}

    The product :math:`\Pi_t` is a state of its own (``mu_product``, Keras's ``u_product``), kept
    in the weights' precision, so a resumed run continues the schedule exactly.
    """

    state_names = ("exp_avg", "exp_avg_sq", "mu_product")

    def _initial_state(self, name: str, p: torch.Tensor, group: Group) -> torch.Tensor:
        return _scalar(1.0, p.dtype) if name == "mu_product" else super()._initial_state(name, p, group)

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        beta_1, beta_2 = group["betas"]
        dtype = states["mu_product"][0].dtype
        u_t = _scalar(beta_1, dtype) * (1.0 - 0.5 * _scalar(0.96, dtype) ** t)
        u_next = _scalar(beta_1, dtype) * (1.0 - 0.5 * _scalar(0.96, dtype) ** (t + 1))
        products = states["mu_product"] = write("mul", states["mu_product"], float(u_t))  # Keras's u_product: Pi_t
        product = products[0].cpu()
        m = states["exp_avg"] = write("mul", states["exp_avg"], beta_1)
        torch._foreach_add_(m, grads, alpha=1.0 - beta_1)
        v = states["exp_avg_sq"] = write("mul", states["exp_avg_sq"], beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - beta_2)
        m_hat = torch._foreach_mul(m, float(u_next / (1.0 - product * u_next)))
        torch._foreach_add_(m_hat, grads, alpha=float((1.0 - u_t) / (1.0 - product)))
        denominator = torch._foreach_div(v, float(1.0 - _scalar(beta_2, dtype) ** t))
        torch._foreach_sqrt_(denominator)
        torch._foreach_add_(denominator, group["eps"])
        return write("addcdiv", params, m_hat, denominator, value=-group["lr"])


class KerasAdagrad(KerasOptimizer):
    r"""Keras's ``Adagrad``.

    .. math::
        a \leftarrow a + g^2 \quad (a_0 = \text{initial\_accumulator\_value}) \qquad
        w \leftarrow w - \eta\, g / \sqrt{a + \epsilon}

    Epsilon is inside the square root and the accumulator starts at 0.1, where torch's Adagrad
    adds epsilon to :math:`\sqrt{a}` and starts at 0.
    """

    state_names = ("sum",)

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        initial_accumulator_value: float = 0.1,
        eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _check("Adagrad", lr, eps)
        if initial_accumulator_value < 0:
            raise ValueError(f"Adagrad needs initial_accumulator_value >= 0, received {initial_accumulator_value}.")
        defaults = dict(lr=lr, initial_accumulator_value=initial_accumulator_value, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _initial_state(self, name: str, p: torch.Tensor, group: Group) -> torch.Tensor:
        return torch.full_like(p, group["initial_accumulator_value"], memory_format=torch.preserve_format)

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        accumulators = states["sum"] = write("addcmul", states["sum"], grads, grads)
        denominator = torch._foreach_add(accumulators, group["eps"])
        torch._foreach_sqrt_(denominator)
        return write("addcdiv", params, grads, denominator, value=-group["lr"])


class KerasAdadelta(KerasOptimizer):
    r"""Keras's ``Adadelta``.

    .. math::
        \begin{aligned}
        a &\leftarrow \rho a + (1 - \rho) g^2 \qquad
        \Delta = -\sqrt{d + \epsilon}\; g / \sqrt{a + \epsilon} \\
        d &\leftarrow \rho d + (1 - \rho) \Delta^2 \qquad w \leftarrow w + \eta \Delta
        \end{aligned}

    Keras's default learning rate is 0.001 (torch's is 1.0): its steps are a thousandth of the
    textbook's unless ``learning_rate=1.0``.
    """

    state_names = ("square_avg", "acc_delta")

    def __init__(
        self, params: Params, lr: float = 1e-3, rho: float = 0.95, eps: float = 1e-7, weight_decay: float = 0.0
    ) -> None:
        _check("Adadelta", lr, eps, rho=rho)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        rho, eps = group["rho"], group["eps"]
        a = states["square_avg"] = write("mul", states["square_avg"], rho)
        torch._foreach_addcmul_(a, grads, grads, value=1.0 - rho)
        delta = torch._foreach_add(states["acc_delta"], eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_mul_(delta, grads)
        rms_a = torch._foreach_add(a, eps)
        torch._foreach_sqrt_(rms_a)
        torch._foreach_div_(delta, rms_a)  # -Delta
        d = states["acc_delta"] = write("mul", states["acc_delta"], rho)
        torch._foreach_addcmul_(d, delta, delta, value=1.0 - rho)
        return write("add", params, delta, alpha=-group["lr"])


class KerasAdamax(_Moments):
    r"""Keras's ``Adamax``: Adam with the infinity norm.

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g \qquad u \leftarrow \max(\beta_2 u, |g|) \qquad
        w \leftarrow w - \eta\, m / \big((u + \epsilon)(1 - \beta_1^t)\big)
    """

    state_names = ("exp_avg", "exp_inf")

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        beta_1, beta_2 = group["betas"]
        m = states["exp_avg"] = write("mul", states["exp_avg"], beta_1)
        torch._foreach_add_(m, grads, alpha=1.0 - beta_1)
        u = states["exp_inf"] = write("mul", states["exp_inf"], beta_2)
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denominator = torch._foreach_add(u, group["eps"])
        torch._foreach_mul_(denominator, float(1.0 - _scalar(beta_1, params[0].dtype) ** t))
        return write("addcdiv", params, m, denominator, value=-group["lr"])


class KerasLion(KerasOptimizer):
    r"""Keras's ``Lion``: the sign of an interpolated momentum.

    .. math::
        w \leftarrow w - \eta\, \operatorname{sign}(\beta_1 m + (1 - \beta_1) g) \qquad
        m \leftarrow \beta_2 m + (1 - \beta_2) g

    Every coordinate moves by exactly the learning rate, so Lion wants a learning rate 3-10x
    smaller than Adam's.
    """

    state_names = ("exp_avg",)
    shows_non_finite_gradients = False  # the sign of an infinite momentum is finite

    def __init__(
        self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0
    ) -> None:
        _check("Lion", lr, beta_1=betas[0], beta_2=betas[1])
        if betas[0] == 0:
            raise ValueError("Lion needs beta_1 in (0, 1] (as Keras): with beta_1=0 it ignores its momentum.")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States, t: float, write: Writes) -> Tensors:
        beta_1, beta_2 = group["betas"]
        direction = torch._foreach_mul(states["exp_avg"], beta_1)
        torch._foreach_add_(direction, grads, alpha=1.0 - beta_1)
        torch._foreach_sign_(direction)
        params = write("add", params, direction, alpha=-group["lr"])
        m = states["exp_avg"] = write("mul", states["exp_avg"], beta_2)
        torch._foreach_add_(m, grads, alpha=1.0 - beta_2)
        return params


KERAS_OPTIMIZERS: dict[str, type[KerasOptimizer]] = {
    c.__name__: c
    for c in (
        KerasSGD,
        KerasAdam,
        KerasAdamW,
        KerasRMSprop,
        KerasNadam,
        KerasAdagrad,
        KerasAdadelta,
        KerasAdamax,
        KerasLion,
    )
}
