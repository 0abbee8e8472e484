"""The page of ``preimage diagnose``: dead and rare channels per layer.

First the summary table (every layer: channels, whether it is judged, dead, rare, the dead
channels), then one small histogram per judged layer in a grid (titled once, by its caption),
then the DeconvNet projections of dead channels for the layers that have any.
"""

from __future__ import annotations

from typing import Dict, List

from ..jobs.projection.diagnose import Diagnosis, LayerStats
from . import html, plot

GRID = "display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:0 1.2em"


def _ids(ids: List[int], show: int = 12) -> str:
    return ", ".join(map(str, ids[:show])) + (f" ... (+{len(ids) - show})" if len(ids) > show else "")


def activity_histogram(v: LayerStats, rare_below: float, rare_possible: bool) -> bytes:
    """Channels by the fraction of images where they are active; dead channels (never active) as a
    red bar of their own left of zero, the rare threshold as a dashed line."""
    fig = plot.new_figure(3.0, 1.9, dpi=100)
    ax = fig.subplots()
    alive = [f for f in v.active_fraction if f > 0]
    ax.hist(alive, bins=[i / 20 for i in range(21)], color="#4a7ab5")
    ax.bar([-0.09], [len(v.dead)], width=0.07, color="#c0392b")
    if rare_possible:
        ax.axvline(rare_below, color="0.35", linestyle="--", linewidth=1)
    ax.set_xlim(-0.14, 1.03)
    ax.set_xticks([-0.09, 0.25, 0.5, 0.75, 1.0], ["dead", ".25", ".5", ".75", "1"])
    ax.set_xticks([0.0], minor=True)
    ax.tick_params(labelsize=9)
    ax.set_xlabel("fraction of images where active", fontsize=9)
    ax.set_ylabel("channels", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout(pad=0.3)
    return plot.to_png(fig)


def summary_table(d: Diagnosis) -> str:
    """One row per layer: channels, its lowest output, judged, dead, rare, the dead channels."""
    head = "".join(f"<th{' class=l' if h in ('layer', 'dead channels') else ''}>{h}</th>"
                   for h in ("layer", "channels", "lowest output", "judged", "dead", "rare", "dead channels"))
    rows = []
    for k, v in d.layers.items():
        verdict = ["yes", str(len(v.dead)), str(len(v.rare)) if d.rare_possible else "-"] if v.judged else ["no", "-", "-"]
        cells = [f"<td class=l>{html.esc(k)}</td>", f"<td>{v.channels}</td>", f"<td>{v.low:.3g}</td>"]
        cells += [f"<td>{c}</td>" for c in verdict] + [f'<td class=l style="white-space:normal">{html.esc(_ids(v.dead))}</td>']
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table style="white-space:nowrap"><tr>{head}</tr>{"".join(rows)}</table>'


def render(d: Diagnosis, blank: Dict[str, bytes]) -> str:
    """``blank``: layer -> PNG of its dead channels' DeconvNet projections."""
    judged = {k: v for k, v in d.layers.items() if v.judged}
    rare = (f"one active on fewer than {100 * d.rare_below:g}% of the images is <b>rare</b>." if d.rare_possible else
            f"<b>rare</b> (active on fewer than {100 * d.rare_below:g}% of the images) cannot occur over {d.images} "
            f"images: a channel active on one of them is active on {100 / max(d.images, 1):.3g}% (it takes more "
            f"than {1 / d.rare_below:g} images).")
    body = [f"<p>Over {d.images} images: for every channel of every layer, the fraction of images in which it "
            "is active anywhere in its map (output above zero).</p>",
            "<p><b>Which layers are judged.</b> Never being above zero means carrying nothing only where zero is "
            "the floor, after the non-linearity. So a layer is judged only if its output is never negative over "
            "these images (a ReLU, a pooling of rectified maps, a block ending in a ReLU). A layer whose output "
            "goes negative (a convolution or BatchNorm before its ReLU, an fc layer before its ReLU, logits) is "
            "<i>not judged</i>: its statistics are in <code>diagnose.json</code>, but a channel of it that is never "
            "positive still carries signal in its sign; see the layer after its non-linearity.</p>",
            "<p>In a judged layer, a channel never active is <b>dead</b>: over these images it passes only zeros "
            f"on, and its projection back to pixels is blank; {rare}</p>",
            summary_table(d)]
    if judged:
        body.append("<h2>How often each channel is active (judged layers)</h2>"
                    "<p class=meta>Channels by the fraction of images where they are active; red: dead"
                    + (f"; dashed: the rare threshold ({100 * d.rare_below:g}%)" if d.rare_possible else "") + ".</p>"
                    f'<div style="{GRID}">')
        for k, v in judged.items():
            png = activity_histogram(v, d.rare_below, d.rare_possible)
            rare_n = f", {len(v.rare)} rare" if d.rare_possible else ""
            body.append(html.figure(png, f"{k}: {len(v.dead)} dead{rare_n} of {v.channels}",
                                    alt=f"histogram of channel activity of {k}", width=300))
        body.append("</div>")
    else:
        body.append("<p>No layer here is rectified, so none is judged: add the layers after the non-linearities.</p>")
    if blank:
        body.append("<h2>Dead channels projected to pixels</h2>")
        for k, png in blank.items():
            body.append(html.figure(png, f"{k}: DeconvNet projections of its first dead channels on the first image "
                                         "(flat gray: nothing comes back)."))
    return html.page(f"Dead and rare channels of {d.model}", "".join(body),
                     f"{d.images} images; command: preimage diagnose")
