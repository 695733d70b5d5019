"""An offline API reference page rendered from the app's OpenAPI schema.

FastAPI's default ``/docs`` loads Swagger UI from a CDN, which fails on an air-gapped hospital
network; this page is plain HTML built on the server, with no script and no network. The
machine-readable schema stays at ``/openapi.json`` for client generators.
"""

from __future__ import annotations

import html
import json
from typing import Any

from cardioclarity import DISCLAIMER

__all__ = ["render_docs"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#1d2430}code,pre{background:#f3f5f8;padding:.1em .3em;border-radius:3px}
pre{padding:.6em;overflow:auto}.op{border:1px solid #dde;border-radius:6px;margin:1em 0;padding:.6em 1em}
.m{font-weight:700;padding:.1em .5em;border-radius:3px;color:#fff;background:#3a6ea5}
.m.post{background:#2f855a}table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ccd;padding:.2em .5em;text-align:left;vertical-align:top}
.disclaimer{background:#fff4e5;border-left:4px solid #f0a020;padding:.6em 1em}"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _para(text: str) -> str:
    return "".join(f"<p>{_e(p)}</p>" for p in text.split("\n\n") if p.strip())


def _schema_type(schema: dict) -> str:
    if "anyOf" in schema:
        return " | ".join(_schema_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    return schema.get("type", "object")


def render_docs(spec: dict) -> str:
    """HTML reference of every operation in an OpenAPI ``spec`` (parameters, bodies, responses)."""
    info = spec.get("info", {})
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(info.get('title'))}"
             f" {_e(info.get('version'))}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_e(info.get('title'))} <small>{_e(info.get('version'))}</small></h1>",
             f"<p class='disclaimer'><strong>{_e(DISCLAIMER)}</strong></p>",
             _para(info.get("description", "").replace("**", "").replace("`", "")),
             "<p>Machine-readable schema: <a href='/openapi.json'>/openapi.json</a>. "
             "Web page: <a href='/'>/</a>.</p>"]
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            parts.append(f"<div class='op'><h2><span class='m {method}'>{method.upper()}</span> "
                         f"<code>{_e(path)}</code> — {_e(op.get('summary', ''))}</h2>")
            parts.append(_para(op.get("description", "").replace("`", "")))
            params = op.get("parameters", [])
            if params:
                parts.append("<h3>Query parameters</h3><table><tr><th>name</th><th>type</th>"
                             "<th>default</th><th>description</th></tr>")
                for p in params:
                    schema = p.get("schema", {})
                    parts.append(f"<tr><td><code>{_e(p['name'])}</code></td><td>"
                                 f"{_e(_schema_type(schema))}</td><td>{_e(schema.get('default', ''))}"
                                 f"</td><td>{_e(p.get('description', '').replace('`', ''))}</td></tr>")
                parts.append("</table>")
            body = op.get("requestBody")
            if body:
                parts.append(f"<h3>Request body</h3>{_para(body.get('description', '').replace('`', ''))}"
                             f"<p>Content types: {', '.join(f'<code>{_e(c)}</code>' for c in body.get('content', {}))}</p>")
            parts.append("<h3>Responses</h3><table><tr><th>status</th><th>meaning</th>"
                         "<th>content</th></tr>")
            for status, resp in op.get("responses", {}).items():
                content = ", ".join(resp.get("content", {}))
                parts.append(f"<tr><td>{_e(status)}</td><td>{_e(resp.get('description', ''))}</td>"
                             f"<td>{_e(content)}</td></tr>")
            parts.append("</table>")
            for status, resp in op.get("responses", {}).items():
                for media, content in resp.get("content", {}).items():
                    if "example" in content:
                        parts.append(f"<details><summary>Example {_e(status)} <code>{_e(media)}"
                                     f"</code></summary><pre>"
                                     f"{_e(json.dumps(content['example'], indent=2))}</pre></details>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)
