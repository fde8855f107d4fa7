"""Text corpora: tiny shakespeare (the char-rnn corpus).

Like every loader: ``path=``, else the data directory (:func:`~rnnlab.datasets.data_dir`), else a
download of the canonical file; the content is checked against a digest stored here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .files import RemoteFile, load_verified

__all__ = ["TINY_SHAKESPEARE", "load_tiny_shakespeare"]

TINY_SHAKESPEARE = RemoteFile(
    title="tiny shakespeare",
    filenames=("tinyshakespeare.txt", "tiny_shakespeare.txt", "input.txt"),
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    filename="tinyshakespeare.txt",
)
#: SHA-256 of the file's bytes: 1,115,394 characters, 65 distinct.
TINY_SHAKESPEARE_DIGEST = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def _parse_text(file: Path) -> tuple[str, str]:
    data = file.read_bytes()
    return data.decode("utf-8"), hashlib.sha256(data).hexdigest()


def load_tiny_shakespeare(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> str:
    """Tiny shakespeare: 1,115,394 characters of Shakespeare's plays, 65 distinct characters.

    Local names: ``tinyshakespeare.txt``, ``tiny_shakespeare.txt``, ``input.txt``.
    """
    return load_verified(TINY_SHAKESPEARE, _parse_text, TINY_SHAKESPEARE_DIGEST, path, cache_dir, download)
