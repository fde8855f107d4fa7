"""Plain-PyTorch character model on tiny shakespeare: the reference curve for `rnnlab charrnn train`.

Embedding(65, 64) -> nn.LSTM(256) x 2 -> Linear, Adam 2e-3, gradient norm clipped to 5, batches
of 64 x 100 characters, the first 90% of the text for training and the last 10% for validation.
The data and the validation protocol are those of `rnnlab charrnn train`: each epoch cuts the
training text into non-overlapping 100-character sequences from a random offset and shuffles
them; the validation loss is the mean over non-overlapping 100-character sequences of the held-out
tail, each read from a zero state. Wall-clock seconds count everything after the model is built
(training and validation).

    python benchmarks/charrnn_reference.py --data ../shared/data/tinyshakespeare.txt --minutes 15 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, embedding: int = 64, units: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, units, layers, batch_first=True)
        self.out = nn.Linear(units, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.lstm(self.embed(x))[0])  # (B, T, V)


def sequences(ids: torch.Tensor, length: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    count = (len(ids) - offset - 1) // length
    end = offset + count * length
    return ids[offset:end].view(count, length), ids[offset + 1 : end + 1].view(count, length)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch):
        logits = model(x[start : start + batch])
        total += nn.functional.cross_entropy(logits.flatten(0, 1), y[start : start + batch].flatten()).item() * len(
            logits
        )
    model.train()
    return total / len(x)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the curve (epoch, seconds, val loss) as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = torch.from_numpy(np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text)))
    split = int(round(len(ids) * 0.9))
    train, val = ids[:split], ids[split:]
    val_x, val_y = sequences(val, 100, 0)

    model = CharLSTM(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    curve = []
    started = time.perf_counter()
    epoch = 0
    while time.perf_counter() - started < 60 * args.minutes:
        epoch += 1
        x, y = sequences(train, 100, int(torch.randint(100, ())))
        order = torch.randperm(len(x))
        total, count = 0.0, 0
        for start in range(0, len(x), 64):
            index = order[start : start + 64]
            logits = model(x[index])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y[index].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total, count = total + loss.item() * len(index), count + len(index)
        val_loss = evaluate(model, val_x, val_y, 256)
        seconds = time.perf_counter() - started
        curve.append({"epoch": epoch, "seconds": seconds, "loss": total / count, "val_loss": val_loss})
        print(
            f"epoch {epoch}: loss {total / count:.4f}, validation {val_loss:.4f} nats/char "
            f"({val_loss / math.log(2):.3f} bits), {seconds / 60:.1f} min",
            flush=True,
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"threads": args.threads, "curve": curve}, f, indent=1)


if __name__ == "__main__":
    main()
