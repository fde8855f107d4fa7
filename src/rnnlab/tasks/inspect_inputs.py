"""What ``rnnlab inspect`` runs through a word or character model: a text read with the run's own
vocabulary (``--text``), or one of the run's own test texts (classify) or held-out passages (charrnn).

A classify model reads its texts padded at the front to ``maxlen`` words, so the sequence traced
is padded the same way; the padding steps are traced (they set the state the text starts from)
but not drawn. Steps carry their words or characters as labels: words outside the run's
vocabulary in parentheses, the ids of a test text as the vocabulary names them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..datasets import reuters
from . import charrnn, classify
from .charmodel import VOCABULARY_FILE, Vocabulary, read_vocabulary

C = TypeVar("C")


@dataclass
class Given:
    """One sequence to trace, as the model reads it, and what it is."""

    x: np.ndarray  # (time, features), or (time,) token ids
    names: list[str] | None  # the features' names, for the input panel
    described: str
    tokens: list[str] | None = None  # the word or character of every drawn step
    padding: int = 0  # leading padding steps: traced, not drawn
    truth: int | None = None  # the class of a test sample
    class_names: list[str] | None = None


def config_of(config_class: type[C], options: dict[str, Any]) -> C:
    """The run's config rebuilt from the options its config.json records."""
    known = {f.name for f in fields(config_class)}  # type: ignore[arg-type]
    return config_class(**{k: v for k, v in options.items() if k in known})


def check_sample(sample: int, available: int, what: str = "the run's test sequences") -> None:
    if not 0 <= sample < available:
        raise ValueError(f"--sample must lie in 0..{available - 1} ({what}), received {sample}.")


# -- classify runs: texts as word ids ---------------------------------------------------------------
def classify_text(text: str, options: dict[str, Any], directory: Path) -> Given:
    """``text`` as the classify run's model reads it: its words' ids, padded or cut to ``maxlen``."""
    config = config_of(classify.ClassifyConfig, options)
    words = run_words(config, directory)
    tokens = reuters.tokenize(text)
    if not tokens:
        raise ValueError(f"--text has no words (runs of letters or digits) to read, received {text!r}.")
    ids = words.encode(tokens)
    labels = ["<start>"] * (words.start_id is not None) + [w if w in words.index else f"({w})" for w in tokens]
    maxlen = config.maxlen or classify.PRESETS[str(config.dataset)].maxlen or len(ids)
    x = classify.pad([ids], config.dataset, maxlen)[0]
    kept = labels[-maxlen:] if config.dataset == "reuters" else labels[:maxlen]  # cut as classify cuts
    shown = " ".join(tokens[:8]) + (" ..." if len(tokens) > 8 else "")
    return Given(
        x, None, f"the text '{shown}'", kept, maxlen - len(kept), class_names=recorded_classes(directory) or []
    )


def classify_sample(sample: int, options: dict[str, Any]) -> Given:
    """Test sample ``sample`` of the classify run (its data loaded again, as the run loaded it)."""
    config = config_of(classify.ClassifyConfig, options)
    data = classify.load(config, classify.validate(config))
    check_sample(sample, len(data.y_test), f"the run's {len(data.y_test):,} test samples")
    x, truth = data.x_test[sample], int(data.y_test[sample])
    if data.words is None:  # mnist-rows: an image read row by row
        return Given(x, None, f"test image {sample}, read row by row", truth=truth, class_names=data.class_names)
    padding = int(np.argmax(x != 0)) if x.any() else len(x)
    tokens = data.words.labels([int(i) for i in x[padding:]])
    return Given(x, None, f"{config.dataset} test text {sample}", tokens, padding, truth, data.class_names)


def run_words(config: classify.ClassifyConfig, directory: Path) -> classify.Words:
    """The run's vocabulary: its words.json, else (a run from before it was kept) rebuilt from the data."""
    file = directory / classify.WORDS_FILE
    if file.is_file():
        return classify.read_words(file)
    words = classify.load(config, classify.validate(config)).words
    assert words is not None  # a model reading token ids learned texts
    return words


def recorded_classes(directory: Path) -> list[str] | None:
    """The class names the run's metrics.json records, if it is there and readable."""
    try:
        names = json.loads((directory / "metrics.json").read_text(encoding="utf-8")).get("class_names")
    except (OSError, ValueError, AttributeError):
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


# -- charrnn runs: texts as character ids -----------------------------------------------------------
def charrnn_text(text: str, directory: Path) -> Given:
    """``text``'s characters as the character model reads them (each must be in its vocabulary)."""
    if not text:
        raise ValueError("--text is empty: give the characters to run through the model.")
    vocabulary = run_vocabulary(directory)
    shown = text[:40] + ("..." if len(text) > 40 else "")
    return Given(vocabulary.encode(text), None, f"the text {shown!r}", [character(c) for c in text])


def charrnn_sample(sample: int, options: dict[str, Any], directory: Path) -> Given:
    """Held-out passage ``sample``: the run's validation text cut into ``--seq-length`` characters."""
    config = config_of(charrnn.CharTrainConfig, options)
    try:
        text = charrnn.load_text(config)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"The run's training text is not there ({err}); give --text to inspect the model."
        ) from None
    held_out = text[charrnn.split_text(len(text), config) :]
    length = config.seq_length
    check_sample(sample, len(held_out) // length, f"the run's held-out passages of {length} characters")
    passage = held_out[sample * length : (sample + 1) * length]
    return Given(
        run_vocabulary(directory).encode(passage),
        None,
        f"held-out passage {sample} ({length} characters)",
        [character(c) for c in passage],
    )


def run_vocabulary(directory: Path) -> Vocabulary:
    file = directory / VOCABULARY_FILE
    if not file.is_file():
        raise FileNotFoundError(f"No {VOCABULARY_FILE} in {directory}: the character model's vocabulary is missing.")
    return read_vocabulary(file)


def character(c: str) -> str:
    """A character as a step label: spaces and line ends made visible."""
    return {" ": "␣", "\n": "\\n", "\t": "\\t"}.get(c, c)
