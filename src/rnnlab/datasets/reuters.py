"""Reuters-21578 newswires: the SGML parser, the R8 / R52 benchmarks and Keras's Reuters set.

The raw corpus is 22 SGML files ``reut2-000.sgm`` .. ``reut2-021.sgm`` (plain or ``.gz``) in the
data directory (``path=`` a folder, else ``cache_dir=`` / ``$RNNLAB_DATA_DIR`` / ``~/.cache/rnnlab``,
each also looked up in a ``reuters21578/`` subfolder), else downloaded and unpacked from the UCI
archive (each file inflated to at most ``MAX_SGML_BYTES``, the archive as one stream to at most
``MAX_ARCHIVE_BYTES``). The parser, linear in its input, reads the bytes as Latin-1 (the files
hold a few stray bytes), takes each ``<REUTERS ...>`` element's attributes, ``TOPICS``, ``TITLE``
and ``BODY`` (or the whole ``TEXT`` for the unprocessed ones), decodes entities (``&lt;``,
``&amp;``, the ``&#N;`` control codes) and drops control characters.

Selections (document counts reproduced from these files by the tests):

- **R52**: ModApte split (``LEWISSPLIT`` TRAIN / TEST, ``TOPICS="YES"``), documents with exactly one
  topic, whose topic has at least one training and one test document: 6,532 / 2,568, 52 topics.
- **R8**: the same single-topic ModApte documents whose topic is one of the ten most frequent
  ModApte topics (wheat and corn have no single-topic documents, leaving acq, crude, earn, grain,
  interest, money-fx, ship, trade): 5,485 / 2,189.
- **Keras's Reuters set** (``load_data``): every document with at least one topic (any split),
  labelled by its first topic, keeping the topics that head at least 16 documents: 11,228
  documents over 46 topics, Keras's ``get_label_names()`` in its order (``keras_documents``).
"""

from __future__ import annotations

import functools
import html
import os
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import RemoteFile, data_dir, fetch, open_inflated

__all__ = [
    "ARCHIVE",
    "Document",
    "get_label_names",
    "get_word_index",
    "keras_documents",
    "load_data",
    "load_r8",
    "load_r52",
    "parse_sgml",
    "read_corpus",
    "tokenize",
]

ARCHIVE = RemoteFile(
    title="Reuters-21578",
    filenames=("reuters21578.tar.gz",),
    url="https://archive.ics.uci.edu/ml/machine-learning-databases/reuters21578-mld/reuters21578.tar.gz",
    filename="reuters21578.tar.gz",
)
FILES = tuple(f"reut2-{i:03d}.sgm" for i in range(22))
DOCUMENTS = 21578
#: Bounds on inflating, twice what Reuters-21578 holds: its largest SGML file is 1,546,911 bytes
#: (reut2-017.sgm) and the 22 hold 27,636,762; the archive's other members (README, category
#: lists, DTD) are small beside them. A file or archive that inflates further is refused.
MAX_SGML_BYTES = 2 * 1_546_911
MAX_ARCHIVE_BYTES = 2 * 27_636_762

KERAS_MIN_DOCUMENTS = 16
#: Keras's 46 topics, in the order of its label ids (``keras.datasets.reuters.get_label_names()``).
KERAS_LABELS = (
    "cocoa grain veg-oil earn acq wheat copper housing money-supply coffee sugar trade reserves ship cotton "
    "carcass crude nat-gas cpi money-fx interest gnp meal-feed alum oilseed gold tin strategic-metal livestock "
    "retail ipi iron-steel rubber heat jobs lei bop zinc orange pet-chem dlr gas silver wpi hog lead"
).split()


@dataclass(frozen=True)
class Document:
    newid: int
    lewissplit: str  # TRAIN, TEST or NOT-USED
    has_topics: bool  # the TOPICS="YES" attribute
    topics: tuple[str, ...]
    title: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}" if self.title else self.body


# The parser is linear in its input, whatever the input: every search either succeeds or moves on
# for good (str.find from where the last one ended), and no pattern can run across a "<" it did not
# start at, so no character is scanned more than a few times. Lazy ".*?" searches retried at every
# opening tag, and a backtracking "\w+" before "=", cost quadratic time on hostile files.
_OPEN, _CLOSE = "<REUTERS", "</REUTERS>"
_ATTRIBUTE = re.compile(r'\b(\w+)="([^"]*)"')  # \b: tried once per word, not once per letter
_NEWID = re.compile(r"[0-9]{1,9}")
_TOPIC = re.compile(r"<D>([^<]*)</D>")
_HEADLINES = re.compile(r"<(TITLE|DATELINE)>[^<]*</\1>")  # what TEXT holds besides the body
_MARKUP = re.compile(r"<[^<>]+>")
_HUGE_CHARREF = re.compile(r"&#(?:[0-9]{13,}|[xX][0-9a-fA-F]{13,});?")  # past Unicode; too long for int()
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _elements(text: str) -> Iterator[tuple[str, str]]:
    """(attributes, content) of each ``<REUTERS ...>...</REUTERS>`` in ``text``, in order."""
    end = 0
    while (start := text.find(_OPEN, end)) != -1:
        end = start + len(_OPEN)
        if text[end : end + 1].isalnum() or text[end : end + 1] == "_":  # <REUTERSX: another tag
            continue
        head_end = text.find(">", end)
        close = text.find(_CLOSE, head_end) if head_end != -1 else -1
        if close == -1:  # an element that never ends: nothing after it can be one
            return
        yield text[end:head_end], text[head_end + 1 : close]
        end = close + len(_CLOSE)


@functools.cache
def _opening(name: str) -> re.Pattern[str]:
    return re.compile(rf"<{name}\b[^<>]*>")


def _tag(name: str, text: str) -> str | None:
    """The content of the first ``<name ...>...</name>`` in ``text``, or None."""
    opening = _opening(name).search(text)
    if opening is None:
        return None
    close = text.find(f"</{name}>", opening.end())
    return None if close == -1 else text[opening.end() : close]


def _clean(text: str | None) -> str:
    if not text:
        return ""
    text = _MARKUP.sub(" ", text)  # nested markup (TEXT without BODY)
    text = html.unescape(_HUGE_CHARREF.sub("\ufffd", text))  # &lt; &amp; &#3; ...; U+FFFD as html does
    return _CONTROL.sub(" ", text).strip()


def parse_sgml(data: bytes | str, source: str = "the SGML text") -> Iterator[Document]:
    """The documents of one Reuters-21578 SGML file, in time linear in its length.

    Raises ValueError, naming ``source``, for an element without a numeric ``NEWID``.
    """
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    for head, inner in _elements(text):
        attributes = dict(_ATTRIBUTE.findall(head))
        newid = attributes.get("NEWID", "")
        if not _NEWID.fullmatch(newid):
            raise ValueError(
                f"{source}: a <REUTERS> element has NEWID={newid[:20]!r}, expected a number; "
                "it is not a Reuters-21578 SGML file."
            )
        topics = tuple(_TOPIC.findall(_tag("TOPICS", inner) or ""))
        body_text = _tag("TEXT", inner) or ""
        body = _tag("BODY", body_text)
        if body is None:  # TYPE="BRIEF" (title only) or "UNPROC" (raw text)
            body = _HEADLINES.sub(" ", body_text)
        yield Document(
            newid=int(newid),
            lewissplit=attributes.get("LEWISSPLIT", ""),
            has_topics=attributes.get("TOPICS") == "YES",
            topics=topics,
            title=_clean(_tag("TITLE", body_text)),
            body=_clean(body),
        )


def _read_file(path: Path) -> bytes:
    with open_inflated(path, MAX_SGML_BYTES, "a Reuters-21578 SGML file", url=ARCHIVE.url) as stream:
        return stream.read()


def _find_files(folder: Path) -> list[Path] | None:
    for directory in (folder, folder / "reuters21578"):
        found = []
        for name in FILES:
            candidates = [directory / name, directory / f"{name}.gz"]
            hit = next((p for p in candidates if p.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    return None


def read_corpus(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> list[Document]:
    """All 21,578 documents, in NEWID order.

    ``path``: a folder holding the 22 ``reut2-NNN.sgm[.gz]`` files, or the ``reuters21578.tar.gz``
    archive. Otherwise the data directory is searched, then the archive downloaded.
    """
    if path is not None:
        given = Path(path).expanduser()
        if given.is_file():
            return _read_archive(given)
        files = _find_files(given) if given.is_dir() else None
        if files is None:
            raise FileNotFoundError(
                f"No Reuters-21578 files at {given}: expected the folder with reut2-000.sgm .. reut2-021.sgm "
                f"(or .sgm.gz), or the archive {ARCHIVE.filename}."
            )
    else:
        files = _find_files(data_dir(cache_dir))
        if files is None:
            return _read_archive(fetch(ARCHIVE, cache_dir=cache_dir, download=download))
    key = tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return list(_parse_files(key))


@functools.lru_cache(maxsize=2)
def _parse_files(key: tuple[tuple[str, int, int], ...]) -> tuple[Document, ...]:
    """The parsed corpus, kept for the process (about 1 s to read); keyed by the files' paths, times, sizes."""
    files = [Path(name) for name, _, _ in key]
    documents = [
        doc for name, file in zip(FILES, files, strict=True) for doc in _parse_file(name, _read_file(file), str(file))
    ]
    return tuple(_checked(documents, str(files[0].parent)))


def _read_archive(file: Path) -> list[Document]:
    """The documents of the 22 SGML files in the tar archive ``file``, read as one stream."""
    parsed: dict[str, list[Document]] = {}
    with open_inflated(file, MAX_ARCHIVE_BYTES, "the Reuters-21578 archive", url=ARCHIVE.url) as stream:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                name = Path(member.name).name
                if not member.isfile() or name not in FILES:
                    continue  # the README, category lists and DTD: skipped, and counted in the bound
                if member.size > MAX_SGML_BYTES:
                    raise ValueError(
                        f"{file}: its {member.name} declares {member.size:,} bytes, more than the "
                        f"{MAX_SGML_BYTES:,} a Reuters-21578 SGML file can be; it is not inflated."
                    )
                handle = archive.extractfile(member)
                parsed[name] = _parse_file(name, handle.read() if handle else b"", f"{file} ({member.name})")
    missing = [name for name in FILES if name not in parsed]
    if missing:
        raise ValueError(f"{file} lacks {', '.join(missing)}; it is not the Reuters-21578 archive.")
    return _checked([doc for name in FILES for doc in parsed[name]], str(file))


def _parse_file(name: str, data: bytes, source: str) -> list[Document]:
    """The documents of Reuters-21578's SGML file ``name``: 1,000 each, 578 in the last."""
    documents = list(parse_sgml(data, source))
    expected = DOCUMENTS - 1000 * (len(FILES) - 1) if name == FILES[-1] else 1000
    if len(documents) != expected:
        raise ValueError(
            f"{source}: found {len(documents):,} documents, expected the {expected:,} of Reuters-21578's {name}; "
            f"the file is damaged or not from Reuters-21578. Use the files from {ARCHIVE.url}."
        )
    return documents


def _checked(documents: list[Document], source: str) -> list[Document]:
    ids = [d.newid for d in documents]
    if len(documents) != DOCUMENTS or sorted(ids) != list(range(1, DOCUMENTS + 1)):
        raise ValueError(
            f"{source}: found {len(documents)} documents, expected the {DOCUMENTS:,} of Reuters-21578 "
            "(NEWID 1..21578). Use the files from " + ARCHIVE.url + "."
        )
    return sorted(documents, key=lambda d: d.newid)


# -- R8 / R52 -------------------------------------------------------------------------------------
def tokenize(text: str) -> list[str]:
    """Lower-case words: runs of letters (with inner apostrophes, hyphens or dots) or of digits.

    >>> tokenize("U.S. oil-price rose 3.5 pct, Reuter's says")
    ['u.s', 'oil-price', 'rose', '3', '5', 'pct', "reuter's", 'says']
    """
    return re.findall(r"[a-z]+(?:['.\-][a-z]+)*|[0-9]+", text.lower())


def _modapte_single(documents: Iterable[Document]) -> tuple[list[Document], list[Document]]:
    chosen = [d for d in documents if d.has_topics and d.lewissplit in ("TRAIN", "TEST") and len(d.topics) == 1]
    return [d for d in chosen if d.lewissplit == "TRAIN"], [d for d in chosen if d.lewissplit == "TEST"]


Split = tuple[list[str], np.ndarray]


def _labelled(train: list[Document], test: list[Document], names: list[str]) -> tuple[Split, Split, list[str]]:
    index = {name: i for i, name in enumerate(names)}
    train, test = [d for d in train if d.topics[0] in index], [d for d in test if d.topics[0] in index]
    return (
        ([d.text for d in train], np.array([index[d.topics[0]] for d in train], dtype=np.int64)),
        ([d.text for d in test], np.array([index[d.topics[0]] for d in test], dtype=np.int64)),
        names,
    )


def load_r52(documents: list[Document] | None = None, **kwargs: Any) -> tuple[Split, Split, list[str]]:
    """R52: ``(train_texts, train_labels), (test_texts, test_labels), topic names`` (sorted)."""
    train, test = _modapte_single(documents if documents is not None else read_corpus(**kwargs))
    names = sorted({d.topics[0] for d in train} & {d.topics[0] for d in test})
    return _labelled(train, test, names)


def load_r8(documents: list[Document] | None = None, **kwargs: Any) -> tuple[Split, Split, list[str]]:
    """R8: ``(train_texts, train_labels), (test_texts, test_labels), topic names`` (sorted)."""
    documents = documents if documents is not None else read_corpus(**kwargs)
    modapte = [d for d in documents if d.has_topics and d.lewissplit in ("TRAIN", "TEST")]
    counts = Counter(topic for d in modapte for topic in d.topics)
    r10 = {topic for topic, _ in counts.most_common(10)}
    train, test = _modapte_single(documents)
    names = sorted(r10 & {d.topics[0] for d in train + test})
    return _labelled(train, test, names)


# -- Keras's Reuters set ---------------------------------------------------------------------------
def get_label_names() -> tuple[str, ...]:
    """Keras's 46 topic names, indexed by label id."""
    return tuple(KERAS_LABELS)


def keras_documents(documents: list[Document]) -> tuple[list[Document], np.ndarray]:
    """The documents of Keras's Reuters set and their label ids.

    The rule: every document with at least one topic (whatever its split or TOPICS attribute),
    labelled by its first topic, keeping the topics that are the first topic of at least
    ``KERAS_MIN_DOCUMENTS`` (16) documents; label ids in order of first appearance (NEWID). On
    Reuters-21578 this gives 11,228 documents over 46 topics, exactly Keras's ``get_label_names()``
    in its order (the kept topics head 16 to 3,972 documents, the largest dropped ones 13).
    """
    headed = [d for d in documents if d.topics]
    counts = Counter(d.topics[0] for d in headed)
    names = list(dict.fromkeys(d.topics[0] for d in headed if counts[d.topics[0]] >= KERAS_MIN_DOCUMENTS))
    index = {name: i for i, name in enumerate(names)}
    chosen = [d for d in headed if d.topics[0] in index]
    return chosen, np.array([index[d.topics[0]] for d in chosen], dtype=np.int64)


def get_word_index(documents: list[Document] | None = None, **kwargs: Any) -> dict[str, int]:
    """Word -> rank by frequency in Keras's Reuters set (1 = most frequent; ties by first appearance)."""
    chosen, _ = keras_documents(documents if documents is not None else read_corpus(**kwargs))
    return _ranks([tokenize(d.text) for d in chosen])


def _ranks(tokens: list[list[str]]) -> dict[str, int]:
    counts = Counter(word for words in tokens for word in words)
    return {word: rank for rank, (word, _) in enumerate(counts.most_common(), start=1)}


def load_data(
    path: str | os.PathLike[str] | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras's ``reuters.load_data``, built from the raw corpus: ``(x_train, y_train), (x_test, y_test)``.

    Each ``x`` is an object array of lists of word ids (a word's id is its frequency rank plus
    ``index_from``; ``start_char`` opens every list; 0 is left for padding), ``y`` the topic ids
    (``get_label_names()``). As in Keras: shuffled with ``np.random.RandomState(seed)``, lists of
    ``maxlen`` ids or more dropped, ids ``>= num_words`` or ``< skip_top`` replaced by ``oov_char``
    (or removed when it is None), and the last ``test_split`` of the lists kept for testing.
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1), received {test_split}.")
    if maxlen is not None and maxlen < 1:
        raise ValueError(f"maxlen must be a positive int or None, received {maxlen}.")
    documents = read_corpus(path, cache_dir=cache_dir, download=download)
    chosen, labels = keras_documents(documents)
    tokens = [tokenize(d.text) for d in chosen]
    ranks = _ranks(tokens)
    xs_all = [[ranks[w] for w in words] for words in tokens]
    order = np.arange(len(xs_all))
    np.random.RandomState(seed).shuffle(order)
    labels = labels[order]
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in xs_all[i]] for i in order]
    else:
        xs = [[w + index_from for w in xs_all[i]] for i in order]
    if maxlen:
        keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
        xs, labels = [xs[i] for i in keep], labels[keep]
        if not xs:
            raise ValueError(f"No newswire is shorter than maxlen={maxlen}; raise maxlen.")
    limit = num_words or max(max(x) for x in xs if x)  # Keras: the largest id itself becomes oov
    if oov_char is not None:
        xs = [[w if skip_top <= w < limit else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < limit] for x in xs]
    split = int(len(xs) * (1 - test_split))
    x = np.empty(len(xs), dtype=object)
    x[:] = xs
    return (x[:split], labels[:split]), (x[split:], labels[split:])
