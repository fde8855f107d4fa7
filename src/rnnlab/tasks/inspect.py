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
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import write_text
from ..diagnostics import GATE_LABELS, format_weights, trace, weight_stats
from ..saving.load import load_model
from ..viz import plot_gates
from .experiment import Figure, Results, Run
from .inspect_inputs import (
    Given,
    charrnn_sample,
    charrnn_text,
    check_sample,
    classify_sample,
    classify_text,
    config_of,
)
from .multiplication import PROBLEMS
from .options import counted, option
from .saved import LABELS, experiment_of, find_models, recorded_experiment


@dataclass
class InspectConfig:
    model: str | None = option(None, "the model: a run directory or a model file", required=True)
    input: list[str] = option(
        [], "the input: values of a one-feature sequence, or a .npy/.csv file (time, features)", shown="--sample"
    )
    text: str | None = option(
        None,
        "the input of a word or character model (classify, charrnn runs): a text, read with the run's own vocabulary",
        shown="--sample",
    )
    sample: int = option(
        0,
        "which test sequence of the model's run to use when --input and --text are not given "
        "(classify: a test text or image; charrnn: a held-out passage)",
    )
    cells: list[str] = option(
        [], "which models of a run directory that holds several", choices=sorted(LABELS), shown="all"
    )
    max_steps: int = option(
        10_000, "refuse an --input longer than this many steps (every gate is traced at every step)", minimum=1
    )


def read_input(values: list[str], features: int | None, max_steps: int = 10_000) -> np.ndarray:
    """``--input`` as a (time, features) array, or (time,) token ids when ``features`` is None.

    Its length is checked against ``max_steps`` before the values are read into memory, and every
    value must be finite."""
    items = [v for item in values for v in item.split(",") if v]
    if len(items) == 1 and Path(items[0]).suffix in (".npy", ".csv"):
        array = _read_input_file(Path(items[0]), max_steps)
    else:
        _check_steps(len(items), max_steps, "--input")
        try:
            array = np.array([float(v) for v in items])
        except ValueError:
            raise ValueError(f"--input takes numbers or one .npy/.csv file, received {' '.join(values)}.") from None
    array = np.asarray(array)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        flat = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        step, feature = (int(i) for i in np.argwhere(~np.isfinite(flat))[0])
        count = int((~np.isfinite(array)).sum())
        what = "is not a finite number" if count == 1 else "are not finite numbers"
        raise ValueError(
            f"--input holds {counted(count, 'value')} that {what}, "
            f"the first {flat[step, feature]} "
            f"at step {step + 1}, feature {feature + 1}; give finite numbers."
        )
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
            f"The model reads {counted(features, 'feature')} per step; --input gave an array of shape {array.shape}. "
            f"Give a .npy or .csv file of shape (time, {features})."
        )
    return array.astype("float32")


def _check_steps(steps: int, max_steps: int, source: str) -> None:
    if steps > max_steps:
        raise ValueError(
            f"{source} has {steps:,} steps, more than --max-steps {max_steps:,} allows (every gate is traced "
            "and drawn at every step); raise --max-steps to inspect it anyway."
        )


def _read_input_file(path: Path, max_steps: int) -> np.ndarray:
    """A .npy file (its shape read before its data) or a .csv file (at most ``max_steps`` + 1 rows read)."""
    if not path.is_file():
        raise FileNotFoundError(f"No input file at {path}.")
    try:
        if path.suffix == ".npy":
            values = np.load(path, mmap_mode="r")  # the header now, the data stays on disk
        else:
            values = np.loadtxt(path, delimiter=",", ndmin=2, max_rows=max_steps + 1)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"Could not read {path}: not a {path.suffix} file of numbers ({err}).") from None
    _check_steps(len(values) if values.ndim else 1, max_steps, str(path))
    return np.array(values)


def run_input(options: dict[str, Any], sample: int, directory: Path) -> Given:
    """Test sequence ``sample`` of the run that made the model."""
    kind = experiment_of(options)
    if kind == "marked":
        x, _ = PROBLEMS[options["task"]](
            options["samples"], options["length"], rng=options["seed"], positions=options["positions"]
        )
        test = x[options["train_samples"] :]
        check_sample(sample, len(test))
        return Given(test[sample], ["marker", "value"], f"{options['task']} test sequence {sample}")
    if kind == "sequence":
        window = np.asarray(options["predict"], dtype="float32")[:, None]
        return Given(window, ["value"], f"the window {options['predict']}")
    if kind == "forecast":
        return forecast_input(options, sample)
    if kind == "classify":
        return classify_sample(sample, options)
    if kind == "charrnn":
        return charrnn_sample(sample, options, directory)
    raise ValueError(unsupported(directory))


def forecast_input(options: dict[str, Any], sample: int) -> Given:
    from .forecast import ForecastConfig, load
    from .series import prepare

    config = config_of(ForecastConfig, options)
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
    check_sample(sample, len(test))
    return Given(test[sample], data.feature_names, f"{target} test window {sample} (scaled as the model sees it)")


SUPPORTED = "multiplication, adding, gradients, sequence, forecast, classify and charrnn"


def unsupported(directory: Path) -> str:
    """Why inspect has no sequence of the model's own run: what kind of run it is, what inspect reads."""
    experiment = recorded_experiment(directory / "config.json")
    if experiment is None:
        return (
            f"No config.json of an rnnlab run in {directory} says which run made the model, so inspect has "
            "none of its test sequences: give the sequence with --input."
        )
    return (
        f"The model comes from a '{experiment}' run, whose inputs inspect does not know; it reads the test "
        f"sequences of {SUPPORTED} runs. Give the sequence with --input."
    )


def model_input(model: Any, config: InspectConfig, options: dict[str, Any], source: Path) -> Given:
    """The sequence to run through ``model``."""
    spec = getattr(model, "input_spec", None)
    features: int | None = 1
    if spec is not None:
        features = None if len(spec.shape) == 1 else int(spec.shape[-1])  # None: (time,) token ids
    directory = source if source.is_dir() else source.parent
    kind = experiment_of(options)
    if config.input and config.text is not None:
        raise ValueError("Give the input as --input (numbers) or --text (a text), not both.")
    if config.text is not None:
        return text_input(config, features, kind, options, directory)
    if config.input:
        names = ["marker", "value"] if kind == "marked" and features == 2 else None
        return Given(read_input(config.input, features, config.max_steps), names, "the given input")
    try:
        return run_input(options, config.sample, directory)
    except (KeyError, TypeError, IndexError) as err:  # options edited by hand
        raise ValueError(
            f"Could not read {directory / 'config.json'}: it is damaged or not a run's config.json "
            f"(bad or missing {err})."
        ) from None


def text_input(
    config: InspectConfig, features: int | None, kind: str | None, options: dict[str, Any], directory: Path
) -> Given:
    """``--text`` read as the run that made the model reads its texts."""
    assert config.text is not None
    if features is not None or kind not in ("classify", "charrnn"):
        reads = "token ids" if features is None else counted(features, "number") + " per step"
        raise ValueError(
            f"--text is for the word and character models of classify and charrnn runs; this model reads {reads} "
            f"and {'comes from no such run' if features is None else 'takes --input'}."
        )
    _check_steps(len(config.text), config.max_steps, "--text")
    if kind == "charrnn":
        return charrnn_text(config.text, directory)
    return classify_text(config.text, options, directory)


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

    inputs = {label: model_input(model, config, options, source) for label, model in models.items()}  # checked first

    with Run("inspect", config, out, closing="Gate heatmaps, weights and report") as run:
        figures, weight_tables, listing, findings = [], [], [], []
        outcomes: list[str] = []
        for label, model in models.items():
            given = inputs[label]
            x = given.x[given.padding :]  # the padding before a short text is traced, not drawn
            marked = [int(t) for t in np.flatnonzero(x[:, 0] == 1.0)] if marked_task and x.ndim == 2 else []
            traced: dict[str, dict[str, Any]] = {
                layer: {k: v[0, given.padding :] for k, v in values.items()}
                for layer, values in trace(model, given.x).items()
            }
            outcomes += predicted(label, model, given)
            findings += explain(label, traced)
            np.savez(
                run.file(f"trace-{label}.npz"),
                **{f"{layer}/{k}": v for layer, d in traced.items() for k, v in d.items()},
            )
            title = f"{label}: gates and states over {given.described}"
            draw = partial(
                plot_gates,
                traced,
                inputs=x if x.ndim == 2 else None,
                input_names=given.names,
                step_names=given.tokens,
                labels=GATE_LABELS,
                marked=marked,
                title=title,
            )
            figures.append(Figure(f"gates-{label}.png", title, draw))
            stats = weight_stats(model)
            rows = [vars(s) | {"shape": str(s.shape)} for s in stats]
            weight_tables.append(Results(f"{label}: weights", rows, WEIGHT_COLUMNS))
            listing.append(f"{label} ({files[label]})\n{format_weights(stats)}")
            run.keep(label, model, save=False)
        text = "\n\n".join(listing)
        write_text(run.file("weights.txt"), text + "\n")
        run.finish(
            f"Inside {source.name}",
            None,
            tables=weight_tables,
            figures=figures,
            intro="Gate values lie in [0, 1] (0: closed, 1: open); candidates and states in [-1, 1] for tanh. "
            + ("Dashed magenta lines: the two marked steps. " if marked_task else "")
            + "Weights are named as Keras 3 names its variables."
            + "".join(f" {line}" for line in outcomes),
            findings=findings,
        )
        run.say(text, *outcomes)
    return {"run_dir": str(run.final), "models": list(models)}


def predicted(label: str, model: Any, given: Given) -> list[str]:
    """What a classifier makes of the sequence: its most probable class (and the true one of a test sample)."""
    if given.class_names is None and given.truth is None:
        return []
    probabilities = model.predict(given.x[None])[0]
    names = given.class_names or [str(i) for i in range(len(probabilities))]
    best = int(np.argmax(probabilities))
    truth = f"; the sample's class is {names[given.truth]}" if given.truth is not None else ""
    return [f"{label} reads it as {names[best]} (probability {probabilities[best]:.2f}){truth}."]


GATES = ("i", "f", "o", "z", "r")  # values in [0, 1]: how far each gate is open
SATURATED = 0.95  # |h| above this: a tanh unit at its limit, where its gradient is nearly 0


def explain(label: str, traced: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """A sentence per recurrent layer from its traced values: each gate's mean opening over the
    sequence, and how often the hidden state sits at tanh's limits."""
    sentences = []
    for layer, values in traced.items():
        parts = [f"{GATE_LABELS[g]} {float(np.mean(values[g])):.2f}" for g in GATES if g in values]
        said = f"mean opening {', '.join(parts)} (0 closed, 1 open); " if parts else ""
        share = 100 * float(np.mean(np.abs(values["h"]) > SATURATED)) if "h" in values else None
        if share is not None:
            said += f"{share:.0f} % of the hidden values beyond ±{SATURATED:g}"
        sentences.append(f"{label} {layer}: {said.rstrip('; ')}.")
    return sentences


WEIGHT_COLUMNS = [
    ("name", "weight", ""),
    ("shape", "shape", ""),
    *((statistic, statistic, ".4f") for statistic in ("mean", "std", "min", "max")),
    ("abs_mean", "mean |w|", ".4f"),
]
