"""What the finite-weights guard costs a training step: ``Trainer.train_step`` against the same
step without the guard (forward, loss, backward, Adam), on W2's model (Embedding -> LSTM -> LSTM ->
Dense, as in ``workloads.py``).

Both models start from the same weights and take turns, one step each, on the same batches, so
load from other processes falls on both alike; the medians, their difference and their ratio are
printed. The difference is the guard's cost: with Keras's Adam, the step is computed into other
tensors (``propose``: those the step before replaced) and swapped in (``commit``) once the new
weights are checked finite, where the step without the guard writes into the weights and state
(``step``); no copy is taken.

The update alone is timed the same way, from one set of gradients, with far less noise: Adam in
place, Adam guarded by a copy of the weights and state before it (the guard's form for torch's
optimizers, ``FiniteGuard(fused=False)``), and the fused form.

    python benchmarks/finite_guard.py --units 512 --steps 30
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import rnnlab
from rnnlab.layers import LSTM, Dense, Embedding
from rnnlab.training.batches import Batch
from rnnlab.training.trainer import FiniteGuard, Trainer

Step = Callable[[torch.Tensor, torch.Tensor], None]


def w2_model(units: int, vocab: int = 65) -> rnnlab.Sequential:
    rnnlab.set_seed(0)
    model = rnnlab.Sequential(
        [Embedding(vocab, 64), LSTM(units, return_sequences=True), LSTM(units, return_sequences=True), Dense(vocab)]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
    model(torch.zeros((1, 1), dtype=torch.long))  # built now, from the seed: every call gives the same weights
    model.build_optimizer()
    return model


def trainer_of(model: rnnlab.Sequential) -> Trainer:
    assert model.trainer is not None, "compile the model first"
    return model.trainer


def guarded_step(model: rnnlab.Sequential) -> Step:
    trainer = trainer_of(model)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        trainer.train_step(Batch(x, y))

    return step


def unguarded_step(model: rnnlab.Sequential) -> Step:
    """The trainer's step less the guard: the same forward, loss, backward and optimizer."""
    trainer = trainer_of(model)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        trainer.optimizer.zero_grad(set_to_none=True)
        y_pred = model(x, training=True)
        loss = trainer.compute_loss(y, y_pred, None, None)
        float(loss.detach())
        loss.backward()  # type: ignore[no-untyped-call]
        trainer.optimizer.step()

    return step


def updates(units: int, x: torch.Tensor, y: torch.Tensor, count: int) -> dict[str, float]:
    """Median seconds of the update alone, three ways taking turns, each on a model of its own with the
    same gradients (two warm-up updates each)."""
    models = [w2_model(units) for _ in range(3)]
    for model in models:
        trainer_of(model).compute_loss(y, model(x, training=True), None, None).backward()  # type: ignore[no-untyped-call]
    in_place, copied, fused = (trainer_of(model).optimizer for model in models)
    copy_guard = FiniteGuard(list(models[1].parameters()), copied, fused=False)
    fused_guard = FiniteGuard(list(models[2].parameters()), fused)
    ways: dict[str, Callable[[], object]] = {
        "in place": in_place.step,
        "copy": copy_guard.update,
        "fused": fused_guard.update,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for i in range(count + 2):
        for name, update in ways.items():
            started = time.perf_counter()
            assert update() is None
            if i >= 2:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def alternate(steps: dict[str, Step], x: torch.Tensor, y: torch.Tensor, batch: int, count: int) -> dict[str, float]:
    """Median seconds per step of each, taking turns on the same batches (two warm-up steps each)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(count + 2):
        at = (i * batch) % (len(x) - batch + 1)
        bx, by = x[at : at + batch], y[at : at + batch]
        for name, step in steps.items():
            started = time.perf_counter()
            step(bx, by)
            if i >= 2:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(2)
    text = torch.randint(0, 65, (args.batch * 8, args.length + 1), generator=generator)
    x, y = text[:, :-1], text[:, 1:]
    guarded, plain = w2_model(args.units), w2_model(args.units)
    medians = alternate(
        {"guarded": guarded_step(guarded), "plain": unguarded_step(plain)}, x, y, args.batch, args.steps
    )
    params = sum(p.numel() for p in guarded.parameters())
    print(
        f"{params:,} parameters: step with the guard {1000 * medians['guarded']:.2f} ms, without "
        f"{1000 * medians['plain']:.2f} ms; the guard costs {1000 * (medians['guarded'] - medians['plain']):.2f} ms "
        f"({medians['guarded'] / medians['plain']:.3f}x; medians of {args.steps} alternating steps)",
        flush=True,
    )
    alone = updates(args.units, x[: args.batch], y[: args.batch], 3 * args.steps)
    print(
        f"the update alone: Adam in place {1000 * alone['in place']:.2f} ms, guarded by a copy "
        f"{1000 * alone['copy']:.2f} ms ({alone['copy'] / alone['in place']:.3f}x), fused {1000 * alone['fused']:.2f} "
        f"ms ({alone['fused'] / alone['in place']:.3f}x); the fused guard takes {alone['fused'] / alone['copy']:.3f}x "
        f"the copy's time (medians of {3 * args.steps} alternating updates)",
        flush=True,
    )
    return {**medians, **{f"update {name}": value for name, value in alone.items()}}


if __name__ == "__main__":
    main()
