"""Text and image loaders: Reuters-21578 (R8, R52, Keras's set), MNIST IDX, movie reviews, tiny shakespeare."""

from __future__ import annotations

import gzip
from collections import Counter

import numpy as np
import pytest

from conftest import require_data
from rnnlab.datasets import load_tiny_shakespeare, mnist, movie_reviews, reuters
from rnnlab.preprocessing.arrays import pad_sequences, to_categorical


@pytest.fixture(scope="module")
def corpus():
    folder = require_data("reuters21578/reut2-000.sgm.gz") / "reuters21578"
    return reuters.read_corpus(folder)


def test_corpus_is_whole(corpus):
    assert len(corpus) == 21578 and [d.newid for d in corpus[:3]] == [1, 2, 3]
    first = corpus[0]
    assert first.topics == ("cocoa",) and first.lewissplit == "TRAIN" and first.has_topics
    assert first.title == "BAHIA COCOA REVIEW" and first.body.startswith("Showers continued throughout the week")
    assert all("&#" not in d.body and "&lt;" not in d.body for d in corpus)
    assert not any(ch < " " and ch not in "\n\t" for d in corpus for ch in d.body)
    modapte = [d for d in corpus if d.has_topics and d.lewissplit in ("TRAIN", "TEST")]
    assert Counter(d.lewissplit for d in modapte) == {"TRAIN": 9603, "TEST": 3299}  # the published ModApte sizes


def test_r8_and_r52_match_the_published_counts(corpus):
    (train, y_train), (test, y_test), names = reuters.load_r8(corpus)
    assert (len(train), len(test), len(names)) == (5485, 2189, 8)
    assert names == ["acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade"]
    assert Counter(np.asarray(names)[y_train])["earn"] == 2840  # the largest class of R8
    (train, y_train), (test, y_test), names = reuters.load_r52(corpus)
    assert (len(train), len(test), len(names)) == (6532, 2568, 52)
    assert set(y_train.tolist()) == set(y_test.tolist()) == set(range(52))


def test_keras_selection_reproduces_the_keras_set(corpus):
    chosen, labels = reuters.keras_documents(corpus)
    assert len(chosen) == 11228 and labels.max() == 45
    # The rule gives Keras's label names, in Keras's order.
    order = list(dict.fromkeys(d.topics[0] for d in chosen))
    assert tuple(order) == reuters.get_label_names()


def test_keras_format_conventions(corpus, monkeypatch):
    monkeypatch.setattr(reuters, "read_corpus", lambda *a, **k: corpus)
    (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=1000, test_split=0.2)
    assert (len(x_train), len(x_test)) == (8982, 2246)  # Keras's own sizes
    assert x_train.dtype == object and y_train.dtype == np.int64
    assert all(x[0] == 1 for x in x_train)  # start_char
    flat = np.concatenate([np.asarray(x) for x in x_train])
    assert flat.min() == 1 and flat.max() == 999 and 2 in flat and 0 not in flat  # oov 2, 0 left for padding
    (full_train, full_y), _ = reuters.load_data(test_split=0.2)
    np.testing.assert_array_equal(full_y, y_train)  # the same seeded shuffle
    for short, full in zip(x_train[:50], full_train[:50], strict=True):
        assert len(short) == len(full)
        assert [w if w < 1000 else 2 for w in full] == short
    assert max(max(x) for x in full_train) >= 20000  # ids are frequency ranks + index_from
    (shorter, y_short), _ = reuters.load_data(num_words=1000, skip_top=10, maxlen=50, test_split=0.0)
    assert all(len(x) < 50 for x in shorter) and len(shorter) == len(y_short) < 11228
    assert all(w == 2 or 10 <= w < 1000 for x in shorter for w in x)  # start_char 1 < skip_top: oov too
    padded = pad_sequences(x_train, maxlen=100)
    assert padded.shape == (8982, 100) and padded.dtype == np.int32
    np.testing.assert_array_equal(padded[0, -min(100, len(x_train[0])) :], x_train[0][-100:])
    one_hot = to_categorical(y_train, 46)
    assert one_hot.shape == (8982, 46) and (one_hot.argmax(1) == y_train).all()


def test_parser_tolerates_the_corpus_quirks():
    sgml = (
        b'<REUTERS TOPICS="YES" LEWISSPLIT="TEST" CGISPLIT="TRAINING-SET" NEWID="7">\n'
        b"<TOPICS><D>acq</D><D>earn</D></TOPICS>\n<TEXT>&#2;\n<TITLE>A &lt;B&gt; &amp; C \xfc</TITLE>\n"
        b"<BODY>Profit rose &#3; 5 &#127;pct.\n</BODY></TEXT>\n</REUTERS>\n"
        b'<REUTERS TOPICS="NO" LEWISSPLIT="NOT-USED" NEWID="8">\n<TOPICS></TOPICS>\n'
        b'<TEXT TYPE="BRIEF">&#2;\n<TITLE>ONLY A TITLE</TITLE>\n</TEXT>\n</REUTERS>'
    )
    first, second = reuters.parse_sgml(sgml)
    assert first.newid == 7 and first.topics == ("acq", "earn") and first.lewissplit == "TEST"
    assert (
        first.title == "A <B> & C \u00fc" and first.body == "Profit rose  5 pct."
    )  # &#3; and &#127; are control codes: dropped
    assert second.topics == () and not second.has_topics and second.title == "ONLY A TITLE" and second.body == ""
    assert reuters.tokenize(first.text) == ["a", "b", "c", "profit", "rose", "5", "pct"]


def test_reuters_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected the folder with reut2-000.sgm"):
        reuters.read_corpus(tmp_path)
    (tmp_path / "reut2-000.sgm").write_text("nothing")
    with pytest.raises(FileNotFoundError):
        reuters.read_corpus(tmp_path)


def test_mnist_idx_reader(tmp_path):
    folder = require_data("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
    images, labels = mnist.load_test(folder / "mnist")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8 and images.max() == 255
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress((folder / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    np.testing.assert_array_equal(mnist.read_idx(plain), labels)
    plain.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="the header promises"):
        mnist.read_idx(plain)
    plain.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        mnist.read_idx(plain)
    assert not mnist.has_training_files(folder)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist.load_data(folder / "mnist")


def test_movie_reviews_split():
    folder = require_data("movie_reviews.zip")
    (train, y_train), (test, y_test) = movie_reviews.load_data(cache_dir=folder)
    assert (len(train), len(test)) == (1800, 200)
    assert np.bincount(y_train).tolist() == [900, 900] and np.bincount(y_test).tolist() == [100, 100]
    assert all(isinstance(t, str) and len(t) > 100 for t in test)


def test_tiny_shakespeare():
    folder = require_data("tinyshakespeare.txt")
    text = load_tiny_shakespeare(cache_dir=folder)
    assert len(text) == 1115394 and len(set(text)) == 65 and text.startswith("First Citizen:")
