"""rnnlab gradients and rnnlab inspect end to end on tiny settings: files, numbers, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from rnnlab import load_model
from rnnlab.cli import main, parser
from rnnlab.core.layer import reset_names
from rnnlab.datasets import multiplication_problem
from rnnlab.diagnostics import gradient_flow

TINY = ["--length", "15", "--samples", "200", "--train-samples", "150", "--probe", "32", "--quiet"]


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def embedded_images(page):
    return page.count('src="data:image/png;base64,')


@pytest.fixture(scope="module")
def gradients_run(tmp_path_factory):
    reset_names()  # a module fixture runs before the per-test reset: the layer names below assume fresh ones
    out = tmp_path_factory.mktemp("g") / "run"
    assert main(["gradients", "--cells", "simple_rnn,lstm", "--epochs", "1", *TINY, "--out", str(out)]) == 0
    return out


def test_gradients_command_writes_the_flow_its_table_and_report(gradients_run):
    out = gradients_run
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "gradients.csv",
        "gradients.png",
        "history-lstm.csv",
        "history-simple_rnn.csv",
        "loss.png",
        "metrics.json",
        "model-lstm.safetensors",
        "model-simple_rnn.safetensors",
        "report.html",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {(r["model"], r["stage"]): r for r in metrics["results"]}
    assert list(rows) == [
        ("SimpleRNN", "at initialisation"),
        ("LSTM", "at initialisation"),
        ("SimpleRNN", "after 1 epoch"),
        ("LSTM", "after 1 epoch"),
    ]
    with open(out / "gradients.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 15
    for (model, stage), row in rows.items():
        first, last = float(table[0][f"{model} {stage} x_t"]), float(table[-1][f"{model} {stage} x_t"])
        assert row["ratio"] == pytest.approx(first / last, rel=1e-5)
    # The trained model's numbers are rnnlab.diagnostics.gradient_flow on the probe sequences.
    x, y = multiplication_problem(200, 15, rng=0)
    flow = gradient_flow(load_model(out / "model-lstm.safetensors"), x[150:182], y[150:182])
    np.testing.assert_allclose([float(r["LSTM after 1 epoch x_t"]) for r in table], flow, rtol=1e-5)
    page = (out / "report.html").read_text()
    assert embedded_images(page) == 2 and metrics["table"].splitlines()[2].split()[0] in page
    assert f"{rows[('LSTM', 'after 1 epoch')]['ratio']:.1e}" in page


def test_gradients_of_saved_models_match_their_training_run(gradients_run, tmp_path, capsys):
    args = ["gradients", "--model", str(gradients_run), "--probe", "32", "--out", str(tmp_path / "s")]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and "saved model" in stdout
    saved = {r["model"]: r for r in json.loads((tmp_path / "s" / "metrics.json").read_text())["results"]}
    trained = {
        r["model"]: r
        for r in json.loads((gradients_run / "metrics.json").read_text())["results"]
        if r["stage"] == "after 1 epoch"
    }
    assert list(saved) == ["LSTM", "SimpleRNN"]
    for model in saved:  # the same models on the same probe sequences (the run's own test data)
        assert saved[model]["ratio"] == pytest.approx(trained[model]["ratio"], rel=1e-5)


def test_inspect_draws_gates_lists_weights_and_traces_what_the_model_computes(gradients_run, tmp_path, capsys):
    out = tmp_path / "i"
    code, stdout, _ = run_cli(["inspect", "--model", str(gradients_run), "--cells", "lstm", "--out", str(out)], capsys)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "gates-LSTM.png",
        "report.html",
        "trace-LSTM.npz",
        "weights.txt",
    ]
    for name, shape in (("lstm/lstm_cell/kernel", "(2, 120)"), ("lstm_1/lstm_cell/recurrent_kernel", "(30, 120)")):
        line = next(line for line in stdout.splitlines() if line.startswith(name + " "))
        assert shape in line
    assert (out / "weights.txt").read_text().strip() in stdout
    # The default input is test sequence 0 of the run; the trace's last hidden state, through the
    # Dense layer, is the model's prediction.
    x, _ = multiplication_problem(200, 15, rng=0)
    model = load_model(gradients_run / "model-lstm.safetensors")
    traced = np.load(out / "trace-LSTM.npz")
    assert traced["lstm/f"].shape == (15, 30) and sorted(traced) == sorted(
        f"{layer}/{name}" for layer in ("lstm", "lstm_1") for name in ("i", "f", "c_tilde", "o", "c", "h")
    )
    kernel, bias = model.layers[2].get_weights()
    np.testing.assert_allclose(traced["lstm_1/h"][-1] @ kernel + bias, model.predict(x[150:151])[0], rtol=1e-4)
    page = (out / "report.html").read_text()
    assert embedded_images(page) == 1 and "lstm_1/lstm_cell/recurrent_kernel" in page


def test_inspect_an_input_file_writes_beside_the_model(gradients_run, tmp_path, capsys):
    sequence = np.zeros((10, 2), "float32")
    sequence[[2, 7], 0] = 1.0
    sequence[:, 1] = np.linspace(0, 1, 10)
    np.save(tmp_path / "x.npy", sequence)
    before = set(gradients_run.iterdir())
    code, _, _ = run_cli(
        ["inspect", "--model", str(gradients_run / "model-simple_rnn.safetensors"), "--input", str(tmp_path / "x.npy")],
        capsys,
    )
    assert code == 0
    (new,) = set(gradients_run.iterdir()) - before
    assert new.name.startswith("inspect-") and (new / "gates-SimpleRNN.png").is_file()
    traced = np.load(new / "trace-SimpleRNN.npz")
    model = load_model(gradients_run / "model-simple_rnn.safetensors")
    with torch.no_grad():
        first_layer = model.layers[0](torch.as_tensor(sequence[None]))[0].numpy()
    np.testing.assert_allclose(traced["simple_rnn/h"], first_layer, atol=1e-6)
    for child in new.iterdir():  # leave the shared run directory as the other tests expect it
        child.unlink()
    new.rmdir()


def test_inspect_a_sequence_run_uses_its_window(tmp_path, capsys):
    assert main(["sequence", "--epochs", "2", "--quiet", "--out", str(tmp_path / "s")]) == 0
    code, stdout, _ = run_cli(["inspect", "--model", str(tmp_path / "s"), "--out", str(tmp_path / "i")], capsys)
    assert code == 0 and "simple_rnn/simple_rnn_cell/kernel" in stdout
    traced = np.load(tmp_path / "i" / "trace-model.npz")
    assert traced["lstm/i"].shape == (3, 64) and traced["simple_rnn/h"].shape == (3, 64)


def test_inspect_a_token_id_model_given_its_input(tmp_path, capsys):
    from rnnlab import Sequential
    from rnnlab.layers import GRU, Dense, Embedding

    model = Sequential([Embedding(20, 4, input_shape=(None,)), GRU(5), Dense(2)])
    model.save(str(tmp_path / "m.safetensors"))
    args = [
        "inspect",
        "--model",
        str(tmp_path / "m.safetensors"),
        "--input",
        "3,4,5",
        "7",
        "--out",
        str(tmp_path / "i"),
    ]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and "embedding/embeddings" in stdout
    assert np.load(tmp_path / "i" / "trace-m.npz")["gru/z"].shape == (4, 5)


@pytest.mark.parametrize(
    "args,message",
    [
        (["inspect"], "the following arguments are required: --model"),
        (["inspect", "--model", "nowhere"], "No model file or run directory at nowhere"),
        (["inspect", "--model", "RUN", "--input", "1", "2", "3"], "The model reads 2 features per step"),
        (["inspect", "--model", "RUN", "--sample", "99"], "--sample must lie in 0..49"),
        (["gradients", "--model", "RUN", "--cells", "gru"], "No model file for --cells gru"),
        (["gradients", "--probe", "0"], "--probe must be positive"),
    ],
)
def test_bad_input_is_a_clear_error(args, message, gradients_run, tmp_path, capsys):
    args = [str(gradients_run) if a == "RUN" else a for a in args]
    code, _, err = run_cli([*args, "--quiet", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()


def test_list_options_take_spaces_or_commas(capsys):
    args = parser().parse_args(["multiplication", "--cells", "simple_rnn,lstm", "gru"])
    assert args.cells == ["simple_rnn", "lstm", "gru"]
    assert parser().parse_args(["sequence", "--predict", "50,60", "70"]).predict == [50.0, 60.0, 70.0]
    with pytest.raises(SystemExit):
        parser().parse_args(["multiplication", "--cells", "lstm,transformer"])
    assert "invalid choice: 'transformer'" in capsys.readouterr().err


def test_gradients_at_initialisation_only(tmp_path):
    """--epochs 0, as its help offers: one measurement, at initialisation."""
    out = tmp_path / "run"
    assert main(["gradients", "--cells", "gru", "--epochs", "0", *TINY, "--out", str(out)]) == 0
    with open(out / "gradients.csv") as f:
        header = next(csv.reader(f))
    assert any(h.startswith("GRU at initialisation") for h in header) and not any("after" in h for h in header)


CHAR_TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n" * 12
CHAR_TINY = ["--units", "6", "--layers", "1", "--embedding-dim", "4", "--seq-length", "20", "--batch-size", "4"]


@pytest.fixture(scope="module")
def charrnn_run(tmp_path_factory):
    reset_names()
    folder = tmp_path_factory.mktemp("c")
    (folder / "play.txt").write_text(CHAR_TEXT)
    args = ["charrnn", "train", "--text", str(folder / "play.txt"), "--epochs", "1", *CHAR_TINY, "--quiet"]
    assert main([*args, "--sample-length", "5", "--threads", "1", "--out", str(folder / "run")]) == 0
    return folder / "run"


def test_inspect_a_charrnn_run_reads_text_with_its_vocabulary(charrnn_run, tmp_path, capsys):
    from rnnlab.text import load_char_model

    code, _, _ = run_cli(
        ["inspect", "--model", str(charrnn_run), "--text", "ROMEO: But", "--out", str(tmp_path / "i")], capsys
    )
    assert code == 0
    traced = np.load(tmp_path / "i" / "trace-model.npz")
    assert traced["lstm/h"].shape == (10, 6)
    # The last hidden state of every step, through the Dense layer, is the model's score of the next character.
    model, vocabulary = load_char_model(charrnn_run)
    kernel, bias = model.layers[-1].get_weights()
    scores = model.predict(vocabulary.encode("ROMEO: But")[None])[0]
    np.testing.assert_allclose(traced["lstm/h"] @ kernel + bias, scores, rtol=1e-4, atol=1e-5)
    # Without --text: held-out passage 0 of --seq-length characters.
    code, _, _ = run_cli(["inspect", "--model", str(charrnn_run), "--out", str(tmp_path / "j")], capsys)
    assert code == 0 and np.load(tmp_path / "j" / "trace-model.npz")["lstm/h"].shape == (20, 6)
    code, _, err = run_cli(
        ["inspect", "--model", str(charrnn_run), "--text", "Romeo!", "--out", str(tmp_path / "k")], capsys
    )
    assert code == 2 and "The model does not know the character(s) 'm', '!'; it knows 28:" in err
    assert not (tmp_path / "k").exists()


def test_inspect_a_classify_run_reads_a_text_as_classify_does(tmp_path, capsys, monkeypatch):
    from conftest import require_data
    from rnnlab.datasets import movie_reviews
    from rnnlab.tasks.classify import pad, read_words

    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("movie_reviews.zip")))
    tiny = ["--epochs", "1", "--units", "4", "--embedding-dim", "4", "--maxlen", "30", "--num-words", "500"]
    assert main(["classify", "--dataset", "movie_reviews", *tiny, "--quiet", "--out", str(tmp_path / "run")]) == 0
    run = tmp_path / "run"
    code, stdout, _ = run_cli(["inspect", "--model", str(run), "--sample", "3", "--out", str(tmp_path / "s")], capsys)
    assert code == 0
    (_, _), (texts, labels) = movie_reviews.load_data()
    code, from_text, _ = run_cli(
        ["inspect", "--model", str(run), "--text", texts[3], "--out", str(tmp_path / "t")], capsys
    )
    assert code == 0
    # The test text given as --text is read with the run's words.json exactly as classify read it.
    sample, text = (np.load(tmp_path / name / "trace-model.npz") for name in ("s", "t"))
    assert sample["lstm/h"].shape == (30, 4)
    np.testing.assert_array_equal(sample["lstm/h"], text["lstm/h"])
    model = load_model(run / "model.safetensors")
    probabilities = model.predict(pad([read_words(run / "words.json").ids(texts[3])], "movie_reviews", 30))[0]
    names = ["negative", "positive"]
    said = f"model reads it as {names[int(probabilities.argmax())]} (probability {probabilities.max():.2f})"
    assert f"{said}; the sample's class is {names[labels[3]]}." in stdout and f"{said}." in from_text


def test_inspect_says_what_run_it_cannot_read(gradients_run, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.safetensors").write_bytes((gradients_run / "model-lstm.safetensors").read_bytes())
    (other / "config.json").write_text(json.dumps({"experiment": "lessons", "options": {"steps": 3}}))
    code, _, err = run_cli(["inspect", "--model", str(other), "--out", str(tmp_path / "i")], capsys)
    assert (
        code == 2
        and (
            "The model comes from a 'lessons' run, whose inputs inspect does not know; it reads the test sequences of "
            "multiplication, adding, gradients, sequence, forecast, classify and charrnn runs. "
            "Give the sequence with --input."
        )
        in err
    )
    (other / "config.json").unlink()
    code, _, err = run_cli(["inspect", "--model", str(other), "--out", str(tmp_path / "i")], capsys)
    assert (
        code == 2
        and (
            f"No config.json of an rnnlab run in {other} says which run made the model, so inspect has none of its "
            "test sequences: give the sequence with --input."
        )
        in err
    )
    code, _, err = run_cli(
        ["inspect", "--model", str(gradients_run), "--text", "hello", "--out", str(tmp_path / "i")], capsys
    )
    assert (
        code == 2
        and (
            "--text is for the word and character models of classify and charrnn runs; this model reads 2 numbers "
            "per step and takes --input."
        )
        in err
    )
    assert not (tmp_path / "i").exists()
