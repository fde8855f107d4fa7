"""A process that runs one rnnlab call at a time for the hostile tests, under a hard memory limit,
and reports what the call raised, how long it took and how much memory it added at its peak.

A hostile file that still cost what it declares would fail its test with numbers, not take the
machine down: the process may hold at most ``HEADROOM`` bytes of address space beyond what it
holds after importing rnnlab, and the test gives up on it after its time limit.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

HEADROOM = 3 * 2**30
#: Bounds for one hostile call; a refused file costs milliseconds and a few megabytes.
SECONDS = 10.0
PEAK_BYTES = 200 * 2**20


def _status(field: str) -> int:
    """A /proc/self/status value in bytes (VmRSS, VmHWM, VmSize), or 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    """Restart the kernel's record of peak memory (VmHWM) from the current use, where Linux allows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _calls() -> dict:
    import rnnlab
    from rnnlab.datasets import mnist, movie_reviews, read_csv, reuters
    from rnnlab.saving.keras_read import load_keras_model

    def load_weights(path: str, config: str) -> None:
        rnnlab.Sequential.from_config(json.loads(config)).load_weights(path)

    return {
        "load_model": rnnlab.load_model,
        "load_keras_model": load_keras_model,
        "load_weights": load_weights,
        "read_csv": lambda path: len(read_csv(path)),
        "read_reuters": lambda path: len(reuters.read_corpus(path, download=False)),
        "parse_sgml": lambda path: len(list(reuters.parse_sgml(Path(path).read_bytes()))),
        "read_idx": lambda path: mnist.read_idx(path).shape,
        "read_reviews": lambda path: len(movie_reviews.read_reviews(path)),
    }


def serve() -> None:
    calls = _calls()
    limit = _status("VmSize") + HEADROOM
    if limit > HEADROOM:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        name, args = json.loads(line)
        exact = _reset_peak()
        before = _status("VmRSS") if exact else _status("VmHWM")
        started = time.perf_counter()
        error, message = None, ""
        try:
            calls[name](*args)
        except BaseException as err:  # reported to the test, which judges it
            error, message = type(err).__name__, str(err)
            if not isinstance(err, (ValueError, FileNotFoundError)):
                message += "\n" + traceback.format_exc()
        seconds = time.perf_counter() - started
        peak = max(_status("VmHWM") - before, 0)
        print(json.dumps([error, message, seconds, peak]), flush=True)


@dataclass
class Outcome:
    error: str | None  # the exception's class name, None if the call returned
    message: str
    seconds: float
    peak_bytes: int  # memory the call added at its peak (resident set size)


class Sandbox:
    """The client: ``call("load_model", path)`` runs in the worker process and returns an Outcome."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
        process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._read(process, 120)
        return process

    def _read(self, process: subprocess.Popen[str], timeout: float) -> object:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            process.kill()
            process.wait()
            self.process = None
            raise TimeoutError(f"the call took more than {timeout} s")
        line = process.stdout.readline()
        if not line:
            self.process = None
            raise RuntimeError(f"the sandbox process died (exit code {process.wait()})")
        return json.loads(line)

    def call(self, name: str, *args: object) -> Outcome:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([name, [str(a) for a in args]]) + "\n")
        self.process.stdin.flush()
        error, message, seconds, peak = self._read(self.process, self.timeout)  # type: ignore[misc]
        return Outcome(error, message, seconds, peak)

    def close(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)
            self.process = None


def assert_refused(outcome: Outcome, path: Path | str, match: str, error: str = "ValueError") -> None:
    """The call raised ``error`` naming ``path`` and matching ``match``, within the bounds."""
    assert outcome.error == error, f"{outcome.error}: {outcome.message}"
    assert str(path) in outcome.message, outcome.message
    assert re.search(match, outcome.message), outcome.message
    assert outcome.seconds < SECONDS, f"{outcome.seconds:.1f} s"
    assert outcome.peak_bytes < PEAK_BYTES, f"{outcome.peak_bytes / 2**20:.0f} MB"


if __name__ == "__main__":
    serve()
