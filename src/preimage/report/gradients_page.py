"""The gradient-leakage page and its figures: what a federated-learning server rebuilds from one
update, and what each defense costs, written from the measured record for someone who has not read
the papers."""

from __future__ import annotations

from typing import Dict, List, Optional

import torch

from ..images import encode_png
from . import plot
from .figures import grid
from .html import esc, figure, page, table

#: images shown in the figure (the rest are in the record and the reconstructions folder)
SHOW = 8
MARKERS = {"noise": "o", "prune": "^", "quantize": "s", "dpsgd": "D"}


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _acc(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _name(r: Dict, k: int) -> str:
    names = r.get("class_names") or []
    return f"{names[k]} ({k})" if 0 <= k < len(names) else str(k)


def kinds(r: Dict) -> List[str]:
    return list(dict.fromkeys(v["defense"] for v in r["variants"][1:]))


def _severity(v: Dict) -> float:
    return -v["strength"] if v["defense"] == "quantize" else v["strength"]


def tried(r: Dict, kind: str) -> List[Dict]:
    """One kind's entries from weakest to strongest."""
    return sorted((v for v in r["variants"][1:] if v["defense"] == kind), key=_severity)


def shown(n: int, show: int = SHOW) -> List[int]:
    """The images the figure shows: all of them, or ``show`` evenly spaced."""
    return list(range(n)) if n <= show else [(i * n) // show for i in range(show)]


def examples_png(r: Dict, originals: torch.Tensor, reconstructions: Dict[str, torch.Tensor]) -> bytes:
    """Rows: private images; columns: the image, then what the attacker rebuilds from each update."""
    cols = ["private image", "from the update"] + [f"under {v['label']}" for v in r["variants"][1:]]
    pick = shown(len(originals))
    rows = [[originals[i]] + [reconstructions[v["key"]][i] for v in r["variants"]] for i in pick]
    return encode_png(grid(rows, cols, [f"#{i}" for i in pick], min_side=64))


def tradeoff_png(r: Dict) -> bytes:
    """PSNR of the attack against the accuracy a model trains to under each defense; one line per kind,
    from no defense (star) to the strongest; dashed: the flat gray image."""
    fig = plot.new_figure(6.4, 4.2)
    ax = fig.subplots()
    base = r["variants"][0]
    for kind in kinds(r):
        pts = [base] + tried(r, kind)
        ax.plot([p["utility"] for p in pts], [p["psnr"] for p in pts], marker=MARKERS.get(kind, "o"), label=kind)
        for p in pts[1:]:
            ax.annotate(p["label"].replace("DP-SGD ", ""), (p["utility"], p["psnr"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points", color="0.3")
    ax.plot([base["utility"]], [base["psnr"]], "k*", markersize=11, label="no defense")
    ax.axhline(r["floor"]["psnr"], color="0.4", linestyle="--", linewidth=1.2,
               label=f"flat gray image ({r['floor']['psnr']:.1f} dB)")
    ax.set_xlabel("test accuracy of a model trained with the defense (utility)")
    ax.set_ylabel("PSNR of the reconstruction, dB (leakage)")
    ax.set_title(f"{r['model']}, batch {r['batch_size']}: leakage against utility", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False, fontsize=8)
    fig.tight_layout()
    return plot.to_png(fig)


def psnr_png(r: Dict) -> bytes:
    """Mean PSNR per update (no defense, then each defense), the gray floor dashed."""
    names = [v["label"] for v in r["variants"]]
    return plot.line_plot(names, {"mean PSNR of the reconstructions": [v["psnr"] for v in r["variants"]]}, "dB",
                          f"{r['model']}, batch {r['batch_size']}: what the attack recovers per update",
                          {f"flat gray image ({r['floor']['psnr']:.1f} dB)": r["floor"]["psnr"]})


def findings(r: Dict) -> List[str]:
    base, g, ch = r["variants"][0], r["floor"], r["chance"]
    out = [f"From the undefended update the reconstructions reach a mean PSNR of <b>{base['psnr']:.1f} dB</b> "
           f"(SSIM {base['ssim']:.2f}); a flat gray picture scores {g['psnr']:.1f} dB (SSIM {g['ssim']:.2f}). "
           f"Shown the reconstruction, the attacker picks the right private image first time for "
           f"{_pct(base['reid_top1'])} of them (a blind guess: {_pct(ch['reid_top1'])}), and it reads "
           f"{_pct(base['label_rate'])} of the labels off the update before it starts."]
    if base["at_floor"]:
        out.append("Even without a defense the attack stays at the floor here: this update gives little away "
                   "at this budget.")
    for kind in kinds(r):
        ts = tried(r, kind)
        hit = next((v for v in ts if v["at_floor"]), None)
        cost = ""
        if hit is not None and hit.get("utility") is not None and base.get("utility") is not None:
            cost = f"; a model trained with it reaches {_acc(hit['utility'])} instead of {_acc(base['utility'])}"
        if hit is None:
            s = ts[-1]
            out.append(f"<b>{esc(kind)}</b>: none of the strengths tried brings the attack to the gray floor; the "
                       f"strongest, {esc(s['label'])}, still leaves {s['psnr']:.1f} dB and re-identification "
                       f"{_pct(s['reid_top1'])}" + (f" at {_acc(s['utility'])} accuracy" if s.get("utility") is not None
                                                     else "") + ".")
        else:
            out.append(f"<b>{esc(kind)}</b>: from {esc(hit['label'])} on, the attack is at the gray floor "
                       f"({hit['psnr']:.1f} dB, re-identification {_pct(hit['reid_top1'])}){cost}.")
    return out


def render(r: Dict, examples: bytes, chart: bytes) -> str:
    c, a, g, ch = r["client"], r["attack"], r["floor"], r["chance"]
    shares = ("the gradient of its loss on the batch" if c["local_steps"] == 1 else
              f"how its weights changed after {c['local_steps']} training steps on the batch")
    method = ("<i>inverting gradients</i> (Geiping et al. 2020): it looks for images whose update points the same "
              "way as the one received (cosine distance), preferring smooth images (total variation), by "
              "signed Adam with the pixels kept in [0, 1]" if a["method"] == "ig" else
              "<i>deep leakage from gradients</i> (Zhu et al. 2019): it looks for images whose update is as close "
              "as possible to the one received (squared distance), by L-BFGS")
    labels = {"recovered": "It first reads the batch's labels off the last layer of the update (iDLG for one image, "
                           "a counting rule for several), then",
              "true": "It is told the labels (an upper bound on the attack), then",
              "optimize": "It guesses the labels together with the images (as soft labels), and"}[a["labels"]]
    intro = (f"<p>In federated learning a client does not send its images: it sends {shares}, computed by "
             f"{esc(r['model'])} on a batch of {r['batch_size']} of its {r['n']} private images. The server knows the "
             f"network. How much of each image can it rebuild from one update? {labels} runs {method} "
             f"({a['iters']} iterations, {a['restarts']} restart(s) per batch).</p>"
             f"<p>Each reconstruction is paired with its private image and scored by PSNR and SSIM (higher = closer), "
             f"and by <b>re-identification</b>: the attacker compares it with all {r['n']} private images by "
             f"{esc(r['comparison'])} and names the most similar. Every number reads against a <i>floor</i>: a flat "
             f"gray picture, which carries no information.</p>")
    util = r.get("utility")
    head = ["update", "change", "PSNR (dB)", "SSIM", "re-id top-1", "re-id top-5", "labels recovered",
            "trained accuracy (utility)", "at the floor"]
    rows = [[v["label"], v["update_change"], f"{v['psnr']:.2f}", v["ssim"], v["reid_top1"], v["reid_top5"],
             v["label_rate"], _acc(v.get("utility")), "yes" if v["at_floor"] else "no"] for v in r["variants"]]
    rows.append(["flat gray (floor)", "", f"{g['psnr']:.2f}", g["ssim"], g["reid_top1"], g["reid_top5"],
                 ch["label_rate"], "", ""])
    body = [intro, "<h2>What one update gives away</h2>", table(head, rows),
            "<ul>" + "".join(f"<li>{s}</li>" for s in findings(r)) + "</ul>",
            figure(examples, "Private images (left) and what the server rebuilds from the update of their batch, "
                   "without and with each defense.", width=min(1000, 110 * len(r["variants"]) + 160))]
    if len(r["variants"]) > 1:
        body.append("<h2>What a defense costs</h2>")
        body.append("<p>Each defense changes the update before the server sees it: <b>noise</b> adds Gaussian noise "
                    "(strength = its size relative to the update's own RMS), <b>prune</b> zeroes the given fraction "
                    "of each tensor's smallest numbers, <b>quantize</b> keeps a few bits per number, and <b>DP-SGD</b> "
                    "clips each image's gradient to norm C and adds noise of s x C inside every step. "
                    "<i>change</i> is how far the update moved, relative to its size. The attacker does not adapt "
                    "to the defense, so its numbers are a lower bound on what leaks.</p>")
        if util:
            body.append(f"<p>Utility: a small network trained for {util['steps']} steps of {util['batch']} public "
                        f"images ({esc(util['public'])}) with every step's update through the defense, tested on "
                        f"{util['test']} other public images.</p>")
            body.append(figure(chart, "Leakage (PSNR) against utility (accuracy): each line starts at no defense "
                               "(star) and strengthens one defense; dashed: the flat gray image.", width=640))
        else:
            body.append("<p>Utility was not measured (no public folder was given).</p>")
            body.append(figure(chart, "Mean PSNR per update; dashed: the flat gray image.", width=640))
    per = r["variants"][0]["images"][:16]
    body.append("<h2>Per image, without a defense</h2>")
    body.append(table(["image", "class", "class read off the update", "PSNR (dB)", "SSIM", "re-id rank"],
                      [[f"#{p['index']} {p['file']}", _name(r, p["label"]), _name(r, p["recovered_label"]),
                        f"{p['psnr']:.2f}", p["ssim"], f"{p['reid_rank']:g}"] for p in per]))
    if r["n"] > len(per):
        body.append(f"<p class=meta>The first {len(per)} of {r['n']}; all are in gradient_leakage.json.</p>")
    body.append("<h2>How to read the numbers</h2><ul>"
                "<li><b>PSNR</b>: closeness in decibels; about 10-12 dB is what a flat gray picture gets on these "
                "images, above 20 dB a reconstruction is recognisable.</li>"
                "<li><b>SSIM</b>: structural similarity, 1 = identical, near 0 = unrelated.</li>"
                f"<li><b>re-id top-1</b>: how often the true image is the most similar of the {r['n']} (chance "
                f"{_pct(ch['reid_top1'])}).</li>"
                f"<li><b>at the floor</b>: {esc(r['at_floor_means'])}.</li></ul>")
    bn = f"BatchNorm {c['bn']} ({c['bn_meaning']})" if c["has_batchnorm"] else "no BatchNorm"
    meta = (f"{r['n']} private images from {r['private']}; model {r['model']}; batch {r['batch_size']}; {bn}; "
            f"attack {a['method']}; seed {r['seed']}; measured in {r['seconds']:.0f} s")
    return page(f"What one update of {r['model']} gives away", "".join(body), meta)
