"""Look inside a trained model: its gates over one input sequence, and every weight.

Reads a model (a run directory: its model-<cell>.safetensors or model.safetensors; or one model
file) and runs one input sequence through it. For each recurrent layer it draws heatmaps over
time of every gate and state (LSTM input, forget and output gates, candidate and cell state;
GRU update and reset gates and candidate; the hidden state of every cell), with the two marked
steps highlighted when the model learned the multiplication or adding problem. It lists every
weight tensor with its Keras name, shape and statistics.

The input: ``--input`` (the values of a one-feature sequence, or a .npy / .csv file of shape
(time, features), as the model sees them), else test sequence ``--sample`` of the run that made
the model (multiplication / adding / gradients; the sequence toy's window; forecast test
windows, which need the run's data). Writes gates-<model>.png, trace-<model>.npz (every value,
(time, units)), weights.txt and report.html to ``--out``, by default a new inspect-<time>
folder beside the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import saving
from ..diagnostics import GATE_LABELS, format_weights, trace, weight_stats
from ..io import load_model
from ..viz import plot_gates
from .multiplication import PROBLEMS
from .options import option
from .report import write_report
from .runs import RunDir
from .saved import LABELS, experiment_of, find_models


@dataclass
class InspectConfig:
    model: str | None = option(None, "the model: a run directory or a model file (required)")
    input: list[str] = option(
        [], "the input: values of a one-feature sequence, or a .npy/.csv file (time, features); default: --sample"
    )
    sample: int = option(0, "which test sequence of the model's run to use when --input is not given")
    cells: list[str] = option(
        [], "which models of a run directory that holds several (default: all)", choices=sorted(LABELS)
    )


def read_input(values: list[str], features: int | None) -> np.ndarray:
    """``--input`` as a (time, features) array, or (time,) token ids when ``features`` is None."""
    items = [v for item in values for v in item.split(",") if v]
    if len(items) == 1 and Path(items[0]).suffix in (".npy", ".csv"):
        path = Path(items[0])
        if not path.is_file():
            raise FileNotFoundError(f"No input file at {path}.")
        array = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=2)
    else:
        try:
            array = np.array([float(v) for v in items])
        except ValueError:
            raise ValueError(f"--input takes numbers or one .npy/.csv file, received {' '.join(values)}.") from None
    array = np.asarray(array)
    if features is None:  # token ids for an Embedding
        if array.ndim != 1 and array.shape[-1] == 1:
            array = array.reshape(-1)
        if array.ndim != 1 or not np.array_equal(array, np.round(array)):
            raise ValueError(f"The model reads token ids: give --input as whole numbers, received shape {array.shape}.")
        return array.astype("int64")
    if array.ndim == 1 and features == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != features:
        raise ValueError(
            f"The model reads {features} feature(s) per step; --input gave an array of shape {array.shape}. "
            f"Give a .npy or .csv file of shape (time, {features})."
        )
    return array.astype("float32")


def run_input(options: dict[str, Any], sample: int) -> tuple[np.ndarray, list[str] | None, str]:
    """Test sequence ``sample`` of the run that made the model: (time, features), feature names, description."""
    kind = experiment_of(options)
    if kind == "marked":
        x, _ = PROBLEMS[options["task"]](
            options["samples"], options["length"], rng=options["seed"], positions=options["positions"]
        )
        test = x[options["train_samples"] :]
        _check_sample(sample, len(test))
        return test[sample], ["marker", "value"], f"{options['task']} test sequence {sample}"
    if kind == "sequence":
        window = np.asarray(options["predict"], dtype="float32")[:, None]
        return window, ["value"], f"the window {options['predict']}"
    if kind == "forecast":
        from .forecast import ForecastConfig, load
        from .series import prepare

        known = {f.name for f in fields(ForecastConfig)}
        config = ForecastConfig(**{k: v for k, v in options.items() if k in known})
        table, target, _, _, test_size, val_size, transform = load(config)
        data = prepare(
            table,
            target,
            config.features,
            config.window,
            config.horizon,
            val_size,
            test_size,
            config.missing,
            transform,
        )
        test = data.x[data.split == "test"]
        _check_sample(sample, len(test))
        return test[sample], data.feature_names, f"{target} test window {sample} (scaled as the model sees it)"
    raise ValueError(
        "The model's run is unknown (no config.json beside it from rnnlab multiplication, gradients, "
        "sequence or forecast): give the sequence with --input."
    )


def _check_sample(sample: int, available: int) -> None:
    if not 0 <= sample < available:
        raise ValueError(f"--sample must lie in 0..{available - 1} (the run's test sequences), received {sample}.")


def run(config: InspectConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    if config.model is None:
        raise ValueError("rnnlab inspect needs --model: a run directory or a model file.")
    files, options = find_models(config.model, config.cells)
    models = {label: load_model(f, compile=False) for label, f in files.items()}
    marked_task = experiment_of(options) == "marked"
    source = Path(config.model)
    if out is None:
        beside = source if source.is_dir() else source.parent
        out = str(beside / f"inspect-{time.strftime('%Y%m%d-%H%M%S')}")

    with RunDir("inspect", out) as run_dir:
        run_dir.write_config(config)
        images, summaries, weight_tables, listing = [], {}, {}, []
        for label, model in models.items():
            spec = getattr(model, "input_spec", None)
            features: int | None = 1
            if spec is not None:
                features = None if len(spec.shape) == 1 else int(spec.shape[-1])  # None: (time,) token ids
            if config.input:
                x, names, described = read_input(config.input, features), None, "the given input"
                if marked_task and features == 2:
                    names = ["marker", "value"]
            else:
                x, names, described = run_input(options, config.sample)
            marked = [int(t) for t in np.flatnonzero(x[:, 0] == 1.0)] if marked_task and x.ndim == 2 else []
            traced = {layer: {k: v[0] for k, v in values.items()} for layer, values in trace(model, x).items()}
            np.savez(
                run_dir.file(f"trace-{label}.npz"),
                **{f"{layer}/{k}": v for layer, d in traced.items() for k, v in d.items()},
            )
            image = f"gates-{label}.png"
            plot_gates(
                traced,
                run_dir.file(image),
                inputs=x if x.ndim == 2 else None,
                input_names=names,
                labels=GATE_LABELS,
                marked=marked,
                title=f"{label}: gates and states over {described}",
            )
            images.append((f"{label}: gates and states over {described}", image))
            stats = weight_stats(model)
            weight_tables[f"{label}: weights"] = ([vars(s) | {"shape": str(s.shape)} for s in stats], WEIGHT_COLUMNS)
            listing.append(f"{label} ({files[label]})\n{format_weights(stats)}")
            summaries[label] = model.summary(print_fn=None)
        text = "\n\n".join(listing)
        saving.write_text(run_dir.file("weights.txt"), text + "\n")
        write_report(
            run_dir,
            f"Inside {source.name}",
            config,
            tables=weight_tables,
            summaries=summaries,
            images=images,
            intro="Gate values lie in [0, 1] (0: closed, 1: open); candidates and states in [-1, 1] for tanh. "
            + ("Dashed magenta lines: the two marked steps. " if marked_task else "")
            + "Weights are named as Keras 3 names its variables.",
        )
    print(text)
    print(f"\nGate heatmaps, weights and report: {run_dir.final}")
    return {"run_dir": str(run_dir.final), "models": list(models)}


WEIGHT_COLUMNS = [
    ("name", "weight", ""),
    ("shape", "shape", ""),
    ("mean", "mean", ".4f"),
    ("std", "std", ".4f"),
    ("min", "min", ".4f"),
    ("max", "max", ".4f"),
    ("abs_mean", "mean |w|", ".4f"),
]
