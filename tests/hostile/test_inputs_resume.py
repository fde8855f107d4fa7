"""Inputs past a stated limit are refused before memory goes to them, and an interrupted run
resumes whatever it displays: each refusal is one line naming the option or the file, and leaves
the run folders as they were."""

from __future__ import annotations

import csv
import json
import shutil
import tracemalloc

import numpy as np
import pytest

from rnnlab import Sequential
from rnnlab.cli import main
from rnnlab.layers import Dense, SimpleRNN
from rnnlab.tasks import charrnn

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" * 12
TINY = ["--units", "16", "--embedding-dim", "8", "--seq-length", "20", "--batch-size", "8", "--sample-length", "0"]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([*args, "--threads", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str, experiment: str) -> str:
    """The one line of a refusal, without its prefix."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    prefix = f"rnnlab {experiment}: error: "
    assert lines[0].startswith(prefix), err
    return lines[0].removeprefix(prefix)


# -- inspect --input --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    Sequential([SimpleRNN(3, input_shape=(None, 1), name="simple_rnn"), Dense(1)]).save(str(path))
    return path


def test_inspect_refuses_a_long_input_file_before_reading_it(model_file, tmp_path, capsys):
    """A .npy of 10^8 steps (400 MB, a sparse file) is refused from its header: no folder, little memory."""
    path = tmp_path / "long.npy"
    steps = 10**8
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (steps, 1)})
        f.truncate(f.tell() + 4 * steps)
    out = tmp_path / "i"
    tracemalloc.start()
    code, _, err = run(["inspect", "--model", str(model_file), "--input", str(path), "--out", str(out)], capsys)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2
    assert error_line(err, "inspect") == (
        f"{path} has 100,000,000 steps, more than --max-steps 10,000 allows (every gate is traced and drawn at "
        "every step); raise --max-steps to inspect it anyway."
    )
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB"  # a quarter of the data: its header only was read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy"]


def test_inspect_counts_steps_of_a_csv_and_of_values_and_max_steps_raises_the_limit(model_file, tmp_path, capsys):
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("".join(f"{i / 10}\n" for i in range(50)))
    code, _, err = run(["inspect", "--model", str(model_file), "--input", str(csv_file), "--max-steps", "49"], capsys)
    assert code == 2 and error_line(err, "inspect") == (
        f"{csv_file} has 50 steps, more than --max-steps 49 allows (every gate is traced and drawn at every step); "
        "raise --max-steps to inspect it anyway."
    )
    values = ",".join(["0.5"] * 12)
    code, _, err = run(["inspect", "--model", str(model_file), "--input", values, "--max-steps", "10"], capsys)
    assert code == 2 and error_line(err, "inspect").startswith("--input has 12 steps, more than --max-steps 10 allows")
    out = tmp_path / "i"
    args = ["inspect", "--model", str(model_file), "--input", str(csv_file), "--max-steps", "50", "--out", str(out)]
    assert run(args, capsys)[0] == 0
    assert np.load(out / "trace-m.npz")["simple_rnn/h"].shape == (50, 3)


@pytest.mark.parametrize(
    "values,message",
    [
        (["1", "nan", "3"], "--input holds 1 value that is not a finite number, the first nan at step 2, feature 1"),
        (["1,2,inf,-inf"], "--input holds 2 values that are not finite numbers, the first inf at step 3, feature 1"),
        (["FILE"], "--input holds 1 value that is not a finite number, the first nan at step 4, feature 1"),
    ],
)
def test_inspect_refuses_nan_and_infinite_inputs(values, message, model_file, tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.array([[0.1], [0.2], [0.3], [np.nan]], dtype="float32"))
    args = ["inspect", "--model", str(model_file), "--input", *[str(path) if v == "FILE" else v for v in values]]
    code, _, err = run([*args, "--out", str(tmp_path / "i")], capsys)
    assert code == 2 and error_line(err, "inspect") == message + "; give finite numbers."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


# -- charrnn train: the vocabulary -----------------------------------------------------------------
def test_a_text_of_300000_distinct_characters_is_refused_before_any_run_folder(tmp_path, capsys):
    chars = [chr(c) for c in range(0x100, 0x100 + 300_000 + 2048) if not 0xD800 <= c <= 0xDFFF][:300_000]
    text = tmp_path / "wide.txt"
    text.write_text("".join(chars) * 2, encoding="utf-8")
    out = tmp_path / "run"
    tracemalloc.start()
    code, _, err = run(["charrnn", "train", "--text", str(text), "--quiet", "--out", str(out)], capsys)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2
    assert error_line(err, "charrnn train") == (
        "The text has 300,000 distinct characters, more than --max-vocabulary 10,000: the model's output grows "
        "with them (the scores of one batch alone take 7.68 GB). Raise --max-vocabulary to train on it anyway."
    )
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.txt"]  # no run folder, not even an incomplete one


def test_max_vocabulary_states_the_limit_it_sets(tmp_path, capsys):
    text = tmp_path / "play.txt"
    text.write_text(TEXT)
    code, _, err = run(["charrnn", "train", "--text", str(text), "--max-vocabulary", "30", *TINY, "--quiet"], capsys)
    assert code == 2 and error_line(err, "charrnn train").startswith(
        f"The text has {len(set(TEXT))} distinct characters, more than --max-vocabulary 30:"
    )


# -- charrnn --resume ------------------------------------------------------------------------------
def interrupt_in_epoch(monkeypatch, last: int) -> None:
    """Interrupt the run (as Ctrl-C would) at the end of epoch ``last`` (1-based), before its backup:
    the backup holds the epochs before it."""
    original = charrnn.CharLog.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == last:
            raise KeyboardInterrupt

    monkeypatch.setattr(charrnn.CharLog, "on_epoch_end", on_epoch_end)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A --quiet run of 3 epochs interrupted in epoch 2, its backup after epoch 1: its folder and its command."""
    folder = tmp_path_factory.mktemp("interrupted")
    (folder / "play.txt").write_text(TEXT)
    args = ["charrnn", "train", "--text", str(folder / "play.txt"), "--epochs", "3", "--patience", "0", *TINY]
    with pytest.MonkeyPatch.context() as monkeypatch:
        interrupt_in_epoch(monkeypatch, 2)
        assert main([*args, "--quiet", "--threads", "1", "--out", str(folder / "run")]) == 130
    assert (folder / "run.incomplete" / "backup" / "backup.safetensors").is_file()
    return folder, args


@pytest.fixture
def resumable(interrupted, tmp_path):
    """A copy of the interrupted run: (the folder holding run.incomplete, the command, --out)."""
    folder, args = interrupted
    shutil.copytree(folder / "run.incomplete", tmp_path / "run.incomplete")
    return tmp_path, args, tmp_path / "run"


def listing(folder) -> dict[str, list[str]]:
    return {p.name: sorted(q.name for q in p.rglob("*")) for p in sorted(folder.iterdir())}


def test_a_resume_with_other_display_options_continues_from_the_backup(resumable, capsys):
    folder, args, out = resumable
    # --quiet dropped, --threads and --sample-length changed: the run continues at epoch 2.
    code, stdout, _ = run([*args, "--sample-length", "5", "--out", str(out), "--resume"], capsys)
    assert code == 0
    assert "epoch 1:" not in stdout and "epoch 2: loss" in stdout and "epoch 3: loss" in stdout
    with open(out / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3"]
    assert sorted(p.name for p in folder.iterdir()) == ["run"]  # the interrupted run became this one
    assert json.loads((out / "config.json").read_text())["options"]["sample_length"] == 5


def test_a_resume_with_other_model_options_names_them_and_keeps_the_progress(resumable, capsys):
    folder, args, out = resumable
    before = listing(folder)
    changed = [*args, "--units", "8", "--seed", "3", "--out", str(out), "--resume", "--quiet"]
    code, _, err = run(changed, capsys)
    assert code == 2
    assert error_line(err, "charrnn train") == (
        f"cannot resume: --units was 16, now 8; --seed was 0, now 3. The run in {folder / 'run.incomplete'} "
        "continues with the model and training options it began with (what is shown and when to stop may change)."
    )
    assert "delete" not in err and listing(folder) == before


def test_a_resume_interrupted_again_is_kept_in_the_same_folder(resumable, capsys, monkeypatch):
    folder, args, out = resumable
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 3)
        assert run([*args, "--quiet", "--out", str(out), "--resume"], capsys)[0] == 130
    assert sorted(p.name for p in folder.iterdir()) == ["run.incomplete"]  # no run.incomplete-1 beside it
    code, stdout, _ = run([*args, "--out", str(out), "--resume"], capsys)
    assert code == 0 and "epoch 2:" not in stdout and "epoch 3: loss" in stdout
    assert sorted(p.name for p in folder.iterdir()) == ["run"]


DAMAGED = {
    "config-not-json": ("config.json", b'{"options": {"units": 1', "{kept}/config.json: it is damaged or not a run's"),
    "config-without-options": ("config.json", b"[]", "{kept}/config.json: it is damaged or not a run's config.json"),
    "backup-truncated": ("backup/backup.safetensors", None, "{kept}/backup/backup.safetensors: it is damaged"),
    "backup-foreign": ("backup/backup.safetensors", b"PK\x03\x04" * 64, "{kept}/backup/backup.safetensors: it is"),
    "vocabulary-not-json": ("vocabulary.json", b"{", "{kept}/vocabulary.json is not a character vocabulary"),
    "vocabulary-other": (
        "vocabulary.json",
        json.dumps({"format": "rnnlab.vocabulary/1", "chars": "abc"}).encode(),
        "cannot resume: the text's 31 distinct characters are not the 3 that {kept}/vocabulary.json lists; "
        "give the text the run began with.",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_file_of_the_interrupted_run_is_one_line_naming_it(case, resumable, capsys):
    folder, args, out = resumable
    name, data, message = DAMAGED[case]
    damaged = folder / "run.incomplete" / name
    damaged.write_bytes(damaged.read_bytes()[:100] if data is None else data)
    before = listing(folder)
    code, _, err = run([*args, "--quiet", "--out", str(out), "--resume"], capsys)
    assert code == 2
    line = error_line(err, "charrnn train")
    assert message.format(kept=folder / "run.incomplete") in line, line
    assert listing(folder) == before


TAMPERED = {
    "fewer-characters": (
        json.dumps({"format": "rnnlab.vocabulary/1", "chars": "abc"}),
        "{run}/vocabulary.json lists 3 characters, but the model in {run}/model.safetensors reads 31 and scores 31: "
        "the two files are not of the same run.",
    ),
    "nested-deep": (
        "[" * 100_000,
        "{run}/vocabulary.json is not a character vocabulary (not JSON rnnlab can read: nested too deep).",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_vocabulary_of_a_trained_model_is_one_line_naming_it(case, interrupted, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(interrupted[0] / "run.incomplete", run_dir)
    tampered, message = TAMPERED[case]
    (run_dir / "vocabulary.json").write_text(tampered)
    code, _, err = run(["charrnn", "sample", "--model", str(run_dir), "--length", "5"], capsys)
    assert code == 2 and error_line(err, "charrnn sample") == message.format(run=run_dir)
