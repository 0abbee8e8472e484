"""Self-contained HTML pages: every image is embedded as a data URI, no external files."""

from __future__ import annotations

import base64
import html
from typing import Iterable, Optional, Sequence

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
img{max-width:100%;height:auto} .meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.9em} th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f5f5f5} td.l,th.l{text-align:left} figure{margin:1em 0} figcaption{color:#555;font-size:.9em}
ul.cols li{margin:.2em 0} .tiles{display:flex;flex-wrap:wrap;gap:0 1em}
@media (min-width:1000px){th{white-space:nowrap}}
"""


def esc(s) -> str:
    return html.escape(str(s))


def img(png: bytes, alt: str = "", width: Optional[int] = None) -> str:
    w = f' width="{width}"' if width else ""
    return f'<img alt="{esc(alt)}"{w} src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def figure(png: bytes, caption: str, alt: str = "", width: Optional[int] = None) -> str:
    return f"<figure>{img(png, alt or caption, width)}<figcaption>{esc(caption)}</figcaption></figure>"


def table(header: Sequence[str], rows: Iterable[Sequence], left: int = 1) -> str:
    def cell(tag, v, i):
        cls = ' class="l"' if i < left else ""
        if isinstance(v, float):
            v = f"{v:.4f}"
        return f"<{tag}{cls}>{esc(v)}</{tag}>"
    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", v, i) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, body: str, meta: str = "") -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
            + (f'<p class="meta">{esc(meta)}</p>' if meta else "") + body + "</body></html>\n")
