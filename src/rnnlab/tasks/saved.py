"""Models saved by earlier runs: finding them, and the options of the run that made them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LABELS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def find_models(path: str | Path, cells: Sequence[str] = ()) -> tuple[dict[str, Path], dict[str, Any]]:
    """``(label -> model file, options of the run)`` for a run directory or one model file.

    A run directory holds ``model-<cell>.safetensors`` (one per cell, ``cells`` picks some; all
    by default) and/or ``model.safetensors``; its ``config.json`` holds the options. The options are
    empty when there is no ``config.json`` beside the model.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("model-*.safetensors"))
        picked = [f for f in found if not cells or f.stem.removeprefix("model-") in cells]
        files = {_label(f): f for f in [*picked, *path.glob("model.safetensors")]}
        if not files:
            wanted = f" for --cells {' '.join(cells)}" if cells and found else ""
            seeds = sorted(path.glob("seed-*/"))
            each = f" This run holds a run per seed: give one of them, e.g. {seeds[0]}." if seeds else ""
            raise FileNotFoundError(
                f"No model file{wanted} in {path}: a run directory holds model-<cell>.safetensors "
                "(rnnlab multiplication, rnnlab gradients) or model.safetensors (rnnlab sequence, forecast, "
                f"classify, charrnn).{each}"
            )
        run_config = path / "config.json"
    elif path.is_file():
        files = {_label(path): path}
        run_config = path.parent / "config.json"
    else:
        raise FileNotFoundError(f"No model file or run directory at {path}.")
    options = read_options(run_config) if run_config.is_file() else {}
    return files, options


MAX_CONFIG_BYTES = 2**24  # a run's config.json takes a few kilobytes


def read_options(config_file: Path) -> dict[str, Any]:
    """The options a run's ``config.json`` records (none in another program's config.json); a
    ValueError naming the file when it is damaged."""
    try:
        size = config_file.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"{size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a run's config.json may have")
        recorded = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # RecursionError: JSON nested thousands deep
        raise ValueError(f"Could not read {config_file}: it is damaged or not a run's config.json ({err}).") from None
    options = recorded.get("options", {}) if isinstance(recorded, dict) else None
    if not isinstance(options, dict):
        raise ValueError(f"Could not read {config_file}: it is damaged or not a run's config.json (no options in it).")
    return options


def recorded_experiment(config_file: Path) -> str | None:
    """The experiment a run's ``config.json`` names (None when there is none or it names none)."""
    try:
        recorded = (
            json.loads(config_file.read_text(encoding="utf-8"))
            if config_file.stat().st_size <= MAX_CONFIG_BYTES
            else {}
        )
    except (OSError, ValueError, RecursionError):
        return None
    experiment = recorded.get("experiment") if isinstance(recorded, dict) else None
    return experiment if isinstance(experiment, str) else None


def _label(file: Path) -> str:
    cell = file.stem.removeprefix("model-")
    return LABELS.get(cell, cell)


def experiment_of(options: dict[str, Any]) -> str | None:
    """Which experiment wrote a run, told by its options: "marked" (multiplication, adding,
    gradients), "sequence", "forecast", "classify", "charrnn", or None."""
    if "task" in options and "positions" in options:
        return "marked"
    if "predict" in options:
        return "sequence"
    if "window" in options and "horizon" in options:
        return "forecast"
    if "maxlen" in options and "num_words" in options:
        return "classify"
    if "seq_length" in options and "val_fraction" in options:
        return "charrnn"
    return None
