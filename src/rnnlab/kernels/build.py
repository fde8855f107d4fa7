"""Compiles ``native_cpu.cpp`` on first use and loads it with ctypes.

The library is built once per machine and source: ``$RNNLAB_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/rnnlab/kernels`` (``~/.cache/rnnlab/kernels``), holds
``native_cpu-<key>.so``, where the key hashes the source, the compiler, its flags and the
CPU (the code is tuned to it with ``-march=native``); a changed source builds a new file.
The build takes a few seconds (plain C++, no PyTorch headers) and is atomic: a half-written
library never takes a finished one's name. Without a working compiler the native kernel is
off and a one-line notice says so; layers then run on the next kernel of the dispatcher.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("native_cpu.cpp")
ABI_VERSION = 5  # rnnlab_abi_version() of the source this module drives
FLAGS = (
    "-O3",
    "-march=native",
    "-ffp-contract=fast",
    "-fno-tree-loop-distribute-patterns",  # keep short copy loops inline, not memcpy calls
    "-std=c++17",
    "-fopenmp",
    "-shared",
    "-fPIC",
)
FALLBACK_FLAGS = ("-O3", "-ffp-contract=fast", "-std=c++17", "-shared", "-fPIC")  # compilers without them


class Args(ctypes.Structure):
    """The C ``Args`` struct, field for field."""

    _fields_ = [
        ("dtype", ctypes.c_int32),
        ("cell", ctypes.c_int32),
        ("zero_output", ctypes.c_int32),
        ("threads", ctypes.c_int32),
        *(
            (name, ctypes.c_int64)
            for name in (
                "batch",
                "time",
                "features",
                "units",
                "x_batch_stride",
                "x_time_stride",
                "d_out_batch_stride",
                "d_out_time_stride",
            )
        ),
        *(
            (name, ctypes.c_void_p)
            for name in (
                "x",
                "kernel",
                "recurrent_kernel",
                "input_bias",
                "recurrent_bias",
                "h0",
                "c0",
                "mask",
                "outputs",
                "hT",
                "cT",
                "xh",
                "cells",
                "gates",
                "extra",
                "d_outputs",
                "d_hT",
                "d_cT",
                "d_gates",
                "d_gates_rec",
                "d_inputs",
                "d_h0",
                "d_c0",
            )
        ),
    ]


class Library:
    """The loaded kernel: ``forward(args)`` and ``backward(args)``, each returning 0 on success, and
    ``gate_width(args)``, the row width of the gates buffer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lib = ctypes.CDLL(str(path))
        version = self._lib.rnnlab_abi_version()
        if version != ABI_VERSION:
            raise OSError(f"{path} has ABI version {version}, expected {ABI_VERSION}")
        for name in ("rnnlab_forward", "rnnlab_backward"):
            getattr(self._lib, name).argtypes = [ctypes.POINTER(Args)]
            getattr(self._lib, name).restype = ctypes.c_int
        self._lib.rnnlab_gate_width.argtypes = [ctypes.POINTER(Args)]
        self._lib.rnnlab_gate_width.restype = ctypes.c_int64
        self.gate_width = self._lib.rnnlab_gate_width
        self.forward = self._lib.rnnlab_forward
        self.backward = self._lib.rnnlab_backward


_library: Library | None = None
_unavailable: str | None = None  # why there is no library, once a build or load has failed


def cache_dir() -> Path:
    explicit = os.environ.get("RNNLAB_KERNEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "rnnlab" / "kernels"


def find_compiler() -> str | None:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _cpu_identity() -> str:
    """What -march=native depends on: the CPU model and its instruction-set flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [line for line in lines if line.startswith(("model name", "flags"))][:2]
        return "\n".join(keep)
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _key(compiler: str, flags: tuple[str, ...]) -> str:
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), compiler.encode(), version.encode(), " ".join(flags).encode()):
        digest.update(part)
        digest.update(b"\0")
    digest.update(_cpu_identity().encode())
    return digest.hexdigest()[:16]


def _compile(compiler: str, flags: tuple[str, ...], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.stem + ".", suffix=".tmp")
    os.close(fd)
    try:
        result = subprocess.run([compiler, *flags, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise OSError(f"{Path(compiler).name} failed: {result.stderr.strip().splitlines()[-1:]}")
        os.replace(tmp, target)  # atomic: other processes see the finished library or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _build() -> Library:
    compiler = find_compiler()
    if compiler is None:
        raise OSError("no C++ compiler found (install g++ or set CXX)")
    errors = []
    for flags in (FLAGS, FALLBACK_FLAGS):
        target = cache_dir() / f"native_cpu-{_key(compiler, flags)}.so"
        if not target.exists():
            start = time.perf_counter()
            log.info("compiling the native CPU kernel into %s (first use on this machine)", target)
            try:
                _compile(compiler, flags, target)
            except (OSError, subprocess.SubprocessError) as error:
                errors.append(str(error))
                continue
            log.info("compiled in %.1f s", time.perf_counter() - start)
        return Library(target)
    raise OSError("; ".join(errors))


def library() -> Library | None:
    """The native kernel, compiled on the first call in a fresh cache; None (with a notice) if it cannot be."""
    global _library, _unavailable
    if _library is None and _unavailable is None:
        try:
            _library = _build()
        except OSError as error:
            _unavailable = f"the native CPU kernel could not be built: {error}"
            log.warning(
                "rnnlab: %s; recurrent layers run on the other kernels (torch_fused or reference).", _unavailable
            )
    return _library


def unavailable_reason() -> str | None:
    return _unavailable
