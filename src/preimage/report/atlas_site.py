"""The atlas as a static site: ``index.html`` (the model and its layers), ``layers/LAYER.html`` (every
unit's visualization as a thumbnail, sortable by activity, dead and rare marked) and
``units/LAYER/UNIT.html`` (a unit's visualization, its top-k patches beside their projections, its
least-activating images, its histogram, the classes it pushes up and down, its accentuation;
previous / next / back, with the keyboard too).

Everything is relative to the site's root and nothing is fetched from outside it. Each data image
is stored once (``img/N.png``, at the network's input size up to 160 px); a patch is that image cropped by CSS
(an ``overflow:hidden`` box), so no pixel of the data is written twice. Pictures are loaded lazily,
and a layer page holds thumbnails, never figures: a page of 256 units stays small.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import torch

from ..images import encode_png, resize
from ..jobs.atlas import Atlas, AtlasLayer, slug
from .html import esc

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.5em;margin:.2em 0} h2{font-size:1.15em;margin-top:1.4em;border-bottom:1px solid #ddd}
a{color:#1f5fa8} .meta{color:#666;font-size:.9em} nav{font-size:.95em;margin:.3em 0 1em}
nav a{margin-right:1em} table{border-collapse:collapse;font-size:.9em;max-width:100%}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f5f5f5} td.l,th.l{text-align:left}
.wrap{overflow-x:auto;max-width:100%}
img.px{image-rendering:pixelated} .tiles{display:flex;flex-wrap:wrap;gap:6px}
.tile{display:block;width:72px;text-align:center;font-size:.75em;color:#333;text-decoration:none;
border:2px solid transparent;border-radius:3px}
.tile img{width:64px;height:64px;display:block;margin:2px auto 0}
.tile.dead{border-color:#c0392b} .tile.rare{border-color:#e67e22}
.badge{display:inline-block;padding:0 .45em;border-radius:3px;color:#fff;font-size:.85em;margin-left:.4em}
.badge.dead{background:#c0392b} .badge.rare{background:#e67e22}
.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
.cell{text-align:center;font-size:.75em;color:#555}
.crop{overflow:hidden;position:relative;display:block;margin:0 auto;background:#888}
.crop img{position:absolute;max-width:none;image-rendering:pixelated}
.pair{display:flex;gap:2px}
button{font:inherit;font-size:.85em;margin-right:.4em}
"""

SHOW = 96          # px a 32-px picture is shown at (larger inputs are shown at min(size, 160))
PATCH = 72         # px a patch is shown at


def _shown(size: int) -> int:
    return SHOW if size <= 64 else min(size, 160)


def _page(title: str, body: str, root: str, script: str = "") -> bytes:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}"
            + (f"<script>{script}</script>" if script else "") + "</body></html>\n").encode("utf-8")


def _img(src: str, alt: str, w: int, h: Optional[int] = None, lazy: bool = True, cls: str = "px") -> str:
    return (f'<img class="{cls}" src="{esc(src)}" alt="{esc(alt)}" width="{w}" height="{h or w}"'
            + (' loading="lazy"' if lazy else "") + ">")


def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def _flag(a: AtlasLayer, u: int, dead: set, rare: set) -> str:
    return "dead" if u in dead else "rare" if u in rare else ""


def _histogram_svg(a: AtlasLayer, u: int) -> str:
    """The unit's strongest value per image over the data, as bars (inline SVG: no file, no request)."""
    h = a.stream.hist
    counts = h.counts[u].tolist()
    edges = h.edges(u).tolist()
    used = [i for i, c in enumerate(counts) if c]
    lo, hi = (used[0], used[-1]) if used else (0, len(counts) - 1)
    counts, edges = counts[lo:hi + 1], edges[lo:hi + 2]
    w, ht, pad = 360, 120, 24
    top = max(counts) if counts and max(counts) > 0 else 1
    bw = (w - 2 * pad) / max(len(counts), 1)
    bars = "".join(f'<rect x="{pad + i * bw:.1f}" y="{ht - pad - (ht - 2 * pad) * c / top:.1f}" width="{max(bw - 1, 1):.1f}" '
                   f'height="{(ht - 2 * pad) * c / top:.1f}" fill="#4a7ab5"><title>{c} images in '
                   f'[{edges[i]:.3g}, {edges[i + 1]:.3g})</title></rect>' for i, c in enumerate(counts))
    zero = ""
    if edges and edges[0] < 0 < edges[-1]:
        x = pad + (0 - edges[0]) / (edges[-1] - edges[0]) * (w - 2 * pad)
        zero = f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad / 2}" y2="{ht - pad}" stroke="#999" stroke-dasharray="3,3"/>'
    labels = (f'<text x="{pad}" y="{ht - 6}" font-size="11">{edges[0]:.3g}</text>'
              f'<text x="{w - pad}" y="{ht - 6}" font-size="11" text-anchor="end">{edges[-1]:.3g}</text>'
              f'<text x="{pad}" y="12" font-size="11">{top} image{"" if top == 1 else "s"}</text>') if edges else ""
    return (f'<svg viewBox="0 0 {w} {ht}" width="{w}" height="{ht}" role="img" style="max-width:100%;height:auto" '
            f'aria-label="histogram of the unit\'s strongest value per image">{bars}{zero}'
            f'<line x1="{pad}" x2="{w - pad}" y1="{ht - pad}" y2="{ht - pad}" stroke="#333"/>{labels}</svg>')


def _crop(r: Atlas, i: int, box: List[int], field: int, root: str) -> str:
    """Image ``i`` cropped to ``box`` by CSS (the stored image, never a copy of its pixels)."""
    t, left, b, rr = box
    s = PATCH / max(field, 1)
    return (f'<span class="crop" style="width:{(rr - left) * s:.0f}px;height:{(b - t) * s:.0f}px">'
            f'<img src="{root}img/{i}.png" alt="image {i}" loading="lazy" width="{r.size * s:.0f}" '
            f'height="{r.size * s:.0f}" style="left:-{left * s:.0f}px;top:-{t * s:.0f}px"></span>')


THUMB = 64         # px of a layer page's thumbnails (a larger visualization gets a thumbnail of its own)


def _thumb_path(r: Atlas, ls: str, u: int) -> str:
    return f"../vis/{ls}/{u}" + ("_t" if r.size > THUMB else "") + ".png"


def _vis_path(root: str, ls: str, u: int, k: int = 0) -> str:
    return f"{root}vis/{ls}/{u}" + (f"_s{k}" if k else "") + ".png"


def unit_page(r: Atlas, name: str, a: AtlasLayer, j: int, dead: set, rare: set) -> bytes:
    u = a.units[j]
    root = "../../"
    ls = slug(name)
    prev_u = a.units[j - 1] if j > 0 else None
    next_u = a.units[j + 1] if j + 1 < len(a.units) else None
    nav = ('<nav id="nav">' + (f'<a id="prev" href="{prev_u}.html">&larr; unit {prev_u}</a>' if prev_u is not None else "")
           + f'<a id="up" href="../../layers/{esc(ls)}.html">layer {esc(name)}</a>'
           + (f'<a id="next" href="{next_u}.html">unit {next_u} &rarr;</a>' if next_u is not None else "")
           + f'<a href="{root}index.html">index</a></nav>')
    flag = _flag(a, u, dead, rare)
    frac = float(a.active_fraction[u])
    st = a.stream
    show = _shown(r.size)
    head = (f"<h1>{esc(r.model)} / {esc(name)} / unit {u}"
            + (f'<span class="badge {flag}">{flag}</span>' if flag else "") + "</h1>" + nav
            + f'<p class="meta">active (above zero somewhere) on {100 * frac:.1f}% of {r.images} images; strongest value '
            f"over the data {float(st.top.values[u, 0]):.4g}, mean {float(st.moments.mean()[u]):.4g}; "
            f"receptive field {a.field} px. Keys: &larr; / &rarr; previous / next unit, u the layer.</p>")
    samples = a.vis.shape[1]
    vis = "".join(f'<div class="cell">{_img(_vis_path(root, ls, u, k), f"visualization {k}", show, lazy=False)}'
                  f"<br>normalized {float(a.normalized[j, k]):.2f}</div>" for k in range(samples))
    k = st.top.index.shape[1]
    tops = []
    for t in range(k):
        i = int(st.top.index[u, t])
        box = [int(v) for v in a.boxes[j, t]]
        sc = PATCH / max(a.field, 1)   # the projection's cell holds the crop at its top left: show that part
        proj = (f'<span class="crop" style="width:{(box[3] - box[1]) * sc:.0f}px;height:{(box[2] - box[0]) * sc:.0f}px">'
                f'<img src="proj_{u}.png" alt="projection {t}" loading="lazy" width="{PATCH * k}" height="{PATCH}" '
                f'style="left:-{PATCH * t}px;top:0"></span>')
        tops.append(f'<div class="cell"><div class="pair">{_crop(r, i, box, a.field, root)}{proj}</div>'
                    f'<span title="{esc(r.names[i])}">{float(st.top.values[u, t]):.3g}</span></div>')
    bottoms = "".join(f'<div class="cell">{_img(f"{root}img/{int(i)}.png", f"image {int(i)}", 48)}<br>'
                      f'<span title="{esc(r.names[int(i)])}">{float(v):.3g}</span></div>'
                      for i, v in zip(st.bottom.index[u], st.bottom.values[u]))
    ties = k > 1 and float(st.bottom.values[u, 0]) == float(st.bottom.values[u, -1])
    tie_note = (f"<p class='meta'>All {k} give the same value: many images tie there (for a rectified unit, every "
                "image it is silent on); these are a fixed spread of them.</p>") if ties else ""
    body = [head, "<h2>Visualization</h2>", f'<div class="row">{vis}</div>',
            f"<p class='meta'>{esc(r.settings.param)} parameterization, {r.settings.iters} iterations; normalized = the "
            "activation reached / the unit's strongest value over the data.</p>",
            f"<h2>Top {k} images</h2><p class='meta'>Each patch (the receptive field, cropped from the image) beside its "
            f"{esc(r.settings.rule)} projection; the number is the unit's strongest value in the image.</p>",
            f'<div class="row">{"".join(tops)}</div>', f"<h2>Least activating {k}</h2>", tie_note, f'<div class="row">{bottoms}</div>',
            "<h2>Histogram</h2>", _histogram_svg(a, u)]
    push = a.pushes()
    if push is not None and r.classes:
        corr = st.moments.correlation()[u]
        up = ", ".join(f"{esc(r.classes[int(c)])} ({float(corr[c]):+.2f})" for c in push[0][j])
        down = ", ".join(f"{esc(r.classes[int(c)])} ({float(corr[c]):+.2f})" for c in push[1][j])
        body += ["<h2>Classes</h2>", f"<p>Pushes up: {up}<br>Pushes down: {down}</p><p class='meta'>Correlation over the "
                 "data between the unit's strongest value in an image and each class's logit.</p>"]
    top0 = int(st.top.index[u, 0])
    g = float(a.gain[j])
    before, after = (float(v) for v in a.accent_act[j])
    what = "its mean over the map" if len(a.stream.shape) == 3 else "its value"
    body += ["<h2>Accentuation</h2>", '<div class="row">'
             f'<div class="cell">{_img(f"{root}img/{top0}.png", "top image", show)}<br>top image</div>'
             f'<div class="cell">{_img(f"acc_{u}.png", "accentuated", show)}<br>accentuated</div></div>',
             f"<p class='meta'>The unit pushed in its top image while a pixel penalty keeps the photo ({r.settings.accent_iters} "
             f"iterations): the unit ({what}) goes from {before:.3g} to {after:.3g}"
             + (f" (gain {_fmt(g)})" if not math.isnan(g) else "") + f"; SSIM to the photo {float(a.accent_ssim[j]):.3f}.</p>"]
    script = ("document.addEventListener('keydown',function(e){if(e.altKey||e.ctrlKey||e.metaKey)return;"
              "var m={ArrowLeft:'prev',ArrowRight:'next',u:'up'}[e.key];var l=m&&document.getElementById(m);"
              "if(l){location.href=l.getAttribute('href');}});")
    return _page(f"{r.model} {name} unit {u}", "".join(body), root, script)


def layer_page(r: Atlas, name: str, a: AtlasLayer) -> bytes:
    ls = slug(name)
    dead, rare = set(a.dead), set(a.rare)
    tiles = []
    for u in a.units:
        flag = _flag(a, u, dead, rare)
        frac = float(a.active_fraction[u])
        tiles.append(f'<a class="tile {flag}" href="../units/{esc(ls)}/{u}.html" data-unit="{u}" data-active="{frac:.6f}" '
                     f'title="unit {u}: active on {100 * frac:.1f}% of the images">'
                     f'{_img(_thumb_path(r, ls, u), f"unit {u}", 64)}{u}' + (f" {flag}" if flag else "") + "</a>")
    verdict = (f"{len(a.dead)} dead (red), {len(a.rare)} rare (orange)" if a.judged else
               "not judged: the layer's output goes negative, so a channel never above zero can still carry signal "
               "(see the layer after its non-linearity)")
    body = (f"<h1>{esc(r.model)} / {esc(name)}</h1><nav><a href='../index.html'>index</a></nav>"
            f"<p class='meta'>{len(a.units)} of {a.stream.shape[0]} units, output {' x '.join(map(str, a.stream.shape))}, "
            f"receptive field {a.field} px; {verdict}.</p>"
            "<p><button id='by-unit'>unit order</button><button id='by-most'>most active first</button>"
            "<button id='by-least'>least active first</button></p>"
            f'<div class="tiles" id="tiles">{"".join(tiles)}</div>')
    script = ("function sortBy(f){var t=document.getElementById('tiles');var a=Array.prototype.slice.call(t.children);"
              "a.sort(f);a.forEach(function(x){t.appendChild(x);});}"
              "function u(x){return +x.dataset.unit;}function v(x){return +x.dataset.active;}"
              "document.getElementById('by-unit').onclick=function(){sortBy(function(a,b){return u(a)-u(b);});};"
              "document.getElementById('by-most').onclick=function(){sortBy(function(a,b){return v(b)-v(a)||u(a)-u(b);});};"
              "document.getElementById('by-least').onclick=function(){sortBy(function(a,b){return v(a)-v(b)||u(a)-u(b);});};")
    return _page(f"{r.model} {name}", body, "../", script)


def index_page(r: Atlas) -> bytes:
    rows = []
    for name, a in r.layers.items():
        ls = slug(name)
        verdict = (str(len(a.dead)), str(len(a.rare))) if a.judged else ("not judged", "-")
        silent = int((a.stream.active == 0).sum())
        rows.append(f"<tr><td class=l><a href='layers/{esc(ls)}.html'>{esc(name)}</a></td>"
                    f"<td>{' x '.join(map(str, a.stream.shape))}</td><td>{a.field}</td><td>{len(a.units)}</td>"
                    f"<td>{silent}</td><td>{verdict[0]}</td><td>{verdict[1]}</td></tr>")
    acc = f", top-1 accuracy {r.accuracy:.4f} on the folder's labels" if r.accuracy is not None else ""
    s = r.settings
    body = (f"<h1>Atlas of {esc(r.model)}</h1>"
            f"<p class='meta'>Input {r.size} x {r.size} px, normalization mean {', '.join(f'{v:g}' for v in r.mean)}, "
            f"std {', '.join(f'{v:g}' for v in r.std)}; {r.images} images of {esc(r.data)}{acc}"
            + (f"; {len(r.skipped)} unreadable images skipped" if r.skipped else "") + ".</p>"
            "<div class='wrap'><table><tr><th class=l>layer</th><th>output</th><th>receptive field (px)</th><th>units shown</th>"
            f"<th>never above zero</th><th>dead</th><th>rare</th></tr>{''.join(rows)}</table></div>"
            f"<p class='meta'>Each unit: its visualization ({esc(s.param)}, {s.iters} iterations, {s.samples} sample(s)), "
            f"its top {s.k} and least activating {s.k} images, the {esc(s.rule)} projections of its top patches, the "
            f"histogram of its strongest value per image, the classes it pushes up and down, and an accentuation "
            f"of its top image. Never above zero, dead and rare count all of a layer's channels, shown or not. "
            f"Dead / rare: never / on fewer than {100 * s.rare_below:g}% of the images above zero, "
            "judged only in layers whose output is never negative; elsewhere (a convolution before its BatchNorm and "
            "ReLU, an fc layer before its ReLU) a channel never above zero is counted but not called dead: after "
            "a BatchNorm it can still fire, and its sign is information.</p>")
    return _page(f"Atlas of {r.model}", body, "")


def _png(u8: torch.Tensor) -> bytes:
    """A (3, H, W) uint8 picture as PNG."""
    return encode_png(u8.permute(1, 2, 0).contiguous().numpy())


def site(r: Atlas) -> Dict[str, bytes]:
    """Every page and picture of the site (path -> bytes)."""
    out: Dict[str, bytes] = {"index.html": index_page(r)}
    for i, pic in r.pictures.items():
        out[f"img/{i}.png"] = _png(pic)
    for name, a in r.layers.items():
        ls = slug(name)
        out[f"layers/{ls}.html"] = layer_page(r, name, a)
        dead, rare = set(a.dead), set(a.rare)
        for j, u in enumerate(a.units):
            for k in range(a.vis.shape[1]):
                out[_vis_path("", ls, u, k)] = _png(a.vis[j, k])
            if r.size > THUMB:
                out[f"vis/{ls}/{u}_t.png"] = encode_png(resize(a.vis[j, 0].float() / 255, THUMB))
            out[f"units/{ls}/proj_{u}.png"] = _png(torch.cat(list(a.proj[j]), dim=2))
            out[f"units/{ls}/acc_{u}.png"] = _png(a.accent[j])
            out[f"units/{ls}/{u}.html"] = unit_page(r, name, a, j, dead, rare)
    return out
