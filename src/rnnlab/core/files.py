"""Files on disk, the bottom floor of everything rnnlab writes or reads.

Writing: every file goes to a temporary name next to its destination (``.<name>.<pid>-<hex>.tmp``)
and is renamed onto it when complete. New files get the permissions the umask allows, a
replaced file keeps its own. Temporaries left by a killed process are deleted by the next write
to that name once they are ``STALE_SECONDS`` old. A full disk or a file-size limit is one
``NoRoomError`` naming the file, with the file it would have replaced untouched and no temporary
left.

Reading: a file must be a regular file (never a device, FIFO or folder); content that is wrong
is one ``ValueError`` naming the file (``damaged``).

Names and leftovers: ``claim`` takes a fresh folder name atomically (``base``, ``base-1``, ...);
``abandoned`` judges whether something a writer left behind may be cleaned up, for temporaries
and run folders alike.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

#: A temporary whose writer is gone is deleted only once it is this old (seconds), so that a
#: writer on another machine sharing the folder is never disturbed.
STALE_SECONDS = 60.0


StrPath = str | os.PathLike[str]


def regular_file(path: StrPath) -> Path:
    """``path`` if it names an existing regular file (symbolic links followed).

    Raises FileNotFoundError when nothing is there, and ValueError for a folder, a device such
    as /dev/zero, a FIFO or a socket: reading those could run forever or never return.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: {path}") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot read it ({err.strerror or err}).") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise ValueError(f"{path} is {kind}, not a regular file; rnnlab reads models and data only from files.")
    return path


def damaged(path: Any, what: str, err: BaseException | str) -> ValueError:
    """The one error for a file whose content is wrong: ``<path>: <what> ... (<detail>)``."""
    detail = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return ValueError(f"{path}: {what} is damaged or not written by rnnlab ({str(detail)[:300]}).")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 only probes; it sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _temporaries(path: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(path.name)}\.(\d+)-[0-9a-f]{{8}}\.tmp")


def abandoned(path: Path, pid: int | None, host: str | None) -> bool:
    """Whether ``path`` was left behind by a writer that is gone: a process ``pid`` that has ended
    on this host. A writer on another host sharing the disk is never judged; one whose host is not
    known (``None``), or whose process is not known either, only once ``path`` is ``STALE_SECONDS``
    old, since it may run on another machine."""
    if host is not None and host != socket.gethostname():
        return False
    if pid is not None and pid_alive(pid):
        return False
    if pid is not None and host is not None:
        return True
    try:
        return time.time() - path.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
    except OSError:
        return False


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of writes to ``path`` whose process died (a kill during a save)."""
    pattern = _temporaries(path)
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            found = pattern.fullmatch(entry.name)
            if found and abandoned(Path(entry.path), int(found[1]), host=None):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


#: Writes that fail for want of room, in words with the remedy. The file-size limit needs no signal
#: handling here: Python ignores SIGXFSZ at start-up, so exceeding RLIMIT_FSIZE is an EFBIG from
#: write(), never a kill.
NO_ROOM = {
    errno.ENOSPC: "the disk is full (no space left on device); free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exhausted; free some space or write elsewhere",
    errno.EFBIG: "the file size limit was reached (file too large); raise it (ulimit -f) or write elsewhere",
}


class NoRoomError(OSError):
    """A file that could not be written because the disk is full or a size limit was reached;
    reads ``<file>: the disk is full (...)``. The file it would have replaced is untouched."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def write_failure(path: Path, err: BaseException) -> BaseException:
    """The error to raise for a failed write to ``path``: a full disk or size limit as one
    ``NoRoomError`` naming the file; another system error of safetensors as an ``OSError``."""
    code = err.errno if isinstance(err, OSError) else None
    if isinstance(err, SafetensorError) and (found := re.search(r"os error (\d+)", str(err))):
        code = int(found[1])
    if code in NO_ROOM:
        return NoRoomError(code, NO_ROOM[code], str(path))
    if isinstance(err, SafetensorError) and code is not None:
        return OSError(code, os.strerror(code), str(path))
    return err


@contextmanager
def atomic_path(path: StrPath) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; renames it onto ``path`` only if the block succeeds,
    so an interrupted write never replaces a good file with a partial one.

    The file gets the permissions of a new file (what the umask allows), or those of the file it
    replaces. A full disk or file size limit is a ``NoRoomError`` naming ``path``.
    """
    path = Path(path)
    try:
        with _replacing(path) as tmp:
            yield tmp
    except (OSError, SafetensorError) as err:
        failure = write_failure(path, err)
        if failure is err:
            raise
        raise failure from err


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        try:
            permissions = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            permissions = stat.S_IMODE(os.stat(tmp).st_mode)  # 0o666 less the umask
        yield tmp
        os.chmod(tmp, permissions)  # whatever the writer did (safetensors makes its files 0600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: StrPath, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: StrPath, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# Everything malformed JSON or a malformed tree of it can raise.
MALFORMED = (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError, OverflowError)


def claim(base: Path) -> Path:
    """A new empty folder ``base``, else ``base-1``, ``base-2``, ...: whichever mkdir creates first."""
    for n in itertools.count():
        candidate = base if n == 0 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")
