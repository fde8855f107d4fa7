"""Keras 3's update rules as ``torch.optim.Optimizer`` subclasses.

Each class takes PyTorch's argument names (``lr``, ``betas``, ``eps``, ``alpha`` for Keras's
``rho``), so schedulers and callbacks that change ``param_groups[i]["lr"]`` work, and applies
exactly the equations of the Keras optimizer of the same name, in Keras's order: the decoupled
weight decay ``w <- w * (1 - lr * weight_decay)`` first (when ``weight_decay`` is set), then the
update. ``t`` counts steps from 1. Updates run as ``torch._foreach_*`` operations over all the
parameters of a group at once on accelerators, and tensor by tensor on the CPU, where keeping
one tensor's state in cache through all the operations is faster (as torch's own CPU default).

State tensors live in ``self.state[p]`` (``step`` included, as a tensor), so ``state_dict()``
and ``load_state_dict()`` work as for torch's optimizers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

Params = Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]]


class KerasOptimizer(torch.optim.Optimizer):
    """The shared loop: collect the parameters that have gradients, decay, then ``update``."""

    state_names: tuple[str, ...] = ()  # zero tensors shaped like the parameter, created on first use

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.state_names

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients.")
            names = self._state_names(group)
            steps = []
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    for name in names:
                        state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
                steps.append(state["step"])
            torch._foreach_add_(steps, 1.0)
            t = float(steps[0])
            states = {name: [self.state[p][name] for p in params] for name in names}
            if group.get("weight_decay"):  # Keras: decoupled, before the update
                torch._foreach_mul_(params, 1.0 - group["lr"] * group["weight_decay"])
            if params[0].device.type == "cpu":  # one tensor at a time: its state stays in cache across the ops
                for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                    self.update(group, [p], [g], {k: [v[i]] for k, v in states.items()}, t)
            else:  # one launch per operation over the whole group
                self.update(group, params, grads, states, t)
        return loss

    def update(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        states: dict[str, list[torch.Tensor]],
        t: float,
    ) -> None:
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

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] else ()

    def update(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        states: dict[str, list[torch.Tensor]],
        t: float,
    ) -> None:
        lr, mu = group["lr"], group["momentum"]
        if not mu:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        m = states["momentum_buffer"]
        torch._foreach_mul_(m, mu)
        torch._foreach_add_(m, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, m, alpha=mu)
        else:
            torch._foreach_add_(params, m)


def _bias_corrected_rate(lr: float, beta_1: float, beta_2: float, t: float, dtype: torch.dtype) -> float:
    """``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``, computed in the weights' precision as Keras does."""
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float32
    one = torch.ones((), dtype=dtype)
    b1, b2 = torch.full((), beta_1, dtype=dtype) ** t, torch.full((), beta_2, dtype=dtype) ** t
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

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")

    def update(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        states: dict[str, list[torch.Tensor]],
        t: float,
    ) -> None:
        beta_1, beta_2 = group["betas"]
        m, v = states["exp_avg"], states["exp_avg_sq"]
        alpha = _bias_corrected_rate(group["lr"], beta_1, beta_2, t, params[0].dtype)
        torch._foreach_mul_(m, beta_1)
        torch._foreach_add_(m, grads, alpha=1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - beta_2)
        if group["amsgrad"]:
            torch._foreach_maximum_(states["max_exp_avg_sq"], v)
            v = states["max_exp_avg_sq"]
        denominator = torch._foreach_sqrt(v)
        torch._foreach_add_(denominator, group["eps"])
        torch._foreach_addcdiv_(params, m, denominator, value=-alpha)


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

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        names = ["square_avg"]
        if group["centered"]:
            names.append("grad_avg")
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        return tuple(names)

    def update(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        states: dict[str, list[torch.Tensor]],
        t: float,
    ) -> None:
        rho, lr = group["alpha"], group["lr"]
        v = states["square_avg"]
        torch._foreach_mul_(v, rho)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - rho)
        denominator = torch._foreach_add(v, group["eps"])
        if group["centered"]:
            a = states["grad_avg"]
            torch._foreach_mul_(a, rho)
            torch._foreach_add_(a, grads, alpha=1.0 - rho)
            torch._foreach_addcmul_(denominator, a, a, value=-1.0)
        torch._foreach_sqrt_(denominator)
        if group["momentum"] > 0:
            b = states["momentum_buffer"]
            torch._foreach_mul_(b, group["momentum"])
            torch._foreach_addcdiv_(b, grads, denominator, value=lr)
            torch._foreach_sub_(params, b)
        else:
            torch._foreach_addcdiv_(params, grads, denominator, value=-lr)


KERAS_OPTIMIZERS: dict[str, type[KerasOptimizer]] = {
    c.__name__: c for c in (KerasSGD, KerasAdam, KerasAdamW, KerasRMSprop)
}
