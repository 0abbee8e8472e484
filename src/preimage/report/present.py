"""Every result's figures and pages, and the one call that saves a result with them.

A job's result holds its record and its data files; what a person looks at - grids, plots,
HTML pages - is drawn here from the result, so no job imports this layer and no figure is made
twice. :func:`save` writes a result and its figures into an :class:`~preimage.results.Output`.

Importing this module also registers how every result shows itself in a notebook
(:func:`register`, :data:`preimage.results.DISPLAYS`): a one-line summary for its ``repr``, its
main figure as PNG, and as HTML its page (framed) or the main figure above its lines.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch

from ..backward.project import to_picture
from ..images import amplified_difference, encode_png
from ..jobs.atlas import Atlas
from ..jobs.attacks import Attack, Robustness, Transfer
from ..jobs.gradients.leakage import GradientLeakage
from ..jobs.inversion.evaluate import Evaluation
from ..jobs.inversion.reconstruct import Reconstruction
from ..jobs.natural import Accentuation, Caricatures, UnitImages
from ..jobs.privacy.leakage import Leakage
from ..jobs.projection.diagnose import Diagnosis
from ..jobs.projection.project import Projection
from ..jobs.projection.top import TopActivations
from ..jobs.studies import Study
from ..representations import HOG, glyphs
from ..results import DISPLAYS, Display, Output, Result
from ..results import save as save_result
from . import atlas_site, diagnose_page, gradients_page, html, leakage_page, plot
from .figures import grid, heatmap


def reconstruction(r: Reconstruction) -> Dict[str, bytes]:
    """Per image the spread over samples (with several samples) and ``side_by_side.png``."""
    out: Dict[str, bytes] = {}
    res = r.result
    originals = res.originals
    assert originals is not None
    rows = []
    for i in range(len(r.sources)):
        row = [originals[i].cpu()] + [res.images[i, k].cpu() for k in range(r.samples)]
        if r.samples > 1:
            spread = heatmap(res.std[i])
            out[f"{r.stem(i)}_std.png"] = encode_png(spread)
            row.append(spread)
        rows.append(row)
    cols = ["original"] + [f"sample {k}" for k in range(r.samples)] + (["std"] if r.samples > 1 else [])
    out["side_by_side.png"] = encode_png(grid(rows, cols, r.labels))
    return out


def unit_images(r: UnitImages) -> Dict[str, bytes]:
    m = r.result
    s = m.images.shape[1]
    per_row = 8 if s == 1 else s
    cells = [m.images[i, k] for i in range(len(m.units)) for k in range(s)]
    names = [r.label(i, k) for i in range(len(m.units)) for k in range(s)]
    rows = [cells[j:j + per_row] for j in range(0, len(cells), per_row)]
    labels = [names[j:j + per_row] for j in range(0, len(names), per_row)]
    return {"grid.png": encode_png(grid(rows, None, None, min_side=96, cell_labels=labels))}


def caricatures(r: Caricatures) -> Dict[str, bytes]:
    rows = [[r.originals[i], r.images[i]] for i in range(len(r.sources))]
    return {"side_by_side.png": encode_png(grid(rows, ["photo", f"caricature ({r.layer})"], r.labels, min_side=96))}


def accentuation(r: Accentuation) -> Dict[str, bytes]:
    """Per image: photo | accentuated | amplified difference | accumulated-gradient map."""
    a = r.result
    rows = [[a.originals[i], a.images[i], amplified_difference(a.originals[i], a.images[i]), heatmap(a.gradient_map[i])]
            for i in range(len(r.sources))]
    labels = [f"{r.labels[i]}: {r.unit_name(i)}, "
              + (f"gain {float(a.gain[i]):.2f}, " if bool(a.before[i] > 0) else
                 f"{float(a.before[i]):.2f} -> {float(a.after[i]):.2f}, ")
              + f"SSIM {float(a.ssim[i]):.2f}" for i in range(len(r.sources))]
    cols = ["photo", f"accentuated ({r.layer}, {a.param})", "difference (amplified)", "gradient map"]
    return {"side_by_side.png": encode_png(grid(rows, cols, labels, min_side=96))}


def projection(r: Projection) -> Dict[str, bytes]:
    rows = [[r.images[i], *[to_picture(p) for p in r.projections[i]]] for i in range(len(r.sources))]
    ncol = max(len(row) for row in rows)
    same = all(s == r.selections[0] for s in r.selections)
    cols = ["image"] + ([f"ch {c}" for c in r.selections[0]] if same else [f"top {k + 1}" for k in range(ncol - 1)])
    return {"side_by_side.png": encode_png(grid(rows, cols, r.labels, min_side=96))}


def top_activations(r: TopActivations) -> Dict[str, bytes]:
    return {"top_activations.png": top_figure(r)}


def patches_figure(channels: Sequence[int], patches: Sequence[Sequence[torch.Tensor]],
                   pictures: Sequence[Sequence[torch.Tensor]]) -> bytes:
    """Two rows per channel: its top patches, and under each its projection as a picture (half the
    width of patches and projections side by side, so the cells stay large in a narrow window)."""
    rows: List[list] = [row for p, q in zip(patches, pictures) for row in (list(p), list(q))]
    k = len(patches[0]) if len(patches) else 0
    labels = [label for c in channels for label in (f"ch {c}", "projected")]
    return encode_png(grid(rows, [f"top {i + 1}" for i in range(k)], labels, min_side=48))


def top_figure(r: TopActivations) -> bytes:
    """Per channel its top patches, and under them their DeconvNet projections."""
    return patches_figure(r.channels, r.patches, [[to_picture(p) for p in row] for row in r.projections])


def evaluation(r: Evaluation, show: int = 6) -> Dict[str, bytes]:
    """Original, reconstruction (and HOG glyphs for HOG) for the first ``show`` images."""
    hog = isinstance(r.rep, HOG)
    rows = []
    for i in range(min(show, len(r.originals))):
        row = [r.originals[i], r.reconstructions[i]]
        if hog:
            assert r.rep is not None
            row.append(glyphs(r.rep(r.originals[i:i + 1]).detach()[0], 8))
        rows.append(row)
    cols = ["original", f"from {r.summary['representation']}"] + (["HOG glyphs"] if hog else [])
    return {"evaluate.png": encode_png(grid(rows, cols, min_side=int(r.summary["size"])))}


def study(r: Study) -> Dict[str, bytes]:
    return {f"{r.name}.png": encode_png(grid(r.rows, r.columns, min_side=64))}


def attack(r: Attack, show: int = 8) -> Dict[str, bytes]:
    def name(i: int) -> str:
        return r.classes[i] if r.classes else str(i)

    rows, labels = [], []
    n = len(r.record["images"])
    target = r.record.get("target")
    for i, rec in enumerate(r.record["images"][:show]):
        rows.append([r.x[i], r.adv[i], amplified_difference(r.x[i], r.adv[i])])
        goal = f" (target {name(target)})" if target is not None else ""
        labels.append(f"{r.labels[i]}: {name(rec['clean_label'])} {rec['clean_confidence']:.2f} -> "
                      f"{name(rec['adv_label'])} {rec['adv_confidence']:.2f}{goal}")
    shown = f" ({len(rows)} of {n} images; all in results.json)" if n > len(rows) else ""
    out = {"attack.png": encode_png(grid(rows, [f"clean{shown}", "adversarial", "difference (amplified)"], labels,
                                         min_side=96))}
    for layer, (clean, dirty) in r.decoded.items():
        rows = [[r.x[i], r.adv[i], clean[i], dirty[i]] for i in range(min(6, len(r.x)))]
        out[f"seen_by_{layer.replace('.', '_')}.png"] = encode_png(grid(
            rows, ["clean", "adversarial", f"clean code decoded ({layer})", f"adversarial code decoded ({layer})"],
            list(r.labels)[:len(rows)], min_side=96))
    return out


def robustness(r: Robustness) -> Dict[str, bytes]:
    rec = r.record
    inf = rec["norm"] == "inf"
    ticks = [f"{e * 255:.3g}/255" if inf else f"{e:.3g}" for e in rec["eps"]]
    norm = "L-inf (largest change of a pixel value in [0, 1])" if inf else "L2 (Euclidean norm of the change)"
    png = plot.curve(rec["eps"], {f"{rec['model']}, PGD with {rec['steps']} steps": rec["accuracy"]},
                     f"budget eps, {norm}", "accuracy", f"{rec['model']}: accuracy against the budget ({rec['n']} images)",
                     ticks, (0.0, 1.02))
    return {"robustness.png": png}


def transfer(r: Transfer) -> Dict[str, bytes]:
    t = r.record
    return {"transfer.png": plot.matrix_plot(t["matrix"], t["models"], t["models"], "tested on", "made on",
                                             f"fooled rate, {t['method']} L-inf eps {t['eps'] * 255:.3g}/255")}


def diagnosis(r: Diagnosis) -> Dict[str, bytes]:
    blank = {layer: encode_png(grid([[to_picture(p) for p in pics]], [f"ch {c}" for c in chans], min_side=64))
             for layer, (chans, pics) in r.blank.items()}
    return {"diagnose.html": diagnose_page.render(r, blank).encode("utf-8")}


def leakage(r: Leakage) -> Dict[str, bytes]:
    rec = r.record
    cols = r.example_columns()
    examples = {layer: encode_png(grid(rows, cols, min_side=64)) for layer, rows in r.examples.items()}
    depth, tradeoff = leakage_page.depth_plot(rec), leakage_page.tradeoff_plot(rec)
    out = {f"examples_{layer.replace('.', '_').replace('/', '_')}.png": png for layer, png in examples.items()}
    out.update({"leakage_depth.png": depth, "leakage_tradeoff.png": tradeoff,
                "leakage.html": leakage_page.render(rec, examples, depth, tradeoff).encode("utf-8")})
    return out


def gradient_leakage(r: GradientLeakage) -> Dict[str, bytes]:
    rec = r.record
    examples = gradients_page.examples_png(rec, r.originals, r.reconstructions)
    chart = gradients_page.tradeoff_png(rec) if rec.get("utility") and len(rec["variants"]) > 1 else \
        gradients_page.psnr_png(rec)
    return {"gradient_leakage.png": examples, "gradient_leakage_tradeoff.png": chart,
            "gradient_leakage.html": gradients_page.render(rec, examples, chart).encode("utf-8")}


PRESENTERS: Dict[type, Callable] = {
    Reconstruction: reconstruction, UnitImages: unit_images, Caricatures: caricatures, Accentuation: accentuation, Projection: projection,
    TopActivations: top_activations, Evaluation: evaluation, Study: study, Attack: attack, Robustness: robustness,
    Transfer: transfer, Diagnosis: diagnosis, Leakage: leakage,
    GradientLeakage: gradient_leakage, Atlas: atlas_site.site,
}


def figures(result: Result) -> Dict[str, bytes]:
    """The figures and pages of ``result`` (file name -> bytes); none for a result that makes its own."""
    fn = PRESENTERS.get(type(result))
    return fn(result) if fn is not None else {}


def save(result: Result, out: Union[Output, str], force: bool = False) -> Dict:
    """Save ``result`` with its figures into ``out`` (an open :class:`Output`, or a folder); returns the record."""
    if isinstance(out, Output):
        return out.save(result, figures(result))
    return save_result(result, out, force, figures(result))


# ---------------------------------------------------------------- results in a notebook
#: lines of a result shown under its figure in a notebook (the rest are counted)
SHOW_LINES = 20


def card(result: Result, png: Optional[bytes]) -> str:
    """A small HTML view: the one-line summary, the main figure, the first lines the terminal prints."""
    lines: List[str] = result.lines()
    text = "\n".join(lines[:SHOW_LINES]) + (f"\n... {len(lines) - SHOW_LINES} more lines" if len(lines) > SHOW_LINES else "")
    parts = [f'<div class="preimage-result"><div style="font-family:monospace">{html.esc(repr(result))}</div>']
    if png is not None:
        parts.append(html.img(png, f"{result.command} figure"))
    if text:
        parts.append(f'<pre style="font-size:85%;margin:.3em 0">{html.esc(text)}</pre>')
    return "".join(parts) + "</div>"


def framed(result: Result, page: bytes, height: int = 640) -> str:
    """A result's own HTML page in a frame (its styles stay inside), under the one-line summary."""
    doc = html.esc(page.decode("utf-8"))
    return (f'<div class="preimage-result"><div style="font-family:monospace">{html.esc(repr(result))}</div>'
            f'<iframe srcdoc="{doc}" style="width:100%;height:{height}px;border:1px solid #ddd"></iframe></div>')


def register(cls: type, draw: Callable[[Any], Dict[str, bytes]], summary: Callable[[Any], str],
             main: Optional[str] = None, page: Optional[str] = None) -> None:
    """Show results of ``cls`` in notebooks. ``draw(result)``: its figures and pages (name -> bytes);
    ``main``: the main figure's name (default: the first PNG drawn); ``page``: an HTML page shown
    framed instead of the small view; ``summary(result)``: kind and key numbers for the ``repr``."""
    def render(result: Any) -> Dict[str, Any]:
        files = draw(result)
        png = files.get(main) if main else None
        if png is None:
            png = next((data for name, data in files.items() if name.endswith(".png")), None)
        out: Dict[str, Any] = {} if png is None else {"image/png": png}
        out["text/html"] = framed(result, files[page]) if page and page in files else card(result, png)
        return out
    DISPLAYS[cls] = Display(render, summary)


def _on(model: Optional[str], layer: Optional[str], name: str = "") -> str:
    return " ".join(x for x in (model, layer) if x) or name


def _n(k: int, what: str) -> str:
    return f"{k} {what}" + ("" if k == 1 else "s")


def _mean(rows: List[Dict], key: str) -> float:
    vals = [float(r[key]) for r in rows if r.get(key) is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def _reconstruction_summary(r: Reconstruction) -> str:
    res = r.result
    how = r.method if r.method == "learned" else f"{r.method} ({res.preset}, {res.iterations} iters)"
    rows = r.records()
    return (f"{_on(r.model, r.layer, r.rep.name)}, {how}, {_n(len(r.sources), 'image')} x {_n(r.samples, 'sample')}, "
            f"feature_error {_mean(rows, 'feature_error'):.4f}, image_error {_mean(rows, 'image_error'):.4f}, "
            f"{r.seconds:.1f} s")


def _unit_images_summary(r: UnitImages) -> str:
    m = r.result
    return (f"{_on(r.model, r.layer)}, {_n(len(m.units), 'unit')} x {_n(int(m.images.shape[1]), 'sample')} "
            f"({m.preset}, {m.iterations} iters), normalized activation {float(m.normalized.float().mean()):.2f} "
            f"mean, {m.seconds:.1f} s")


def _caricatures_summary(r: Caricatures) -> str:
    return (f"{_on(r.model, r.layer)}, {_n(len(r.sources), 'image')} ({r.preset}, {r.iterations} iters), "
            f"gain {float(r.gain.float().mean()):.3f} mean")


def _accentuation_summary(r: Accentuation) -> str:
    a = r.result
    gains = [float(g) for g in a.gain if not bool(torch.isnan(g))]
    gain = f"gain {sum(gains) / len(gains):.2f} mean, " if gains else ""
    return (f"{_on(r.model, r.layer)}, {_n(len(r.sources), 'image')} ({a.param}, keep {a.keep:g}, {a.iterations} iters), "
            f"{gain}SSIM {float(a.ssim.mean()):.3f} mean")


def _projection_summary(r: Projection) -> str:
    acts = [a for row in r.activations for a in row]
    return (f"{_on(r.model, r.layer)}, {r.rule}, {_n(len(r.sources), 'image')} x "
            f"{_n(max((len(s) for s in r.selections), default=0), 'channel')}"
            + (f", strongest activation {max(acts):.3f}" if acts else ""))


def _top_summary(r: TopActivations) -> str:
    k = int(r.values.shape[1]) if r.values.dim() == 2 else 0
    return f"{_on(r.model, r.layer)}, {_n(len(r.channels), 'channel')} x top {k} over {_n(r.images, 'image')}"


def _evaluation_summary(r: Evaluation) -> str:
    s = r.summary
    return (f"{s.get('representation')}, {_n(int(s.get('n', 0)), 'image')}, mv_error {100 * s['mv_error_mean']:.2f}%, "
            f"feature_error {s['feature_error_mean']:.4f}")


def _study_summary(r: Study) -> str:
    rec = r.record
    if "modes" in rec:
        what = ", ".join(f"{m} image_error {v['image_error_mean']:.3f}" for m, v in rec["modes"].items())
    elif "t" in rec:
        what = f"{rec['a']} -> {rec['b']} in {len(rec['t'])} steps"
    else:
        what = f"{_n(int(rec.get('samples', 0)), 'sample')} from {_n(int(rec.get('n_codes', 0)), 'code')}"
    return f"{rec.get('representation', '')}, {what}"


def _attack_summary(r: Attack) -> str:
    rec = r.record
    return (f"{rec['model']}, {rec['method']} L-{rec['norm']} eps {rec['eps']:.4g}, {_n(int(rec['n']), 'image')}, "
            f"success {rec['success_rate']:.3f} (8-bit PNG {rec['success_rate_8bit']:.3f})")


def _robustness_summary(r: Robustness) -> str:
    rec = r.record
    pairs = ", ".join(f"{a:.3f} at eps {e:.4g}" for e, a in list(zip(rec["eps"], rec["accuracy"]))[:4])
    return f"{rec['model']}, {_n(int(rec['n']), 'image')}, accuracy {pairs}" + (", ..." if len(rec["eps"]) > 4 else "")


def _transfer_summary(r: Transfer) -> str:
    rec = r.record
    return f"{', '.join(rec['models'])}, {rec['method']} eps {rec['eps']:.4g}, {_n(int(rec['n']), 'image')}"


def _diagnosis_summary(r: Diagnosis) -> str:
    layers = r.to_json()["layers"]
    dead = sum(len(v.get("dead", [])) for v in layers.values())
    rare = sum(len(v.get("rare", [])) for v in layers.values())
    return f"{r.model}, {_n(r.images, 'image')}, {_n(len(layers), 'layer')}: {dead} dead, {rare} rare channels"


def _gradient_leakage_summary(r: GradientLeakage) -> str:
    rec = r.record
    base = rec["variants"][0]
    return (f"{rec['model']}, {_n(int(rec['n']), 'private image')} in batches of {rec['batch_size']}, "
            f"{rec['attack']['method']}: PSNR {base['psnr']:.1f} dB (gray {rec['floor']['psnr']:.1f}), labels "
            f"{base['label_rate']:.2f}, {_n(len(rec['variants']) - 1, 'defense')}")


def _atlas_summary(r: Atlas) -> str:
    units = sum(len(a.units) for a in r.layers.values())
    return f"{r.model}, {_n(len(r.layers), 'layer')}, {_n(units, 'unit')} over {_n(r.images, 'image')}"


def _leakage_summary(r: Leakage) -> str:
    rec = r.record
    return f"{rec['model']}, {_n(int(rec['n']), 'private image')}, layers {', '.join(rec['layers'])}"


for _cls, _summary, _main, _page in (
        (Reconstruction, _reconstruction_summary, "side_by_side.png", None),
        (UnitImages, _unit_images_summary, "grid.png", None),
        (Caricatures, _caricatures_summary, "side_by_side.png", None),
        (Accentuation, _accentuation_summary, "side_by_side.png", None),
        (Projection, _projection_summary, "side_by_side.png", None),
        (TopActivations, _top_summary, "top_activations.png", None),
        (Evaluation, _evaluation_summary, "evaluate.png", None),
        (Study, _study_summary, None, None),
        (Attack, _attack_summary, "attack.png", None),
        (Robustness, _robustness_summary, "robustness.png", None),
        (Transfer, _transfer_summary, "transfer.png", None),
        (Diagnosis, _diagnosis_summary, None, "diagnose.html"),
        (Leakage, _leakage_summary, "leakage_depth.png", "leakage.html"),
        (GradientLeakage, _gradient_leakage_summary, "gradient_leakage.png", "gradient_leakage.html")):
    register(_cls, figures, _summary, _main, _page)
# in a notebook an atlas shows its index page (drawing the whole site for a repr would take long)
register(Atlas, lambda r: {"index.html": atlas_site.index_page(r)}, _atlas_summary, None, "index.html")
