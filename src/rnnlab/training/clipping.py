"""Keras's gradient clipping, shared by ``fit`` and ``optimizer.apply_gradients``."""

from __future__ import annotations

import torch


@torch.no_grad()
def clip_gradients(
    grads: list[torch.Tensor],
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
) -> None:
    """Keras's formulas, in place: values clipped elementwise, each gradient scaled to at most ``clipnorm``
    (``g * c / max(|g|, c)``), all of them together to at most ``global_clipnorm``
    (``g * c / max(|G|, c)``). Keras allows one of the three; given several, they apply in that order."""
    if not grads:
        return
    if clipvalue is not None:
        torch._foreach_clamp_min_(grads, -clipvalue)
        torch._foreach_clamp_max_(grads, clipvalue)
    if clipnorm is not None:
        norms = torch._foreach_norm(grads)
        scales = [clipnorm / torch.clamp(n, min=clipnorm) for n in norms]
        torch._foreach_mul_(grads, scales)
    if global_clipnorm is not None:
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        torch._foreach_mul_(grads, global_clipnorm / torch.clamp(total, min=global_clipnorm))
