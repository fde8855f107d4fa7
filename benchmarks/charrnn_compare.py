"""The reference PyTorch character model and rnnlab character models, trained side by side in one process.

On a shared machine a run measured after another sees different load. Here the models take turns,
one training step each, and each model's clock counts only its own steps and its own validation
passes; so a burst of load slows every model alike, and the curves (validation loss against each
model's own wall-clock seconds) compare as if each had the machine alone, in turn.

The reference is ``charrnn_reference.CharLSTM`` (Embedding(65, 64) -> nn.LSTM(256) x 2 -> Linear,
Adam 2e-3, clip 5); each rnnlab model is built, compiled and stepped as ``rnnlab charrnn train``
does (``tasks.charrnn.build_model``, ``Model.train_step``), with the same data protocol.

    python benchmarks/charrnn_compare.py --data ../shared/data/tinyshakespeare.txt --minutes 15 \\
        --rnnlab "units=384,dropout=0.2,lr_decay=0.95" --out curves.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from charrnn_reference import CharLSTM
from torch import nn

from rnnlab import set_seed
from rnnlab.tasks.charrnn import CharTrainConfig, build_model
from rnnlab.text import Vocabulary, shifted_sequences


class Runner:
    """One model's training state and its own clock."""

    def __init__(self, name: str, model: nn.Module, step: Any, lr: float, decay: float, train: np.ndarray) -> None:
        self.name, self.model, self.step_fn, self.lr, self.decay, self.train = name, model, step, lr, decay, train
        self.seconds, self.epoch, self.batches, self.curve = 0.0, 0, [], []  # type: ignore[var-annotated]
        self.optimizer: torch.optim.Optimizer | None = None

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.batches:
            return None
        return self.batches.pop()

    def new_epoch(self) -> None:
        self.epoch += 1
        x, y = (torch.from_numpy(a) for a in shifted_sequences(self.train, 100, int(torch.randint(100, ()))))
        order = torch.randperm(len(x))
        self.batches = [(x[order[s : s + 64]], y[order[s : s + 64]]) for s in range(0, len(x), 64)][::-1]
        for group in self.optimizer.param_groups:  # type: ignore[union-attr]
            group["lr"] = self.lr * self.decay ** (self.epoch - 1)


@torch.no_grad()
def validation_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    total = 0.0
    for s in range(0, len(x), 256):
        logits = model(x[s : s + 256])
        total += nn.functional.cross_entropy(logits.flatten(0, 1), y[s : s + 256].flatten()).item() * len(logits)
    model.train()
    return total / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, default=15.0, help="each model's own training time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rnnlab", action="append", default=[], help="rnnlab options as key=value,...")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = open(args.data, encoding="utf-8").read()
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    split = int(round(len(ids) * 0.9))
    val_x, val_y = (torch.from_numpy(a) for a in shifted_sequences(ids[split:], 100))

    runners = []
    if not args.no_reference:
        torch.manual_seed(0)
        ref = CharLSTM(len(vocab))
        opt = torch.optim.Adam(ref.parameters(), lr=2e-3)

        def ref_step(x: torch.Tensor, y: torch.Tensor, model: nn.Module = ref, opt: Any = opt) -> None:
            loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()

        runner = Runner("reference", ref, ref_step, 2e-3, 1.0, ids[:split])
        runner.optimizer = opt
        runners.append(runner)
    for spec in args.rnnlab:
        options = dict(item.split("=") for item in spec.split(",") if item)
        config = CharTrainConfig(dataset="shakespeare")
        config = replace(
            config, **{k: type(getattr(config, k))(v) for k, v in options.items()}
        )  # e.g. units=384 -> int
        set_seed(0)
        model = build_model(len(vocab), config)
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            from_logits=True,
            learning_rate=config.learning_rate,
            global_clipnorm=config.clipnorm or None,
        )
        model(torch.zeros(1, 100, dtype=torch.long))
        runner = Runner(f"rnnlab {spec}", model, model.train_step, config.learning_rate, config.lr_decay, ids[:split])
        runner.optimizer = model.build_optimizer()
        runners.append(runner)
    for runner in runners:
        runner.new_epoch()

    limit = 60 * args.minutes
    while any(r.seconds < limit for r in runners):
        for r in runners:
            if r.seconds >= limit:
                continue
            started = time.perf_counter()
            batch = r.next_batch()
            if batch is None:  # end of an epoch: validate, then cut the next one
                loss = validation_loss(r.model, val_x, val_y)
                r.seconds += time.perf_counter() - started
                r.curve.append({"epoch": r.epoch, "seconds": r.seconds, "val_loss": loss})
                print(
                    f"{r.name}: epoch {r.epoch}, {r.seconds / 60:.2f} min, validation {loss:.4f} nats/char "
                    f"({loss / math.log(2):.3f} bits)",
                    flush=True,
                )
                started = time.perf_counter()
                r.new_epoch()
                batch = r.next_batch()
            r.step_fn(*batch)  # type: ignore[misc]
            r.seconds += time.perf_counter() - started
        with open(args.out, "w") as f:
            json.dump({r.name: r.curve for r in runners}, f, indent=1)


if __name__ == "__main__":
    main()
