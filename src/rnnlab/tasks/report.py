"""``report.html``: one self-contained page per run directory, readable offline in any browser.

Every experiment writes one through ``Run.finish`` (``experiment.py``); any folder can have one::

    write_report(run_dir, "The multiplication problem", config,
                 tables={"Results": (rows, COLUMNS)}, summaries={"LSTM": model.summary(print_fn=None)},
                 images=["loss.png", "predictions.png"])

Images are embedded as data URIs and the style sheet is inline: the page references nothing
outside itself, so it can be mailed, archived or opened from a USB stick.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..core import files
from .runs import RunDir

Columns = Sequence[tuple[str, str, str]]  # (key, header, format spec), as format_table takes them
Table = str | tuple[Sequence[Mapping[str, Any]], Columns]  # preformatted text, or (rows, columns)
Image = str | os.PathLike[str] | tuple[str, str | os.PathLike[str]]  # file, or (caption, file)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d2330; background: #ffffff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d5dbe6; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #5b6475; margin: 0 0 8px; font-size: 13px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border: 1px solid #c9d1de; text-align: left; }
th { background: #1f4e8c; color: #ffffff; font-weight: 600; }
tbody tr:nth-child(even) td { background: #f2f5fa; }
td.num { text-align: right; }
pre { background: #f6f8fb; border: 1px solid #d5dbe6; padding: 10px 12px; overflow-x: auto;
      font: 12.5px/1.3 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
figure { margin: 14px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e1e6ee; }
figcaption { color: #5b6475; font-size: 13px; margin-top: 4px; }
ul.notes li { margin: 2px 0; overflow-wrap: anywhere; }
p.findings { font-size: 16px; background: #eef3fb; border-left: 4px solid #1f4e8c; padding: 10px 14px; }
"""


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(table: Table) -> str:
    if isinstance(table, str):
        return f"<pre>{escape(table)}</pre>"
    rows, columns = table
    head = "".join(f"<th>{escape(header)}</th>" for _, header, _ in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, spec in columns:
            value = row.get(key)
            text = "-" if value is None else format(value, spec)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            cells.append(f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_image(directory: Path, image: Image) -> str:
    caption, file = image if isinstance(image, tuple) else (None, image)
    path = Path(file) if Path(file).is_absolute() else directory / file
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise ValueError(f"write_report embeds PNG images; {path} is not a PNG file.")
    caption = caption or path.name
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _options(config: Any, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The options as the run used them: an unset one (None, an empty list, a device of auto) shows the
    value resolved for it (``Run(..., resolved={...})``), else what ``--help`` names as its default, else none."""
    if config is None:
        return {}
    if not (is_dataclass(config) and not isinstance(config, type)):
        return dict(config)
    used = {}
    for field in fields(config):
        value = getattr(config, field.name)
        unset = value is None or (isinstance(value, list) and not value)
        if field.name in resolved and (unset or value == "auto"):
            value = resolved[field.name]
        elif unset:
            value = field.metadata.get("shown") or value
        used[field.name] = value
    return used


def shown(value: Any) -> str:
    """A value as a person reads it: none for None or an empty list, lists as "a, b", numbers as typed."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, tuple)):
        return ", ".join(map(shown, value))
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {shown(v)}" for k, v in value.items())
    return str(value)


def _key_values(values: Mapping[str, Any], header: str = "option") -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(shown(v))}</td></tr>" for k, v in values.items())
    return f"<table><thead><tr><th>{header}</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"


def html_head(title: str, recorded: Mapping[str, Any]) -> list[str]:
    """The page's head, its title, version and date, and the command that made the run."""
    meta = [f"rnnlab {__version__}", recorded.get("started") or time.strftime("%Y-%m-%d %H:%M:%S")]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(" · ".join(meta))}</p>',
    ]
    if recorded.get("command"):
        parts.append(f"<pre>{escape(' '.join(['rnnlab', *recorded['command'][1:]]))}</pre>")
    return parts


def html_section(name: str, heading: str, parts: Sequence[str]) -> list[str]:
    return [f'<section id="{name}"><h2>{heading}</h2>', *parts, "</section>"] if parts else []


SPREAD = ("seeds", "jobs", "threads_per_seed", "processes", "global_batch_size")  # how a run was spread out


def _configuration(config: Any, recorded: Mapping[str, Any]) -> list[str]:
    """The options, what was resolved from the data, and the versions that ran."""
    parts = []
    resolved = recorded.get("resolved") or {}
    options = _options(config, resolved)
    if options and "seeds" in recorded:  # a run over seeds: every seed's run had its own
        options.pop("seed", None)
    options |= {key: recorded[key] for key in SPREAD if key in recorded}
    if options:
        parts.append(_key_values(options))
    rest = {k: v for k, v in resolved.items() if k not in options}
    if rest:
        parts.append("<h3>Resolved from the data</h3>" + _key_values(rest, "name"))
    if recorded.get("versions"):
        extra = {**recorded["versions"], "threads": recorded.get("threads") or "PyTorch's default"}
        parts.append("<h3>Versions</h3>" + _key_values(extra, "package"))
    if not (options or recorded):
        return []
    return ['<section id="configuration"><h2>Configuration</h2>', *parts, "</section>"]


def write_report(
    run_dir: RunDir | str | os.PathLike[str],
    title: str,
    config: Any = None,
    tables: Mapping[str, Table] | None = None,
    summaries: Mapping[str, str] | None = None,
    images: Sequence[Image] = (),
    notes: Sequence[str] = (),
    intro: str | None = None,
    findings: Sequence[str] = (),
    examples: Mapping[str, Table] | None = None,
) -> Path:
    """Write ``report.html`` into a run directory (a ``RunDir`` or a folder) and return its path.

    Args:
        title: the page heading.
        config: the experiment's config (a dataclass or a mapping of options).
        tables: heading -> ``(rows, columns)`` as ``format_table`` takes them, or preformatted text.
        summaries: heading -> a model's ``summary(print_fn=None)`` text.
        images: PNG files in the run directory (or absolute paths), each optionally as
            ``(caption, file)``; embedded in the page.
        notes: sentences shown under the results (e.g. how missing values were handled).
        intro: a paragraph under the title.
        findings: sentences computed from the run's numbers, what to look at first; they open the page.
        examples: heading -> a table or text of example predictions (texts with their labels, samples).
    """
    directory = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
    recorded: dict[str, Any] = {}
    if (directory / "config.json").is_file():  # what RunDir.write_config stored: versions, command, ...
        recorded = json.loads((directory / "config.json").read_text())
    results = [
        (f"<h3>{escape(heading)}</h3>" if heading else "") + html_table(t) for heading, t in (tables or {}).items()
    ]
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    models = [f"<h3>{escape(heading)}</h3><pre>{escape(text)}</pre>" for heading, text in (summaries or {}).items()]
    shown_examples = [f"<h3>{escape(heading)}</h3>" + html_table(t) for heading, t in (examples or {}).items()]
    page = "\n".join(
        [
            *html_head(title, recorded),
            *([f'<p class="findings">{escape(" ".join(findings))}</p>'] if findings else []),
            *([f"<p>{escape(intro)}</p>"] if intro else []),
            *html_section("results", "Results", results),
            *html_section("examples", "Examples", shown_examples),
            *([f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>'] if notes else []),
            *html_section("plots", "Plots", [html_image(directory, image) for image in images]),
            *html_section("models", "Models", models),
            *_configuration(config, recorded),
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )
    target = directory / "report.html"
    files.write_text(target, page)
    return target
