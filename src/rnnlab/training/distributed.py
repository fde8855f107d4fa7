"""Data-parallel training on PyTorch's distributed engine: which process this is, its share of
the data, the DistributedDataParallel wrapper, and epoch values combined over processes.

A run is distributed when ``torch.distributed`` is initialised with more than one process, or
when it was launched by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment): the process group
is then created on first use, gloo on CPU and nccl on CUDA.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import gc
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from .batches import Shard

if TYPE_CHECKING:
    from .metrics import Mean

#: How long a process waits for the others in a collective before the run fails (not hangs).
TIMEOUT = datetime.timedelta(seconds=float(os.environ.get("RNNLAB_DIST_TIMEOUT", 300)))


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init(backend: str | None = None) -> Process:
    """Join the process group that torchrun describes in the environment (idempotent)."""
    dist = torch.distributed
    if not dist.is_initialized():
        if not launched_by_torchrun():
            raise ValueError(
                "Data-parallel training needs several processes: launch the script with "
                "`torchrun --nproc-per-node N script.py` (or the rnnlab command with --nproc N)."
            )
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":  # one GPU per process: "cuda" means this process's own
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend, timeout=TIMEOUT)
        atexit.register(leave)
    return current()


def leave() -> None:
    """Leave the process group at exit: a gloo group left to the interpreter's teardown can abort
    the process ("terminate called without an active exception") while its threads still run."""
    if not torch.distributed.is_initialized():
        return
    # After a clean run no process leaves while another still talks to it; after an uncaught error
    # (sys.last_value) it leaves at once, so that the others' collectives fail instead of waiting.
    if getattr(sys, "last_value", None) is None and torch.distributed.get_backend() == "gloo":
        with contextlib.suppress(RuntimeError):  # a process that is gone already: leave all the same
            torch.distributed.monitored_barrier(timeout=datetime.timedelta(seconds=LEAVE_SECONDS))
    torch.distributed.destroy_process_group()
    # A DistributedDataParallel wrapper in a reference cycle (model <-> trainer) still holds the group:
    # left to the interpreter's teardown, the group's threads can outlive it and the process aborts.
    gc.collect()


#: Seconds a process waits at exit for the others to reach their own exit.
LEAVE_SECONDS = 10


#: Seconds the processes of a stopped launch have to unwind before they are killed.
GRACE_SECONDS = 3


def launch(args: Sequence[str], nproc: int) -> int:
    """Run ``python args`` in ``nproc`` processes on this machine as ``torchrun --standalone`` does;
    0 when every process succeeds, else the first failed process's exit status.

    The launcher runs in this process and leaves SIGTERM and SIGINT to the caller's handlers: the
    exception they raise ends the launch, which sends SIGTERM to every process and SIGKILL to those
    still alive ``GRACE_SECONDS`` later, then propagates. (torchrun as a child process would be
    killed at once with its workers left running, or would answer Ctrl-C with its traceback.)
    """
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig
    from torch.distributed.run import parse_args, run

    hangups = [signal.SIGHUP, signal.SIGQUIT]  # handled by the launcher, which stops the processes with them
    previous = {s: signal.getsignal(s) for s in (*hangups, signal.SIGTERM, signal.SIGINT)}
    options = ["--standalone", f"--nproc-per-node={nproc}"]
    known = {field.name for field in dataclasses.fields(LaunchConfig)}
    if "shutdown_timeout" in known and "signals_to_handle" in known:  # an older launcher takes SIGTERM
        # and SIGINT itself: it stops the processes as well, allowing them 30 s, and raises SignalException
        options += [f"--shutdown-timeout={GRACE_SECONDS}", "--signals-to-handle=" + ",".join(s.name for s in hangups)]
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's choice for the processes, without its warning
    try:
        run(parse_args([*options, *args]))  # type: ignore[no-untyped-call]
    except ChildFailedError as err:
        status = err.get_first_failure()[1].exitcode
        return status if status > 0 else 128 - status  # killed by signal n: 128 + n, as a shell says
    except SignalException as err:
        return 128 + err.sigval
    finally:
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
    return 0


def _on_backend(tensor: torch.Tensor, process: Process) -> torch.Tensor:
    """``tensor`` where the backend's collectives take it: on the GPU for nccl."""
    return tensor.cuda() if process.backend == "nccl" else tensor


def current() -> Process:
    """This process: rank 0 of 1 unless a distributed run is under way (or torchrun launched us)."""
    dist = torch.distributed
    if dist.is_available() and not dist.is_initialized() and launched_by_torchrun():
        init()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return Process()
    return Process(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_backend())


def agreed_seed(process: Process) -> int:
    """Process 0's torch seed, known to every process: the seed of the shared shuffles."""
    seed = _on_backend(torch.tensor([torch.initial_seed() % 2**62], dtype=torch.int64), process)
    if process.world > 1:
        torch.distributed.broadcast(seed, src=0)
    return int(seed.item())


def shard(process: Process, seed: int) -> Shard | None:
    """This process's share of the samples (None in a single-process run)."""
    return None if process.world == 1 else Shard(process.rank, process.world, seed)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model in DistributedDataParallel: process 0's weights broadcast to all at the start,
    gradients averaged over processes after each backward."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return DistributedDataParallel(model, device_ids=device_ids)


def combine(running: dict[str, Mean], process: Process) -> dict[str, float]:
    """Each running mean's result over the samples of every process."""
    if process.world == 1:
        return {k: m.result() for k, m in running.items()}
    sums = _on_backend(torch.tensor([[m.total, m.count] for m in running.values()], dtype=torch.float64), process)
    torch.distributed.all_reduce(sums)
    return {
        k: total / count if count else float("nan") for k, (total, count) in zip(running, sums.tolist(), strict=True)
    }


def any_process(flag: bool, process: Process) -> bool:
    """True when ``flag`` is set in any process (so that every process stops together)."""
    if process.world == 1:
        return flag
    value = _on_backend(torch.tensor([1.0 if flag else 0.0]), process)
    torch.distributed.all_reduce(value)
    return bool(value.item() > 0)
