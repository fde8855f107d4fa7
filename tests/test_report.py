"""report.html: valid, self-contained, and rendered by a real browser with its table and plots visible."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from rnnlab.tasks.report import write_report
from rnnlab.viz import plot_gradient_flow

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "poster", "data", "formaction", "background"}


class StrictChecker(HTMLParser):
    """Well-formedness (every element closed, in order) and references (none leaving the page)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.counts, self.images, self.ids = [], [], {}, [], set()
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for name, value in attrs:
            if name in URL_ATTRIBUTES and not (value or "").startswith(("data:", "#")):
                self.errors.append(f"<{tag} {name}={value!r}> refers outside the page")
            if name == "id":
                if value in self.ids:
                    self.errors.append(f"duplicate id {value!r}")
                self.ids.add(value)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def make_report(directory, title="Gradient flow <test> & more"):
    steps = np.arange(1, 101)
    flows = {
        "at initialisation": {
            "SimpleRNN": {"x_t": 0.9**-steps * 1e-5},
            "LSTM": {"x_t": 0.8**-steps * 1e-9},
            "GRU": {"x_t": 0.7**-steps * 1e-16},
        }
    }
    plot_gradient_flow(flows, directory / "gradients.png", title="gradient flow over 100 steps")
    rows = [
        {"cell": "SimpleRNN", "ratio": 4.2e-3, "mse": 0.01105},
        {"cell": "LSTM", "ratio": 9.5e-8, "mse": 0.00063},
        {"cell": "GRU", "ratio": 5.5e-19, "mse": 0.00015},
    ]
    columns = [("cell", "cell", ""), ("ratio", "first/last", ".1e"), ("mse", "test MSE", ".5f")]
    return write_report(
        directory,
        title,
        {"length": 100, "cells": ["simple_rnn", "lstm", "gru"]},
        tables={"Results": (rows, columns), "As text": "a  b\n-  -\n1  2"},
        summaries={"LSTM": 'Model: "sequential"\n┏━━━━┓\n┃ x  ┃'},
        images=[("Gradient of the loss at every step", "gradients.png")],
        notes=["a note with <angle> brackets"],
    )


def test_report_is_valid_and_self_contained(tmp_path):
    path = make_report(tmp_path)
    page = path.read_text(encoding="utf-8")
    checker = StrictChecker()
    checker.feed(page)
    checker.close()
    assert checker.doctype == "DOCTYPE html" and not checker.stack and not checker.errors, checker.errors
    for tag in ("html", "head", "body", "title", "main"):
        assert checker.counts.get(tag) == 1, tag
    assert '<meta charset="utf-8">' in page and '<html lang="en">' in page
    # Nothing outside the page: no scripts, style sheets, fonts or frames to fetch, no URLs at all.
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    for forbidden in ("<script", "<link", "<iframe", "<object", "@import", "url(", "http:", "https:", "//"):
        assert forbidden not in text, forbidden
    # The picture is the PNG file itself, embedded.
    (image,) = checker.images
    assert image["alt"] == "Gradient of the loss at every step"
    data = base64.b64decode(image["src"].removeprefix("data:image/png;base64,"))
    assert data == (tmp_path / "gradients.png").read_bytes()
    # Text is escaped, the table keeps the formats of the text table.
    assert "Gradient flow &lt;test&gt; &amp; more" in page and "&lt;angle&gt;" in page
    assert re.search(r'<td class="num">9\.5e-08</td><td class="num">0\.00063</td>', page)
    assert "┏━━━━┓" in page


def test_report_rejects_an_image_that_is_not_png(tmp_path):
    (tmp_path / "plot.svg").write_text("<svg/>")
    with pytest.raises(ValueError, match="embeds PNG images"):
        write_report(tmp_path, "t", images=["plot.svg"])


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("RNNLAB_REQUIRE_CHROMIUM"):
        pytest.fail("RNNLAB_REQUIRE_CHROMIUM is set but no chromium binary is on PATH")
    pytest.skip("no chromium binary on PATH to render the report (CI installs Debian's: apt-get install chromium)")


def near(pixels, rgb, tolerance):
    return np.abs(pixels.astype(int) - np.array(rgb)).max(axis=-1) <= tolerance


def test_report_renders_in_headless_chromium_with_its_table_and_plot(tmp_path):
    browser = chromium()
    from matplotlib.image import imread

    path = make_report(tmp_path)
    shot = tmp_path / "screenshot.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            path.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pixels = (imread(shot)[..., :3] * 255).round().astype(np.uint8)  # (2000, 1200, 3)
    assert pixels.shape == (2000, 1200, 3)
    assert (pixels.min(axis=-1) < 200).mean() > 0.01  # not blank: ink on more than 1% of the page

    # The plot: matplotlib's orange and green lines (C1 #ff7f0e, C2 #2ca02c) running across a panel.
    lines = near(pixels, (0xFF, 0x7F, 0x0E), 40) | near(pixels, (0x2C, 0xA0, 0x2C), 40)
    line_rows, line_cols = np.nonzero(lines)
    assert lines.sum() > 300, lines.sum()
    assert line_cols.max() - line_cols.min() > 300 and line_rows.max() - line_rows.min() > 200

    # The results table above it: its header row's blue (#1f4e8c) fills a band as wide as three columns.
    header = near(pixels[: line_rows.min()], (0x1F, 0x4E, 0x8C), 6)
    rows, cols = np.nonzero(header)
    assert header.sum() > 3000, header.sum()
    assert cols.max() - cols.min() > 200 and rows.max() - rows.min() < 60  # one row of header cells


def test_the_configuration_shows_the_values_used_never_null(tmp_path):
    from dataclasses import dataclass

    from rnnlab.tasks.options import option

    @dataclass
    class Config:
        units: int | None = option(None, "units (dataset's default)")
        cells: list[str] = option([], "cells", shown="all")
        features: list[str] = option([], "extra columns")
        clipnorm: float | None = option(None, "clip")
        predict: list[float] = option([50.0, 60.0, 70.0], "window")
        bidirectional: bool = option(False, "both ways")

    (tmp_path / "config.json").write_text('{"resolved": {"units": 128, "classes": 46}}')
    page = write_report(tmp_path, "t", Config()).read_text()
    configuration = page[page.index('id="configuration"') :]
    assert "null" not in configuration and "[" not in configuration
    rows = dict(re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", configuration))
    assert rows["units"] == "128"  # unset: the value resolved for it
    assert rows["cells"] == "all" and rows["features"] == "none" and rows["clipnorm"] == "none"
    assert rows["predict"] == "50, 60, 70" and rows["bidirectional"] == "no"
    assert rows["classes"] == "46"  # resolved values that are no option still show, under their own heading


def test_findings_open_the_page_and_examples_follow_the_results(tmp_path):
    page = write_report(
        tmp_path,
        "t",
        tables={"Results": ([{"a": 1}], [("a", "a", "d")])},
        findings=["LSTM left the plateau in epoch 3.", "GRU did best."],
        examples={"Temperature 0.5": "ROMEO:\nthe & sun", "Texts": ([{"text": "wheat <up>"}], [("text", "text", "")])},
    ).read_text()
    opening = page.index('<p class="findings">LSTM left the plateau in epoch 3. GRU did best.</p>')
    assert opening < page.index('id="results"') < page.index('id="examples"')
    assert "<pre>ROMEO:\nthe &amp; sun</pre>" in page and "<td>wheat &lt;up&gt;</td>" in page


def test_a_curve_of_one_epoch_still_shows_its_point(tmp_path):
    from matplotlib.image import imread

    from rnnlab.viz import plot_histories

    plot_histories({"LSTM": {"loss": [0.5], "val_loss": [0.4]}}, tmp_path / "one.png")
    pixels = (imread(tmp_path / "one.png")[..., :3] * 255).round().astype(int)
    blue = np.abs(pixels - np.array([0x1F, 0x77, 0xB4])).max(axis=-1) <= 40  # C0, the model's colour
    assert blue.sum() > 150, blue.sum()  # the two points; without their markers only the legend (86) shows


# -- the sentences that open each experiment's report, computed from its numbers -------------------
def test_multiplication_sentences_follow_the_numbers():
    from rnnlab.tasks.multiplication import explain

    rows = [{"cell": "SimpleRNN", "correct_percent": 12.5}, {"cell": "LSTM", "correct_percent": 93.25}]
    losses = {"SimpleRNN": {"loss": [0.06, 0.05], "val_loss": [0.07, 0.06]}, "LSTM": {"val_loss": [0.05, 0.004]}}
    assert explain(rows, losses, constant_mse=0.05, tolerance=0.04) == [
        "A cell is on the plateau while its validation MSE stays above 0.005, a tenth of the 0.05 that always "
        "guessing the mean scores.",
        "SimpleRNN stayed on it for 2 epochs (at best 0.06).",
        "LSTM left it in epoch 2.",
        "LSTM did best with 93.2 % of the test predictions within ±0.04, 80.8 points more than SimpleRNN (12.5 %).",
    ]
    losses["LSTM"] = {"val_loss": [0.001, 0.0009]}
    rows[0]["correct_percent"] = 95.0
    changed = explain(rows, losses, constant_mse=0.08, tolerance=0.1)
    assert changed[0].startswith(
        "A cell is on the plateau while its validation MSE stays above 0.008, a tenth of the 0.08"
    )
    assert changed[2] == "LSTM left it in epoch 1."
    assert changed[3] == (
        "SimpleRNN did best with 95.0 % of the test predictions within ±0.1, 1.8 points more than LSTM (93.2 %)."
    )
    assert explain(rows[:1], {"SimpleRNN": {"loss": [0.02, 0.001]}}, 0.05, 0.04) == [
        "A cell is on the plateau while its training MSE stays above 0.005, a tenth of the 0.05 that always "
        "guessing the mean scores.",
        "SimpleRNN left it in epoch 2.",
        "SimpleRNN got 95.0 % of the test predictions within ±0.04.",
    ]


def test_forecast_sentences_follow_the_numbers():
    from rnnlab.tasks.forecast import explain

    rows = [
        {"model": "LSTM", "rmse": 40.0},
        {"model": "persistence", "rmse": 50.0},
        {"model": "seasonal", "rmse": 38.0},
    ]
    assert explain(rows, "LSTM") == [
        "LSTM forecast the test period with an RMSE of 40: 20 % lower than persistence's 50, 5 % higher than "
        "seasonal's 38.",
        "The baseline seasonal is better: the network has not learned more than it.",
    ]
    rows[0]["rmse"] = 30.5
    assert explain(rows, "LSTM") == [
        "LSTM forecast the test period with an RMSE of 30.5: 39 % lower than persistence's 50, 20 % lower than "
        "seasonal's 38.",
        "It beats every naive baseline.",
    ]


def test_sequence_sentences_follow_the_numbers():
    from rnnlab.tasks.sequence import explain

    window = np.array([50.0, 60.0, 70.0])
    assert explain({"RNN": 64.25}, window) == [
        "RNN predicted 64.25 for 50, 60, 70; continuing the window's steps gives 80, off by 15.75."
    ]
    assert explain({"RNN": 64.25, "Dense": 79.0}, np.array([1.0, 2.0, 3.0]))[1:] == [
        "Dense predicted 79.00 for 1, 2, 3; continuing the window's steps gives 4, off by 75.00.",
        "RNN came closest.",
    ]


def test_charrnn_sentences_follow_the_numbers():
    from rnnlab.tasks.charrnn import explain

    row = {"epochs": 3, "kept_epoch": 2, "val_nats": 1.5, "val_bits": 1.5 / np.log(2), "val_nats_carried": 1.45}
    assert explain(row, [2.0, 1.6, 1.4], vocabulary_size=65) == [
        "After 3 epochs (epoch 2's weights kept), the held-out text costs 1.500 nats per character (2.164 bits, "
        "perplexity 4.48).",
        "A uniform guess over the 65 characters would cost 4.174 nats.",
        "With the state carried through the held-out text: 1.450 nats; last epoch's training loss: 1.400.",
    ]
    row |= {"val_nats": 2.0, "val_bits": 2.0 / np.log(2)}
    assert "costs 2.000 nats per character (2.885 bits, perplexity 7.39)" in explain(row, [2.1], 30)[0]


def test_seed_sentences_follow_the_numbers():
    from rnnlab.tasks.multiplication import COLUMNS
    from rnnlab.tasks.seeds import TABLES, explain

    bar = TABLES["multiplication"][2]
    results = {
        seed: [{"cell": "LSTM", "correct_percent": value}] for seed, value in enumerate([76.4, 98.0, 88.4, 91.0])
    }
    assert explain(results, COLUMNS, bar) == [
        "Over 4 seeds, LSTM correct %: median 89.7, from 76.4 to 98.0; >= 90 % correct in 2 of 4."
    ]
    results[4] = [{"cell": "LSTM", "correct_percent": 95.0}]
    assert explain(results, COLUMNS, bar) == [
        "Over 5 seeds, LSTM correct %: median 91.0, from 76.4 to 98.0; >= 90 % correct in 3 of 5."
    ]
    from rnnlab.tasks.forecast import COLUMNS as FORECAST

    rows = {0: [{"model": "LSTM", "rmse": 40.0}], 1: [{"model": "LSTM", "rmse": 44.0}]}
    assert explain(rows, FORECAST, None) == ["Over 2 seeds, LSTM RMSE: median 42.00, from 40.00 to 44.00."]
    from rnnlab.tasks.sequence import COLUMNS as SEQUENCE

    rows = {
        0: [{"window": [50.0, 60.0, 70.0], "prediction": 64.0}],
        1: [{"window": [50.0, 60.0, 70.0], "prediction": 70.5}],
    }
    assert explain(rows, SEQUENCE, None) == ["Over 2 seeds, prediction: median 67.25, from 64.00 to 70.50."]


def test_inspect_sentences_follow_the_numbers():
    from rnnlab.tasks.inspect import explain

    traced = {"lstm": {"i": np.full((4, 2), 0.25), "f": np.full((4, 2), 0.75), "h": np.array([[0.99, 0.1]] * 4)}}
    assert explain("LSTM", traced) == [
        "LSTM lstm: mean opening input gate i 0.25, forget gate f 0.75 (0 closed, 1 open); 50 % of the hidden "
        "values beyond ±0.95."
    ]
    traced = {"simple_rnn": {"h": np.array([[0.5, 0.1]] * 4)}}
    assert explain("SimpleRNN", traced) == ["SimpleRNN simple_rnn: 0 % of the hidden values beyond ±0.95."]


def test_classify_sentences_and_tables_follow_the_numbers():
    from rnnlab.tasks.classify import confused_pairs, explain, per_class

    names = ["grain", "wheat", "ship"]
    matrix = np.array([[30, 10, 0], [4, 16, 0], [1, 0, 9]])  # rows true, columns predicted
    assert explain(matrix, names) == [
        "55 of 70 test samples are classified right (78.6 %).",
        "Most confused: 'grain' taken for 'wheat' 10 times (25 % of 'grain'); 'wheat' taken for 'grain' 4 times "
        "(20 % of 'wheat'); 'ship' taken for 'grain' 1 time (10 % of 'ship').",
        "Weakest classes by F1: 'wheat' 0.70 (20 samples), 'grain' 0.80 (40 samples), 'ship' 0.95 (10 samples).",
    ]
    scores = {row["class"]: row for row in per_class(matrix, names)}
    assert scores["grain"]["support"] == 40 and scores["grain"]["precision"] == pytest.approx(30 / 35)
    assert scores["wheat"]["recall"] == pytest.approx(16 / 20) and scores["ship"]["f1"] == pytest.approx(18 / 19)
    matrix[2, 1] = 20  # ship now mostly taken for wheat
    assert confused_pairs(matrix, names)[0] == {
        "true": "ship",
        "predicted": "wheat",
        "count": 20,
        "share": 100 * 20 / 30,
    }
    assert "Most confused: 'ship' taken for 'wheat' 20 times (67 % of 'ship')" in explain(matrix, names)[1]
    assert len(confused_pairs(np.ones((12, 12), dtype=int), [str(i) for i in range(12)])) == 10  # the top 10


# -- every experiment's report and compare.html in headless Chromium --------------------------------
CHECK = """<script>
window.rnnlabErrors = [];
window.addEventListener("error", (e) => {
  rnnlabErrors.push(String(e.message || (e.target && e.target.src) || "error").slice(0, 80));
}, true);  // capturing: a failed image's error event does not bubble
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "rnnlab-check";
  out.textContent = JSON.stringify({
    images: [...document.images].map((image) => (image.complete ? image.naturalWidth : 0)),
    errors: rnnlabErrors,
  });
  document.body.appendChild(out);
});
</script>"""


def render(page, folder):
    """``page`` opened by headless Chromium with a check script added to a copy of it: the screenshot's
    pixels, what the script found (each image's natural width, the page's errors) and the console lines."""
    browser = chromium()
    from matplotlib.image import imread

    folder.mkdir(parents=True, exist_ok=True)
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text  # the report itself runs nothing; the check runs in a copy
    checked = folder / "checked.html"
    checked.write_text(text.replace('<meta charset="utf-8">', '<meta charset="utf-8">' + CHECK, 1), encoding="utf-8")
    shot = folder / "screenshot.png"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={folder / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            "--dump-dom",
            checked.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="rnnlab-check">(.*?)</pre>', done.stdout, re.S)
    assert found, "the check script did not run: " + done.stdout[-500:]
    result = json.loads(html.unescape(found.group(1)))
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    pixels = (imread(shot)[..., :3] * 255).round().astype(np.uint8)
    return pixels, result, console


def assert_renders(page, folder):
    pixels, result, console = render(page, folder)
    assert pixels.shape == (1600, 1200, 3) and (pixels.min(axis=-1) < 200).mean() > 0.01  # a screenshot, not blank
    assert not console and not result["errors"], (console, result["errors"])
    images = page.read_text().count("<img ")
    assert images and len(result["images"]) == images and all(width > 0 for width in result["images"]), result
    return page.read_text()


def test_the_check_finds_a_broken_image_and_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="missing.png"><img onerror="console.error(\'gone\')" src="missing.png"></body></html>'
    )
    _, result, console = render(page, tmp_path / "render")
    assert result["images"] == [0, 0, 0] and len(result["errors"]) == 3
    assert len(console) == 1 and '"gone"' in console[0]


TINY_MULTIPLICATION = [
    "multiplication",
    "--samples", "60", "--train-samples", "40", "--length", "6", "--units", "4", "--cells", "lstm,gru",
    "--quiet", "--threads", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def marked_runs(tmp_path_factory):
    """Two multiplication runs (one of a single epoch) and one over two seeds."""
    from rnnlab.cli import main

    folder = tmp_path_factory.mktemp("marked")
    assert main([*TINY_MULTIPLICATION, "--epochs", "1", "--out", str(folder / "one-epoch")]) == 0
    assert main([*TINY_MULTIPLICATION, "--epochs", "2", "--seed", "1", "--out", str(folder / "two-epochs")]) == 0
    assert (
        main([*TINY_MULTIPLICATION, "--epochs", "2", "--seeds", "2", "--jobs", "1", "--out", str(folder / "seeds")])
        == 0
    )
    return folder


def test_multiplication_report_renders(marked_runs, tmp_path):
    page = assert_renders(marked_runs / "one-epoch" / "report.html", tmp_path)
    configuration = dict(re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", page.split('id="configuration"')[1]))
    assert configuration["device"] in ("auto: cpu", "auto: cuda") and configuration["patience"] == "none"
    findings = page.split('<p class="findings">')[1].split("</p>")[0]
    assert "LSTM stayed on it for 1 epoch" in findings or "LSTM left it in epoch 1." in findings
    assert "GRU stayed on it for 1 epoch" in findings or "GRU left it in epoch 1." in findings


def test_seeds_report_renders(marked_runs, tmp_path):
    page = assert_renders(marked_runs / "seeds" / "report.html", tmp_path)
    assert "Over 2 seeds, LSTM correct %: median" in page and "Every seed" in page
    configuration = dict(re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", page.split('id="configuration"')[1]))
    assert configuration["seeds"] == "0, 1" and configuration["jobs"] == "1" and "seed" not in configuration


def test_inspect_report_renders(marked_runs, tmp_path):
    from rnnlab.cli import main

    assert main(["inspect", "--model", str(marked_runs / "two-epochs"), "--out", str(tmp_path / "inspect")]) == 0
    page = assert_renders(tmp_path / "inspect" / "report.html", tmp_path / "render")
    assert re.search(r"LSTM lstm(_\d+)?: mean opening input gate i 0\.\d\d, forget gate f", page)


def test_compare_page_renders(marked_runs, tmp_path):
    from rnnlab.cli import main

    runs = [str(marked_runs / name) for name in ("one-epoch", "two-epochs", "seeds")]
    assert main(["compare", *runs, "--out", str(tmp_path / "compare.html")]) == 0
    assert_renders(tmp_path / "compare.html", tmp_path / "render")


def test_sequence_report_renders(tmp_path):
    from rnnlab.cli import main

    args = ["sequence", "--models", "rnn,dnn", "--epochs", "2", "--units", "8", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    page = assert_renders(tmp_path / "run" / "report.html", tmp_path / "render")
    assert "continuing the window&#x27;s steps gives 80" in page


def test_gradients_report_renders(tmp_path):
    from rnnlab.cli import main

    args = ["gradients", "--cells", "lstm", "--epochs", "1", "--length", "8", "--samples", "60"]
    args += ["--train-samples", "40", "--probe", "8", "--units", "4", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    page = assert_renders(tmp_path / "run" / "report.html", tmp_path / "render")
    assert "LSTM (tanh): " in page.split('<p class="findings">')[1].split("</p>")[0]


def test_forecast_report_renders(tmp_path, monkeypatch):
    from conftest import require_data
    from rnnlab.cli import main

    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("airline_passengers.csv")))
    args = ["forecast", "--dataset", "airline", "--epochs", "2", "--units", "4", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    page = assert_renders(tmp_path / "run" / "report.html", tmp_path / "render")
    assert "each forecast drawn over the truth" in page and "than persistence&#x27;s" in page


def test_classify_report_renders(tmp_path, monkeypatch):
    from conftest import require_data
    from rnnlab.cli import main

    monkeypatch.setenv("RNNLAB_DATA_DIR", str(require_data("mnist/t10k-images-idx3-ubyte.gz")))
    args = ["classify", "--dataset", "mnist-rows", "--epochs", "1", "--units", "8", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    page = assert_renders(tmp_path / "run" / "report.html", tmp_path / "render")
    assert "Weakest classes by F1" in page and "Most confused pairs (test set)" in page


def test_charrnn_report_renders(tmp_path):
    from rnnlab.cli import main

    text = tmp_path / "play.txt"
    text.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east.\n" * 12)
    args = ["charrnn", "train", "--text", str(text), "--epochs", "1", "--units", "16", "--embedding-dim", "8"]
    args += ["--seq-length", "20", "--batch-size", "8", "--sample-length", "20", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    page = assert_renders(tmp_path / "run" / "report.html", tmp_path / "render")
    examples = page.split('id="examples"')[1].split("</section>")[0]
    assert [t for t in ("0.5", "0.8", "1.2") if f"<h3>Temperature {t}</h3><pre>" in examples] == ["0.5", "0.8", "1.2"]
    assert "perplexity" in page.split('<p class="findings">')[1]
