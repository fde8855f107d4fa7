"""Character-level language model: learn a text, then write more of it one character at a time.

``rnnlab charrnn train`` reads a text (``--text FILE`` or ``--dataset shakespeare``), builds its
character vocabulary, and trains Embedding -> ``--layers`` recurrent layers -> Dense over the
vocabulary to predict each next character: sequences of ``--seq-length`` characters, targets
shifted by one, sparse cross-entropy from logits, Adam, gradient clipping (global norm). Each
epoch is one pass over the training text, cut at a random offset and shuffled. The last
``--val-fraction`` of the text is held out: its loss (nats and bits per character, on
non-overlapping sequences of ``--seq-length`` from a zero state) is reported after every epoch
with a short sample; at the end also with the state carried through the held-out text, each
character predicted from all the text before it in one of ``--batch-size`` parts (karpathy's
char-rnn's measure). Training stops after ``--patience`` epochs without a lower validation loss
and keeps the best epoch's weights. The model is saved after every epoch; ``--resume`` continues
an interrupted run (``--out DIR`` names it) from its last completed epoch.

``rnnlab charrnn sample --model DIR --prime "ROMEO:"`` streams text from a trained model,
carrying the recurrent state from character to character.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..callbacks import BackupAndRestore, Callback, EarlyStopping
from ..core import files
from ..datasets.corpora import load_tiny_shakespeare
from ..layers import Dense, Dropout, Embedding
from ..models.model import Sequential
from ..viz import plot_history
from .charmodel import (
    VOCABULARY_FILE,
    CharBatches,
    Vocabulary,
    generate,
    load_char_model,
    read_vocabulary,
    save_vocabulary,
    stream_loss,
)
from .experiment import EPOCHS, PARAMS, Figure, Results, Run
from .multiplication import CELLS, LABELS
from .options import counted, option, resume_differences
from .runs import RunDir, clean_stale_runs
from .saved import read_options

DATASETS = {"shakespeare": load_tiny_shakespeare}


@dataclass
class CharTrainConfig:
    text: str | None = option(None, "a UTF-8 text file to learn", one_of="source")
    dataset: str | None = option(
        None, "a built-in corpus (found via RNNLAB_DATA_DIR or downloaded)", choices=["shakespeare"], one_of="source"
    )
    seq_length: int = option(100, "characters per training sequence")
    batch_size: int = option(64, "sequences per gradient step")
    cell: str = option("lstm", "recurrent cell", choices=sorted(CELLS))
    layers: int = option(2, "stacked recurrent layers")
    units: int = option(256, "units per recurrent layer")
    embedding_dim: int = option(64, "size of the character embedding")
    embedding_init: str = option(
        "normal",
        "initial embeddings: normal N(0, 1) as PyTorch's nn.Embedding (learns faster here), "
        "or keras: uniform in [-0.05, 0.05]",
        choices=["normal", "keras"],
    )
    dropout: float = option(0.2, "dropout after each recurrent layer")
    learning_rate: float = option(2e-3, "Adam learning rate")
    lr_decay: float = option(0.97, "the learning rate is multiplied by this after every epoch")
    clipnorm: float = option(5.0, "clip the global gradient norm to this (0: no clipping)")
    epochs: int = option(50, "passes over the training text", fixed=False)
    patience: int = option(
        5,
        "stop after this many epochs without a lower validation loss and keep the best epoch's weights "
        "(0: train every epoch and keep the last)",
        fixed=False,
    )
    max_minutes: float | None = option(
        None, "stop after the epoch that passes this many minutes of training", fixed=False
    )
    val_fraction: float = option(0.1, "the last fraction of the text held out for validation")
    sample_length: int = option(
        200, "characters sampled after every epoch (0: none); five times as many at the end", fixed=False
    )
    temperature: float = option(0.8, "temperature of those samples", fixed=False)
    seed: int = option(0, "random seed for initial weights, batches and samples")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available)")
    max_vocabulary: int = option(
        10_000,
        "refuse a text with more distinct characters than this: the output layer and its logits grow with it",
        minimum=1,
        fixed=False,
    )
    resume: bool = option(
        False,
        "continue the interrupted run named by --out from its last completed epoch (with the same model and "
        "training options; what is shown and when to stop may change)",
        fixed=False,
    )


@dataclass
class CharSampleConfig:
    model: str | None = option(
        None, "run directory of `rnnlab charrnn train` (or its model.safetensors)", required=True
    )
    prime: str | None = option(None, "text to start from; none: a newline, or the first character the model knows")
    length: int = option(1000, "characters to generate")
    temperature: float = option(0.8, "below 1 conservative, above 1 diverse, 0 always the likeliest character")
    top_k: int | None = option(None, "sample among the k likeliest characters only")
    seed: int | None = option(None, "random seed: the same seed gives the same text")


# -- train ----------------------------------------------------------------------------------------
def validate(config: CharTrainConfig) -> None:
    positive = {"--seq-length": config.seq_length, "--batch-size": config.batch_size, "--layers": config.layers}
    positive |= {"--units": config.units, "--embedding-dim": config.embedding_dim, "--epochs": config.epochs}
    for flag, value in positive.items():
        if value < 1:
            raise ValueError(f"{flag} must be at least 1, received {value}.")
    if not 0 < config.val_fraction < 1:
        raise ValueError(f"--val-fraction must be between 0 and 1, received {config.val_fraction}.")
    if not 0 <= config.dropout < 1:
        raise ValueError(f"--dropout must be in [0, 1), received {config.dropout}.")
    if config.learning_rate <= 0 or config.lr_decay <= 0 or config.clipnorm < 0:
        raise ValueError("--learning-rate and --lr-decay must be positive, --clipnorm at least 0.")
    if config.temperature < 0 or config.sample_length < 0:
        raise ValueError("--temperature and --sample-length must be at least 0.")


def load_text(config: CharTrainConfig) -> str:
    if (config.text is None) == (config.dataset is None):
        raise ValueError("Give exactly one of --text FILE or --dataset shakespeare.")
    if config.dataset is not None:
        return DATASETS[config.dataset]()
    path = Path(config.text).expanduser()  # type: ignore[arg-type]
    if not path.is_file():
        raise FileNotFoundError(f"No text file at {path} (--text).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err}).") from None
    if not text:
        raise ValueError(f"{path} is empty: there are no characters to learn.")
    return text


def build_model(vocabulary_size: int, config: CharTrainConfig) -> Sequential:
    """Embedding -> ``layers`` x (recurrent layer [-> Dropout]) -> Dense(vocabulary) logits.

    With ``embedding_init="normal"`` the embeddings start N(0, 1), as PyTorch's ``nn.Embedding``:
    Keras's uniform +-0.05 gives the first LSTM inputs about 35 times smaller, and on tiny
    shakespeare the model then trails the PyTorch reference (mean training loss over steps 41-60:
    3.23 vs 2.55 nats per character; 0.38 to 0.16 nats of validation loss over the first four
    epochs, run side by side), while with N(0, 1) it leads (2.40).
    """
    embedding = Embedding(vocabulary_size, config.embedding_dim, input_shape=(None,))
    layers: list[Any] = [embedding]
    for _ in range(config.layers):
        layers.append(CELLS[config.cell](config.units, return_sequences=True))
        if config.dropout > 0:
            layers.append(Dropout(config.dropout))
    layers.append(Dense(vocabulary_size))
    model = Sequential(layers)  # built from the input shape
    if config.embedding_init == "normal":
        with torch.no_grad():
            embedding.embeddings.normal_(0.0, 1.0)
    return model


class CharLog(Callback):
    """Adds bits per character, elapsed training time and the learning rate to each epoch's logs;
    samples; saves the model; stops after ``max_minutes``; decays the rate."""

    def __init__(self, config: CharTrainConfig, vocabulary: Vocabulary, prime: str, run_dir: RunDir) -> None:
        self.config, self.vocabulary, self.prime, self.run_dir = config, vocabulary, prime, run_dir
        self.elapsed = 0.0  # seconds of training in earlier sessions (a resumed run)
        self.samples: list[str] = []

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        for group in self.model.optimizer.param_groups:
            group["lr"] = self.config.learning_rate * self.config.lr_decay**epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs if logs is not None else {}
        seconds = self.elapsed + time.perf_counter() - self.started
        logs["val_bpc"] = logs["val_loss"] / math.log(2)
        logs["seconds"] = seconds
        logs["learning_rate"] = self.model.optimizer.param_groups[0]["lr"]
        sample = ""
        if self.config.sample_length:
            sample = generate(
                self.model,
                self.vocabulary,
                self.prime,
                self.config.sample_length,
                self.config.temperature,
                seed=self.config.seed + epoch,
            )
        self.samples.append(sample)
        self.model.save(str(self.run_dir.file("model.safetensors")), include_optimizer=False)
        if self.config.max_minutes is not None and seconds >= 60 * self.config.max_minutes:
            self.model.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed + time.perf_counter() - self.started, "samples": self.samples}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.elapsed, self.samples = float(state["elapsed"]), list(state["samples"])


class ShowEpoch(Callback):
    """Prints each epoch's losses in nats and bits and its sample, under the epoch's progress line."""

    main_process_only = True
    backed_up = False
    order = 1  # after the progress display, which ends the epoch's line

    def __init__(self, log: CharLog) -> None:
        self.log = log

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs if logs is not None else {}
        print(
            f"epoch {epoch + 1}: loss {logs['loss']:.4f}, validation {logs['val_loss']:.4f} nats/char "
            f"({logs['val_bpc']:.3f} bits), {logs['seconds'] / 60:.1f} min",
            flush=True,
        )
        if self.log.samples[-1]:
            print("  " + (self.log.prime + self.log.samples[-1]).replace("\n", "\n  "), flush=True)


def _interrupted(out: Path) -> Path | None:
    """The newest directory with a backup that an interrupted run to ``out`` left:
    ``out.incomplete`` or ``out.incomplete-N`` (a killed run's partial folder is turned into one first)."""
    clean_stale_runs(out.parent)
    kept = [p for p in out.parent.glob(f"{out.name}.incomplete*") if (p / "backup").is_dir()]
    return max(kept, key=lambda p: (p / "backup").stat().st_mtime) if kept else None


def _resumable(config: CharTrainConfig, out: str | None) -> Path | None:
    """The folder of the interrupted run that ``--resume`` continues, its options checked against
    ``config``; None without ``--resume``."""
    if not config.resume:
        return None
    if out is None:
        raise ValueError("--resume needs --out DIR: the run directory of the interrupted run to continue.")
    previous = _interrupted(Path(out))
    if previous is None:
        raise ValueError(f"Nothing to resume: no interrupted run of {out} with a backup ({out}.incomplete/backup).")
    began = read_options(previous / "config.json")
    if not began:
        raise ValueError(
            f"Could not read {previous / 'config.json'}: it is damaged or not a run's config.json (no options in it)."
        )
    differences = resume_differences(config, began)
    if differences:
        raise ValueError(
            f"cannot resume: {'; '.join(differences)}. The run in {previous} continues with the model and "
            "training options it began with (what is shown and when to stop may change)."
        )
    return previous


def _check_resumed_files(previous: Path, vocabulary: Vocabulary) -> None:
    """The interrupted run's vocabulary must be the text's, and its backup readable: checked before
    the resumed run begins, so a mismatch or a damaged file leaves the folder as it is."""
    stored = previous / VOCABULARY_FILE
    if not stored.is_file():
        raise ValueError(f"Could not read {stored}: it is missing, and the interrupted run's model needs it.")
    began = read_vocabulary(stored)
    if began != vocabulary:
        raise ValueError(
            f"cannot resume: the text's {len(vocabulary)} distinct characters are not the {len(began)} that "
            f"{stored} lists; give the text the run began with."
        )
    backup = previous / "backup" / BackupAndRestore.FILENAME
    if backup.exists():
        BackupAndRestore.read(backup)  # a ValueError naming the file when it is damaged


def check_vocabulary_size(vocabulary: Vocabulary, config: CharTrainConfig) -> None:
    """Refuse a vocabulary larger than ``--max-vocabulary`` before any memory goes to the model."""
    if len(vocabulary) > config.max_vocabulary:
        logits = config.batch_size * config.seq_length * len(vocabulary) * 4  # float32 scores of one batch
        raise ValueError(
            f"The text has {len(vocabulary):,} distinct characters, more than --max-vocabulary "
            f"{config.max_vocabulary:,}: the model's output grows with them (the scores of one batch alone "
            f"take {logits / 1e9:.2f} GB). Raise --max-vocabulary to train on it anyway."
        )


def split_text(length: int, config: CharTrainConfig) -> int:
    """Where the validation part of a text of ``length`` characters begins; a ValueError when a part is
    shorter than one sequence."""
    split = int(round(length * (1 - config.val_fraction)))
    for part, size in (("training", split), ("validation", length - split)):
        if size < config.seq_length + 1:
            raise ValueError(
                f"The {part} part of the text has {size} characters, fewer than --seq-length + 1 "
                f"({config.seq_length + 1}); use a longer text or a shorter --seq-length."
            )
    return split


def train(config: CharTrainConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    validate(config)
    previous = _resumable(config, out)
    text = load_text(config)
    vocabulary = Vocabulary.from_text(text)
    check_vocabulary_size(vocabulary, config)
    if previous is not None:
        _check_resumed_files(previous, vocabulary)
    ids = vocabulary.encode(text)
    split = split_text(len(ids), config)
    train_batches = CharBatches(ids[:split], config.seq_length, config.batch_size)
    val_batches = CharBatches(ids[split:], config.seq_length, 4 * config.batch_size, shuffle=False)
    prime = "\n" if "\n" in vocabulary.chars else vocabulary.chars[0]

    resolved = {"vocabulary_size": len(vocabulary), "train_chars": split}
    with Run("charrnn", config, out, quiet, continues=previous, resolved=resolved) as run:
        save_vocabulary(vocabulary, run.dir.path)
        model = run.model(build_model, len(vocabulary), config)
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            from_logits=True,
            learning_rate=config.learning_rate,
            global_clipnorm=config.clipnorm or None,
            device=config.device,
        )
        log = CharLog(config, vocabulary, prime, run.dir)
        stop = EarlyStopping(patience=config.patience, restore_best_weights=True) if config.patience else None
        history = run.fit(
            model,
            f"{LABELS[config.cell]} x{config.layers} ({counted(config.units, 'unit')})",
            train_batches,
            epochs=config.epochs,
            validation_data=val_batches,
            callbacks=[
                log,
                BackupAndRestore(str(run.file("backup"))),
                *([stop] if stop else []),
                *([] if quiet else [ShowEpoch(log)]),
            ],
        ).history
        values = history.history
        last = len(values["val_loss"]) - 1
        kept = stop.best_epoch if stop is not None else last  # the epoch whose weights the model ends with
        if kept != last:  # CharLog saved the last epoch's weights; the best were restored since
            model.save(str(run.file("model.safetensors")), include_optimizer=False)
        run.keep("Model", model, history, save=False)
        row = measure(model, config, values, kept, ids[split:])
        results = Results("Validation (nats and bits per character)", [row], COLUMNS)
        sample = generate(model, vocabulary, prime, 5 * config.sample_length, config.temperature, seed=config.seed)
        files.write_text(run.file("sample.txt"), prime + sample + "\n")
        run.finish(
            "Character-level language model",
            {
                "vocabulary_size": len(vocabulary),
                "train_chars": split,
                "val_chars": len(ids) - split,
                "results": [row],
                "table": results.text,
                "sample": prime + sample,
            },
            tables=[results],
            figures=[loss_figure(values)],
            notes=[f"Sample at temperature {config.temperature}: {(prime + sample)[:400]!r}"],
            findings=explain(row, values["loss"], len(vocabulary)),
            examples={
                f"Temperature {t:g}": prime + generate(model, vocabulary, prime, REPORT_SAMPLE, t, seed=config.seed)
                for t in REPORT_TEMPERATURES
            },
        )
        run.say(
            f"\nCharacter model, {len(vocabulary)} characters, {split:,} training / {len(ids) - split:,} validation:\n",
            results.text,
            f"\nSample (temperature {config.temperature}):\n{prime}{sample}",
        )
    return {"results": [row], "run_dir": str(run.final)}


REPORT_TEMPERATURES = (0.5, 0.8, 1.2)  # the report's samples: conservative, the default, diverse
REPORT_SAMPLE = 200  # characters each


def explain(row: dict[str, Any], train_losses: list[float], vocabulary_size: int) -> list[str]:
    """Sentences from the results row: the validation loss reached (nats, bits, perplexity) against a
    uniform guess over the vocabulary, and with the state carried."""
    nats = row["val_nats"]
    return [
        f"After {counted(row['epochs'], 'epoch')} (epoch {row['kept_epoch']}'s weights kept), the held-out text "
        f"costs {nats:.3f} nats per character ({row['val_bits']:.3f} bits, perplexity {math.exp(nats):.2f}).",
        f"A uniform guess over the {vocabulary_size} characters would cost {math.log(vocabulary_size):.3f} nats.",
        f"With the state carried through the held-out text: {row['val_nats_carried']:.3f} nats; "
        f"last epoch's training loss: {train_losses[-1]:.3f}.",
    ]


def measure(
    model: Sequential, config: CharTrainConfig, values: dict[str, list[float]], kept: int, held_out: Any
) -> dict[str, Any]:
    """The results row: the kept epoch's validation loss, and the loss with the state carried
    through the ``held_out`` character ids."""
    return {
        "model": f"{LABELS[config.cell]} {config.layers}x{config.units}",
        "params": model.count_params(),
        "epochs": len(values["val_loss"]),
        "minutes": values["seconds"][-1] / 60,
        "kept_epoch": kept + 1,
        "val_nats": values["val_loss"][kept],
        "val_bits": values["val_bpc"][kept],
        "val_nats_carried": stream_loss(
            model, held_out, config.seq_length, streams=min(config.batch_size, len(held_out) - 1)
        ),
    }


def loss_figure(values: dict[str, list[float]]) -> Figure:
    losses = {k: v for k, v in values.items() if k in ("loss", "val_loss")}
    return Figure(
        "loss.png",
        "Cross-entropy per epoch (nats per character)",
        lambda path: plot_history(losses, path, title="character model: cross-entropy (nats per character)"),
    )


COLUMNS = [
    ("model", "model", ""),
    PARAMS,
    EPOCHS,
    ("minutes", "minutes", ".1f"),
    ("kept_epoch", "kept epoch", "d"),
    ("val_nats", "val nats/char", ".4f"),
    ("val_bits", "val bits/char", ".4f"),
    ("val_nats_carried", "state carried", ".4f"),
]


# -- sample ---------------------------------------------------------------------------------------
SAMPLE_HELP = """Stream text from a trained character model, one character at a time.

Reads the model and vocabulary that ``rnnlab charrnn train`` saved (``--model DIR``), runs
``--prime`` through it once, then draws each next character from the model's distribution
(sharpened below ``--temperature`` 1, flattened above it, the likeliest at 0; ``--top-k`` keeps
the k likeliest) and feeds it back, the recurrent state carried from character to character.
The text goes to stdout as it is drawn; no file is written. The same ``--seed`` gives the same
text.
"""


def sample(config: CharSampleConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    if config.model is None:
        raise ValueError("--model DIR is required: the run directory of `rnnlab charrnn train`.")
    if config.length < 0:
        raise ValueError(f"--length must be at least 0, received {config.length}.")
    model, vocabulary = load_char_model(config.model)
    prime = config.prime
    if prime is None:
        prime = "\n" if "\n" in vocabulary.chars else vocabulary.chars[0]
    missing = vocabulary.unknown(prime)
    if missing:
        raise ValueError(
            f"The prime has characters the model does not know: {', '.join(map(repr, missing))}. "
            f"It knows {len(vocabulary)}: {vocabulary.chars!r}."
        )
    sys.stdout.write(prime)
    text = generate(
        model,
        vocabulary,
        prime,
        config.length,
        config.temperature,
        config.top_k,
        config.seed,
        stream=lambda c: (sys.stdout.write(c), sys.stdout.flush()),
    )
    sys.stdout.write("\n")
    return {"text": prime + text}
