"""Movie reviews (Pang & Lee 2004, sentence polarity data v2.0): 1,000 positive and 1,000 negative.

The archive ``movie_reviews.zip`` (``movie_reviews/pos/*.txt``, ``movie_reviews/neg/*.txt``, as NLTK
ships it) or the unpacked ``review_polarity.tar.gz`` folder (``txt_sentoken/pos``, ``.../neg``).
File names start with the cross-validation fold: ``cv000`` .. ``cv999``. The zip file's declared
sizes are checked against bounds twice the real archive's before anything is inflated.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from .files import RemoteFile, fetch, reading

__all__ = ["MOVIE_REVIEWS", "load_data", "read_reviews"]

MOVIE_REVIEWS = RemoteFile(
    title="movie reviews",
    filenames=("movie_reviews.zip",),
    url="https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/movie_reviews.zip",
    filename="movie_reviews.zip",
)
REVIEWS = 2000
#: Bounds, twice the real archive's: 2,004 files (the reviews, their folders, a README) that
#: inflate to 7,790,571 bytes, the longest review 14,957. Anything larger is refused unread.
MAX_MEMBERS = 2 * 2_004
MAX_ARCHIVE_BYTES = 2 * 7_790_571
MAX_REVIEW_BYTES = 2 * 14_957
_NAME = re.compile(r"(?:^|/)(pos|neg)/cv(\d{3})_\d+\.txt$")


def read_reviews(path: str | os.PathLike[str]) -> list[tuple[int, int, str]]:
    """(fold, label: 1 positive / 0 negative, text) of every review in the zip file or folder, sorted by name."""
    path = Path(path)
    found = _read_folder(path) if path.is_dir() else _read_zip(path)
    labels = [label for _, _, label, _ in found]
    if len(found) != REVIEWS or sum(labels) != REVIEWS // 2:
        raise ValueError(
            f"{path}: expected 1,000 positive and 1,000 negative reviews (pos/cvNNN_*.txt, neg/...), found "
            f"{sum(labels)} and {len(found) - sum(labels)}. Use the file from {MOVIE_REVIEWS.url}."
        )
    return [(fold, int(label), text) for _, fold, label, text in sorted(found, key=lambda f: (not f[2], f[0]))]


def _too_large(path: Path, what: str, size: int, limit: int) -> ValueError:
    return ValueError(
        f"{path}: {what} {size:,} bytes, more than the {limit:,} the movie reviews can need; the archive "
        f"is damaged or hostile, and was not inflated. Use the file from {MOVIE_REVIEWS.url}."
    )


def _read_folder(folder: Path) -> list[tuple[str, int, bool, str]]:
    found = []
    for file in folder.rglob("*.txt"):
        match = _NAME.search(file.as_posix())
        if match:
            if file.stat().st_size > MAX_REVIEW_BYTES:
                raise _too_large(file, "a review of", file.stat().st_size, MAX_REVIEW_BYTES)
            found.append((file.name, int(match.group(2)), match.group(1) == "pos", file.read_text("latin-1")))
    return found


def _read_zip(path: Path) -> list[tuple[str, int, bool, str]]:
    """The reviews in the zip file, its declared sizes checked against the bounds before anything is inflated."""
    found = []
    with reading(path, "a zip archive of the movie reviews", MOVIE_REVIEWS.url), zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ValueError(
                f"{path} holds {len(members):,} files, more than the {MAX_MEMBERS:,} the movie reviews can "
                f"need; it is not the movie reviews archive. Use the file from {MOVIE_REVIEWS.url}."
            )
        total = sum(member.file_size for member in members)
        if total > MAX_ARCHIVE_BYTES:
            raise _too_large(path, "its files declare", total, MAX_ARCHIVE_BYTES)
        for member in members:
            match = _NAME.search(member.filename)
            if match:
                if member.file_size > MAX_REVIEW_BYTES:
                    raise _too_large(path, f"its {member.filename} declares", member.file_size, MAX_REVIEW_BYTES)
                if member.flag_bits & 0x1:
                    raise ValueError(f"{path}: its {member.filename} is encrypted; the movie reviews are not.")
                with archive.open(member) as stream:  # gives no more than it declares, and checks the CRC
                    text = stream.read(MAX_REVIEW_BYTES).decode("latin-1")
                found.append((member.filename, int(match.group(2)), match.group(1) == "pos", text))
    return found


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
