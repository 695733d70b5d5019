"""Shared building blocks for reports: figures to PNG, self-contained HTML, progress bars.

Every HTML report is one file with its images embedded as data URIs (it can be mailed or archived
without its folder) and carries the research-use disclaimer.
"""

from __future__ import annotations

import base64
import html
import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cardioclarity import DISCLAIMER, __version__

T = TypeVar("T")

__all__ = ["Section", "figure_to_png", "png_data_uri", "progress", "pyplot", "render_html",
           "save_report", "write_html_report"]


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend, imported on first use.

    Reports are written by servers and CI and never shown on screen, hence Agg. The import is
    deferred because Matplotlib costs about half a second, which every ``cardioclarity`` command
    (``--help`` included) would otherwise pay.
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             disable: bool | None = None) -> Iterator[T]:
    """Wrap an iterable in a progress bar on stderr.

    The bar is hidden when stderr is not a terminal (logs, CI) unless ``CARDIOCLARITY_PROGRESS=1``,
    and always when ``CARDIOCLARITY_PROGRESS=0``.
    """
    from tqdm.auto import tqdm  # ~0.1 s to import: not at CLI start-up

    if disable is None:
        env = os.environ.get("CARDIOCLARITY_PROGRESS")
        disable = (env == "0") if env is not None else not sys.stderr.isatty()
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, leave=False))


def figure_to_png(fig: Any, path: str | Path | None = None, dpi: int = 110) -> bytes:
    """Render a Matplotlib figure to PNG bytes (and optionally a file), then close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def png_data_uri(png: bytes) -> str:
    """Data URI for embedding a PNG in HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass
class Section:
    """One section of an HTML report.

    Parameters
    ----------
    title : str
        Heading.
    text : str
        Plain text paragraph(s) (escaped).
    images : list of (caption, png bytes)
    table : list of dict
        Rows; the keys of the first row are the columns.
    html_body : str
        Pre-rendered, trusted HTML appended as is.
    """

    title: str
    text: str = ""
    images: list[tuple[str, bytes]] = field(default_factory=list)
    table: Sequence[dict[str, Any]] = ()
    html_body: str = ""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows: Sequence[dict[str, Any]]) -> str:
    cols = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d2430}
h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #dde;padding-bottom:.2em;margin-top:1.6em}
.disclaimer{background:#fff4e5;border-left:4px solid #f0a020;padding:.6em 1em;margin:1em 0}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
td,th{border:1px solid #ccd;padding:.25em .6em;text-align:right}th{background:#f3f5f8}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.meta{color:#666;font-size:.85em}
"""


def render_html(title: str, sections: Sequence[Section], meta: dict[str, Any] | None = None) -> str:
    """Render a self-contained HTML report (images embedded, disclaimer on top)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='disclaimer'><strong>{html.escape(DISCLAIMER)}</strong></p>",
    ]
    if meta:
        parts.append(_table([{"field": k, "value": v} for k, v in meta.items()]))
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.extend(f"<p>{html.escape(p)}</p>" for p in s.text.split("\n\n"))
        if s.table:
            parts.append(_table(list(s.table)))
        for caption, png in s.images:
            parts.append(f"<figure><img alt='{html.escape(caption)}' src='{png_data_uri(png)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        if s.html_body:
            parts.append(s.html_body)
    parts.append(f"<p class='meta'>Written by CardioClarity {__version__}.</p></body></html>")
    return "".join(parts)


def save_report(out_dir: str | Path, html: str, figures: Mapping[str, bytes] | None = None,
                name: str = "report.html") -> Path:
    """Write a rendered report and its figures into ``out_dir`` (created); return the HTML path.

    Renderers return text and bytes; this is the one place the CLI puts them on disk: each figure
    as ``out_dir/<its name>`` (the names the HTML refers to), the page as ``out_dir/name``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fname, png in (figures or {}).items():
        (out / fname).write_bytes(png)
    path = out / name
    path.write_text(html, encoding="utf-8")
    return path


def write_html_report(path: str | Path, title: str, sections: Sequence[Section],
                      meta: dict[str, Any] | None = None) -> Path:
    """Write :func:`render_html` output to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(title, sections, meta), encoding="utf-8")
    return path
