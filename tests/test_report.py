"""report.html: valid, self-contained, and rendered by a real browser with its table and plots visible."""

from __future__ import annotations

import base64
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
