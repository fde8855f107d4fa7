"""Compiles ``native_cpu.cpp`` (the recurrent loop) and ``update_cpu.cpp`` (Adam's update in one
pass) into one library on first use and loads it with ctypes.

The library is built once per machine and source: ``$RNNLAB_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/rnnlab/kernels`` (``~/.cache/rnnlab/kernels``), holds
``native_cpu-<key>.so``, where the key hashes the sources, the compiler, its flags and the
CPU (the code is tuned to it with ``-march=native``); a changed source builds a new file.
The build takes a few seconds (plain C++, no PyTorch headers) and is atomic: a half-written
library never takes a finished one's name, and one process builds while the others wait
(``native_cpu-<key>.so.lock``). Without a working compiler the native kernel is off and a
one-line notice says so; layers then run on the next kernel of the dispatcher.

The key is predictable, so the cache trusts only what this user built. The folder is created
0700 whatever the umask. A library is loaded only if it is a regular file (not a link) owned by
this user and not writable by group or others, and its sha256 matches the build record written
beside it (``native_cpu-<key>.so.sha256``, ``sha256sum`` format, held to the same checks); the
hash is checked on the open file before the loader maps that very file, so a truncated library
is rebuilt instead of killing the process with SIGBUS. Anything else is rebuilt, with a one-line
warning naming the file. A cache folder that another user could write (owned by someone else,
or group/other-writable) is not loaded from at all: the library is built in a private temporary
folder for the process, with a warning saying how to make the cache private. If a rebuild fails,
the layers run on ``torch_fused`` and the warning names the file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import platform
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

SOURCES = tuple(Path(__file__).with_name(name) for name in ("native_cpu.cpp", "update_cpu.cpp"))
ABI_VERSION = 12  # rnnlab_abi_version() of the source this module drives
FLAGS = (
    "-O3",
    "-march=native",
    "-ffp-contract=fast",
    "-fno-math-errno",  # sqrt vectorizes: nothing here reads errno
    "-fno-tree-loop-distribute-patterns",  # keep short copy loops inline, not memcpy calls
    "-std=c++17",
    "-fopenmp",
    "-shared",
    "-fPIC",
)
# for compilers without -march=native or OpenMP
FALLBACK_FLAGS = ("-O3", "-ffp-contract=fast", "-fno-math-errno", "-std=c++17", "-shared", "-fPIC")
RECORD_SUFFIX = ".sha256"  # the build record beside each library: its hash, written at build time


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
                "blas_pack_size",
                "blas_pack",
                "blas_compute",
            )
        ),
        ("blas_min_values", ctypes.c_int64),
        ("ids", ctypes.c_void_p),
        ("last_only", ctypes.c_int64),
    ]


class AdamArgs(ctypes.Structure):
    """The C ``AdamArgs`` struct of ``update_cpu.cpp``, field for field."""

    _fields_ = [
        ("dtype", ctypes.c_int32),
        ("threads", ctypes.c_int32),
        ("size", ctypes.c_int64),
        *((name, ctypes.c_void_p) for name in ("weights", "gradients", "m", "v", "new_weights", "new_m", "new_v")),
        *((name, ctypes.c_double) for name in ("beta_1", "beta_2", "alpha", "epsilon")),
    ]


class Rejected(OSError):
    """A cache entry that is not this user's own build; the message says why."""


class UntrustedFolder(OSError):
    """A cache folder that another user could write."""


class Library:
    """The loaded kernel: ``forward(args)`` and ``backward(args)``, each returning 0 on success, and
    ``gate_width(args)``, the row width of the gates buffer; ``cell_codes()``, the C ``Cell`` enum;
    ``adam(adam_args)``, 1 when the new weights are all finite, 0 when not (``adam_has_fma``: it
    runs on the processor's fused multiply-add); ``release()``, which lets go the memory the
    calling thread's calls kept for the next ones (the packed weights).

    ``opened``, a descriptor of the verified file, is loaded through ``/proc/self/fd`` so that the
    loader maps the very file whose hash was checked. It is never closed: the loader knows the
    library by that path, and a reused number would hand a later load the earlier library.
    """

    def __init__(self, path: Path, opened: int | None = None) -> None:
        self.path = path
        proc = f"/proc/self/fd/{opened}"
        load_path = proc if opened is not None and os.path.exists(proc) else str(path)
        try:
            self._lib = ctypes.CDLL(load_path)
        except OSError as error:
            raise Rejected(f"could not be loaded ({str(error).replace(load_path, path.name)})") from None
        version = getattr(self._lib, "rnnlab_abi_version", lambda: None)()
        if version != ABI_VERSION:
            raise Rejected(f"has ABI version {version}, expected {ABI_VERSION}")
        for name in ("rnnlab_forward", "rnnlab_backward"):
            getattr(self._lib, name).argtypes = [ctypes.POINTER(Args)]
            getattr(self._lib, name).restype = ctypes.c_int
        self._lib.rnnlab_gate_width.argtypes = [ctypes.POINTER(Args)]
        self._lib.rnnlab_gate_width.restype = ctypes.c_int64
        self._lib.rnnlab_cell_name.argtypes = [ctypes.c_int32]
        self._lib.rnnlab_cell_name.restype = ctypes.c_char_p
        self._lib.rnnlab_adam.argtypes = [ctypes.POINTER(AdamArgs)]
        self._lib.rnnlab_adam.restype = ctypes.c_int
        self.gate_width = self._lib.rnnlab_gate_width
        self.adam = self._lib.rnnlab_adam
        self._lib.rnnlab_release.restype = None
        self.adam_has_fma = bool(self._lib.rnnlab_adam_has_fma())
        self.release = self._lib.rnnlab_release
        self.forward = self._lib.rnnlab_forward
        self.backward = self._lib.rnnlab_backward

    def cell_codes(self) -> dict[str, int]:
        """The C ``Cell`` enum as compiled, name -> value (its values run 0, 1, 2, ...)."""
        codes: dict[str, int] = {}
        while (name := self._lib.rnnlab_cell_name(len(codes))) is not None:
            codes[name.decode()] = len(codes)
        return codes


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
    sources = (source.read_bytes() for source in SOURCES)
    for part in (*sources, compiler.encode(), version.encode(), " ".join(flags).encode()):
        digest.update(part)
        digest.update(b"\0")
    digest.update(_cpu_identity().encode())
    return digest.hexdigest()[:16]


def _writable_by_others(info: os.stat_result) -> str | None:
    """Why another user could have written this file or folder, or None if only this user could."""
    if info.st_uid != os.geteuid():
        return f"is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _open_private_folder(folder: Path) -> int:
    """A descriptor of ``folder``, created 0700 if absent; UntrustedFolder if another user could write it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
        created = True
    except FileExistsError:
        created = False
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if created:
        os.fchmod(fd, 0o700)  # mkdir's mode went through the umask
    reason = _writable_by_others(os.fstat(fd))
    if reason is not None:
        os.close(fd)
        raise UntrustedFolder(f"{folder} {reason}")
    return fd


def _open_owned(folder: int, name: str) -> int:
    """A descriptor of the regular file ``name`` in ``folder`` if only this user could have written it;
    FileNotFoundError if there is none, Rejected otherwise."""
    try:  # O_NONBLOCK: a FIFO under the name must not block the open
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    except FileNotFoundError:
        raise
    except OSError as error:
        problem = "is a symbolic link" if error.errno == errno.ELOOP else f"cannot be opened ({error.strerror})"
        raise Rejected(problem) from None
    info = os.fstat(fd)
    reason = "is not a regular file" if not stat.S_ISREG(info.st_mode) else _writable_by_others(info)
    if reason is not None:
        os.close(fd)
        raise Rejected(reason)
    return fd


def _sha256(fd: int) -> str:
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _record(digest: str, name: str) -> bytes:
    """The build record beside a library, in ``sha256sum`` format (``sha256sum -c`` checks it)."""
    return f"{digest}  {name}\n".encode()


def _recorded_digest(folder: int, name: str) -> str:
    """The hash that the build of ``name`` recorded; Rejected if there is no record this user wrote for it."""
    try:
        fd = _open_owned(folder, name + RECORD_SUFFIX)
    except FileNotFoundError:
        raise Rejected(f"has no build record ({name}{RECORD_SUFFIX})") from None
    except Rejected as error:
        raise Rejected(f"has a build record that {error}") from None
    try:
        text = os.read(fd, 4096)
    finally:
        os.close(fd)
    digest = text[:64].decode("ascii", "replace")
    if text != _record(digest, name):
        raise Rejected(f"has a build record that is not about it ({name}{RECORD_SUFFIX})")
    return digest


def _load(folder: int, name: str, path: Path) -> Library:
    """The library ``name`` in ``folder`` if it is this user's own build, verified before the loader
    maps it (a truncated mapped library would kill the process with SIGBUS)."""
    fd = _open_owned(folder, name)
    try:
        verified = _sha256(fd) == _recorded_digest(folder, name)
    except BaseException:
        os.close(fd)
        raise
    if not verified:
        os.close(fd)
        raise Rejected("does not match its build record (truncated or replaced)")
    return Library(path, opened=fd)  # the descriptor stays open even if this fails: see Library


def _write_privately(folder: int, name: str, data: bytes, mode: int) -> None:
    """Write ``name`` in ``folder`` atomically, with exactly ``mode`` whatever the umask."""
    temporary = f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder)
        raise


def _compile(compiler: str, flags: tuple[str, ...], folder: int, name: str) -> None:
    """Compile into a private scratch folder, then publish the library and, second, its record (a crash
    between them leaves a mismatch, which the next process rebuilds)."""
    with tempfile.TemporaryDirectory(prefix="rnnlab-build-") as scratch:
        output = Path(scratch) / name
        result = subprocess.run(
            [compiler, *flags, *map(str, SOURCES), "-o", str(output)], capture_output=True, text=True, timeout=600
        )
        if result.returncode != 0:
            last_line = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
            raise OSError(f"{Path(compiler).name} failed: {last_line}")
        data = output.read_bytes()
    _write_privately(folder, name, data, 0o700)
    _write_privately(folder, name + RECORD_SUFFIX, _record(hashlib.sha256(data).hexdigest(), name), 0o600)


@contextlib.contextmanager
def _locked(folder: int, name: str) -> Iterator[None]:
    """Hold ``name.lock``: one process builds while the others wait for its library."""
    fd = os.open(name + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load_or_build(
    compiler: str, flags: tuple[str, ...], folder: int, folder_path: Path, announce: bool = True
) -> Library:
    name = f"native_cpu-{_key(compiler, flags)}.so"
    path = folder_path / name
    with _locked(folder, name):
        try:
            return _load(folder, name, path)
        except FileNotFoundError:
            rejected = None
            if announce:
                log.info("compiling the native CPU kernel into %s (first use on this machine)", path)
        except Rejected as error:
            rejected = f"{path} {error}"
        start = time.perf_counter()
        try:
            _compile(compiler, flags, folder, name)
            library = _load(folder, name, path)
        except (OSError, subprocess.SubprocessError) as error:
            raise OSError(f"{rejected}, and rebuilding it failed: {error}" if rejected else f"{error}") from None
    if rejected:
        log.warning("rnnlab: %s; rebuilt it (%.1f s)", rejected, time.perf_counter() - start)
    elif announce:
        log.info("compiled in %.1f s", time.perf_counter() - start)
    return library


def _build_in(compiler: str, folder: int, folder_path: Path, announce: bool = True) -> Library:
    """Load or build the library in ``folder`` (a descriptor, closed here): the tuned flags first."""
    errors = []
    try:
        for flags in (FLAGS, FALLBACK_FLAGS):
            try:
                return _load_or_build(compiler, flags, folder, folder_path, announce)
            except (OSError, subprocess.SubprocessError) as error:
                errors.append(str(error))
    finally:
        os.close(folder)
    raise OSError("; ".join(errors))


def _build() -> Library:
    compiler = find_compiler()
    if compiler is None:
        raise OSError("no C++ compiler found (install g++ or set CXX)")
    cache = cache_dir()
    try:
        return _build_in(compiler, _open_private_folder(cache), cache)
    except UntrustedFolder as error:
        log.warning(
            "rnnlab: the kernel cache %s, so nothing in it is loaded; the native kernel is built in a private "
            "temporary folder for this process (use a cache folder only you can write: chmod 700 it, or point "
            "RNNLAB_KERNEL_CACHE elsewhere)",
            error,
        )
    with tempfile.TemporaryDirectory(prefix="rnnlab-kernels-") as private:
        return _build_in(compiler, _open_private_folder(Path(private)), Path(private), announce=False)


def _read_owned(folder: int, name: str, limit: int) -> bytes:
    """The bytes of ``name`` in ``folder`` if only this user could have written it (``_open_owned``);
    Rejected when it is larger than ``limit`` bytes."""
    fd = _open_owned(folder, name)
    try:
        data = b""
        while len(data) <= limit and (chunk := os.read(fd, limit + 1 - len(data))):
            data += chunk
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Rejected(f"is larger than {limit} bytes")
    return data


def read_cached(name: str, limit: int = 1 << 22) -> bytes | None:
    """A small file kept beside the libraries (``name`` in ``cache_dir()``), under the libraries' checks;
    None if there is none. Rejected: a file another user could have written, a link, too large;
    UntrustedFolder: a cache folder others could write."""
    folder = _open_private_folder(cache_dir())
    try:
        return _read_owned(folder, name, limit)
    except FileNotFoundError:
        return None
    finally:
        os.close(folder)


def update_cached(name: str, update: Callable[[bytes | None], bytes], limit: int = 1 << 22) -> Path:
    """Rewrite the file ``name`` beside the libraries, atomically and 0600, with ``update(what is there)``
    (None if nothing this user wrote is there), holding its lock so that concurrent updates all land."""
    cache = cache_dir()
    folder = _open_private_folder(cache)
    try:
        with _locked(folder, name):
            try:
                current: bytes | None = _read_owned(folder, name, limit)
            except (FileNotFoundError, Rejected):
                current = None
            _write_privately(folder, name, update(current), 0o600)
    finally:
        os.close(folder)
    return cache / name


def library() -> Library | None:
    """The native kernel, compiled on the first call in a fresh cache; None (with a notice) if it cannot be."""
    global _library, _unavailable
    if _library is None and _unavailable is None:
        try:
            _library = _build()
        except OSError as error:
            _unavailable = f"the native CPU kernel could not be built: {error}"
            log.warning(
                "rnnlab: %s; recurrent layers run on the other kernels (torch_fused or reference), "
                "Adam on PyTorch's operations.",
                _unavailable,
            )
    return _library


def loaded() -> Library | None:
    """The native kernel where an earlier call built or loaded it; never builds."""
    return _library


def unavailable_reason() -> str | None:
    return _unavailable
