"""Every result's figures and pages, and the one call that saves a result with them.

A job's result holds its record and its data files; what a person looks at - grids, plots,
HTML pages - is drawn here from the result, so no job imports this layer and no figure is made
twice. :func:`save` writes a result and its figures into an :class:`~preimage.results.Output`.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Union

from ..backward.project import to_picture
from ..images import amplified_difference, encode_png
from ..jobs.attacks import Attack, Robustness, Transfer
from ..jobs.inversion.evaluate import Evaluation
from ..jobs.inversion.reconstruct import Reconstruction
from ..jobs.natural import Caricatures, UnitImages
from ..jobs.privacy.leakage import Leakage
from ..jobs.projection.diagnose import Diagnosis
from ..jobs.projection.project import Projection
from ..jobs.projection.top import TopActivations
from ..jobs.studies import Study
from ..representations import HOG, glyphs
from ..results import Output, Result
from ..results import save as save_result
from . import diagnose_page, leakage_page, plot
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


def projection(r: Projection) -> Dict[str, bytes]:
    rows = [[r.images[i], *[to_picture(p) for p in r.projections[i]]] for i in range(len(r.sources))]
    ncol = max(len(row) for row in rows)
    same = all(s == r.selections[0] for s in r.selections)
    cols = ["image"] + ([f"ch {c}" for c in r.selections[0]] if same else [f"top {k + 1}" for k in range(ncol - 1)])
    return {"side_by_side.png": encode_png(grid(rows, cols, r.labels, min_side=96))}


def top_activations(r: TopActivations) -> Dict[str, bytes]:
    return {"top_activations.png": top_figure(r)}


def top_figure(r: TopActivations) -> bytes:
    """Rows: channels; left the top patches, right their DeconvNet projections."""
    rows: List[list] = []
    labels = []
    for j, c in enumerate(r.channels):
        rows.append(r.patches[j] + [None] + [to_picture(p) for p in r.projections[j]])
        labels.append(f"ch {c}")
    k = len(r.patches[0]) if r.patches else 0
    cols = [f"top {i + 1}" for i in range(k)] + [""] + [f"projection {i + 1}" for i in range(k)]
    return encode_png(grid(rows, cols, labels, min_side=48))


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
    for i, rec in enumerate(r.record["images"][:show]):
        rows.append([r.x[i], r.adv[i], amplified_difference(r.x[i], r.adv[i])])
        labels.append(f"{r.labels[i]}: {name(rec['clean_label'])} {rec['clean_confidence']:.2f} -> "
                      f"{name(rec['adv_label'])} {rec['adv_confidence']:.2f}")
    out = {"attack.png": encode_png(grid(rows, ["clean", "adversarial", "difference (amplified)"], labels, min_side=96))}
    for layer, (clean, dirty) in r.decoded.items():
        rows = [[r.x[i], r.adv[i], clean[i], dirty[i]] for i in range(min(6, len(r.x)))]
        out[f"seen_by_{layer.replace('.', '_')}.png"] = encode_png(grid(
            rows, ["clean", "adversarial", f"clean code decoded ({layer})", f"adversarial code decoded ({layer})"],
            list(r.labels)[:len(rows)], min_side=96))
    return out


def robustness(r: Robustness) -> Dict[str, bytes]:
    rec = r.record
    xs = [f"{e * 255:.3g}/255" if rec["norm"] == "inf" else f"{e:.3g}" for e in rec["eps"]]
    png = plot.line_plot(xs, {f"{rec['model']} accuracy under PGD-{rec['steps']}": rec["accuracy"]}, "accuracy",
                         f"{rec['model']}: accuracy against the budget ({rec['n']} images)")
    return {"robustness.png": png}


def transfer(r: Transfer) -> Dict[str, bytes]:
    t = r.record
    return {"transfer.png": plot.matrix_plot(t["matrix"], t["models"], t["models"], "tested on", "made on",
                                             f"fooled, {t['method']} eps {t['eps'] * 255:.3g}/255")}


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


PRESENTERS: Dict[type, Callable] = {
    Reconstruction: reconstruction, UnitImages: unit_images, Caricatures: caricatures, Projection: projection,
    TopActivations: top_activations, Evaluation: evaluation, Study: study, Attack: attack, Robustness: robustness,
    Transfer: transfer, Diagnosis: diagnosis, Leakage: leakage,
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

