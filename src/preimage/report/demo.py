"""The demo: invert three photos from every layer of a network and write an HTML report.

:func:`run_demo` runs the jobs (the layer sweep, HOG, the bundled trained inverters, a small atlas
of the deepest layer with a spatial map, natural pre-images, DeconvNet top patches - the last two
reusing the atlas's visualizations and top patches - and an adversarial example) and composes
their results into a :class:`Demo` result: ``report.html``, its figures, its record and the table
it prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import torch

from .. import metrics
from ..attacks import Classifier, outcome, pgd
from ..data import TensorItems
from ..errors import WeightsError
from ..hooks import device_of, resolve_layer
from ..images import PHOTOS, amplified_difference, encode_png, labels_for, load_image, to_grayscale
from ..jobs.atlas import AtlasLayer, Settings, atlas, slug
from ..jobs.attacks import layers_see
from ..jobs.inversion import default_layers, invert_grayscale, layer_sweep
from ..jobs.natural import natural_images
from ..learned import decode, find_bundled
from ..models.loading import ModelInfo
from ..optimize.maximize import caricature, maximize, natural_maxima, unit_ranks
from ..optimize.presets import Default, get_preset
from ..representations import HOG, CNNLayer, glyphs
from ..results import Shown
from . import atlas_site, html, layers_page
from .figures import grid
from .present import patches_figure, register

T = TypeVar("T")

DEMO_IMAGES = ("sample:astronaut", "sample:coffee", "sample:chelsea")
#: how the natural pre-images' figure names each maximization parameterization
RECIPES = {"maco": "MACO: only the Fourier phase optimized, under the mean amplitude of natural photos, seen through "
                   "random crops with noise",
           "fourier": "a decorrelated 1/f Fourier parameterization with transformation robustness, lucid's",
           "pixel": "gradient ascent on the pixels under the preset's priors"}


@dataclass(repr=False)
class Demo(Shown):
    """The demo's pages and figures with its record (a :class:`~preimage.results.Result`)."""

    command = "demo"

    pages: Dict[str, bytes]
    record: Dict

    def to_json(self) -> Dict:
        return self.record

    def files(self) -> Dict[str, bytes]:
        return dict(self.pages)

    def lines(self) -> List[str]:
        r = self.record
        out = [f"{'layer':<16} {'feature_error':>13} {'image_error':>11}"]
        out += [f"{x['layer']:<16} {x['feature_error_mean']:>13.4f} {x['image_error_mean']:>11.4f}" for x in r["layers"]]
        out.append(f"{'(gray image)':<16} {'':>13} {r['gray_image_error']:>11.4f}")
        out.append(f"{'hog':<16} {r['hog']['feature_error_mean']:>13.4f} {r['hog']['image_error_mean']:>11.4f}")
        out += [f"{x['layer'] + ' (learned)':<16} {x['feature_error_mean']:>13.4f} {x['image_error_mean']:>11.4f}"
                for x in r["learned"]]
        if r.get("section_seconds"):
            out.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["section_seconds"].items()))
        return out


def _demo_summary(d: Demo) -> str:
    r = d.record
    return (f"{r['model']}, {len(r['layers'])} layers x {len(r['images'])} images ({r['preset']}, {r['iters']} iters), "
            f"{r['seconds']:.0f} s")


register(Demo, lambda d: d.files(), _demo_summary, main="layers.png", page="report.html")


class _Sections:
    """Runs the demo's sections one by one and keeps each one's wall time (seconds, by name)."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], T]) -> T:
        t = time.time()
        out = fn()
        self.seconds[name] = round(time.time() - t, 2)
        return out


def run_demo(info: ModelInfo, sources: Sequence[str] = DEMO_IMAGES, layers: Optional[Sequence[str]] = None,
             preset="default", iters: Optional[int] = None, seed: int = 0, command: str = "preimage demo",
             show: Optional[bool] = None, device: Optional[str | torch.device] = None) -> Demo:
    """The demo of ``info``'s network on ``sources``. ``device``: where every section computes (the
    network is moved there; default: where it is); the figures and the record are made on the CPU."""

    preset = get_preset(preset)
    size = info.input_size
    dev = torch.device(device) if device is not None else device_of(info.module)
    info.module.to(dev)
    images = torch.stack([load_image(s, size) for s in sources])
    layers = list(dict.fromkeys(layers)) if layers else default_layers(info)   # a layer named twice is swept once
    for layer in layers:                      # an unknown name stops here, before any work
        resolve_layer(info.module, layer, info.aliases)
    names = labels_for(sources)
    t0 = time.time()
    clock = _Sections()
    results = clock("layer sweep", lambda: layer_sweep(info, images.to(dev), layers, preset=preset, iters=iters,
                                                        seed=seed, show=show))
    hog_html, hog_png, hog_rec = clock("hog", lambda: _hog_section(sources, names, seed, iters, show, device=dev))
    learned_html, learned_png, learned_rec = clock("trained inverters",
                                                   lambda: _learned_section(info, images, names, results))
    # the atlas of the deepest spatial layer first: its visualizations and top patches are also the
    # natural pre-images' channel figure and the DeconvNet figure (issue 25: nothing computed twice)
    maps = [(r.layer, int(r.shape[0])) for r in results if len(r.shape) == 3]   # the swept layers with a (C, H, W) map
    atlas_html, atlas_pages, atlas_rec, deepest = clock("atlas", lambda: _atlas_section(info, maps, seed, iters))
    natural_html, natural_pngs, natural_rec = clock("natural pre-images", lambda: _natural_section(
        info, images, names, [m[0] for m in maps], layers[-1], iters, seed, show, deepest=deepest))
    deconv_html, deconv_png, deconv_rec = clock("deconvnet", lambda: _deconvnet_section(deepest))
    adv_html, adv_png, adv_rec = clock("adversarial", lambda: _adversarial_section(info, images[:1].to(dev), names[:1],
                                                                                    layers, seed))
    seconds = time.time() - t0
    meta = (f"model {info.name}, input {size}x{size}, preset {preset.name}, {results[0].iterations} iterations "
            f"per layer, seed {seed}, {seconds:.0f} s in all. Command: {command}")
    learned_by_layer = {r["layer"]: r["image_error_mean"] for r in learned_rec}
    series = ({"image error, trained inverter": [learned_by_layer.get(r.layer) for r in results]}
              if learned_rec else None)
    pages = layers_page.render(results, images, names, f"What {info.name} keeps, layer by layer", meta,
                               extra_rows=learned_html + natural_html + (deconv_html or _no_map(layers))
                               + atlas_html + adv_html + hog_html,
                               extra_series=series)
    if adv_png is not None:
        pages["adversarial.png"] = adv_png
    if deconv_png is not None:
        pages["deconvnet.png"] = deconv_png
    pages.update(natural_pngs)
    pages.update(atlas_pages)
    pages["hog.png"] = hog_png
    if learned_png is not None:
        pages["learned.png"] = learned_png
    record = {"model": info.name, "preset": preset.name, "iters": results[0].iterations, "size": size, "device": str(dev),
              "seconds": round(seconds, 2), "section_seconds": clock.seconds, "images": list(sources),
              "layers": [{"layer": r.layer, "path": r.path, "shape": list(r.shape), "stride": r.stride,
                          "feature_error": [float(v) for v in r.feature_error],
                          "image_error": [float(v) for v in r.image_error],
                          "psnr": [float(v) for v in r.psnr], "ssim": [float(v) for v in r.ssim],
                          "feature_error_mean": float(r.feature_error.mean()),
                          "image_error_mean": float(r.image_error.mean()), "seconds": round(r.seconds, 2)}
                         for r in results],
              "gray_image_error": layers_page.gray_reference(images), "hog": hog_rec, "learned": learned_rec,
              "natural": natural_rec, "deconvnet": deconv_rec, "atlas": atlas_rec, "adversarial": adv_rec}
    return Demo(pages, record)


def _adversarial_section(info: ModelInfo, x: torch.Tensor, names: Sequence[str], layers: Sequence[str], seed: int):
    """One photo, its adversarial twin (PGD-10, 8/255) and what the layers with a bundled inverter
    decode from each: the invisible change grows with depth into a visible one."""

    if not info.classes:
        return "", None, {}
    usable = []
    for layer in layers:
        try:
            find_bundled(CNNLayer.from_info(info, layer), x.shape[-1])
            usable.append(layer)
        except WeightsError:
            continue
    if not usable:
        return "", None, {}
    clf = Classifier.from_info(info)
    with torch.no_grad():
        y = clf(x).argmax(1)
    adv = pgd(clf, x, y, 8 / 255, 10, seed=seed)
    o = outcome(clf, x, adv, y)
    seen = layers_see(info, x, adv, usable)
    x, adv = x.cpu(), adv.cpu()
    row = [x[0], adv[0], amplified_difference(x[0], adv[0])]
    decoded = [im[0].cpu() for lay in seen["layers"] for im in seen["decoded"][lay["layer"]]]
    cols = ["photo", "adversarial", "difference (amplified)"] + [f"{lay['layer']} {w}" for lay in seen["layers"]
                                                             for w in ("clean", "adversarial")]
    png = encode_png(grid([row + decoded], cols, names, min_side=96))
    cls = info.classes
    changes = ", ".join(f"{lay['layer']} {lay['code_change_mean']:.2f}" for lay in seen["layers"])
    steps = [lay["code_change_mean"] for lay in seen["layers"]]
    grows = len(steps) > 1 and all(b >= a for a, b in zip(steps, steps[1:]))
    was, now = int(o.clean_label[0]), int(o.adv_label[0])
    turned = (f"turns {html.esc(names[0])} from {html.esc(cls[was])} ({float(o.clean_conf[0]):.2f}) into "
              f"{html.esc(cls[now])} ({float(o.adv_conf[0]):.2f})" if now != was else
              f"does not change {html.esc(names[0])}'s label ({html.esc(cls[was])}, {float(o.adv_conf[0]):.2f})")
    text = (f"<h2>Adversarial examples: what the layers see</h2><p>PGD (10 steps, at most 8/255 per pixel) {turned}; "
            f"the change is invisible (largest pixel change {float(o.linf[0]) * 255:.1f}/255, shown amplified). Its "
            f"relative effect on the code {'grows with depth' if grows else 'per layer'} ({changes}), and the bundled "
            "inverters decode the two codes of each layer side by side.</p>"
            + html.figure(png, "The photo, its adversarial twin, the amplified difference, then per layer the clean and "
                               "the adversarial code decoded by the trained inverter."))
    return text, png, {"clean_label": int(o.clean_label[0]), "adv_label": int(o.adv_label[0]),
                       "linf": float(o.linf[0]), "layers": seen["layers"]}


def _photo_crops(s: int) -> Tuple[List[torch.Tensor], List[str]]:
    """Overlapping s-pixel crops (stride s/2) of the scikit-image photos at 4s pixels, with names."""
    crops, names = [], []
    for n in PHOTOS:
        big = load_image(f"sample:{n}", 4 * s)
        for y in range(0, 4 * s, s // 2):
            for x in range(0, 4 * s, s // 2):
                if y + s <= 4 * s and x + s <= 4 * s:
                    crops.append(big[:, y:y + s, x:x + s])
                    names.append(f"{n}@{y},{x}")
    return crops, names


#: the demo's atlas: the first channels of the deepest swept layer with a spatial map, over the photo crops, with as many top
#: patches as the DeconvNet figure shows
ATLAS_CHANNELS = 8
TOP_K = 9


@dataclass
class _Deepest:
    """The demo's atlas of its deepest spatial layer, as the other sections read it."""

    layer: str
    atlas: AtlasLayer
    crops: torch.Tensor            # (N, 3, s, s) the photo crops the atlas ran over
    param: str                     # the visualizations' parameterization


def _atlas_section(info: ModelInfo, spatial: Sequence[Tuple[str, int]], seed: int, iters: Optional[int] = None):
    """A small atlas (the deepest layer with a spatial map, its first channels, over the crops of the photos) in
    ``atlas/``, linked from the report. Its visualizations use the maximization's own iterations (the
    demo's ``iters`` where given), as the natural pre-images' figure shows them; the accentuations half
    as many where ``iters`` is given (default the atlas's own). Returns the section, its pages, its
    record and the :class:`_Deepest` the other sections reuse (None without a spatial layer)."""
    if not spatial:
        return "", {}, {}, None
    crops, names = _photo_crops(info.input_size)
    layer, channels = spatial[-1]
    settings = Settings(k=TOP_K, seed=seed, iters=iters if iters is not None else Default().iters)
    if iters is not None:
        settings.accent_iters = max(1, iters // 2)
    stack = torch.stack(crops)
    r = atlas(info, TensorItems(stack, names), [layer], None, {layer: list(range(min(ATLAS_CHANNELS, channels)))},
              settings, show=False)
    pages = {f"atlas/{k}": v for k, v in atlas_site.site(r).items()}
    a = r.layers[layer]
    text = (f"<h2>Atlas: every unit of {layer}, browsable</h2><p>A small atlas of {html.esc(info.name)}: the first "
            f"{len(a.units)} channels of {layer} over the {r.images} photo crops - per unit its visualization, its top "
            "and least activating crops with their projections, its histogram, the classes it pushes up and down "
            f"and an accentuation. <a href=\"atlas/layers/{slug(layer)}.html\">Open the atlas of {layer}</a> "
            "(<code>preimage atlas</code> makes one for any network, layer and folder).</p>")
    return text, pages, {"layer": layer, "units": len(a.units), "images": r.images, "iters": settings.iters,
                         "site_files": len(pages), "site_bytes": sum(len(v) for v in pages.values())}, \
        _Deepest(layer, a, stack, settings.param)


def _deconvnet_section(deepest: Optional[_Deepest]):
    """Zeiler & Fergus's figure for the deepest spatial layer: the top-k patches of its first channels
    among crops of the scikit-image photos, above their DeconvNet projections - read from the demo's
    atlas, which found and projected them."""

    if deepest is None:
        return "", None, {}
    a, layer, crops = deepest.atlas, deepest.layer, deepest.crops
    k, field = int(a.boxes.shape[1]), a.field
    patches: List[List[torch.Tensor]] = []
    pictures: List[List[torch.Tensor]] = []
    for j, c in enumerate(a.units):
        patches.append([])
        pictures.append([])
        for n, i in enumerate(a.stream.top.index[c]):
            # the receptive field clipped to the crop; the atlas keeps its projection in the cell's corner
            t, left, b, r = (int(v) for v in a.boxes[j, n])
            patches[-1].append(crops[int(i)][:, t:b, left:r])
            pictures[-1].append(a.proj[j, n, :, :b - t, :r - left].float() / 255)
    png = patches_figure(a.units, patches, pictures)
    text = (f"<h2>DeconvNet: what excites {layer}</h2><p>For each of the first {len(a.units)} channels of {layer}, the "
            f"{k} patches (its {field}-pixel receptive field) among {len(crops)} crops of the scikit-image photos where "
            "it responds most, and under each patch its activation projected back to pixels by the DeconvNet "
            "(unpooling with the recorded switches, rectification, transposed filters: Zeiler &amp; Fergus). "
            "Gray is zero; the projection shows which edges and colors in the patch the channel answers to.</p>"
            + html.figure(png, f"Rows in pairs, one pair per channel of {layer}: its top patches, and under each "
                               "its projection."))
    return text, png, {"layer": layer, "crops": len(crops), "receptive_field": field,
                       "top_activation": [[float(v) for v in a.stream.top.values[c]] for c in a.units]}


def _natural_section(info: ModelInfo, images: torch.Tensor, names: Sequence[str], spatial: Sequence[str], last: str,
                     iters: Optional[int], seed: int, show: Optional[bool] = None, channels: int = 8,
                     deepest: Optional[_Deepest] = None):
    """Natural pre-images (IJCV 2016): the units of the deepest swept layer with a spatial map and,
    where the last swept layer is the network's output (its class scores), the classes maximized;
    caricatures of the photos at three depths (the third spatial layer, the deepest, the last).
    ``deepest``: the demo's atlas of the deepest spatial layer, whose visualizations are that layer's
    figure (normalized by the photo crops the atlas ran over) instead of a second maximization."""

    def rep_for(layer):
        return CNNLayer.from_info(info, layer)

    logits = last if info.classes and _gives_the_output(info, last) else None
    nat, _ = natural_images(None, info.input_size)
    parts: list = []
    pngs: dict = {}
    rec: dict = {}
    for layer, units, what in ((spatial[-1] if spatial else None, list(range(channels)), "channels"),
                               (logits, list(range(len(info.classes))) if info.classes else [], "classes")):
        if layer is None or not units:
            continue
        rep = rep_for(layer)
        shared = deepest is not None and what == "channels" and deepest.layer == layer
        if shared:
            assert deepest is not None
            a = deepest.atlas
            units = list(a.units)
            vis = a.vis[:, 0].float() / 255
            normalized, normalizer = a.normalized[:, 0], a.stream.top.values[units, 0]
            with torch.no_grad():
                rank = unit_ranks(rep(vis.to(rep.device)), torch.tensor(units, device=rep.device)).cpu()
            has, param = (normalizer > 0).tolist(), deepest.param
        else:
            n_out = rep.output_shape(info.input_size)[0]
            units = [u for u in units if u < n_out]
            m = maximize(rep, units, normalizers=natural_maxima(rep, nat), iters=iters, seed=seed, show=show)
            vis, normalized, normalizer, rank = m.images[:, 0], m.normalized[:, 0], m.normalizer, m.rank[:, 0]
            has, param = m.has_normalizer.tolist(), m.param
        labels = [f"{info.classes[u]}" if what == "classes" and info.classes else f"ch {u}" for u in units]
        cells = [f"{lab} {float(v):.1f}" + ("" if ok else " raw") for lab, v, ok in zip(labels, normalized, has)]
        png = encode_png(grid([list(vis)], None, None, min_side=96, cell_labels=[cells]))
        pngs[f"maximize_{layer}.png"] = png
        rec[f"maximize_{layer}"] = {"units": units, "normalized_activation": [float(v) for v in normalized],
                                    "normalizer": [float(v) if ok else None for v, ok in zip(normalizer, has)],
                                    "normalized_by": "photo crops (the atlas's)" if shared else "scikit-image photos",
                                    "rank": [int(v) for v in rank], "param": param}
        raw = [lab for lab, ok in zip(labels, has) if not ok]
        unnormalized = (f" No {'photo crop' if shared else 'scikit-image photo'} activates {', '.join(raw)}: "
                        f"{'its' if len(raw) == 1 else 'their'} number is the raw activation (marked raw)." if raw else "")
        top = sum(int(r == 1) for r in rank)
        if what == "classes":
            with torch.no_grad():
                p = torch.softmax(rep(vis.to(rep.device)), 1).diagonal().cpu()
            rec[f"maximize_{layer}"]["probability"] = [float(v) for v in p]
            line = (f"Each image is what {info.name} finds most like one class ({layer}, the class scores), from a "
                    f"random start under the default recipe ({RECIPES.get(param, param)}); {info.name} gives its "
                    f"own class a probability of "
                    f"{float(p.min()):.3f} or more. Shapes and colors are the evidence the classifier counts, bolder "
                    f"than a photo's. The numbers are normalized class scores.{unnormalized}")
        elif shared:
            assert deepest is not None
            line = (f"The first {len(units)} channels of {layer}, each maximized at the center of its map (the atlas's "
                    f"visualizations, below). The numbers are activations divided by the channel's largest on the "
                    f"{len(deepest.crops)} crops of the scikit-image photos (1 = as strong as the strongest crop); "
                    f"{top} of {len(units)} {'is' if top == 1 else 'are'} the strongest channel at that place in their "
                    f"own image.{unnormalized}")
        else:
            line = (f"The first {len(units)} channels of {layer}, each maximized at the center of its map. The numbers "
                    f"are activations divided by the channel's largest on the scikit-image photos (1 = as strong as the "
                    f"strongest photo); {top} of {len(units)} {'is' if top == 1 else 'are'} the strongest channel at that "
                    f"place in their own image.{unnormalized}")
        parts.append(html.figure(png, line))
    car_layers = [lay for lay in (spatial[2] if len(spatial) > 2 else None, spatial[-1] if spatial else None, last) if lay]
    car_layers = list(dict.fromkeys(car_layers))
    if car_layers:
        rows = [[images[i]] for i in range(len(names))]
        gains = {}
        for layer in car_layers:
            c = caricature(rep_for(layer), images, iters=iters, seed=seed, show=show)
            gains[layer] = [float(g) for g in c.gain]
            for i in range(len(names)):
                rows[i].append(c.images[i])
        png = encode_png(grid(rows, ["photo", *[f"caricature {lay}" for lay in car_layers]], names, min_side=96))
        pngs["caricatures.png"] = png
        rec["caricature_gain"] = gains
        low, high = min(min(g) for g in gains.values()), max(max(g) for g in gains.values())
        verdict = (f"Every caricature raises its layer's response to the photo's own pattern by a factor of at least "
                   f"{low:.2f}." if low >= 1 else
                   f"The response to the photo's own pattern changed by a factor of {low:.2f} to {high:.2f}: below 1, "
                   "the run was too short to raise it.")
        parts.append(html.figure(png, "Caricatures: each photo pushed towards more of what the layer already sees in it "
                                      "(its own positive code, IJCV 2016). Shallow layers exaggerate edges and color, "
                                      "deep ones paint in the parts and textures they respond to. " + verdict))
    if not parts:
        return "", {}, rec
    return ("<h2>Natural pre-images</h2><p>Another goal for the same optimization: instead of matching a photo's "
            "code, make one unit as strong as possible (activation maximization, from a random start in the feature "
            "visualization recipe named below), or exaggerate what a layer already sees in a photo (caricature, "
            "from the photo under the inversion's optimizer and prior).</p>" + "".join(parts)), pngs, rec


def _no_map(layers: Sequence[str]) -> str:
    """What the report says where no swept layer has a spatial map (the DeconvNet figure and the atlas
    need one)."""
    return ("<h2>DeconvNet and atlas</h2><p>Not drawn: none of the swept layers (" + html.esc(", ".join(layers))
            + ") has a spatial map, which the top patches and their projections need. Sweep a convolutional "
            "layer too (<code>--layers</code>) to see them.</p>")


def _gives_the_output(info: ModelInfo, layer: str) -> bool:
    """Whether ``layer``'s output is the network's own (its class scores), on two random images."""
    x = torch.rand(2, 3, info.input_size, info.input_size, generator=torch.Generator().manual_seed(0))
    x = x.to(device_of(info.module))
    with torch.no_grad():
        f, y = CNNLayer.from_info(info, layer)(x), Classifier.from_info(info)(x)
    return isinstance(y, torch.Tensor) and f.shape == y.shape and torch.allclose(f, y, rtol=1e-4, atol=1e-5)


def _learned_section(info: ModelInfo, images: torch.Tensor, names: Sequence[str], results):
    """For every swept layer with a bundled inverter, its one-pass reconstruction beside the
    optimization's. Empty when no inverter fits."""

    def decoded(layer):
        """(record, reconstructions) of the bundled inverter for ``layer``, or None if none fits."""
        rep = CNNLayer.from_info(info, layer)
        try:
            inv = find_bundled(rep, images.shape[-1])
        except WeightsError:
            return None
        out = decode(rep, inv, images)
        rec = out.images[:, 0].cpu()
        fe = [float(v) for v in out.feature_error[:, 0]]
        ie = [float(v) for v in metrics.image_error(rec, images)]
        return {"layer": layer, "inverter": Path(inv.path or "").name, "feature_error": fe, "image_error": ie,
                "optimization_image_error": None, "feature_error_mean": sum(fe) / len(names),
                "image_error_mean": sum(ie) / len(names)}, rec

    used, recs, alone = [], [], []
    for r in results:
        got = decoded(r.layer)
        if got is not None:
            got[0]["optimization_image_error"] = [float(v) for v in r.image_error]
            recs.append(got[0])
            used.append((r, got[1]))
    # bundled inverters for layers the sweep did not optimize (refnet's relu6): decoded alone
    swept = {r.layer for r in results}
    for layer in info.aliases:
        got = None if layer in swept else decoded(layer)
        if got is not None:
            recs.append(got[0])
            alone.append((layer, got[1]))
    if not used and not alone:
        return "", None, []
    rows = []
    for i in range(len(names)):
        row = [images[i]]
        for r, rec in used:
            row += [r.images[i], rec[i]]
        row += [rec[i] for _, rec in alone]
        rows.append(row)
    cols = (["original"] + [f"{r.layer} {m}" for r, _ in used for m in ("optim.", "learned")]
            + [f"{layer} learned" for layer, _ in alone])
    png = encode_png(grid(rows, cols, names, min_side=96))
    paired = [r for r in recs if r["optimization_image_error"] is not None]
    lower = [r["layer"] for r in paired if r["image_error_mean"] < sum(r["optimization_image_error"]) / len(names)]
    higher = [r["layer"] for r in paired if r["layer"] not in lower]
    verdict = ("The decoder's image error is lower " + (f"at {', '.join(lower)}" if lower else "nowhere")
               + (f" and higher at {', '.join(higher)}" if higher else "") + " (table below).")
    section = ("<h2>Trained inverters</h2><p>The same codes decoded in one pass by the bundled up-convolutional "
               "inverters (Dosovitskiy &amp; Brox), beside the optimization's reconstructions. A decoder returns the "
               "average image that would have produced the code (smooth, plausible colors); optimization returns one "
               f"image that matches the code closely (sharper, stranger). {verdict}</p>"
               + html.figure(png, "Rows: images. Column pairs: optimization, then learned, per layer"
                                  + (f"; then {', '.join(lay for lay, _ in alone)} (a bundled inverter for a layer the "
                                     "sweep does not optimize), learned only." if alone else "."))
               + html.table(["layer", "image error: optimization", "image error: learned", "feature error: learned"],
                            [[r["layer"], (sum(r["optimization_image_error"]) / len(names)
                                           if r["optimization_image_error"] is not None else "-"),
                              r["image_error_mean"], r["feature_error_mean"]] for r in recs], left=1))
    return section, png, recs


def _hog_section(sources, names, seed, iters, show=None, size=128, device: Optional[torch.device] = None):
    """Grayscale photos, their HOG glyphs and the default inversion (computed on ``device``)."""

    rep = HOG()
    x = torch.stack([to_grayscale(load_image(s, size)) for s in sources])
    g = invert_grayscale(rep, x.to(device or "cpu"), iters=iters, seed=seed, batch=len(sources), show=show)
    phi0, rec, fe, ie = (t.cpu() for t in (g.phi0, g.reconstructions, g.feature_error, g.image_error))
    rows = [[x[i], glyphs(phi0[i], 8), rec[i]] for i in range(len(sources))]
    png = encode_png(grid(rows, ["grayscale", "HOG glyphs", "from HOG"], names, min_side=size))
    section = ("<h2>HOG</h2><p>The same photos in grayscale, inverted from HOG (8-pixel cells, 27 numbers per cell) "
               f"with the default preset at {size}x{size}. HOG keeps the local edge structure and throws away "
               "absolute brightness and color; the reconstruction shows both.</p>"
               + html.figure(png, f"Feature error {float(fe.mean()):.3f}, image error {float(ie.mean()):.3f} (means).")
               )
    rec_json = {"size": size, "feature_error": [float(v) for v in fe], "image_error": [float(v) for v in ie],
                "feature_error_mean": float(fe.mean()), "image_error_mean": float(ie.mean())}
    return section, png, rec_json
