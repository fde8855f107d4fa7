"""The benchmark workloads, each for rnnlab and for a plain PyTorch loop on ``nn.*``; W3 and W4's
inference also in ONNX Runtime, on the model ``model.export`` writes.

Every function builds its model and data, runs one warm-up, then returns a callable that
performs one timed unit (an epoch, a training step, a batch of generated characters, a
``predict`` pass). ``run.py`` alternates the competitors' callables and keeps the medians.
Keras runs the same workloads in its own processes (``keras_worker.py``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import rnnlab
from rnnlab.layers import GRU, LSTM, Dense, Embedding, Input, SimpleRNN

CELLS = {"SimpleRNN": (SimpleRNN, nn.RNN), "LSTM": (LSTM, nn.LSTM), "GRU": (GRU, nn.GRU)}


@dataclass(frozen=True)
class Sizes:
    """Every size of the four workloads; ``TINY`` is for the smoke test."""

    w1_train: int = 2048
    w1_val: int = 512
    w1_length: int = 100
    w1_units: int = 30
    w2_vocab: int = 65
    w2_embed: int = 64
    w2_units: int = 512
    w2_length: int = 100
    w2_batch: int = 32
    w2_steps: int = 2  # training steps per timed unit
    w3_chars: int = 200  # characters per timed unit
    w4_vocab: int = 1000
    w4_embed: int = 100
    w4_units: int = 100
    w4_length: int = 100
    w4_batch: int = 100
    w4_train: int = 8982  # Reuters' training set
    w4_test: int = 2246
    w4_classes: int = 46


FULL = Sizes()
TINY = Sizes(
    w1_train=64,
    w1_val=32,
    w1_length=10,
    w1_units=4,
    w2_embed=8,
    w2_units=8,
    w2_length=10,
    w2_batch=4,
    w2_steps=1,
    w3_chars=5,
    w4_vocab=50,
    w4_embed=8,
    w4_units=8,
    w4_length=10,
    w4_batch=10,
    w4_train=40,
    w4_test=20,
)

Unit = Callable[[], None]


def _batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


# -- W1: the seed-003 model, one epoch ------------------------------------------------------
def w1_data(s: Sizes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = rnnlab.datasets.multiplication_problem(s.w1_train + s.w1_val, s.w1_length, rng=3)
    y = y[:, None]
    return x[: s.w1_train], y[: s.w1_train], x[s.w1_train :], y[s.w1_train :]


def w1_rnnlab(cell: str, s: Sizes) -> Unit:
    x, y, xv, yv = w1_data(s)
    layer = CELLS[cell][0]
    model = rnnlab.Sequential(
        [layer(s.w1_units, return_sequences=True, input_shape=(s.w1_length, 2)), layer(s.w1_units), Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")

    def epoch() -> None:
        model.fit(x, y, batch_size=32, epochs=1, validation_data=(xv, yv), verbose=0)

    epoch()
    return epoch


class _TorchStack(nn.Module):
    def __init__(self, module: type[nn.RNNBase], features: int, units: int, outputs: int) -> None:
        super().__init__()
        self.first = module(features, units, batch_first=True)
        self.second = module(units, units, batch_first=True)
        self.dense = nn.Linear(units, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.first(x)
        h, _ = self.second(h)
        return self.dense(h[:, -1])


def w1_torch(cell: str, s: Sizes) -> Unit:
    x, y, xv, yv = (torch.as_tensor(a) for a in w1_data(s))
    model = _TorchStack(CELLS[cell][1], 2, s.w1_units, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    rng = np.random.default_rng(0)

    def epoch() -> None:
        model.train()
        for idx in _batches(len(x), 32, rng):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            loss.item()
        model.eval()
        with torch.no_grad():
            for i in range(0, len(xv), 32):
                nn.functional.mse_loss(model(xv[i : i + 32]), yv[i : i + 32]).item()

    epoch()
    return epoch


# -- W2: char-RNN training steps --------------------------------------------------------------
def w2_data(s: Sizes) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    n = s.w2_batch * s.w2_steps
    text = rng.integers(0, s.w2_vocab, size=(n, s.w2_length + 1))
    return text[:, :-1], text[:, 1:]


def w2_rnnlab(cell: str, s: Sizes) -> Unit:
    x, y = w2_data(s)
    layer = CELLS[cell][0]
    model = rnnlab.Sequential(
        [
            Embedding(s.w2_vocab, s.w2_embed),
            layer(s.w2_units, return_sequences=True),
            layer(s.w2_units, return_sequences=True),
            Dense(s.w2_vocab),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)

    def steps() -> None:
        model.fit(x, y, batch_size=s.w2_batch, epochs=1, shuffle=False, verbose=0)

    steps()
    return steps


class _TorchCharRNN(nn.Module):
    def __init__(self, module: type[nn.RNNBase], s: Sizes) -> None:
        super().__init__()
        self.embed = nn.Embedding(s.w2_vocab, s.w2_embed)
        self.rnn = module(s.w2_embed, s.w2_units, num_layers=2, batch_first=True)
        self.dense = nn.Linear(s.w2_units, s.w2_vocab)

    def forward(self, x: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        h, state = self.rnn(self.embed(x), state)
        return self.dense(h), state


def w2_torch(cell: str, s: Sizes) -> Unit:
    x, y = (torch.as_tensor(a) for a in w2_data(s))
    model = _TorchCharRNN(CELLS[cell][1], s)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def steps() -> None:
        for i in range(0, len(x), s.w2_batch):
            optimizer.zero_grad()
            logits, _ = model(x[i : i + s.w2_batch])
            loss = nn.functional.cross_entropy(logits.reshape(-1, s.w2_vocab), y[i : i + s.w2_batch].reshape(-1))
            loss.backward()
            optimizer.step()
            loss.item()

    steps()
    return steps


# -- W3: char-RNN generation at batch 1 -------------------------------------------------------
def w3_rnnlab(s: Sizes) -> Unit:
    """rnnlab's sampler: the layers stepped one character at a time, carrying their states."""
    embed = Embedding(s.w2_vocab, s.w2_embed)
    first = LSTM(s.w2_units, return_sequences=True, return_state=True)
    second = LSTM(s.w2_units, return_sequences=True, return_state=True)
    dense = Dense(s.w2_vocab)
    generator = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def generate() -> None:
        token = torch.zeros(1, 1, dtype=torch.long)
        states1 = states2 = None
        for _ in range(s.w3_chars):
            h, *states1 = first(embed(token), initial_state=states1)
            h, *states2 = second(h, initial_state=states2)
            probs = torch.softmax(dense(h[:, -1]), dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)

    generate()
    return generate


def w3_torch(s: Sizes) -> Unit:
    """A PyTorch eager step loop on nn.Embedding, nn.LSTM (two layers), nn.Linear."""
    model = _TorchCharRNN(nn.LSTM, s).eval()
    generator = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def generate() -> None:
        token, state = torch.zeros(1, 1, dtype=torch.long), None
        for _ in range(s.w3_chars):
            logits, state = model(token, state)
            token = torch.multinomial(torch.softmax(logits[:, -1], dim=-1), 1, generator=generator)

    generate()
    return generate


# -- W4: the Reuters classifier: a training epoch and predict ---------------------------------
def w4_data(s: Sizes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.integers(1, s.w4_vocab, size=(s.w4_train, s.w4_length))
    y = rng.integers(0, s.w4_classes, size=s.w4_train)
    x_test = rng.integers(1, s.w4_vocab, size=(s.w4_test, s.w4_length))
    return x, y, x_test


def _w4_rnnlab_model(s: Sizes) -> rnnlab.Sequential:
    model = rnnlab.Sequential(
        [Embedding(s.w4_vocab, s.w4_embed), LSTM(s.w4_units), Dense(s.w4_classes, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def w4_train_rnnlab(s: Sizes) -> Unit:
    x, y, _ = w4_data(s)
    model = _w4_rnnlab_model(s)

    def epoch() -> None:
        model.fit(x, y, batch_size=s.w4_batch, epochs=1, verbose=0)

    epoch()
    return epoch


def w4_predict_rnnlab(s: Sizes) -> Unit:
    _, _, x_test = w4_data(s)
    model = _w4_rnnlab_model(s)

    def predict() -> None:
        model.predict(x_test, batch_size=s.w4_batch)

    predict()
    return predict


class _TorchReuters(nn.Module):
    def __init__(self, s: Sizes) -> None:
        super().__init__()
        self.embed = nn.Embedding(s.w4_vocab, s.w4_embed)
        self.lstm = nn.LSTM(s.w4_embed, s.w4_units, batch_first=True)
        self.dense = nn.Linear(s.w4_units, s.w4_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embed(x))
        return self.dense(h[:, -1])  # logits; softmax is inside the loss


def w4_train_torch(s: Sizes) -> Unit:
    x, y, _ = (torch.as_tensor(a) for a in w4_data(s))
    model = _TorchReuters(s)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    rng = np.random.default_rng(0)

    def epoch() -> None:
        for idx in _batches(len(x), s.w4_batch, rng):
            optimizer.zero_grad()
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            loss.backward()
            optimizer.step()
            loss.item(), (logits.argmax(-1) == y[idx]).float().mean().item()

    epoch()
    return epoch


def w4_predict_torch(s: Sizes) -> Unit:
    _, _, x_test = w4_data(s)
    x_test_t = torch.as_tensor(x_test)
    model = _TorchReuters(s).eval()

    @torch.no_grad()
    def predict() -> None:
        np.concatenate(
            [
                torch.softmax(model(x_test_t[i : i + s.w4_batch]), -1).numpy()
                for i in range(0, len(x_test_t), s.w4_batch)
            ]
        )

    predict()
    return predict


# -- ONNX Runtime: W3's and W4's models as model.export writes them, in an InferenceSession ---------
def onnxruntime_missing() -> str | None:
    """Why ONNX Runtime cannot run here, or None."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        return f"ONNX Runtime: skipped, {err.name} is not installed (pip install 'rnnlab[export]')"
    return None


def onnxruntime_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def onnx_session(model: rnnlab.Model, threads: int) -> object:
    """``model`` exported to ONNX and loaded in ONNX Runtime on the CPU, ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # the benchmark's --threads, as torch.set_num_threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        model.export(path, format="onnx")
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


W3_STATES = ("h1", "c1", "h2", "c2")  # the step model's state inputs, as its state outputs come


def _w3_step_model(s: Sizes) -> rnnlab.Model:
    """W3's network with its states as inputs and outputs: one call is one character."""
    token = Input((None,), dtype="int64", name="token")
    states = [Input((s.w2_units,), name=name) for name in W3_STATES]
    h = Embedding(s.w2_vocab, s.w2_embed)(token)
    h, *first = LSTM(s.w2_units, return_sequences=True, return_state=True)(h, initial_state=states[:2])
    h, *second = LSTM(s.w2_units, return_sequences=True, return_state=True)(h, initial_state=states[2:])
    return rnnlab.Model([token, *states], [Dense(s.w2_vocab)(h), *first, *second])


def w3_onnxruntime(s: Sizes, threads: int) -> Unit:
    """W3 in ONNX Runtime: the exported step model run once per character, its states fed back."""
    session: Any = onnx_session(_w3_step_model(s), threads)
    rng = np.random.default_rng(0)

    def generate() -> None:
        token = np.zeros((1, 1), np.int64)
        states = [np.zeros((1, s.w2_units), np.float32) for _ in W3_STATES]
        for _ in range(s.w3_chars):
            logits, *states = session.run(None, {"token": token, **dict(zip(W3_STATES, states, strict=True))})
            z = logits[0, -1].astype(np.float64)
            probs = np.exp(z - z.max())
            token = np.array([[rng.choice(s.w2_vocab, p=probs / probs.sum())]], np.int64)

    generate()
    return generate


def w4_predict_onnxruntime(s: Sizes, threads: int) -> Unit:
    """W4's predict in ONNX Runtime: the same model and batches, probabilities gathered as predict does."""
    _, _, x_test = w4_data(s)
    model = _w4_rnnlab_model(s)
    model.predict(x_test[: s.w4_batch], batch_size=s.w4_batch)  # builds it
    session: Any = onnx_session(model, threads)

    def predict() -> None:
        np.concatenate(
            [session.run(None, {"inputs": x_test[i : i + s.w4_batch]})[0] for i in range(0, len(x_test), s.w4_batch)]
        )

    predict()
    return predict
