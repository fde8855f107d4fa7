"""Which device a model runs on: ``resolve_device("auto" | "cpu" | "cuda:N" | None)``."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    if device is None:
        return None
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"Unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N' or 'auto'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} asked for, but no CUDA GPU is available here; use 'cpu' or 'auto'.")
    return resolved
