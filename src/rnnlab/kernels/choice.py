"""Which fast kernel runs a call where several can: measured once per configuration, as cuDNN's
benchmark mode does.

When two or more of ``FAST`` can run a call and its configuration has no recorded answer, each
runs the call's own shapes a few times (a warm-up, then up to ``REPEATS``, the
median counts; a call longer than ``BUDGET_S`` is timed once, one longer than ``LONG_S`` only
by its warm-up): forward only for an inference call, forward and backward when the call builds
a graph. They run on detached copies of the inputs and weights, so the layer, its gradients
and the random generators are untouched and no graph is left behind. The fastest is
recorded under the configuration's key (``configuration``): the cell, units, features, dtype,
batch and length (rounded up to powers of two), gradients or not, mask, direction, threads,
the torch version, the native library's build key (which hashes the CPU's model and
instruction-set flags) and the kernels timed. The answers live in this process and in
``native_cpu-<key>.choices.json`` beside the library (``build.update_cached``: the cache
folder's checks, atomic writes), so a second process reads them and measures nothing. A
damaged or foreign file is ignored with one warning and rewritten by the next measurement.

Nothing is measured while tracing (torch.compile, torch.export, torch.jit.trace: a traced
program must not depend on timings), in a data-parallel group, or with
``RNNLAB_KERNEL_CHOICE=order``: the first kernel of the order that can run the call runs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch._subclasses.fake_tensor import is_fake
from torch.func import functional_call

from ..cells import RecurrentCell
from ..core.files import MALFORMED
from . import build, native
from .contract import Kernel, SequenceOptions, SequenceResult

log = logging.getLogger(__name__)

FAST = ("native", "native_projected", "torch_fused")  # timed against each other; the reference loop is the fallback
REPEATS = 9  # timed runs at most per kernel after a warm-up: short calls are noisy on a busy machine
BUDGET_S = 0.05  # a kernel whose timed runs add up to this is not run again: a long call is timed once
LONG_S = 0.5  # a warm-up this long is the kernel's own work, not first-call costs: it is the timing
ENVIRONMENT = "RNNLAB_KERNEL_CHOICE"
MODES = ("measure", "order")
FORMAT = 1  # of the measurement file


@dataclass(frozen=True)
class Answer:
    """The faster kernel for one configuration, each kernel's median time, and where it is kept."""

    kernel: str
    milliseconds: dict[str, float]
    kept: str | None = None  # the file that holds it; None: this process only

    def why_passed_over(self, loser: str) -> str:
        where = f"cached in {self.kept}" if self.kept else "kept in this process"
        return (
            f"slower here: {self.milliseconds[loser]:.3g} ms against {self.kernel}'s "
            f"{self.milliseconds[self.kernel]:.3g} ms for this configuration (measured once, {where})"
        )


_answers: dict[str, Answer] = {}  # configuration -> answer, this process
_warned: set[str] = set()  # files already warned about: one warning each


def mode() -> str:
    """``measure`` (the default) or ``order``, from ``$RNNLAB_KERNEL_CHOICE``."""
    value = os.environ.get(ENVIRONMENT, "measure").strip().lower() or "measure"
    if value not in MODES:
        raise ValueError(
            f"{ENVIRONMENT} must be 'measure' (time the fast kernels once per configuration) or 'order' "
            f"(the first that can run), received {os.environ[ENVIRONMENT]!r}."
        )
    return value


def may_measure(inputs: torch.Tensor) -> bool:
    """Whether this call may be timed: not while tracing, not in a data-parallel group, not when told not to.

    A data-parallel group takes the order rather than rank 0's answer: every process must run the
    same kernel, and a broadcast inside a layer's forward would hang the group the first time the
    processes reach a layer with different shapes (a short last batch); processes sharing a
    machine would also time each other's load.
    """
    if torch.compiler.is_compiling() or torch.jit.is_tracing():  # type: ignore[attr-defined,no-untyped-call]
        return False
    if mode() == "order" or (type(inputs) is not torch.Tensor and is_fake(inputs)):  # a FakeTensor is a subclass
        return False
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return not (distributed and torch.distributed.get_world_size() > 1)


def needs_gradients(cell: RecurrentCell, inputs: torch.Tensor) -> bool:
    """Whether this call builds a graph for backward (a training step), as the kernels judge it."""
    return torch.is_grad_enabled() and (inputs.requires_grad or any(w.requires_grad for w in cell.parameters()))


def not_timed(kernel: str, cell: RecurrentCell, inputs: torch.Tensor) -> str | None:
    """Why ``kernel`` is not timed for this call although it can run it: ``native_projected`` differs
    from ``native`` in training calls only."""
    if kernel == "native_projected" and not needs_gradients(cell, inputs):
        return "projects the inputs of training calls; in inference it is the native kernel"
    return None


def bucket(n: int) -> int:
    """``n`` rounded up to a power of two: sizes that time alike share an answer."""
    return 1 << max(n - 1, 0).bit_length()


def configuration(
    cell: RecurrentCell, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
) -> str:
    """The key of everything that changes which kernel is faster."""
    form = cell.fused_form
    B, T, F = inputs.shape
    library = build.library()
    assert library is not None, "the native kernel runs only once its library is built"
    bias = "no bias" if getattr(cell, "bias", None) is None else f"bias rows={form.bias_rows}"
    native_cell = form.native.name if form.native is not None else None
    parts = [
        f"{type(cell).__module__}.{type(cell).__qualname__} native={native_cell} torch={form.torch_op} {bias}",
        f"units={cell.units} features={F} {str(inputs.dtype).removeprefix('torch.')}",
        f"batch<={bucket(B)} length<={bucket(T)}",
        "gradients" if needs_gradients(cell, inputs) else "inference",
        "no mask" if mask is None else f"mask zero_output={options.zero_output_for_mask}",
        "backwards" if options.go_backwards else "forwards",
        f"threads={torch.get_num_threads()} torch {torch.__version__} {library.path.stem}",
        f"mkl from {native.BLAS_MIN_VALUES} values" if native.blas() is not None else "no mkl",
    ]
    return ", ".join(parts)


def choose(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    mask: torch.Tensor | None,
    options: SequenceOptions,
    contenders: Sequence[Kernel],
) -> tuple[Kernel, dict[str, str]]:
    """The faster of ``contenders`` (each can run the call) and why the others were passed over."""
    key = f"{configuration(cell, inputs, mask, options)}, between {' '.join(k.name for k in contenders)}"
    answer = _answers.get(key) or _recorded(key)
    if answer is not None and set(answer.milliseconds) != {k.name for k in contenders}:
        answer = None  # an entry written for other contenders (edited by hand): measured again
    if answer is None:
        answer = _measure(cell, inputs, mask, options, contenders)
        _answers[key] = answer = _keep(key, answer)
    winner = next(k for k in contenders if k.name == answer.kernel)
    return winner, {k.name: answer.why_passed_over(k.name) for k in contenders if k is not winner}


# -- measuring --------------------------------------------------------------------------------
class _Call(nn.Module):
    """One kernel call as a module, so that ``functional_call`` can lend the cell copies of its weights."""

    def __init__(self, cell: RecurrentCell) -> None:
        super().__init__()
        self.cell = cell

    def forward(
        self, kernel: Kernel, inputs: torch.Tensor, mask: torch.Tensor | None, options: SequenceOptions
    ) -> SequenceResult:
        states = self.cell.get_initial_state(inputs.shape[0], inputs)
        return kernel.run(self.cell, inputs, states, mask, replace(options, trace={}))


def _measure(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    mask: torch.Tensor | None,
    options: SequenceOptions,
    contenders: Sequence[Kernel],
) -> Answer:
    gradients = needs_gradients(cell, inputs)
    weights = {
        f"cell.{name}": w.detach().clone().requires_grad_(gradients and w.requires_grad)
        for name, w in cell.named_parameters()
    }
    x = inputs.detach().requires_grad_(gradients and inputs.requires_grad)
    leaves = [t for t in (x, *weights.values()) if t.requires_grad]
    call = _Call(cell)

    def once(kernel: Kernel) -> float:
        start = time.perf_counter()
        with torch.set_grad_enabled(gradients):
            outputs, _ = functional_call(call, weights, (kernel, x, mask, options))
            if gradients:  # gradients into the copies only: no .grad written, the graph freed
                torch.autograd.grad(outputs, leaves, torch.ones_like(outputs), allow_unused=True)
        return time.perf_counter() - start

    seconds: dict[str, list[float]] = {}
    for kernel in contenders:  # a warm-up: first-call costs (a library's setup, allocations) are not its speed
        warm_up = once(kernel)
        seconds[kernel.name] = [warm_up] if warm_up >= LONG_S else []
    for _ in range(REPEATS):  # interleaved, so that a change of load falls on both
        for kernel in contenders:
            if sum(seconds[kernel.name]) < BUDGET_S:
                seconds[kernel.name].append(once(kernel))
    milliseconds = {name: 1e3 * statistics.median(times) for name, times in seconds.items()}
    fastest = min(milliseconds, key=milliseconds.__getitem__)
    log.debug("%s: measured %s; takes %s", cell.name, milliseconds, fastest)
    return Answer(fastest, milliseconds)


# -- the file beside the library ----------------------------------------------------------------
def _file_name() -> str:
    library = build.library()
    assert library is not None, "the native kernel runs only once its library is built"
    return f"{library.path.stem}.choices.json"


def _warn_once(problem: str) -> None:
    if problem not in _warned:
        _warned.add(problem)
        log.warning("rnnlab: %s", problem)


def _parse(data: bytes, kept: str) -> dict[str, Answer]:
    """The answers in a measurement file; ValueError saying what is wrong with it."""
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')!r}, expected {FORMAT}")
        if document["library"] != _file_name().removesuffix(".choices.json"):
            raise ValueError(f"written for another build of the kernel ({document['library']!r})")
        answers = {}
        for key, entry in document["choices"].items():
            kernel, milliseconds = entry["kernel"], entry["milliseconds"]
            if kernel not in milliseconds or len(milliseconds) < 2 or not set(milliseconds) <= set(FAST):
                raise ValueError(f"the entry {key!r} does not time two or more of the kernels {FAST}")
            if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in milliseconds.values()):
                raise ValueError(f"the entry {key!r} has times that are not positive numbers")
            answers[key] = Answer(kernel, {name: float(v) for name, v in milliseconds.items()}, kept)
        return answers
    except MALFORMED as error:
        raise ValueError(str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}") from None


def _recorded(key: str) -> Answer | None:
    """The answer another process (or an earlier one) measured and kept on disk, if any."""
    path = build.cache_dir() / _file_name()
    try:
        data = build.read_cached(path.name)
    except build.UntrustedFolder:
        return None  # build has said so, and builds this process's library elsewhere
    except OSError as error:
        _warn_once(f"the kernel measurements {path} {error}; ignored, the kernels are measured again")
        return None
    if data is None:
        return None
    try:
        answers = _parse(data, str(path))
    except ValueError as error:
        _warn_once(f"the kernel measurements {path} are damaged or foreign ({error}); ignored, and rewritten")
        return None
    _answers.update(answers)
    return answers.get(key)


def _keep(key: str, answer: Answer) -> Answer:
    """Add ``answer`` to the file, keeping what other processes wrote; the answer as kept."""
    name = _file_name()

    def update(current: bytes | None) -> bytes:
        try:
            answers = _parse(current, name) if current is not None else {}
        except ValueError:
            answers = {}  # damaged: already warned about when read
        answers[key] = answer
        choices = {k: {"kernel": a.kernel, "milliseconds": a.milliseconds} for k, a in answers.items()}
        document = {"format": FORMAT, "library": name.removesuffix(".choices.json"), "choices": choices}
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()

    try:
        path = build.update_cached(name, update)
    except build.UntrustedFolder:
        return answer
    except OSError as error:
        _warn_once(f"the kernel measurements could not be written to {build.cache_dir() / name} ({error})")
        return answer
    return replace(answer, kept=str(path))
