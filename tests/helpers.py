"""Small helpers shared by the tests."""

from __future__ import annotations

import numpy as np
import torch


def randomize(module: torch.nn.Module, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Random non-zero values in every weight, biases included, so swapped gates would show."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.as_tensor(rng.normal(0, scale, p.shape), dtype=p.dtype))


def numpy_weights(layer) -> list[np.ndarray]:
    return [w.astype(np.float64) for w in layer.get_weights()]


def ragged_mask(lengths, time, left=()):
    """(B, T) booleans: row b has lengths[b] valid steps, at the end for rows in ``left``."""
    mask = np.zeros((len(lengths), time), dtype=bool)
    for b, n in enumerate(lengths):
        if b in left:
            mask[b, time - n :] = True
        else:
            mask[b, :n] = True
    return mask
