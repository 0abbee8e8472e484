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


def line_plot(xs: Sequence[str], series: dict, ylabel: str, title: str = "",
              references: Optional[dict] = None) -> bytes:
    """A small matplotlib line plot (categorical x) rendered to PNG bytes (Agg backend).

    ``series``: name -> one y per x (``None`` leaves a gap); ``references``: name -> a y drawn as a
    dashed horizontal line.
    """
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for name, ys in series.items():
        ax.plot(range(len(xs)), [float("nan") if y is None else y for y in ys], marker="o", label=name)
    for name, y in (references or {}).items():
        ax.axhline(y, linestyle="--", color="0.5", linewidth=1, label=name)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    # below the axes: a legend inside would cover the curves or the reference lines
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def histogram(values: Sequence[float], bins: Sequence[float], xlabel: str, title: str = "") -> bytes:
    """A small matplotlib histogram rendered to PNG bytes (Agg backend)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 2.6), dpi=100)
    ax.hist(list(values), bins=list(bins), color="#4a7ab5")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("channels")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
