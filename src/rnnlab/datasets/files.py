"""Where data files live: an explicit path, the cache directory, or (only when allowed) a download.

Nothing here touches the network unless no local file is found and ``download=True``; a download
goes to a temporary name in the data directory and is renamed when complete. Files are checked by
a digest of their parsed content (:func:`content_digest`), not of their bytes, so that copies that
differ only in header names, quoting, line endings or the spelling of missing values are accepted.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io
import logging
import os
import shutil
import tarfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..core.files import atomic_path

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "DatasetNotFoundError",
    "RemoteFile",
    "content_digest",
    "data_dir",
    "fetch",
    "load_verified",
    "open_inflated",
    "reading",
]

#: Seconds to wait for a server before giving up on a download.
DOWNLOAD_TIMEOUT = 15.0

T = TypeVar("T")
log = logging.getLogger("rnnlab.datasets")


class DatasetNotFoundError(ValueError):
    """No local copy of a dataset, and it could not (or may not) be downloaded."""


@dataclass(frozen=True)
class RemoteFile:
    """A public data file: its names accepted in the data directory, canonical URL, and download name."""

    title: str  # for messages: "airline passengers"
    filenames: tuple[str, ...]  # accepted local names, looked up in this order
    url: str
    filename: str  # the name a download is saved under


def data_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``cache_dir``, else ``$RNNLAB_DATA_DIR``, else ``$XDG_CACHE_HOME/rnnlab``.

    ``$XDG_CACHE_HOME`` defaults to ``~/.cache``. The directory is not created here.

    >>> data_dir("/tmp/my-data").as_posix()
    '/tmp/my-data'
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("RNNLAB_DATA_DIR"):
        return Path(os.environ["RNNLAB_DATA_DIR"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "rnnlab"


def _not_found(remote: RemoteFile, directory: Path, why: str) -> DatasetNotFoundError:
    names = " or ".join(remote.filenames)
    return DatasetNotFoundError(
        f"Dataset '{remote.title}' not found: no {names} in {directory}, and {why}. To fix: download "
        f"{remote.url} and put it in {directory} as {remote.filename} (or point cache_dir= or RNNLAB_DATA_DIR "
        "at a folder that has it), or pass path=... to the loader."
    )


def find_local(
    remote: RemoteFile, path: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """The explicit ``path`` (which must exist), else the first accepted name in the data directory, else None."""
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise FileNotFoundError(
                f"No {remote.title} file at {explicit} (passed as path=). Check the path, or "
                "leave path=None to use the data directory."
            )
        return explicit
    directory = data_dir(cache_dir)
    return next((directory / name for name in remote.filenames if (directory / name).is_file()), None)


def _download(remote: RemoteFile, directory: Path) -> Path:
    target = directory / remote.filename
    log.info("Downloading %s from %s to %s", remote.title, remote.url, target)
    try:
        with atomic_path(target) as temp, open(temp, "wb") as out:  # the umask's permissions, as any file
            with urllib.request.urlopen(remote.url, timeout=DOWNLOAD_TIMEOUT) as response:
                shutil.copyfileobj(response, out)
        return target
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, HTTPError, timeouts: OSError
        raise _not_found(remote, directory, f"downloading it failed ({exc})") from exc


def fetch(
    remote: RemoteFile,
    path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Path:
    """Path to a local copy of ``remote``: explicit ``path``, else the data directory, else a download.

    Raises:
        FileNotFoundError: ``path`` was given and does not exist.
        DatasetNotFoundError: no local copy, and ``download=False`` or the download failed.
    """
    local = find_local(remote, path, cache_dir)
    if local is not None:
        return local
    directory = data_dir(cache_dir)
    if not download:
        raise _not_found(remote, directory, "download=False")
    return _download(remote, directory)


def content_digest(columns: Sequence[np.ndarray]) -> str:
    """SHA-256 of the values of ``columns`` in row order: float64 (NaN and -0.0 normalised) or UTF-8 text.

    >>> content_digest([np.array([1.0, np.nan])]) == content_digest([np.array([1, float("nan")], float)])
    True
    """
    digest = hashlib.sha256()
    for column in columns:
        column = np.asarray(column)
        if column.dtype.kind in "iufb":
            values = column.astype("<f8") + 0.0  # -0.0 + 0.0 == +0.0
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
            digest.update(b"f%d\n" % len(values) + values.tobytes())
        else:
            text = "\n".join(str(v) for v in column).encode("utf-8")
            digest.update(b"s%d\n" % len(column) + text + b"\n")
    return digest.hexdigest()


def load_verified(
    remote: RemoteFile,
    parse: Callable[[Path], tuple[T, str]],
    expected_digest: str,
    path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> T:
    """Fetch ``remote``, ``parse`` it into (result, content digest) and check the digest.

    A file that does not parse or has the wrong content raises ValueError; if it was just
    downloaded it is deleted, so a bad download never stays in the cache.
    """
    local = find_local(remote, path, cache_dir)
    file = local if local is not None else fetch(remote, cache_dir=cache_dir, download=download)
    try:
        result, digest = parse(file)
        if digest != expected_digest:
            raise ValueError(
                f"The file at {file} is not the expected {remote.title} data: its content digest is "
                f"{digest[:16]}..., expected {expected_digest[:16]}... . Replace it with the file "
                f"from {remote.url}."
            )
    except ValueError as exc:
        if local is None:
            file.unlink(missing_ok=True)
            raise ValueError(f"{exc} (It had just been downloaded from {remote.url}, and was deleted.)") from exc
        raise
    return result


# -- archives --------------------------------------------------------------------------------------
#: What a damaged compressed file raises while it is read: a truncated stream, corrupt deflate
#: data, a bad gzip or zip CRC, a broken tar header, an unknown compression method.
DAMAGE = (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile, tarfile.TarError, NotImplementedError)


@contextlib.contextmanager
def reading(path: Path, what: str, url: str = "") -> Iterator[None]:
    """Damage found while the block reads ``path`` becomes one ValueError that names the file
    (and says where a good copy is: ``url``)."""
    try:
        yield
    except DAMAGE as err:
        kind = "zlib.error" if isinstance(err, zlib.error) else type(err).__name__
        reason = " ".join(f"{kind}: {err}".split())
        source = f" from {url}" if url else ""
        raise ValueError(f"{path} is damaged or not {what} ({reason}). Replace it with a good copy{source}.") from None


class _Bounded(io.RawIOBase):
    """A stream that raises ValueError as soon as more than ``limit`` bytes have come out of it."""

    def __init__(self, stream: io.BufferedIOBase, limit: int, too_large: Callable[[], ValueError]) -> None:
        super().__init__()
        self.stream, self.limit, self.too_large, self.count = stream, limit, too_large, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self.stream.readinto(buffer)
        self.count += count
        if self.count > self.limit:
            raise self.too_large()
        return count


@contextlib.contextmanager
def open_inflated(path: Path, limit: int, what: str, hint: str = "", url: str = "") -> Iterator[io.BufferedReader]:
    """``path``'s bytes as a stream, inflated on the fly if it is gzip, that refuses to give more
    than ``limit`` bytes: a small file that inflates to gigabytes costs ``limit`` bytes of work, and
    nothing is held but what the reader keeps. ``what`` names the kind of file for messages ("an
    MNIST IDX file"); damage found inside the block is one ValueError naming the file (and ``url``,
    where a good copy is), as is data beyond ``limit`` (``hint`` then says how to read more)."""

    def too_large() -> ValueError:
        return ValueError(
            f"{path} inflates to more than {limit:,} bytes, more than {what} can be; it is damaged or hostile, "
            f"and was not inflated further.{hint and ' ' + hint}"
        )

    with reading(path, what, url), open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw) if compressed else raw
        yield io.BufferedReader(_Bounded(stream, limit, too_large))
