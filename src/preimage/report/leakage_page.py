"""The leakage page: what an embedding gives away, written for someone who has not read the papers.
Every sentence is made from the measured record."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from . import plot
from .html import esc, figure, page, table


def _folder(path: Optional[str]) -> str:
    """A training folder as the inverter recorded it, without the part that only names the machine it
    was trained on (its last two components: ``cifar10/train``)."""
    parts = [p for p in str(path or "").replace("\\", "/").split("/") if p and p != "."]
    return "/".join(parts[-2:]) if parts else "?"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%" if v >= 0.001 else f"{100 * v:.2f}%"


def severity(d: Dict) -> float:
    """Orders one kind of defense from weakest to strongest: more noise, fewer bits, fewer units kept."""
    return d["strength"] if d["defense"] == "noise" else -d["strength"]


def halving(lay: Dict) -> List[Dict]:
    """Per defense kind, the weakest tested strength that at least halves re-identification top-1, or none."""
    out = []
    base = lay["reid_top1"]
    for kind in dict.fromkeys(d["defense"] for d in lay["defenses"]):
        tried = sorted((d for d in lay["defenses"] if d["defense"] == kind), key=severity)
        hit = next((d for d in tried if d["reid_top1"] <= base / 2), None)
        out.append({"kind": kind, "defense": hit, "tried": tried})
    return out


def at_chance_from(r: Dict, factor: float = 2.0) -> Optional[str]:
    """The first layer from which re-identification top-1 stays within ``factor`` x chance."""
    layers = list(r["layers"])
    chance = r["chance"]["reid_top1"]
    for i, k in enumerate(layers):
        if all(r["layers"][m]["reid_top1"] <= factor * chance for m in layers[i:]):
            return k
    return None


def findings(r: Dict) -> List[str]:
    ch, c = r["chance"], r["ceiling"]
    out = []
    for k, v in r["layers"].items():
        ratio = v["reid_top1"] / ch["reid_top1"]
        out.append(f"<b>{esc(k)}</b> ({v['code_size']:,} numbers per image): the attacker picks the right private "
                   f"image first time for {_pct(v['reid_top1'])} of them ({ratio:.0f}x chance) and within its top five "
                   f"for {_pct(v['reid_top5'])}; {esc(r['judge'])} names the {esc(_attr_word(r))} of "
                   f"{_pct(v['attribute_accuracy'])} of the reconstructions (of the private images themselves: "
                   f"{_pct(c['attribute_accuracy'])}; by always guessing the most common one: "
                   f"{_pct(ch['attribute_accuracy'])}).")
    first = at_chance_from(r)
    if first is None:
        out.append("Re-identification stays above twice the chance rate at every layer measured: no layer here "
                   "is safe to keep on that count.")
    else:
        out.append(f"From {esc(first)} on, re-identification stays within twice the chance rate.")
    return out


def _attr_word(r: Dict) -> str:
    return "class" if r["attribute"].startswith("class") else "predicted class"


def defense_sentences(r: Dict, layer: str) -> List[str]:
    lay = r["layers"][layer]
    out = []
    if lay["reid_top1"] <= 2 * r["chance"]["reid_top1"]:
        return [f"Without a defense, re-identification from {esc(layer)} is already within twice chance; a defense "
                f"only costs accuracy here."]
    for h in halving(lay):
        d = h["defense"]
        if d is None:
            strongest = h["tried"][-1]
            out.append(f"{esc(h['kind'])}: none of the strengths tried halves re-identification (the strongest, "
                       f"{esc(strongest['label'])}, leaves {_pct(strongest['reid_top1'])} at "
                       f"{_pct(strongest['utility'])} accuracy).")
        else:
            out.append(f"{esc(h['kind'])}: {esc(d['label'])} brings re-identification from {_pct(lay['reid_top1'])} "
                       f"to {_pct(d['reid_top1'])}; {esc(r['model'])}'s accuracy goes from {_pct(lay['utility'])} to "
                       f"{_pct(d['utility'])}.")
    return out


def render(r: Dict, examples: Dict[str, bytes], depth_png: bytes, tradeoff_png: bytes) -> str:
    ch, c, g = r["chance"], r["ceiling"], r["floor"]
    intro = (f"<p>Suppose that instead of the {r['n']} private images you keep (or send) what {esc(r['model'])} "
             f"computes from them at one layer: the <i>embedding</i>. How much of each image can someone get back? "
             f"Here the attacker knows the network and has public images only. It turns each embedding back into "
             f"a picture with a decoder trained on public images (an <i>inverter</i>), and then asks two questions:</p>"
             f"<ul><li><b>Which private image is this?</b> (re-identification) It compares the picture with every "
             f"private image by {esc(r['comparison'])} and ranks them; a blind guess is right "
             f"{_pct(ch['reid_top1'])} of the time (one in {r['n']}).</li>"
             f"<li><b>What is in it?</b> (attribute leakage) {esc(r['judge'])}, a network other than the one "
             f"attacked, labels the picture's {esc(_attr_word(r))}.</li></ul>"
             f"<p>Every number reads against two references: the <i>ceiling</i>, where the attacker is handed the "
             f"private images themselves, and the <i>floor</i>, a flat gray picture that carries no information.</p>")
    head = ["", "numbers per image", "image error", "PSNR (dB)", "SSIM", "re-id top-1", "re-id top-5",
            "attribute accuracy", f"{r['model']} accuracy"]
    rows = [[k, f"{v['code_size']:,}", v["image_error"], f"{v['psnr']:.2f}", v["ssim"], v["reid_top1"], v["reid_top5"],
             v["attribute_accuracy"], v["utility"]] for k, v in r["layers"].items()]
    rows.append(["private images (ceiling)", "", 0.0, "-", 1.0, c["reid_top1"], c["reid_top5"], c["attribute_accuracy"],
                 r["utility_clean"]])
    rows.append(["flat gray (floor)", "", g["image_error"], f"{g['psnr']:.2f}", g["ssim"], g["reid_top1"],
                 g["reid_top5"], g["attribute_accuracy"], ""])
    rows.append(["chance", "", "", "", "", ch["reid_top1"], ch["reid_top5"], ch["attribute_accuracy"], ""])
    body = [intro, "<h2>What each layer gives away</h2>", table(head, rows),
            "<ul>" + "".join(f"<li>{s}</li>" for s in findings(r)) + "</ul>",
            figure(depth_png, "Leakage against depth. Dashed: the judge's accuracy on the private images; dotted: "
                   "guessing the most common class.", width=640),
            "<h2>What a defense costs</h2>",
            f"<p>Each defense changes the embedding before it leaves: <b>noise</b> adds Gaussian noise (strength = its "
            f"size relative to the embedding's own RMS), <b>quantize</b> keeps a few bits per number, <b>topk</b> "
            f"keeps only the given fraction of numbers largest in size. The cost is the accuracy of "
            f"{esc(r['model'])} when the rest of it runs on the changed embedding; the attacker keeps its inverter "
            f"(it does not retrain for the defense, so the leakage is a lower bound).</p>"]
    if any(v["defenses"] for v in r["layers"].values()):
        body.append(figure(tradeoff_png, "Utility against leakage, one panel per layer; each line starts from the "
                           "undefended embedding (star) and strengthens the defense. Re-identification on a log "
                           "scale; dotted: chance.", width=900))
    for k, v in r["layers"].items():
        inv = v["inverter"]
        src = "the bundled inverter" if inv["source"] == "bundled" else f"an inverter {esc(inv['source'])}"
        body.append(f"<h2>{esc(k)}</h2><p class=meta>module {esc(v['module'])}; decoded by {src}"
                    + (f" ({inv['steps']} steps on {esc(_folder(inv['trained_on']))})" if inv.get("steps") else "") + "</p>")
        if v["defenses"]:
            body.append(table(["defense", "code change", "SSIM", "re-id top-1", "re-id top-5", "attribute accuracy",
                               f"{r['model']} accuracy"],
                              [["none", 0.0, v["ssim"], v["reid_top1"], v["reid_top5"], v["attribute_accuracy"],
                                v["utility"]]] +
                              [[d["label"], d["code_change"], d["ssim"], d["reid_top1"], d["reid_top5"],
                                d["attribute_accuracy"], d["utility"]] for d in v["defenses"]]))
            body.append("<ul>" + "".join(f"<li>{s}</li>" for s in defense_sentences(r, k)) + "</ul>")
        if k in examples:
            body.append(figure(examples[k], f"Private images and what the attacker decodes from their {k} embedding."))
    body.append("<h2>How to read the numbers</h2><ul>"
                "<li><b>image error</b>: distance between decoded and private image relative to the image's size "
                "(0 = identical).</li><li><b>PSNR</b>: the same in decibels (higher = closer).</li>"
                "<li><b>SSIM</b>: structural similarity, 1 = identical, near 0 = unrelated.</li>"
                "<li><b>code change</b>: how far the defense moved the embedding, relative to its size.</li></ul>")
    meta = (f"{r['n']} private images from {r.get('private')}; model {r['model']}; judge {r['judge']}; "
            f"seed {r['seed']}; measured in {r['seconds']:.0f} s")
    return page(f"What the embeddings of {r['model']} give away", "".join(body), meta)


def depth_plot(r: Dict) -> bytes:
    """Re-identification, attribute accuracy and SSIM by layer, with the ceiling and chance as dashed lines."""
    layers = list(r["layers"])
    series = {"re-identification top-1": [r["layers"][k]["reid_top1"] for k in layers],
              "re-identification top-5": [r["layers"][k]["reid_top5"] for k in layers],
              f"attribute accuracy ({r['judge']})": [r["layers"][k]["attribute_accuracy"] for k in layers],
              "SSIM": [r["layers"][k]["ssim"] for k in layers]}
    refs = {f"attribute accuracy on the private images ({r['ceiling']['attribute_accuracy']:.2f})":
            r["ceiling"]["attribute_accuracy"],
            f"attribute chance ({r['chance']['attribute_accuracy']:.2f})": r["chance"]["attribute_accuracy"]}
    return plot.line_plot(layers, series, "rate / SSIM", f"Leakage by layer, {r['n']} private images "
                          f"(re-id chance {r['chance']['reid_top1']:.3g})", refs)


def tradeoff_plot(r: Dict) -> bytes:
    """Per layer, leakage (re-identification, log scale from half of chance) against utility, one
    curve per kind of defense from no defense to the strongest."""
    layers = list(r["layers"])
    kinds = sorted({d["defense"] for k in layers for d in r["layers"][k]["defenses"]})
    chance = r["chance"]["reid_top1"]
    low = chance / 2  # a rate below half of chance is drawn there
    panels: Dict[str, Dict[str, List[Tuple[float, float]]]] = {}
    star: Dict[str, Tuple[float, float]] = {}
    for layer in layers:
        lay = r["layers"][layer]
        panels[layer] = {}
        for kind in kinds:
            pts = [(lay["reid_top1"], lay["utility"])] + sorted(
                ((d["reid_top1"], d["utility"]) for d in lay["defenses"] if d["defense"] == kind), key=lambda p: -p[1])
            panels[layer][kind] = [(max(p[0], low), p[1]) for p in pts]
        star[layer] = (max(lay["reid_top1"], low), lay["utility"])
    return plot.scatter_panels(panels, star, "re-identification top-1 (leakage)", f"{r['model']} accuracy (utility)",
                               low, chance, {"noise": "o", "quantize": "s", "topk": "^"}, "no defense")
