"""Movie reviews (Pang & Lee 2004, sentence polarity data v2.0): 1,000 positive and 1,000 negative.

The archive ``movie_reviews.zip`` (``movie_reviews/pos/*.txt``, ``movie_reviews/neg/*.txt``, as NLTK
ships it) or the unpacked ``review_polarity.tar.gz`` folder (``txt_sentoken/pos``, ``.../neg``).
File names start with the cross-validation fold: ``cv000`` .. ``cv999``.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from .files import RemoteFile, fetch

__all__ = ["MOVIE_REVIEWS", "load_data", "read_reviews"]

MOVIE_REVIEWS = RemoteFile(
    title="movie reviews",
    filenames=("movie_reviews.zip",),
    url="https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/movie_reviews.zip",
    filename="movie_reviews.zip",
)
_NAME = re.compile(r"(?:^|/)(pos|neg)/cv(\d{3})_\d+\.txt$")


def read_reviews(path: str | os.PathLike[str]) -> list[tuple[int, int, str]]:
    """(fold, label: 1 positive / 0 negative, text) of every review in the zip file or folder, sorted by name."""
    path = Path(path)
    found: list[tuple[str, int, int, str]] = []
    if path.is_dir():
        for file in path.rglob("*.txt"):
            match = _NAME.search(file.as_posix())
            if match:
                found.append((file.name, int(match.group(2)), match.group(1) == "pos", file.read_text("latin-1")))
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    match = _NAME.search(name)
                    if match:
                        text = archive.read(name).decode("latin-1")
                        found.append((name, int(match.group(2)), match.group(1) == "pos", text))
        except zipfile.BadZipFile as err:
            raise ValueError(f"{path} is not a zip archive ({err}).") from None
    labels = [label for _, _, label, _ in found]
    if len(found) != 2000 or sum(labels) != 1000:
        raise ValueError(
            f"{path}: expected 1,000 positive and 1,000 negative reviews (pos/cvNNN_*.txt, neg/...), found "
            f"{sum(labels)} and {len(found) - sum(labels)}. Use the file from {MOVIE_REVIEWS.url}."
        )
    return [(fold, int(label), text) for _, fold, label, text in sorted(found, key=lambda f: (not f[2], f[0]))]


def load_data(
    path: str | os.PathLike[str] | None = None,
    test_folds: int = 100,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> tuple[tuple[list[str], np.ndarray], tuple[list[str], np.ndarray]]:
    """``(train_texts, train_labels), (test_texts, test_labels)``; labels 1 positive, 0 negative.

    The test set is the last ``test_folds`` of the 1,000 file numbers (default: ``cv900`` .. ``cv999``,
    100 positive + 100 negative reviews), so it is the same for every run: 1,800 train, 200 test.
    """
    if not 0 < test_folds < 1000:
        raise ValueError(f"test_folds must be between 1 and 999, received {test_folds}.")
    reviews = read_reviews(fetch(MOVIE_REVIEWS, path, cache_dir, download))
    test = [r for r in reviews if r[0] >= 1000 - test_folds]
    train = [r for r in reviews if r[0] < 1000 - test_folds]
    return (
        ([t for _, _, t in train], np.array([label for _, label, _ in train], dtype=np.int64)),
        ([t for _, _, t in test], np.array([label for _, label, _ in test], dtype=np.int64)),
    )
