"""Where data files live: an explicit path, the cache directory, or (only when allowed) a download.

Nothing here touches the network unless no local file is found and ``download=True``; a download
goes to a temporary name in the data directory and is renamed when complete. Files are checked by
a digest of their parsed content (:func:`content_digest`), not of their bytes, so that copies that
differ only in header names, quoting, line endings or the spelling of missing values are accepted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..saving import atomic_path

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "DatasetNotFoundError",
    "RemoteFile",
    "content_digest",
    "data_dir",
    "fetch",
    "load_verified",
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
