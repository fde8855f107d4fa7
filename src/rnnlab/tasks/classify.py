"""Sequence classification: newswire topics, review sentiment, and MNIST read row by row.

Datasets (``--dataset``):

- ``reuters``: Keras's Reuters newswires (11,228 wires, 46 topics), built from the raw
  Reuters-21578 files by ``rnnlab.datasets.reuters.load_data`` with the tutorial's setup: the
  1,000 most frequent words, 20% test, sequences padded or cut to 100 words,
  Embedding(1000, 100) -> LSTM(100) -> Dense(46, softmax), 20 epochs.
- ``r8`` / ``r52``: the single-topic ModApte benchmarks (5,485 / 2,189 and 6,532 / 2,568
  documents); the vocabulary comes from the training split only; LSTM(128), 200 words,
  10 epochs (r52: 20).
- ``movie_reviews``: 1,000 positive and 1,000 negative reviews; files cv900-cv999 test (200),
  the rest train (1,800); the vocabulary from the training split only.
- ``mnist-rows``: each 28x28 image as 28 steps of 28 pixels, LSTM(128) x 2 -> Dense(10), batch 100,
  Adam 2e-3: the PyTorch tutorial's model with half its units and twice its learning rate (it
  uses LSTM(256) x 2 and Adam 1e-3: ``--units 256 --learning-rate 1e-3``). With the 60,000
  training images in the data directory they train and the 10,000 test images test; with only
  the test files (offline data), those 10,000 are split 8,000 train / 2,000 test, and the run
  says so.

Texts are lower-cased words (``datasets.reuters.tokenize``); for r8, r52 and movie_reviews id 0
pads, 1 marks a word outside the ``--num-words`` most frequent, ``n + 1`` the n-th most frequent.
Sequences are padded at the front; reuters cuts long wires at the front as the tutorial
(``pad_sequences`` defaults: the end of each wire is kept), the others at the end (their
beginning is kept). The last ``--validation-split`` of the training samples validate.
The table reports test accuracy and macro-F1; with at most 20 classes a confusion matrix is drawn.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import write_text
from ..datasets import mnist, movie_reviews, reuters
from ..layers import Bidirectional, Dense, Embedding
from ..models.model import Sequential
from ..preprocessing.arrays import pad_sequences, to_categorical
from ..viz import plot_confusion, plot_history
from .experiment import TRAINED, Figure, Results, Run
from .multiplication import CELLS, LABELS
from .options import counted, option


@dataclass(frozen=True)
class Preset:
    num_words: int | None
    maxlen: int | None
    embedding_dim: int | None
    units: int
    layers: int
    epochs: int
    batch_size: int
    learning_rate: float
    clipnorm: float | None = None


PRESETS = {
    "reuters": Preset(1000, 100, 100, 100, 1, 20, 32, 1e-3),
    "r8": Preset(10000, 200, 100, 128, 1, 10, 32, 1e-3, clipnorm=1.0),  # 1.7 points, and no blow-ups
    "r52": Preset(10000, 200, 100, 128, 1, 20, 32, 1e-3),  # still 3 points short at 10 epochs
    "movie_reviews": Preset(10000, 400, 100, 64, 1, 10, 32, 1e-3),
    "mnist-rows": Preset(None, None, None, 128, 2, 10, 100, 2e-3),
}


@dataclass
class ClassifyConfig:
    dataset: str | None = option(
        None, "what to classify (files found via RNNLAB_DATA_DIR or downloaded)", choices=list(PRESETS), required=True
    )
    cell: str = option("lstm", "recurrent cell", choices=sorted(CELLS))
    units: int | None = option(
        None, "units per recurrent layer (reuters 100, r8/r52 128, movie_reviews 64, mnist-rows 128)"
    )
    layers: int | None = option(None, "stacked recurrent layers (mnist-rows 2, otherwise 1)")
    bidirectional: bool = option(False, "read each sequence both ways (Bidirectional, concatenated)")
    num_words: int | None = option(None, "vocabulary size, padding and unknown ids included (reuters 1000, else 10000)")
    maxlen: int | None = option(None, "words per text, padded or cut (reuters 100, r8/r52 200, movie_reviews 400)")
    min_count: int = option(
        1,
        "keep only words seen at least this often in the training texts; with it or --stop-words, words "
        "outside the vocabulary are dropped from every text instead of read as unknown",
        minimum=1,
    )
    stop_words: str | None = option(None, "a UTF-8 file of words (one per line) to drop from every text")
    embedding_dim: int | None = option(None, "size of the word embedding (100)")
    epochs: int | None = option(None, "training epochs (reuters and r52 20, otherwise 10)")
    batch_size: int | None = option(None, "samples per gradient step (32; mnist-rows 100)")
    learning_rate: float | None = option(None, "Adam learning rate (1e-3; mnist-rows 2e-3)")
    clipnorm: float | None = option(
        None, "clip each weight's gradient to this norm before the update (r8 1.0, otherwise none; 0: none)"
    )
    validation_split: float = option(0.1, "last fraction of the training samples held out for validation")
    seed: int = option(0, "random seed for weights and shuffling (reuters: also its 113-seeded split, as Keras)")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available)")


WORDS_FILE = "words.json"  # a run's vocabulary, for reading new texts as the model was trained
WORDS_FORMAT = "rnnlab.words/1"


@dataclass(frozen=True)
class Words:
    """A vocabulary of word ids: ``words[i]`` has id ``first_id + i``, any other word ``unknown_id``,
    and ``start_id`` (Keras's Reuters convention) opens every text; 0 pads. ``drop_unknown``: other
    words are left out of the text instead (the text GCN cleaning: rare and stop words removed)."""

    words: tuple[str, ...]
    first_id: int
    unknown_id: int
    start_id: int | None = None
    drop_unknown: bool = False

    def ids(self, text: str) -> list[int]:
        """The ids of ``text``'s words (``datasets.reuters.tokenize``)."""
        return self.encode(reuters.tokenize(text))

    def encode(self, tokens: list[str]) -> list[int]:
        if self.drop_unknown:
            tokens = [w for w in tokens if w in self.index]
        ids = [self.index.get(w, self.unknown_id) for w in tokens]
        return ids if self.start_id is None else [self.start_id, *ids]

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: self.first_id + i for i, w in enumerate(self.words)}

    def labels(self, ids: list[int]) -> list[str]:
        """The word of each id; ``<pad>``, ``<start>`` and ``<unknown>`` for the others."""
        special = {0: "<pad>", self.unknown_id: "<unknown>"}
        if self.start_id is not None:
            special[self.start_id] = "<start>"
        return [special.get(i) or self._word(i) for i in ids]

    def _word(self, i: int) -> str:
        position = i - self.first_id
        return self.words[position] if 0 <= position < len(self.words) else "<unknown>"

    def to_json(self) -> str:
        fields = asdict(self)
        if not self.drop_unknown:  # as written before the field existed, for older readers
            del fields["drop_unknown"]
        return json.dumps({"format": WORDS_FORMAT, **fields})

    @classmethod
    def from_json(cls, text: str) -> Words:
        recorded = json.loads(text)
        if not isinstance(recorded, dict) or recorded.pop("format", None) != WORDS_FORMAT:
            raise ValueError(f"not an rnnlab word list (expected format {WORDS_FORMAT!r})")
        words = cls(**recorded)
        return replace(words, words=tuple(words.words))


MAX_WORDS_BYTES = 2**26  # a vocabulary of a million words takes about 15 MB


def read_words(path: Path) -> Words:
    """The word list of a classify run (its ``words.json``); a ValueError naming the file when it is damaged."""
    try:
        size = path.stat().st_size
        if size > MAX_WORDS_BYTES:
            raise ValueError(f"{size:,} bytes, more than the {MAX_WORDS_BYTES:,} a word list may have")
        return Words.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, RecursionError) as err:
        raise ValueError(f"{path} is not a classify run's word list ({err}).") from None


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    notes: list[str]
    words: Words | None = None  # None: the samples are not texts (mnist-rows)


def word_ids(
    train: list[str], test: list[str], num_words: int, min_count: int = 1, stop_words: frozenset[str] = frozenset()
) -> tuple[list[list[int]], list[list[int]], Words]:
    """Texts as word ids, the vocabulary ranked by frequency in ``train`` only: 0 pads, 1 = other
    words. With ``min_count`` > 1 or stop words, the words left out of the vocabulary are dropped
    from the texts rather than read as 1."""
    tokens = [reuters.tokenize(t) for t in train]
    counts = Counter(w for words in tokens for w in words if w not in stop_words)
    ranked = [w for w, n in counts.most_common(num_words - 2) if n >= min_count]
    words = Words(tuple(ranked), first_id=2, unknown_id=1, drop_unknown=min_count > 1 or bool(stop_words))
    return [words.encode(t) for t in tokens], [words.ids(t) for t in test], words


def read_stop_words(path: str) -> frozenset[str]:
    """The words of a stop-word file, one per line, as ``reuters.tokenize`` writes them (lower case)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"--stop-words {path}: cannot read it as a UTF-8 text file ({err}).") from None
    return frozenset(w.strip().lower() for w in lines if w.strip())


def keras_reuters_words(num_words: int) -> Words:
    """The words ``reuters.load_data(num_words=...)`` keeps: rank r has id r + 3 (ids below
    ``num_words``), 1 opens each wire, 2 stands for the other words."""
    ranks = reuters.get_word_index()
    return Words(tuple(sorted(ranks, key=ranks.__getitem__)[: max(num_words - 4, 0)]), 4, 2, start_id=1)


def pad(ids: list[list[int]], dataset: str | None, maxlen: int) -> np.ndarray:
    """Padded at the front; reuters cut at the front as the tutorial (Keras's defaults: the end of
    each wire is kept), the others keep each text's beginning (its title, its opening)."""
    return pad_sequences(ids, maxlen=maxlen, padding="pre", truncating="pre" if dataset == "reuters" else "post")


def load(config: ClassifyConfig, preset: Preset) -> Data:
    num_words = config.num_words or preset.num_words
    maxlen = config.maxlen or preset.maxlen
    notes: list[str] = []
    if config.dataset == "mnist-rows":
        if mnist.has_training_files():
            (x_train, y_train), (x_test, y_test) = mnist.load_data()
        else:
            x, y = mnist.load_test()
            x_train, y_train, x_test, y_test = x[:8000], y[:8000], x[8000:], y[8000:]
            notes.append(
                "Only the 10,000 MNIST test images are in the data directory: the first 8,000 train, "
                "the last 2,000 test (put train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz "
                "there for the full 60,000 / 10,000 split)."
            )
        return Data(
            (x_train / 255.0).astype(np.float32),  # (N, 28 steps, 28 pixels)
            y_train.astype(np.int64),
            (x_test / 255.0).astype(np.float32),
            y_test.astype(np.int64),
            [str(d) for d in range(10)],
            notes,
        )
    assert num_words is not None and maxlen is not None
    xs_train: Any
    xs_test: Any
    if config.dataset == "reuters":
        (xs_train, y_train), (xs_test, y_test) = reuters.load_data(num_words=num_words, test_split=0.2)
        names = list(reuters.get_label_names())
        words = keras_reuters_words(num_words)
    else:
        if config.dataset == "movie_reviews":
            (texts_train, y_train), (texts_test, y_test) = movie_reviews.load_data()
            names = ["negative", "positive"]
        else:
            loader = reuters.load_r8 if config.dataset == "r8" else reuters.load_r52
            (texts_train, y_train), (texts_test, y_test), names = loader()
        stop_words = read_stop_words(config.stop_words) if config.stop_words else frozenset()
        xs_train, xs_test, words = word_ids(texts_train, texts_test, num_words, config.min_count, stop_words)
    x_train, x_test = (pad(list(xs), config.dataset, maxlen) for xs in (xs_train, xs_test))
    return Data(x_train, y_train, x_test, y_test, names, notes, words)


def build_model(config: ClassifyConfig, preset: Preset, data: Data) -> Sequential:
    units, layers = config.units or preset.units, config.layers or preset.layers
    stack: list[Any] = []
    if data.x_train.ndim == 2:  # word ids
        vocabulary = config.num_words or preset.num_words or 10000
        stack.append(Embedding(vocabulary, config.embedding_dim or preset.embedding_dim or 100, input_shape=(None,)))
    for i in range(layers):
        layer = CELLS[config.cell](units, return_sequences=i < layers - 1)
        if i == 0 and data.x_train.ndim == 3:
            layer = CELLS[config.cell](units, return_sequences=i < layers - 1, input_shape=data.x_train.shape[1:])
        stack.append(Bidirectional(layer) if config.bidirectional else layer)
    stack.append(Dense(len(data.class_names), activation="softmax"))
    return Sequential(stack)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> float:
    """Mean over the classes of F1 = 2 TP / (2 TP + FP + FN); a class absent from both counts as 0."""
    scores = []
    for c in range(classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        denominator = np.sum(y_pred == c) + np.sum(y_true == c)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix  # rows: true class, columns: predicted


def validate(config: ClassifyConfig) -> Preset:
    if config.dataset is None:
        raise ValueError(f"--dataset is required: one of {', '.join(PRESETS)}.")
    for flag, value in (
        ("--units", config.units),
        ("--layers", config.layers),
        ("--maxlen", config.maxlen),
        ("--embedding-dim", config.embedding_dim),
        ("--epochs", config.epochs),
        ("--batch-size", config.batch_size),
    ):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, received {value}.")
    if config.num_words is not None and config.num_words < 3:
        raise ValueError(f"--num-words must be at least 3 (padding, unknown, one word), received {config.num_words}.")
    if not 0 <= config.validation_split < 1:
        raise ValueError(f"--validation-split must be in [0, 1), received {config.validation_split}.")
    if config.clipnorm is not None and not config.clipnorm >= 0:
        raise ValueError(f"--clipnorm must be a norm such as 1.0, or 0 for none; received {config.clipnorm}.")
    if config.dataset in ("reuters", "mnist-rows") and (config.min_count > 1 or config.stop_words):
        raise ValueError(
            f"--min-count and --stop-words choose the words of r8, r52 and movie_reviews; {config.dataset} "
            "comes as word ids (reuters, Keras's files) or images (mnist-rows)."
        )
    if config.stop_words:
        read_stop_words(config.stop_words)  # before any data is read or anything written
    return PRESETS[config.dataset]


def run(config: ClassifyConfig, out: str | None = None, quiet: bool = False) -> dict[str, Any]:
    preset = validate(config)
    data = load(config, preset)
    classes = len(data.class_names)
    name = f"{'Bi-' if config.bidirectional else ''}{LABELS[config.cell]}"
    used = {key: getattr(config, key) or value for key, value in asdict(preset).items()}  # the preset's fill-ins
    used["clipnorm"] = (preset.clipnorm if config.clipnorm is None else config.clipnorm) or None  # 0: none
    with Run(f"classify-{config.dataset}", config, out, quiet, resolved={**used, "classes": classes}) as run:
        model = run.model(build_model, config, preset, data)
        model.compile(
            optimizer="adam",
            loss="categorical_crossentropy",
            metrics=["accuracy"],
            learning_rate=config.learning_rate or preset.learning_rate,
            clipnorm=used["clipnorm"],
            device=config.device,
        )
        fitted = run.fit(
            model,
            f"{name} {config.dataset}",
            data.x_train,
            to_categorical(data.y_train, classes),
            batch_size=config.batch_size or preset.batch_size,
            epochs=config.epochs or preset.epochs,
            validation_split=config.validation_split,
        )
        run.keep("Model", model, fitted.history)
        if data.words is not None:
            write_text(run.file(WORDS_FILE), data.words.to_json() + "\n")
        predicted = model.predict(data.x_test, batch_size=256).argmax(axis=-1)
        row = {
            "dataset": config.dataset,
            "model": f"{name} {config.layers or preset.layers}x{config.units or preset.units}",
            "classes": classes,
            "train": len(data.y_train),
            "test": len(data.y_test),
            "accuracy": float(np.mean(predicted == data.y_test)),
            "macro_f1": macro_f1(data.y_test, predicted, classes),
            **fitted.measures,
        }
        results = Results(f"Test set ({len(data.y_test)} samples, {classes} classes)", [row], COLUMNS)
        matrix = confusion(data.y_test, predicted, classes)
        scores = Results("Per class (test set)", per_class(matrix, data.class_names), CLASS_COLUMNS)
        confused = Results("Most confused pairs (test set)", confused_pairs(matrix, data.class_names), PAIR_COLUMNS)
        run.finish(
            f"Classifying {config.dataset}",
            {
                "results": [row],
                "class_names": data.class_names,
                "confusion": matrix.tolist(),
                "per_class": scores.rows,
                "confused_pairs": confused.rows,
                "notes": data.notes,
                "table": results.text,
            },
            tables=[results, scores, confused],
            figures=figures(str(config.dataset), fitted.history, matrix, data.class_names),
            notes=data.notes,
            findings=explain(matrix, data.class_names),
            examples={"Test samples, right and wrong": (examples(data, predicted), EXAMPLE_COLUMNS)},
        )
        run.say(f"\nClassifying {config.dataset}:\n", results.text)
        run.note(data.notes)
    return {"results": [row], "run_dir": str(run.final)}


def per_class(matrix: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Precision, recall and F1 of every class from the confusion matrix (rows true, columns predicted)."""
    rows = []
    for c, name in enumerate(names):
        tp, predicted, support = int(matrix[c, c]), int(matrix[:, c].sum()), int(matrix[c].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "support": support, "precision": precision, "recall": recall, "f1": f1})
    return rows


def confused_pairs(matrix: np.ndarray, names: list[str], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` (true, predicted) pairs of two different classes with the most test samples, most first."""
    wrong = matrix * (1 - np.eye(len(names), dtype=matrix.dtype))
    order = np.argsort(-wrong, axis=None, kind="stable")[:top]
    pairs = []
    for true, predicted in zip(*np.unravel_index(order, wrong.shape), strict=True):
        count = int(wrong[true, predicted])
        if count:
            share = 100 * count / int(matrix[true].sum())
            pairs.append({"true": names[true], "predicted": names[predicted], "count": count, "share": share})
    return pairs


def explain(matrix: np.ndarray, names: list[str]) -> list[str]:
    """Sentences from the confusion matrix: how many are right, the most confused pairs, the weakest classes by F1."""
    right, total = int(np.trace(matrix)), int(matrix.sum())
    sentences = [f"{right:,} of {total:,} test samples are classified right ({100 * right / total:.1f} %)."]
    pairs = confused_pairs(matrix, names, top=3)
    if pairs:
        said = "; ".join(
            f"'{p['true']}' taken for '{p['predicted']}' {counted(p['count'], 'time')} ({p['share']:.0f} % of "
            f"'{p['true']}')"
            for p in pairs
        )
        sentences.append(f"Most confused: {said}.")
    scored = [row for row in per_class(matrix, names) if row["support"]]
    if len(scored) > 1:
        weakest = sorted(scored, key=lambda row: row["f1"])[:3]
        said = ", ".join(f"'{row['class']}' {row['f1']:.2f} ({counted(row['support'], 'sample')})" for row in weakest)
        sentences.append(f"Weakest classes by F1: {said}.")
    return sentences


def examples(data: Data, predicted: np.ndarray, each: int = 4) -> list[dict[str, Any]]:
    """The first ``each`` right and ``each`` wrong test predictions: the words the model read (shortened)
    or, for images, the test image's number; the true and the predicted class."""
    right = np.flatnonzero(predicted == data.y_test)[:each]
    wrong = np.flatnonzero(predicted != data.y_test)[:each]
    rows = []
    for i in sorted([*right, *wrong]):
        sample = shorten(read_back(data.words, data.x_test[i])) if data.words is not None else f"test image {i}"
        true, guess = data.class_names[data.y_test[i]], data.class_names[predicted[i]]
        rows.append({"sample": sample, "true": true, "predicted": guess, "right": "yes" if true == guess else "no"})
    return rows


def read_back(words: Words, ids: np.ndarray) -> str:
    """The words the model read: padding and the start mark left out, ? for a word outside the vocabulary."""
    labels = words.labels([int(i) for i in ids if i and i != words.start_id])
    return " ".join("?" if label == "<unknown>" else label for label in labels)


def shorten(text: str, length: int = 160) -> str:
    """The text cut at a word to about ``length`` characters."""
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + " …"


def figures(dataset: str, history: Any, matrix: np.ndarray, class_names: list[str]) -> list[Figure]:
    """The loss and accuracy curves, and with at most 20 classes the confusion matrix."""
    curves = Figure(
        "curves.png",
        "Loss and accuracy per epoch",
        lambda path: plot_history(history, path, title=f"{dataset}: loss and accuracy"),
    )
    if len(class_names) > 20:
        return [curves]
    confused = Figure(
        "confusion.png",
        "Confusion matrix of the test set",
        lambda path: plot_confusion(matrix, class_names, path, title=f"{dataset}: test set"),
    )
    return [curves, confused]


COLUMNS = [
    ("dataset", "dataset", ""),
    ("model", "model", ""),
    ("classes", "classes", "d"),
    ("train", "train", ","),
    ("test", "test", ","),
    ("accuracy", "accuracy", ".4f"),
    ("macro_f1", "macro-F1", ".4f"),
    *TRAINED,
]
CLASS_COLUMNS = [
    ("class", "class", ""),
    ("support", "support", "d"),
    ("precision", "precision", ".3f"),
    ("recall", "recall", ".3f"),
    ("f1", "F1", ".3f"),
]
PAIR_COLUMNS = [
    ("true", "true", ""),
    ("predicted", "taken for", ""),
    ("count", "count", "d"),
    ("share", "% of true", ".1f"),
]
EXAMPLE_COLUMNS = [
    ("sample", "sample", ""),
    ("true", "true", ""),
    ("predicted", "predicted", ""),
    ("right", "right", ""),
]
