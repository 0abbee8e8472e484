"""The page of ``preimage diagnose``: dead and rare channels per layer."""

from __future__ import annotations

from typing import Dict

from ..jobs.projection.diagnose import Diagnosis
from . import html, plot


def render(d: Diagnosis, blank: Dict[str, bytes]) -> str:
    """``blank``: layer -> PNG of its dead channels' DeconvNet projections."""
    rows = [[k, v.channels, len(v.dead), len(v.rare), ", ".join(map(str, v.dead[:12])) + (" ..." if len(v.dead) > 12 else "")]
            for k, v in d.layers.items()]
    body = [f"<p>Over {d.images} images: for every channel of every layer, the fraction of images in which "
            "it is active anywhere in its map (output above zero). A channel that is never active is <b>dead</b>: "
            "no image reaches it, so it contributes nothing and its projection back to pixels is blank. One active "
            f"on fewer than {100 * d.rare_below:g}% of the images is <b>rare</b>. Layers whose outputs are never "
            "negative by construction (after a ReLU) show the same dead channels as the layer that feeds them.</p>",
            html.table(["layer", "channels", "dead", "rare", "dead channels"], rows, left=1)]
    body.append("<h2>How often each channel is active, per layer</h2><div class=tiles>")
    for k, v in d.layers.items():
        hist = plot.histogram(v.active_fraction, [i / 20 for i in range(21)], "fraction of images where active",
                              f"{k}: {len(v.dead)} dead, {len(v.rare)} rare of {v.channels}")
        body.append("<div>" + html.figure(hist, f"{k}", width=340) + "</div>")
    body.append("</div>")
    for k, png in blank.items():
        body.append(f"<h2>Dead channels of {html.esc(k)}</h2>" + html.figure(
            png, f"{k}: DeconvNet projections of dead channels on the first image (flat gray: nothing comes back)."))
    return html.page(f"Dead and rare channels of {d.model}", "".join(body),
                     f"{d.images} images; command: preimage diagnose")
