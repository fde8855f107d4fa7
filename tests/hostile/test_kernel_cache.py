"""The native kernel's cache trusts only what this user built.

Each case runs a fresh process on its own cache (``RNNLAB_KERNEL_CACHE``), so that a crash is
seen as an exit code: it plants something under the library's name or changes the cache's
permissions, and the process must end with correct outputs from a rebuilt native kernel (or from
``torch_fused``, with one warning naming the file). Rebuilds use a stand-in compiler that copies a
library the real compiler built once for the module and counts its builds; the real build and
its reuse by a second process are tested too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hostile.sandbox import SECONDS
from rnnlab.kernels import build

pytestmark = pytest.mark.skipif(build.find_compiler() is None, reason="needs a C++ compiler")

PROCESS_SECONDS = 300  # a fresh interpreter importing torch on a busy machine, plus one real build
#: One LSTM on the native kernel against the reference kernel, and what the cache gave.
RUN_LAYER = r"""
import json, time
import torch
from rnnlab.kernels import build
from rnnlab.layers import LSTM

start = time.perf_counter()
library = build.library()
seconds = time.perf_counter() - start
torch.manual_seed(0)
x = torch.randn(3, 5, 4)
fast, slow = LSTM(6, return_sequences=True), LSTM(6, return_sequences=True, implementation="reference")
fast(x), slow(x)
slow.load_state_dict(fast.state_dict())
error = (fast(x) - slow(x)).abs().max().item()
print(json.dumps({"kernel": fast.last_kernel, "error": error, "seconds": seconds,
                  "library": None if library is None else str(library.path)}))
"""
#: A library whose constructor runs as soon as it is loaded, leaving the marker file.
PLANTED_C = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *marker = fopen("%s", "w");
    if (marker) { fputs("planted code ran\n", marker); fclose(marker); }
}
int rnnlab_abi_version(void) { return %d; }
"""
#: Stands in for the C++ compiler: copies the library the real one built, and counts the builds.
STAND_IN = """#!/bin/sh
[ "$1" = "--version" ] && { echo "stand-in c++ 1.0"; exit 0; }
echo build >> "%s"
while [ "$#" -gt 2 ]; do shift; done
exec cp "%s" "$2"
"""


def run_layer(cache: Path, compiler: Path | str, tmp: Path, umask: int = 0o022) -> tuple[dict, list[str]]:
    """Run RUN_LAYER in a fresh process; its result and its rnnlab notices. It must exit 0."""
    tmp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "RNNLAB_KERNEL_CACHE": str(cache),
        "CXX": str(compiler),
        "TMPDIR": str(tmp),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN_LAYER], env=env, capture_output=True, text=True, timeout=PROCESS_SECONDS, umask=umask
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] < 1e-5, result
    assert list(tmp.iterdir()) == [], "temporary build folders left behind"
    notices = [line for line in done.stderr.splitlines() if line.startswith(("rnnlab:", "compiling"))]
    return result, notices


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> Path:
    """The library the real compiler builds in a fresh cache, the first process on it."""
    cache = tmp_path_factory.mktemp("genuine") / "kernels"
    result, notices = run_layer(cache, build.find_compiler(), tmp_path_factory.mktemp("tmp"))
    library = Path(result["library"])
    assert result["kernel"] == "native" and library.parent == cache
    assert notices == [f"compiling the native CPU kernel into {library} (first use on this machine)"]
    record = library.with_name(library.name + build.RECORD_SUFFIX)
    assert record.read_text() == f"{digest(library)}  {library.name}\n"  # sha256sum -c reads it
    assert (mode(cache), mode(library), mode(record)) == (0o700, 0o700, 0o600)
    return library


class Cache:
    """A test's cache folder, its stand-in compiler and the name the library has there."""

    def __init__(self, root: Path, genuine: Path, compiler_fails: bool = False) -> None:
        self.root, self.genuine = root, genuine
        self.folder = root / "kernels"
        self.folder.mkdir(mode=0o700)
        self.builds = root / "builds.log"
        self.compiler = root / "c++"
        script = STAND_IN % (self.builds, genuine)
        self.compiler.write_text(script.replace("exec cp", "exit 1 #") if compiler_fails else script)
        self.compiler.chmod(0o755)
        self.library = self.folder / f"native_cpu-{build._key(str(self.compiler), build.FLAGS)}.so"
        self.record = self.library.with_name(self.library.name + build.RECORD_SUFFIX)

    def plant(self, data: bytes, recorded: bytes | None = None) -> None:
        """Put ``data`` under the library's name, with a build record of ``recorded`` if given."""
        self.library.write_bytes(data)
        self.library.chmod(0o700)
        if recorded is not None:
            self.record.write_text(f"{hashlib.sha256(recorded).hexdigest()}  {self.library.name}\n")
            self.record.chmod(0o600)

    def plant_genuine(self) -> None:
        self.plant(self.genuine.read_bytes(), recorded=self.genuine.read_bytes())

    def run(self, umask: int = 0o022) -> tuple[dict, list[str]]:
        return run_layer(self.folder, self.compiler, self.root / "tmp", umask)

    def build_count(self) -> int:
        return len(self.builds.read_text().splitlines()) if self.builds.exists() else 0

    def assert_rebuilt(self, result: dict, notices: list[str], reason: str) -> None:
        """The process warned once that the library was ``reason``, rebuilt it, and ran on it."""
        assert result["kernel"] == "native" and result["library"] == str(self.library)
        assert len(notices) == 1 and notices[0].startswith(f"rnnlab: {self.library} {reason}; rebuilt it ("), notices
        assert self.build_count() == 1
        assert not self.library.is_symlink() and digest(self.library) == digest(self.genuine)
        assert (
            mode(self.library) == 0o700 and self.record.read_text() == f"{digest(self.genuine)}  {self.library.name}\n"
        )
        assert result["seconds"] < SECONDS, f"{result['seconds']:.1f} s"


@pytest.fixture
def cache(tmp_path, genuine) -> Cache:
    return Cache(tmp_path, genuine)


@pytest.fixture
def planted(tmp_path) -> tuple[bytes, Path]:
    """A real library whose constructor writes a marker file: the library's bytes and the marker."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("needs a C compiler")
    marker = tmp_path / "PLANTED_CODE_RAN"
    source = tmp_path / "planted.c"
    source.write_text(PLANTED_C % (marker, build.ABI_VERSION))
    subprocess.run([compiler, "-shared", "-fPIC", str(source), "-o", str(tmp_path / "planted.so")], check=True)
    return (tmp_path / "planted.so").read_bytes(), marker


def test_the_planted_library_runs_its_code_once_loaded(tmp_path, planted):
    """The plant is live: loading it is enough to leave the marker (so its absence below means something)."""
    data, marker = planted
    (tmp_path / "copy.so").write_bytes(data)
    subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(tmp_path / 'copy.so')!r})"], check=True)
    assert marker.exists()


def test_a_second_process_reuses_the_library_without_rebuilding(genuine, tmp_path):
    before = genuine.stat()
    result, notices = run_layer(genuine.parent, build.find_compiler(), tmp_path / "tmp")
    assert result["kernel"] == "native" and result["library"] == str(genuine)
    assert notices == []
    after = genuine.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert result["seconds"] < 2.0, f"loading the cached library took {result['seconds']:.2f} s"


def test_processes_after_the_first_build_nothing(cache):
    for _ in range(2):
        result, _ = cache.run()
        assert result["kernel"] == "native" and result["library"] == str(cache.library)
    assert cache.build_count() == 1


def test_a_planted_library_without_a_record_never_runs(cache, planted):
    data, marker = planted
    cache.plant(data)
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, f"has no build record ({cache.record.name})")
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_planted_library_of_another_user_never_runs(cache, planted):
    data, marker = planted
    cache.plant(data, recorded=data)
    for path in (cache.library, cache.record):
        os.chown(path, 65534, 65534)
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, "is owned by uid 65534, not by this user (uid 0)")
    assert not marker.exists()


def test_a_planted_library_in_a_group_writable_folder_never_runs(cache, planted):
    """Whoever can write the folder can forge the record too: nothing in such a folder is loaded."""
    data, marker = planted
    cache.plant(data, recorded=data)
    cache.folder.chmod(0o770)
    result, notices = cache.run()
    assert_built_privately(cache, result, notices, "0770")
    assert not marker.exists()
    assert cache.library.read_bytes() == data  # the user's folder is left as it was


def assert_built_privately(cache: Cache, result: dict, notices: list[str], folder_mode: str) -> None:
    assert result["kernel"] == "native" and not result["library"].startswith(str(cache.folder))
    assert notices == [
        f"rnnlab: the kernel cache {cache.folder} is writable by group or others (mode {folder_mode}), so nothing "
        "in it is loaded; the native kernel is built in a private temporary folder for this process (use a cache "
        "folder only you can write: chmod 700 it, or point RNNLAB_KERNEL_CACHE elsewhere)"
    ]
    assert cache.build_count() == 1


def test_a_group_writable_folder_is_not_loaded_from(cache):
    cache.plant_genuine()
    cache.folder.chmod(0o775)
    result, notices = cache.run()
    assert_built_privately(cache, result, notices, "0775")
    assert mode(cache.folder) == 0o775 and digest(cache.library) == digest(cache.genuine)


def test_a_truncated_library_is_rebuilt_not_mapped(cache):
    """Mapped, a truncated library kills the process with SIGBUS; its hash is checked first."""
    cache.plant_genuine()
    with open(cache.library, "r+b") as file:
        file.truncate(cache.library.stat().st_size // 2)
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, "does not match its build record (truncated or replaced)")


def test_a_foreign_file_under_the_name_is_rebuilt(cache):
    cache.plant(os.urandom(5000))
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, f"has no build record ({cache.record.name})")


def test_a_foreign_file_with_a_matching_record_is_rebuilt(cache):
    """Even a record that matches does not make text a library: the failed load is a rebuild, not a traceback."""
    text = b"not a library\n" * 100
    cache.plant(text, recorded=text)
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, f"could not be loaded ({cache.library.name}: invalid ELF header)")


def test_a_fifo_under_the_name_neither_blocks_nor_loads(cache):
    os.mkfifo(cache.library, 0o600)
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, "is not a regular file")


@pytest.mark.parametrize("entry", ["library", "record"])
def test_a_group_writable_library_or_record_is_rebuilt(cache, entry):
    cache.plant_genuine()
    getattr(cache, entry).chmod(0o770 if entry == "library" else 0o660)
    result, notices = cache.run()
    reason = (
        "is writable by group or others (mode 0770)"
        if entry == "library"
        else "has a build record that is writable by group or others (mode 0660)"
    )
    cache.assert_rebuilt(result, notices, reason)
    assert mode(cache.record) == 0o600


def test_a_symlink_under_the_name_is_replaced(cache, tmp_path):
    """A link to a genuine library with a matching record is still not this user's file in the cache."""
    elsewhere = tmp_path / "elsewhere.so"
    shutil.copy(cache.genuine, elsewhere)
    cache.library.symlink_to(elsewhere)
    cache.record.write_text(f"{digest(elsewhere)}  {cache.library.name}\n")
    cache.record.chmod(0o600)
    result, notices = cache.run()
    cache.assert_rebuilt(result, notices, "is a symbolic link")
    assert digest(elsewhere) == digest(cache.genuine)


def test_under_umask_002_the_cache_is_created_private(tmp_path, genuine):
    cache = Cache(tmp_path, genuine)
    cache.folder.rmdir()
    nested = tmp_path / "home" / ".cache" / "rnnlab" / "kernels"
    result, notices = run_layer(nested, cache.compiler, tmp_path / "tmp", umask=0o002)
    library = Path(result["library"])
    assert result["kernel"] == "native" and library.parent == nested and len(notices) == 1
    record = library.with_name(library.name + build.RECORD_SUFFIX)
    assert (mode(nested), mode(library), mode(record)) == (0o700, 0o700, 0o600)


def test_when_the_rebuild_fails_the_layer_runs_on_torch_fused(tmp_path, genuine):
    cache = Cache(tmp_path, genuine, compiler_fails=True)
    cache.plant_genuine()
    cache.library.write_bytes(cache.library.read_bytes()[:1000])
    result, notices = cache.run()
    assert result["kernel"] == "torch_fused" and result["library"] is None
    warnings = [line for line in notices if line.startswith("rnnlab:")]  # and a notice of the plain-flags try
    assert len(warnings) == 1, notices
    assert warnings[0].startswith(
        f"rnnlab: the native CPU kernel could not be built: {cache.library} does not match its build record "
        "(truncated or replaced), and rebuilding it failed: c++ failed"
    )
    assert warnings[0].endswith(
        "recurrent layers run on the other kernels (torch_fused or reference), Adam on PyTorch's operations."
    )
    assert result["seconds"] < SECONDS
