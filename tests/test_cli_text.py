"""`rnnlab charrnn train|sample` and `rnnlab classify` end to end on tiny settings, their files and errors."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
import torch

from conftest import require_data
from rnnlab import Sequential
from rnnlab.cli import main, parser
from rnnlab.tasks import charrnn
from rnnlab.text import load_char_model, stream_loss

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" * 12
TINY = ["--units", "16", "--embedding-dim", "8", "--seq-length", "20", "--batch-size", "8", "--sample-length", "20"]


def run_cli(args, capsys):
    code = main([*args, "--threads", "1"]) if len(args) > 1 else main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "play.txt"
    path.write_text(TEXT)
    return path


def test_help_shows_the_new_commands():
    text = parser().format_help()
    assert "classify" in text and "charrnn" in text
    train = parser().parse_args(["charrnn", "train", "--dataset", "shakespeare"])
    assert (train.experiment, train.command, train.threads, train.seq_length) == ("charrnn", "train", 2, 100)
    sample = parser().parse_args(["charrnn", "sample", "--model", "x"])
    assert sample.threads == 1 and not hasattr(sample, "out")


def test_charrnn_train_then_sample(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(
        ["charrnn", "train", "--text", str(text_file), "--epochs", "2", *TINY, "--out", str(out)], capsys
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "history.csv",
        "loss.png",
        "metrics.json",
        "model.safetensors",
        "report.html",
        "sample.txt",
        "vocabulary.json",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["table"] in stdout and f"Run directory: {out}" in stdout
    assert "epoch 2: loss" in stdout and "nats/char" in stdout
    row = metrics["results"][0]
    assert (
        row["epochs"] == 2 and row["params"] > 0 and row["val_bits"] == pytest.approx(row["val_nats"] / 0.693147, 1e-5)
    )
    assert metrics["vocabulary_size"] == len(set(TEXT))
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and {"loss", "val_loss", "val_bpc", "seconds"} <= set(rows[0])
    val = [float(r["val_loss"]) for r in rows]
    assert row["kept_epoch"] == 1 + val.index(min(val)) and row["val_nats"] == pytest.approx(min(val), 1e-6)
    model, vocab = load_char_model(out)
    assert vocab.chars == "".join(sorted(set(TEXT))) and model.count_params() == row["params"]
    held_out = vocab.encode(TEXT)[metrics["train_chars"] :]
    assert row["val_nats_carried"] == pytest.approx(stream_loss(model, held_out, 20, 8), rel=1e-5)

    args = ["charrnn", "sample", "--model", str(out), "--prime", "ROMEO:", "--length", "50", "--seed", "3"]
    code, first, _ = run_cli(args, capsys)
    assert code == 0 and first.startswith("ROMEO:") and len(first) == len("ROMEO:") + 50 + 1
    assert run_cli(args, capsys)[1] == first  # same seed, same text
    code, _, err = run_cli([*args[:-2], "--prime", "ROMEO: Zounds!"], capsys)
    assert code == 2 and "characters the model does not know: 'Z', '!'" in err
    long_prime = ["--prime", TEXT[:300]]  # longer than --seq-length: fine, the state carries it
    assert run_cli([*args[:4], *long_prime, "--length", "5"], capsys)[0] == 0
    code, _, err = run_cli(["charrnn", "sample", "--model", str(tmp_path)], capsys)
    assert code == 2 and "is not a character model" in err and "vocabulary.json" in err


def test_charrnn_resume_continues_an_interrupted_run(tmp_path, text_file, capsys, monkeypatch):
    args = ["charrnn", "train", "--text", str(text_file), "--epochs", "3", *TINY, "--quiet"]
    whole = tmp_path / "whole"
    assert run_cli([*args, "--out", str(whole)], capsys)[0] == 0

    original = charrnn.CharLog.on_epoch_end

    def stop_in_epoch_two(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(charrnn.CharLog, "on_epoch_end", stop_in_epoch_two)
    out = tmp_path / "run"
    assert run_cli([*args, "--out", str(out)], capsys)[0] == 130
    kept = tmp_path / "run.incomplete"
    assert not out.exists() and (kept / "backup" / "backup.safetensors").is_file()
    monkeypatch.setattr(charrnn.CharLog, "on_epoch_end", original)
    # As a SIGKILL would leave it: the hidden partial folder, owned by a process that is gone.
    killed = tmp_path / ".run.partial"
    kept.rename(killed)
    (killed / "status.json").unlink()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (killed / ".owner.json").write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname()}))
    saved = json.loads((killed / "config.json").read_text())
    del saved["options"]["patience"]  # a run begun before the option existed resumes with its default
    (killed / "config.json").write_text(json.dumps(saved))
    code, _, err = run_cli([*args, "--out", str(out), "--resume", "--learning-rate", "0.1"], capsys)
    assert code == 2 and "cannot resume: --learning-rate was 0.002, now 0.1." in err
    code, stdout, _ = run_cli([*args, "--out", str(out), "--resume"], capsys)
    assert code == 0 and not kept.exists() and not killed.exists() and not (out / "backup").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())  # no stale status.json
    with open(out / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3"]
    resumed, _ = load_char_model(out)
    reference, _ = load_char_model(whole)
    for a, b in zip(resumed.state_dict().values(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # as if never interrupted
    code, _, err = run_cli([*args, "--out", str(tmp_path / "never"), "--resume"], capsys)
    assert code == 2 and "Nothing to resume" in err


def test_charrnn_stops_when_validation_worsens_and_keeps_the_best_weights(tmp_path, capsys):
    # Trained on one line, validated on another: the validation loss rises after the first epoch.
    text = tmp_path / "two.txt"
    text.write_text(
        "To be, or not to be, that is the question:\n" * 40 + "Whether tis nobler in the mind to suffer\n" * 5
    )
    args = ["charrnn", "train", "--text", str(text), "--epochs", "6", *TINY, "--learning-rate", "0.02", "--quiet"]
    code, _, _ = run_cli([*args, "--patience", "2", "--out", str(tmp_path / "run")], capsys)
    row = json.loads((tmp_path / "run" / "metrics.json").read_text())["results"][0]
    with open(tmp_path / "run" / "history.csv") as f:
        val = [float(r["val_loss"]) for r in csv.DictReader(f)]
    assert code == 0 and row["epochs"] == len(val) == 3 and row["kept_epoch"] == 1 and val[0] < min(val[1:])
    model, vocab = load_char_model(tmp_path / "run")  # the file holds the first epoch's weights
    held_out = vocab.encode(text.read_text())[
        json.loads((tmp_path / "run" / "metrics.json").read_text())["train_chars"] :
    ]
    count = (len(held_out) - 1) // 20  # validation: non-overlapping 20-character sequences from zero states
    assert stream_loss(model, held_out[: 20 * count + 1], 20, streams=count) == pytest.approx(val[0], rel=1e-5)
    assert stream_loss(model, held_out, 20, 8) == pytest.approx(row["val_nats_carried"], rel=1e-5)
    code, _, _ = run_cli([*args, "--patience", "0", "--out", str(tmp_path / "all")], capsys)
    row = json.loads((tmp_path / "all" / "metrics.json").read_text())["results"][0]
    assert code == 0 and row["epochs"] == row["kept_epoch"] == 6


def test_charrnn_validates_a_text_shorter_than_a_batch_of_parts(tmp_path, capsys):
    text = tmp_path / "short.txt"
    text.write_text("To be, or not to be, that is the question:\n" * 8)  # 344 characters: 34 held out
    args = ["charrnn", "train", "--text", str(text), "--epochs", "1", *TINY, "--batch-size", "64", "--quiet"]
    assert run_cli([*args, "--out", str(tmp_path / "run")], capsys)[0] == 0
    row = json.loads((tmp_path / "run" / "metrics.json").read_text())["results"][0]
    assert 0 < row["val_nats_carried"] < 5  # 33 parts of one character each


def test_charrnn_bad_input_writes_nothing(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    out = tmp_path / "run"
    for args, message in [
        (["--text", str(empty)], "is empty: there are no characters to learn"),
        (["--text", str(tmp_path / "missing.txt")], "No text file at"),
        ([], "one of the arguments --text --dataset is required"),
        (["--text", str(empty), "--seq-length", "0"], "--seq-length must be at least 1"),
        (["--text", str(empty), "--patience", "-1"], "--patience must be at least 0, received -1"),
    ]:
        code, _, err = run_cli(["charrnn", "train", *args, "--out", str(out)], capsys)
        assert code == 2 and message in err, err
    short = tmp_path / "short.txt"
    short.write_text("abcdefghij" * 3)
    code, _, err = run_cli(["charrnn", "train", "--text", str(short), "--out", str(out)], capsys)
    assert code == 2 and "fewer than --seq-length + 1" in err
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    code, _, err = run_cli(["charrnn", "train", "--dataset", "shakespeare", "--out", str(out)], capsys)
    assert code == 2 and "put it in" in err and "tinyshakespeare.txt" in err
    code, _, err = run_cli(["classify", "--dataset", "r8", "--out", str(out)], capsys)
    assert code == 2 and "reuters21578.tar.gz" in err and "put it in" in err
    assert not out.exists() and list(tmp_path.glob(".run*")) == []
    with pytest.raises(SystemExit):
        parser().parse_args(["classify", "--dataset", "imdb"])


CLASSIFY_TINY = ["--epochs", "1", "--units", "8", "--embedding-dim", "8", "--quiet"]


@pytest.mark.parametrize(
    "dataset, extra, needs, counts",
    [
        ("reuters", ["--maxlen", "30"], "reuters21578/reut2-000.sgm.gz", (46, 8982, 2246)),
        ("r8", ["--maxlen", "30", "--num-words", "2000"], "reuters21578/reut2-000.sgm.gz", (8, 5485, 2189)),
        (
            "movie_reviews",
            ["--maxlen", "30", "--bidirectional", "--clipnorm", "1.0"],
            "movie_reviews.zip",
            (2, 1800, 200),
        ),
        ("mnist-rows", [], "mnist/t10k-images-idx3-ubyte.gz", (10, 8000, 2000)),
    ],
)
def test_classify_end_to_end(tmp_path, capsys, monkeypatch, dataset, extra, needs, counts):
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data(needs)))
    compiled = []
    compile_model = Sequential.compile
    monkeypatch.setattr(
        Sequential, "compile", lambda self, *a, **kw: compiled.append(kw) or compile_model(self, *a, **kw)
    )
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["classify", "--dataset", dataset, *CLASSIFY_TINY, *extra, "--out", str(out)], capsys)
    assert code == 0
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "history.csv", "metrics.json", "curves.png", "model.safetensors", "report.html"} <= files
    assert ("confusion.png" in files) == (counts[0] <= 20)
    metrics = json.loads((out / "metrics.json").read_text())
    row = metrics["results"][0]
    assert (row["classes"], row["train"], row["test"]) == counts
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["clipnorm"] == (1.0 if "--clipnorm" in extra else None)
    clipped = "--clipnorm" in extra or dataset == "r8"  # the r8 preset clips at 1.0
    assert config["resolved"]["clipnorm"] == compiled[0]["clipnorm"] == (1.0 if clipped else None)
    matrix = np.array(metrics["confusion"])  # rows: true class, columns: predicted
    assert matrix.sum() == counts[2] and row["epochs"] == 1
    assert row["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    precision = np.diag(matrix) / np.maximum(matrix.sum(axis=0), 1)
    recall = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    assert row["macro_f1"] == pytest.approx(f1.mean())
    assert metrics["table"] in stdout and f"{row['accuracy']:.4f}" in metrics["table"]
    assert sum(map(sum, metrics["confusion"])) == counts[2]
    # The report: per-class scores from the test predictions, the most confused pairs, example predictions.
    per_class = metrics["per_class"]
    assert [r["class"] for r in per_class] == metrics["class_names"] and sum(r["support"] for r in per_class) == counts[
        2
    ]
    assert [r["support"] for r in per_class] == matrix.sum(axis=1).tolist()
    assert [r["recall"] for r in per_class] == pytest.approx(recall.tolist())
    pairs = metrics["confused_pairs"]
    assert len(pairs) <= 10 and [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)
    report = (out / "report.html").read_text()
    for heading in ("Per class (test set)", "Most confused pairs (test set)", "Test samples, right and wrong"):
        assert heading in report
    assert f"of {counts[2]:,} test samples are classified right" in report.split('id="results"')[0]
    examples = report.split('id="examples"')[1].split("</section>")[0]
    assert examples.count("<tr>") == 1 + min(4, np.trace(matrix)) + min(4, counts[2] - np.trace(matrix))
    assert ("test image" in examples) == (dataset == "mnist-rows")
    if dataset == "mnist-rows":
        assert "first 8,000 train" in metrics["notes"][0] and "note:" in stdout


def test_classify_bad_options(tmp_path, capsys):
    missing = tmp_path / "none.txt"
    for args, message in [
        (["--dataset", "reuters", "--maxlen", "0"], "--maxlen must be at least 1"),
        (["--dataset", "reuters", "--num-words", "2"], "--num-words must be at least 3"),
        (["--dataset", "r8", "--min-count", "0"], "--min-count must be at least 1"),
        (
            ["--dataset", "r8", "--clipnorm", "-1"],
            "--clipnorm must be a norm such as 1.0, or 0 for none; received -1.0.",
        ),
        (["--dataset", "reuters", "--min-count", "5"], "--min-count and --stop-words choose the words of r8, r52"),
        (["--dataset", "r8", "--stop-words", str(missing)], f"--stop-words {missing}: cannot read it"),
        ([], "the following arguments are required: --dataset"),
    ]:
        code, _, err = run_cli(["classify", *args, "--out", str(tmp_path / "run")], capsys)
        assert code == 2 and message in err
    assert not (tmp_path / "run").exists()


def test_macro_f1_and_confusion():
    import numpy as np

    from rnnlab.tasks.classify import confusion, macro_f1

    y_true, y_pred = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 2, fp 1, fn 0 -> 0.8; class 2: 0
    assert macro_f1(y_true, y_pred, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert confusion(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_classify_words_read_a_wire_as_the_keras_reuters_ids(monkeypatch):
    """The word list a reuters run keeps (words.json) gives each wire the ids reuters.load_data gives it."""
    from rnnlab.datasets import reuters
    from rnnlab.tasks.classify import keras_reuters_words

    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("reuters21578/reut2-000.sgm.gz")))
    (x_train, _), _ = reuters.load_data(num_words=1000, test_split=0.2)
    documents, _ = reuters.keras_documents(reuters.read_corpus())
    order = np.arange(len(documents))
    np.random.RandomState(113).shuffle(order)  # load_data's shuffle
    words = keras_reuters_words(1000)
    for i in range(20):
        assert words.ids(documents[order[i]].text) == list(x_train[i])
    assert words.labels([0, 1, 2, 4]) == ["<pad>", "<start>", "<unknown>", words.words[0]]


def test_classify_words_drop_rare_and_stop_words_as_the_text_gcn_cleaning(tmp_path):
    """With --min-count or --stop-words, the words left out are dropped from every text, test texts
    and texts read later (words.json) included; without them they read as the unknown id."""
    from rnnlab.tasks.classify import Words, read_stop_words, word_ids

    train = ["the oil price rose", "the oil price fell", "The wheat crop", "oil and wheat"]
    test = ["the price of oil and corn"]
    ids_train, ids_test, words = word_ids(train, test, num_words=100)
    assert words.words[:2] == ("the", "oil") and not words.drop_unknown
    assert "drop_unknown" not in json.loads(words.to_json())  # a file older rnnlab versions read
    assert words.labels(ids_test[0]) == ["the", "price", "<unknown>", "oil", "and", "<unknown>"]
    stop = tmp_path / "stop.txt"
    stop.write_text("The\nand\n\n", encoding="utf-8")
    assert read_stop_words(str(stop)) == {"the", "and"}
    stop_words = read_stop_words(str(stop))
    ids_train, ids_test, words = word_ids(train, test, num_words=100, min_count=2, stop_words=stop_words)
    assert words.words == ("oil", "price", "wheat") and words.drop_unknown
    assert [words.labels(ids) for ids in ids_train] == [["oil", "price"], ["oil", "price"], ["wheat"], ["oil", "wheat"]]
    assert words.labels(ids_test[0]) == ["price", "oil"]
    again = Words.from_json(words.to_json())
    assert again == words and again.ids("Corn, wheat and THE oil") == words.ids("wheat oil")
    older = json.loads(words.to_json())
    del older["drop_unknown"]  # a words.json written before the option reads as before
    assert not Words.from_json(json.dumps(older)).drop_unknown
