"""Character-level language models: the vocabulary, batches of shifted sequences, and sampling.

A character model is any rnnlab ``Sequential`` that maps token ids ``(batch, time)`` to one
score per vocabulary entry ``(batch, time, V)``: logits, or probabilities when its last layer
has a softmax. ``generate`` samples from such a model one character at a time, carrying the
recurrent states from step to step (the prefix is read once, never again).

>>> vocab = Vocabulary.from_text("hello")
>>> vocab.chars, vocab.decode(vocab.encode("hole"))
('ehlo', 'hole')
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..layers import RNN, Bidirectional, Embedding
from ..models.model import Sequential
from .options import counted

__all__ = [
    "CharBatches",
    "Vocabulary",
    "generate",
    "load_char_model",
    "read_vocabulary",
    "sample_chars",
    "save_vocabulary",
    "shifted_sequences",
    "stream_loss",
]

VOCABULARY_FILE = "vocabulary.json"
VOCABULARY_FORMAT = "rnnlab.vocabulary/1"


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows, in id order (sorted code points when built from a text)."""

    chars: str

    def __post_init__(self) -> None:
        if not self.chars:
            raise ValueError("A vocabulary needs at least one character; the text is empty.")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("A vocabulary lists each character once.")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` not in the vocabulary, each once, in order of appearance."""
        index = self._index  # type: ignore[attr-defined]
        return list(dict.fromkeys(c for c in text if c not in index))

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int64) of ``text``; a character outside the vocabulary is a ValueError naming it."""
        missing = self.unknown(text)
        if missing:
            raise ValueError(
                f"The model does not know the character(s) {', '.join(map(repr, missing))}; "
                f"it knows {len(self)}: {self.chars!r}."
            )
        index = self._index  # type: ignore[attr-defined]
        return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_json(self) -> str:
        return json.dumps({"format": VOCABULARY_FORMAT, "chars": self.chars}, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        try:
            data = json.loads(text)
        except RecursionError:  # JSON nested thousands deep
            raise ValueError("not JSON rnnlab can read: nested too deep") from None
        if not isinstance(data, dict) or data.get("format") != VOCABULARY_FORMAT:
            raise ValueError(f"not an rnnlab vocabulary (expected format {VOCABULARY_FORMAT!r})")
        if not isinstance(data.get("chars"), str):
            raise ValueError("its 'chars' is not a string of characters")
        return cls(data["chars"])


def shifted_sequences(ids: Any, seq_length: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping sequences of ``seq_length`` ids from ``offset`` on, and their targets:
    the same sequences shifted by one id. ``x[i, t + 1] == y[i, t]``.

    >>> x, y = shifted_sequences(np.arange(10), 3, offset=1)
    >>> x.tolist(), y.tolist()
    ([[1, 2, 3], [4, 5, 6]], [[2, 3, 4], [5, 6, 7]])
    """
    if seq_length < 1:
        raise ValueError(f"seq_length must be a positive int, received {seq_length}.")
    ids = np.asarray(ids)
    count = (len(ids) - offset - 1) // seq_length
    if count < 1:
        raise ValueError(
            f"A text of {counted(len(ids), 'character')} holds no sequence of {seq_length} + 1 characters "
            f"(from offset {offset}); use a shorter sequence length or a longer text."
        )
    end = offset + count * seq_length
    x = ids[offset:end].reshape(count, seq_length)  # (N, T)
    y = ids[offset + 1 : end + 1].reshape(count, seq_length)  # (N, T)
    return x, y


class CharBatches:
    """Batches of (x, y) shifted sequences for ``fit``, one pass over the text per epoch.

    Each epoch (with ``shuffle``) starts the cut at a random offset in ``[0, seq_length)`` and
    shuffles the sequences, drawing from torch's global RNG (so ``BackupAndRestore`` resumes
    it exactly); without ``shuffle`` the cut starts at 0 and keeps the text's order.
    """

    def __init__(self, ids: Any, seq_length: int, batch_size: int, shuffle: bool = True) -> None:
        self.ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        self.seq_length, self.batch_size, self.shuffle = seq_length, batch_size, shuffle
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, received {batch_size}.")
        shifted_sequences(self.ids.numpy(), seq_length)  # raises for a text too short

    def __len__(self) -> int:
        return math.ceil(((len(self.ids) - 1) // self.seq_length) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        offset = int(torch.randint(self.seq_length, ())) if self.shuffle else 0
        x, y = (torch.from_numpy(a) for a in shifted_sequences(self.ids.numpy(), self.seq_length, offset))
        order = torch.randperm(len(x)) if self.shuffle else torch.arange(len(x))
        for start in range(0, len(x), self.batch_size):
            index = order[start : start + self.batch_size]
            yield x[index], y[index]


# -- sampling ---------------------------------------------------------------------------------
def _recurrent_layers(model: torch.nn.Module) -> list[RNN]:
    if any(isinstance(m, Bidirectional) for m in model.modules()):
        raise ValueError("A Bidirectional layer reads the future; a character model must run forward only.")
    layers = [m for m in model.modules() if isinstance(m, RNN)]
    if any(layer.go_backwards for layer in layers):
        raise ValueError("A go_backwards layer reads the future; a character model must run forward only.")
    return layers


def _outputs_probabilities(model: torch.nn.Module) -> bool:
    last = list(model.layers)[-1] if isinstance(model, Sequential) and len(model.layers) else None
    last = getattr(last, "layer", last)  # TimeDistributed(Dense(...))
    return getattr(last, "activation", None) == "softmax"


def _scores(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    out = model(ids, training=False)
    scores: torch.Tensor = out[0] if isinstance(out, (tuple, list)) else out
    return scores


def _next_scores(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    out = _scores(model, ids)
    return out[:, -1] if out.dim() == 3 else out  # (1, V)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device  # a model not built yet: the CPU


@contextmanager
def carried_states(model: torch.nn.Module) -> Iterator[None]:
    """Inside the block ``model`` is in eval mode and its recurrent layers are stateful, starting
    from zero states: each call continues where the last one ended. On leaving, all is as it was
    (a stateful layer's carried states included)."""
    layers = _recurrent_layers(model)
    was_training, was_stateful = model.training, [layer.stateful for layer in layers]
    was_states = [layer.states for layer in layers]
    model.eval()
    for layer in layers:
        layer.stateful = True
        layer.reset_states()
    try:
        yield
    finally:
        for layer, stateful, states in zip(layers, was_stateful, was_states, strict=True):
            layer.stateful, layer.states = stateful, states
        model.train(was_training)


def stream_loss(model: torch.nn.Module, ids: Any, seq_length: int = 100, streams: int = 64) -> float:
    """Mean cross-entropy (nats per character) of ``model`` predicting each id of ``ids`` from all
    the ids before it in its part: the text is cut into ``streams`` contiguous parts of
    ``(len(ids) - 1) // streams`` ids, read side by side in chunks of ``seq_length`` with the
    recurrent states carried from chunk to chunk (how karpathy's char-rnn measures its validation
    loss). Each part starts from zero states; the last ``(len(ids) - 1) % streams`` ids are not scored.
    """
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    length = (len(ids) - 1) // streams if streams >= 1 else 0
    if seq_length < 1 or length < 1:
        raise ValueError(
            f"stream_loss needs seq_length >= 1 and a text of more than streams ({streams}) characters, "
            f"received seq_length {seq_length} and {len(ids)} characters."
        )
    device = _device(model)
    x = ids[: streams * length].view(streams, length).to(device)
    y = ids[1 : streams * length + 1].view(streams, length).to(device)
    probabilities, total = _outputs_probabilities(model), 0.0
    with carried_states(model), torch.no_grad():
        for start in range(0, length, seq_length):
            scores = _scores(model, x[:, start : start + seq_length]).float()  # (streams, T, V)
            log_p = scores.clamp_min(1e-30).log() if probabilities else torch.log_softmax(scores, -1)
            total -= float(log_p.gather(-1, y[:, start : start + seq_length, None]).sum())
    return total / (streams * length)


def sample_chars(
    model: torch.nn.Module,
    vocabulary: Vocabulary,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield ``length`` characters sampled after ``prime``, one at a time.

    The prime runs through the model once; then each sampled character is fed back alone,
    the recurrent layers carrying their states (made stateful for the duration, then restored).
    ``temperature`` divides the log-probabilities: below 1 conservative, above 1 diverse, 0
    greedy (the most likely character). ``top_k`` samples among the k most likely only.
    ``seed`` fixes the draws (a private generator: the global RNG is left alone).
    """
    if length < 0:
        raise ValueError(f"length must be >= 0, received {length}.")
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be >= 0 (0: greedy), received {temperature}.")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive int or None, received {top_k}.")
    if not prime:
        raise ValueError("The prime needs at least one character to start from.")
    prime_ids = vocabulary.encode(prime)
    probabilities = _outputs_probabilities(model)
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    device = _device(model)
    with carried_states(model), torch.no_grad():
        scores = _next_scores(model, torch.from_numpy(prime_ids)[None].to(device))
        for _ in range(length):
            scores = scores[0].float().cpu()  # (V,)
            log_p = scores.clamp_min(1e-30).log() if probabilities else torch.log_softmax(scores, -1)
            if temperature == 0:
                choice = int(log_p.argmax())
            else:
                logits = log_p / temperature
                if top_k is not None and top_k < len(logits):
                    cut = torch.topk(logits, top_k).values[-1]
                    logits = logits.masked_fill(logits < cut, -math.inf)
                choice = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))
            yield vocabulary.chars[choice]
            scores = _next_scores(model, torch.tensor([[choice]], device=device))


def generate(
    model: torch.nn.Module,
    vocabulary: Vocabulary,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    stream: Callable[[str], Any] | None = None,
) -> str:
    """``length`` characters sampled after ``prime`` (see ``sample_chars``); ``stream`` gets each as it comes."""
    chars = []
    for char in sample_chars(model, vocabulary, prime, length, temperature, top_k, seed):
        chars.append(char)
        if stream is not None:
            stream(char)
    return "".join(chars)


# -- files --------------------------------------------------------------------------------------
def save_vocabulary(vocabulary: Vocabulary, directory: str | os.PathLike[str]) -> Path:
    from ..core.files import write_text

    path = Path(directory) / VOCABULARY_FILE
    write_text(path, vocabulary.to_json() + "\n")
    return path


def load_char_model(path: str | os.PathLike[str], file: str = "model.safetensors") -> tuple[Sequential, Vocabulary]:
    """A character model and its vocabulary from a run directory of ``rnnlab charrnn train`` (or its model file,
    with ``vocabulary.json`` beside it)."""
    from ..saving.load import load_model

    path = Path(path)
    directory, model_file = (path, path / file) if path.is_dir() else (path.parent, path)
    vocabulary_file = directory / VOCABULARY_FILE
    if not model_file.is_file() or not vocabulary_file.is_file():
        missing = [str(p) for p in (model_file, vocabulary_file) if not p.is_file()]
        raise ValueError(
            f"{path} is not a character model: missing {' and '.join(missing)}. Pass the run directory "
            "written by `rnnlab charrnn train`."
        )
    vocabulary = read_vocabulary(vocabulary_file)
    model = load_model(model_file, compile=False)
    if not isinstance(model, Sequential):
        raise ValueError(f"{model_file} holds no Sequential model.")
    embedded = [layer.input_dim for layer in model.layers if isinstance(layer, Embedding)]
    with carried_states(model), torch.no_grad():  # one step, the model's own states left as they were
        scored = _scores(model, torch.zeros((1, 1), dtype=torch.int64, device=_device(model))).shape[-1]
    if any(size != len(vocabulary) for size in [*embedded, scored]):
        raise ValueError(
            f"{vocabulary_file} lists {len(vocabulary)} characters, but the model in {model_file} reads "
            f"{embedded[0] if embedded else '?'} and scores {scored}: the two files are not of the same run."
        )
    return model, vocabulary


MAX_VOCABULARY_BYTES = 2**24  # over a million characters written as JSON escapes


def read_vocabulary(path: str | os.PathLike[str]) -> Vocabulary:
    """The vocabulary in ``path`` (a ``vocabulary.json``); a ValueError naming the file when it is damaged."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_VOCABULARY_BYTES:
            raise ValueError(f"{size:,} bytes, more than the {MAX_VOCABULARY_BYTES:,} a vocabulary may have")
        return Vocabulary.from_json(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not a character vocabulary ({err}).") from None
