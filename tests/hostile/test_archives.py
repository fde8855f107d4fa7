"""Hostile and damaged data archives: gzip, tar and zip bombs for each data set, SGML crafted to
make a careless parser quadratic, and truncated or corrupt archives. Each is refused with one
ValueError naming the file, in bounded time and memory; the real data still loads (tests in
test_text_datasets.py)."""

from __future__ import annotations

import gzip
import io
import re
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import require_data
from hostile.sandbox import assert_refused
from rnnlab.cli import main
from rnnlab.datasets import mnist, movie_reviews, reuters

MiB = 2**20
#: Every bomb inflates to 1 GiB: ten times the largest bound (MNIST's 94 MB), from about 1 MB.
BOMB_BYTES = 1024 * MiB
#: The crafted SGML must parse in this time at 7 KB of gzip and at 1 MB: linear, not quadratic.
PARSE_SECONDS = 2.0


def real(name: str) -> Path:
    """A file of the shared data (the test is skipped where it is missing)."""
    return require_data(name) / name


def gzip_bomb(prefix: bytes, size: int = BOMB_BYTES, fill: bytes = b"\0") -> bytes:
    """A gzip file (one member per MiB, as gzip allows) that inflates to ``prefix``, then ``size`` bytes of ``fill``."""
    chunk = gzip.compress(fill * MiB, compresslevel=9)  # about 1 KB
    return gzip.compress(prefix) + chunk * (size // MiB)


def reuters_folder(folder: Path, first: bytes, name: str = "reut2-000.sgm.gz") -> Path:
    """A folder of the 22 Reuters file names: ``first`` as the first file, the others empty."""
    folder.mkdir()
    (folder / name).write_bytes(first)
    for other in reuters.FILES[1:]:
        (folder / other).write_bytes(b"")
    return folder / name


# -- bombs -----------------------------------------------------------------------------------------
def test_a_reuters_sgml_bomb_is_refused(tmp_path, sandbox):
    file = reuters_folder(tmp_path / "reuters", gzip_bomb(b'<REUTERS NEWID="1">', fill=b" "))
    assert file.stat().st_size < 2 * MiB
    outcome = sandbox.call("read_reuters", file.parent)
    assert_refused(outcome, file, f"inflates to more than {reuters.MAX_SGML_BYTES:,} bytes, more than a Reuters")


def tar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(tarfile.GNU_FORMAT)


@pytest.mark.parametrize(
    "header, message",
    [
        (tar_header("README.txt", BOMB_BYTES), f"inflates to more than {reuters.MAX_ARCHIVE_BYTES:,} bytes"),
        (tar_header("././@LongLink", BOMB_BYTES, tarfile.GNUTYPE_LONGNAME), "inflates to more than"),
        (tar_header("reuters21578/reut2-000.sgm", BOMB_BYTES), "its reuters21578/reut2-000.sgm declares 1,073"),
    ],
    ids=["large-readme", "long-name", "large-sgml"],
)
def test_a_reuters_archive_bomb_is_refused(header, message, tmp_path, sandbox):
    file = tmp_path / "reuters21578.tar.gz"
    file.write_bytes(gzip_bomb(header))
    outcome = sandbox.call("read_reuters", file)
    assert_refused(outcome, file, message)


def idx_header(*shape: int) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape)


@pytest.mark.parametrize(
    "header, message",
    [
        (idx_header(10000, 28, 28), r"promises \(10000, 28, 28\) values \(7,840,000 bytes\), the file has more"),
        (
            idx_header(1_000_000, 28, 28),
            r"promises \(1000000, 28, 28\) values \(784,000,000 bytes\), more than the 94,080,032 bytes .* max_bytes=",
        ),
        (idx_header(2**32 - 1, 2**32 - 1, 2**32 - 1), r"\(4294967295, 4294967295, 4294967295\) values"),
    ],
    ids=["more-than-its-header", "header-beyond-bound", "header-of-2-to-the-96"],
)
def test_an_mnist_bomb_is_refused(header, message, tmp_path, sandbox):
    file = tmp_path / "t10k-images-idx3-ubyte.gz"
    file.write_bytes(gzip_bomb(header))
    outcome = sandbox.call("read_idx", file)
    assert_refused(outcome, file, message)


def movie_zip(file: Path, members: dict[str, int]) -> None:
    """A zip of ``members`` (name: bytes of zeros), deflated, written in chunks."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, size in members.items():
            with archive.open(name, "w", force_zip64=size > 2**31 - 2**20) as member:
                for start in range(0, size, MiB):
                    member.write(bytes(min(MiB, size - start)))


def test_a_movie_review_bomb_is_refused(tmp_path, sandbox):
    file = tmp_path / "movie_reviews.zip"
    movie_zip(file, {"movie_reviews/pos/cv000_1.txt": 8 * MiB, "movie_reviews/neg/cv000_2.txt": 64 * MiB})
    assert file.stat().st_size < MiB
    outcome = sandbox.call("read_reviews", file)
    assert_refused(outcome, file, "its files declare 75,497,472 bytes, more than the 15,581,142")
    movie_zip(file, {"movie_reviews/pos/cv000_1.txt": 8 * MiB})
    outcome = sandbox.call("read_reviews", file)
    assert_refused(outcome, file, "its movie_reviews/pos/cv000_1.txt declares 8,388,608 bytes, more than the 29,914")


def test_movie_reviews_that_add_up_beyond_the_archive_are_refused(tmp_path, sandbox):
    file = tmp_path / "movie_reviews.zip"
    movie_zip(file, {f"movie_reviews/pos/cv{i:03d}_{i}.txt": 29_000 for i in range(600)})
    outcome = sandbox.call("read_reviews", file)
    assert_refused(outcome, file, "its files declare 17,400,000 bytes, more than the 15,581,142")


def test_a_zip_of_many_files_is_refused(tmp_path, sandbox):
    file = tmp_path / "movie_reviews.zip"
    with zipfile.ZipFile(file, "w") as archive:
        for i in range(5000):
            archive.writestr(f"movie_reviews/neg/cv{i % 1000:03d}_{i}.txt", b"")
    outcome = sandbox.call("read_reviews", file)
    assert_refused(outcome, file, "holds 5,000 files, more than the 4,008 the movie reviews can need")


def test_a_review_that_inflates_beyond_its_declared_size_is_damaged(tmp_path, sandbox):
    """The sizes in the zip's directory lie (1,000 bytes); inflating stops there and the CRC fails."""
    file = tmp_path / "movie_reviews.zip"
    movie_zip(file, {"movie_reviews/pos/cv000_1.txt": 64 * MiB})
    data = file.read_bytes()
    true_size = struct.pack("<I", 64 * MiB)
    assert data.count(true_size) == 2  # the local header and the central directory
    file.write_bytes(data.replace(true_size, struct.pack("<I", 1000)))
    outcome = sandbox.call("read_reviews", file)
    assert_refused(outcome, file, r"is damaged .*\(BadZipFile: Bad CRC-32 for file 'movie_reviews/pos/cv000_1.txt'\)")


# -- the parser is linear --------------------------------------------------------------------------
def element(content: str) -> str:
    return f'<REUTERS NEWID="1">{content}</REUTERS>'


#: Inputs that cost a parser built on lazy ``.*?`` searches and a backtracking ``\w+`` quadratic
#: time, each about ``n`` characters; those that leave an element open come last.
CRAFTED = {
    "one-long-attribute-name": lambda n: '<REUTERS NEWID="1" ' + "a" * n + ">x</REUTERS>",
    "unclosed-titles": lambda n: element("<TEXT>" + "<TITLE>" * (n // 7) + "</TEXT>"),
    "title-tags-without-end": lambda n: element("<TEXT>" + "<TITLE " * (n // 7) + "</TEXT>"),
    "unclosed-topics": lambda n: element("<TOPICS>" + "<D>" * (n // 3) + "</TOPICS>"),
    "unclosed-datelines": lambda n: element("<TEXT>" + "<DATELINE>" * (n // 10) + "</TEXT>"),
    "brackets-in-the-body": lambda n: element("<TEXT><BODY>" + "<" * n + "</BODY></TEXT>"),
    "brackets-in-the-text": lambda n: element("<TEXT>" + "< a" * (n // 3) + "</TEXT>"),
    "entities": lambda n: element("<TEXT><BODY>" + "&amp;&#3;" * (n // 18) + "&#" + "1" * (n // 2) + "</BODY></TEXT>"),
    "other-tags": lambda n: "<REUTERSX" * (n // 9) + element(""),
    "openings-without-end": lambda n: "<REUTERS " * (n // 9),
    "elements-without-close": lambda n: "<REUTERS>" * (n // 9),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_sgml_of_a_megabyte_parses_in_linear_time(case, tmp_path, sandbox):
    file = tmp_path / "reut2-000.sgm"
    file.write_text(CRAFTED[case](MiB), "latin-1")
    outcome = sandbox.call("parse_sgml", file)
    assert outcome.error is None, outcome.message
    assert outcome.seconds < PARSE_SECONDS, f"{outcome.seconds:.2f} s for {file.stat().st_size:,} bytes"


def test_a_7_kb_crafted_sgml_gz_is_rejected_in_linear_time(tmp_path, sandbox):
    """All the crafted inputs in one file, as large as an SGML file may be, in 7 KB of gzip."""
    share = reuters.MAX_SGML_BYTES // len(CRAFTED) - 100
    text = "".join(craft(share) for craft in CRAFTED.values())
    file = reuters_folder(tmp_path / "reuters", gzip.compress(text.encode("latin-1"), compresslevel=9))
    assert 5_000 < file.stat().st_size < 8_000 and len(text) > 3 * 10**6
    outcome = sandbox.call("read_reuters", file.parent)
    assert_refused(outcome, file, "found 9 documents, expected the 1,000 of Reuters-21578's reut2-000.sgm")
    assert outcome.seconds < PARSE_SECONDS, f"{outcome.seconds:.2f} s"


# -- damaged archives ------------------------------------------------------------------------------
def truncated(source: Path) -> bytes:
    data = source.read_bytes()
    return data[: len(data) // 2]


def bad_crc(source: Path) -> bytes:
    """The file re-compressed with its stored CRC-32 (the 8 bytes before the size) changed."""
    data = bytearray(gzip.compress(gzip.decompress(source.read_bytes()), compresslevel=1))
    data[-8] ^= 0xFF
    return bytes(data)


GZIP_DAMAGE = {
    "truncated": (truncated, "EOFError: Compressed file ended before the end-of-stream marker was reached"),
    "bad-crc": (bad_crc, r"BadGzipFile: CRC check failed 0x[0-9a-f]+ != 0x[0-9a-f]+"),
    "corrupt": (
        lambda source: source.read_bytes()[:1000] + bytes(100) + source.read_bytes()[1100:],
        "zlib.error: Error -3 while decompressing data: .*",
    ),
}


def one_line(message: str) -> str:
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("damage", sorted(GZIP_DAMAGE))
def test_a_damaged_reuters_file_is_one_line(damage, tmp_path, sandbox):
    spoil, reason = GZIP_DAMAGE[damage]
    file = reuters_folder(tmp_path / "reuters", spoil(real("reuters21578/reut2-000.sgm.gz")))
    outcome = sandbox.call("read_reuters", file.parent)
    assert_refused(outcome, file, "")
    expected = (
        f"{re.escape(str(file))} is damaged or not a Reuters-21578 SGML file \\({reason}\\). "
        f"Replace it with a good copy from {re.escape(reuters.ARCHIVE.url)}\\."
    )
    assert re.fullmatch(expected, one_line(outcome.message)), outcome.message


def test_a_reuters_file_of_other_content_is_one_line(tmp_path, sandbox):
    file = reuters_folder(tmp_path / "reuters", gzip.compress(b"<html>Not found</html>"))
    outcome = sandbox.call("read_reuters", file.parent)
    assert_refused(outcome, file, "")
    assert one_line(outcome.message) == (
        f"{file}: found 0 documents, expected the 1,000 of Reuters-21578's reut2-000.sgm; the file is damaged or "
        f"not from Reuters-21578. Use the files from {reuters.ARCHIVE.url}."
    )


def test_a_reuters_file_without_newid_is_one_line(tmp_path, sandbox):
    file = reuters_folder(tmp_path / "reuters", b'<REUTERS NEWID="x1">a</REUTERS>', "reut2-000.sgm")
    outcome = sandbox.call("read_reuters", file.parent)
    assert_refused(outcome, file, "")
    assert one_line(outcome.message) == (
        f"{file}: a <REUTERS> element has NEWID='x1', expected a number; it is not a Reuters-21578 SGML file."
    )


def small_reuters_archive() -> bytes:
    """A tar.gz of the 22 SGML files holding the 21,578 documents, each with nothing but its NEWID."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for i, name in enumerate(reuters.FILES):
            ids = range(1000 * i + 1, min(1000 * (i + 1), reuters.DOCUMENTS) + 1)
            sgml = "".join(f'<REUTERS NEWID="{n}">\n<TEXT>wire {n}</TEXT>\n</REUTERS>\n' for n in ids).encode()
            info = tarfile.TarInfo(f"reuters21578/{name}")
            info.size = len(sgml)
            archive.addfile(info, io.BytesIO(sgml))
    return buffer.getvalue()


def test_a_reuters_archive_is_read_as_a_stream_and_its_damage_is_one_line(tmp_path, sandbox):
    file = tmp_path / "reuters21578.tar.gz"
    archive = small_reuters_archive()
    file.write_bytes(archive)
    documents = reuters.read_corpus(file)
    assert [d.newid for d in documents] == list(range(1, 21579)) and documents[-1].body == "wire 21578"
    file.write_bytes(archive[: len(archive) // 2])
    outcome = sandbox.call("read_reuters", file)
    assert_refused(outcome, file, "")
    assert one_line(outcome.message) == (
        f"{file} is damaged or not the Reuters-21578 archive (EOFError: Compressed file ended before the "
        f"end-of-stream marker was reached). Replace it with a good copy from {reuters.ARCHIVE.url}."
    )


@pytest.mark.parametrize("damage", sorted(GZIP_DAMAGE))
def test_a_damaged_mnist_file_is_one_line(damage, tmp_path, sandbox):
    spoil, reason = GZIP_DAMAGE[damage]
    file = tmp_path / "t10k-images-idx3-ubyte.gz"
    file.write_bytes(spoil(real("mnist/t10k-images-idx3-ubyte.gz")))
    outcome = sandbox.call("read_idx", file)
    assert_refused(outcome, file, "")
    expected = f"{re.escape(str(file))} is damaged or not an IDX file \\({reason}\\). Replace it with a good copy\\."
    assert re.fullmatch(expected, one_line(outcome.message)), outcome.message


def zip_with_bad_crc(source: Path) -> bytes:
    """The movie reviews with the CRC-32 recorded for their first review changed."""
    data = source.read_bytes()
    with zipfile.ZipFile(source) as archive:
        first = next(info for info in archive.infolist() if info.filename.endswith(".txt"))
    crc = struct.pack("<I", first.CRC)
    assert data.count(crc) == 2, first.filename  # the local header and the central directory
    return data.replace(crc, struct.pack("<I", first.CRC ^ 1))


ZIP_DAMAGE = {
    "truncated": (truncated, "BadZipFile: File is not a zip file"),
    "bad-crc": (zip_with_bad_crc, "BadZipFile: Bad CRC-32 for file 'movie_reviews/neg/cv000_29416.txt'"),
    "not-a-zip": (lambda source: b"<html>Not found</html>", "BadZipFile: File is not a zip file"),
}


@pytest.mark.parametrize("damage", sorted(ZIP_DAMAGE))
def test_a_damaged_movie_reviews_archive_is_one_line(damage, tmp_path, sandbox):
    spoil, reason = ZIP_DAMAGE[damage]
    file = tmp_path / "movie_reviews.zip"
    file.write_bytes(spoil(real("movie_reviews.zip")))
    outcome = sandbox.call("read_reviews", file)
    assert_refused(outcome, file, "")
    assert one_line(outcome.message) == (
        f"{file} is damaged or not a zip archive of the movie reviews ({reason}). "
        f"Replace it with a good copy from {movie_reviews.MOVIE_REVIEWS.url}."
    )


def test_the_command_says_a_damaged_archive_in_one_line(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "movie_reviews.zip").write_bytes(truncated(real("movie_reviews.zip")))
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    assert main(["classify", "--dataset", "movie_reviews", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"rnnlab classify: error: {data / 'movie_reviews.zip'} is damaged or not a zip archive of the movie "
        f"reviews (BadZipFile: File is not a zip file). Replace it with a good copy from "
        f"{movie_reviews.MOVIE_REVIEWS.url}.\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_the_bounds_have_their_margin_over_the_real_files():
    """The bounds have their margin over the real files (measured in ../shared/data)."""
    for name in ("reut2-017.sgm.gz", "reut2-000.sgm.gz"):
        size = len(gzip.decompress(real(f"reuters21578/{name}").read_bytes()))
        assert size * 2 <= reuters.MAX_SGML_BYTES
    images = real("mnist/t10k-images-idx3-ubyte.gz")
    assert len(gzip.decompress(images.read_bytes())) == 16 + 10_000 * 28 * 28
    assert 2 * (16 + 60_000 * 28 * 28) <= mnist.MAX_IDX_BYTES  # the training images, not in the shared data
    with zipfile.ZipFile(real("movie_reviews.zip")) as archive:
        sizes = [info.file_size for info in archive.infolist()]
    assert 2 * max(sizes) <= movie_reviews.MAX_REVIEW_BYTES and 2 * sum(sizes) <= movie_reviews.MAX_ARCHIVE_BYTES
    assert 2 * len(sizes) <= movie_reviews.MAX_MEMBERS
