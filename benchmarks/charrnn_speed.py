"""Seconds per training step: the reference PyTorch character model against `rnnlab charrnn train`'s default.

Both take turns, one step each, on the same batches (64 x 100 characters of tiny shakespeare), so
load from other processes falls on both alike; the medians and their ratio are printed per thread
count. The rnnlab model is built, compiled and stepped as the command does (``build_model``,
``Trainer.train_step``: forward, loss, backward, global-norm clipping, Adam).

    python benchmarks/charrnn_speed.py --data ../shared/data/tinyshakespeare.txt --steps 20 --threads 1 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from charrnn_reference import CharLSTM
from torch import nn

from rnnlab import set_seed
from rnnlab.tasks.charrnn import CharTrainConfig, build_model
from rnnlab.text import Vocabulary, shifted_sequences
from rnnlab.training.batches import Batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    text = open(args.data, encoding="utf-8").read()
    vocab = Vocabulary.from_text(text)
    x, y = (torch.from_numpy(a) for a in shifted_sequences(vocab.encode(text), 100))

    config = CharTrainConfig(dataset="shakespeare")
    set_seed(0)
    ours = build_model(len(vocab), config)
    ours.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        from_logits=True,
        learning_rate=config.learning_rate,
        global_clipnorm=config.clipnorm,
    )
    ours(x[:1])
    ours.build_optimizer()
    ref = CharLSTM(len(vocab))
    opt = torch.optim.Adam(ref.parameters(), lr=2e-3)

    def ours_step(bx: torch.Tensor, by: torch.Tensor) -> None:
        ours.trainer.train_step(Batch(bx, by))

    def ref_step(bx: torch.Tensor, by: torch.Tensor) -> None:
        loss = nn.functional.cross_entropy(ref(bx).flatten(0, 1), by.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(ref.parameters(), 5.0)
        opt.step()

    for threads in args.threads:
        torch.set_num_threads(threads)
        times: dict[str, list[float]] = {"reference": [], "rnnlab": []}
        for step in range(args.steps + 2):  # two warm-up steps each
            batch = x[64 * step : 64 * step + 64], y[64 * step : 64 * step + 64]
            for name, fn in (("reference", ref_step), ("rnnlab", ours_step)):
                started = time.perf_counter()
                fn(*batch)
                if step >= 2:
                    times[name].append(time.perf_counter() - started)
        ref_s, ours_s = (statistics.median(times[k]) for k in ("reference", "rnnlab"))
        print(
            f"threads {threads}: reference {1000 * ref_s:.0f} ms/step, rnnlab {1000 * ours_s:.0f} ms/step, "
            f"rnnlab / reference = {ours_s / ref_s:.3f} (medians of {args.steps} alternating steps)",
            flush=True,
        )


if __name__ == "__main__":
    main()
