"""Feature visualization against the peers, on the same units of the same network (issue 26).

    python benchmarks/bench_featurevis.py [--reference /work/shared/data/cifar10/test] [--reference-images 1000]

Units: refnet's ten classes (fc8) and the first 64 channels of conv5 (each at the center of its 4x4
map), refnet from ``preimage.models.load_model('refnet')`` at 32 px, its normalization inside.
Rows, each at the preset's default iteration count (300 steps; every peer gets the same number):

* ours, through the command ``preimage maximize --model refnet --layer fc8 --classes all`` and
  ``--layer conv5 --channels 0:64`` with ``--param P --preset R`` (its output, grid.png included, in
  benchmarks/results/featurevis/<row>/{classes,conv5}/): ``pixel`` (the default preset),
  ``pixel-mv2016``, ``fourier``, ``maco``, and ``fourier-crops``: fourier seen through maco's crops with
  noise (``featurevis.CROPS``) instead of lucid's transforms, patched in for that row;
* ``lucent``: lucent's ``render_vis`` (torch-lucent 0.1.8) with ``param.image(32, fft=True,
  decorrelate=True)``, its default Adam 0.05, lucent's own transform functions at the magnitudes our
  chain uses at 32 px (``pad(4, constant 0.5), jitter(5), random_scale(0.90-1.10), random_rotate(+-10),
  jitter(3)``, then its resize to ``fixed_image_size=32``; its default chain - pad 12, jitter 8 - is
  calibrated for 128-224 px), ``preprocess=False`` (the model given takes [0, 1] images); objectives
  ``channel("model_classifier_6", c, batch=i)`` and ``neuron("model_features_14", c, batch=i)``
  summed, all units of a layer as one batch;
* ``horama-fourier`` and ``horama-maco``: Horama 0.3.0's ``fourier`` / ``maco``, one unit at a time
  (their API; about 10 s per unit, so the ten classes and the first 16 conv5 channels only - the table
  gives every row's score on those 16 beside the 64), ``image_size=model_input_size=32``, ``values_range=(0, 1)`` (the model normalizes),
  their NAdam at lr 1.0, noise 0.05, 6 crops per step, ``box_size=(0.8, 0.9)`` (crops of 90-100% of
  the image: their default 0.20-0.25 is for a 1280 px canvas seen at 224 px); MACO's magnitude is
  the one our ``maco`` row uses (the mean amplitude spectrum of the scikit-image photos,
  ``preimage.optimize.param.mean_amplitude_spectrum``), never downloaded.

Peers installed into the venv for this benchmark only (not project dependencies):
``pip install --no-deps torch-lucent horama kornia==0.6.12 decorator einops``. Both import
torchvision, which cannot be imported here; before importing them this script puts a stand-in
``torchvision`` package into ``sys.modules`` (:func:`install_torchvision_standin`) with exactly the
three names they use: ``transforms.Normalize`` (``(x - mean) / std`` per channel; unused here, since
``preprocess=False``), ``ops.roi_align`` (each box resampled bilinearly to ``output_size`` with
``torch.nn.functional.grid_sample``, one sample per output bin at its center, zeros outside the image;
torchvision averages ``sampling_ratio`` samples per bin, which at these sizes - bins under one pixel -
is nearly the same) and ``datasets.utils.download_url`` (writes our natural amplitude spectrum as the
``.npy`` Horama asks for, instead of downloading ImageNet's). lucent 0.1.8 calls
``kornia.get_rotation_matrix2d`` and ``kornia.warp_affine``, which kornia >= 0.6 keeps in
``kornia.geometry.transform``: they are aliased there.

Measured on every row's images, quantized to 8 bits (what a PNG keeps):

* recognition of the ten class images by cifar-resnet and cifar-vgg (classes with the intended class
  on top; mean probability of the intended class);
* plausibility (:func:`preimage.naturalness.plausibility`): in cifar-resnet's (and cifar-vgg's)
  penultimate feature space, the fraction of a class image's 10 nearest reference images of its
  class, and 1-NN accuracy;
* the MIS-style interpretability score (:func:`preimage.naturalness.interpretability`): 50
  2-alternative trials per unit between its 10 most- and 10 least-activating reference images
  (refnet's activation: the element, or the channel's spatial mean), judged by cifar-resnet (and
  cifar-vgg) features - for the 64 conv5 channels and the 10 classes;
* spectrum slope (:func:`preimage.metrics.spectrum_slope`) beside the reference images' and the
  scikit-image photos';
* normalized activation reached (the unit's activation in the final image over its largest on the
  scikit-image photos, as ``maximize`` normalizes); seconds per unit of optimization (one thread).

Reference images: ``--reference-images`` (default 1000) of the CIFAR-10 test folder, spread evenly
over it in name order (100 per class). Writes benchmarks/results/featurevis.{json,txt} and, per
row, images and grids in benchmarks/results/featurevis/<row>/{classes,conv5}/. About 17 minutes on
one thread (Horama's two rows are 9 of them). ``--rows`` picks rows (``--update``: they replace theirs in
featurevis.json, the other rows kept); ``--part A`` writes
featurevis_A.json only and ``--merge A,B`` makes the table from such parts (rows split over two
processes); ``--table-only`` rewrites the .txt from the .json.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

import preimage.optimize.featurevis as fv
from preimage.cli import main as cli
from preimage.images import encode_png, load_image
from preimage.jobs.natural import judge_units, load_judge, load_reference, natural_images, natural_spectrum, unit_activations
from preimage.metrics import spectrum_slope
from preimage.models import load_model
from preimage.models.classifier import Classifier
from preimage.models.refnet import CIFAR10_CLASSES
from preimage.optimize.maximize import natural_maxima, unit_values
from preimage.optimize.transforms import RandomCrops
from preimage.report.figures import grid
from preimage.representations import build

OURS = [("pixel", "default", "pixel"), ("pixel-mv2016", "mv2016", "pixel"), ("fourier", "default", "fourier"),
        ("fourier-crops", "default", "fourier"), ("maco", "default", "maco")]
#: rows that are a variant of the package's recipe, patched in for their run only: fourier seen
#: through maco's crops with noise (``featurevis.CROPS``) instead of lucid's transforms
VARIANT_ROWS = {"fourier-crops": lambda param, size, keys: [RandomCrops(size, keys, *fv.CROPS)]}
PEERS = ["lucent", "horama-fourier", "horama-maco"]
JUDGES = ("cifar-resnet", "cifar-vgg")
CLASSES = list(range(10))
CHANNELS = list(range(64))
STEPS = 300
SEED = 0
#: Horama optimizes one image at a time (about 10 s per unit at 300 steps on one thread here): its rows
#: take the ten classes and the first 16 conv5 channels, and the table also gives every row's score on those 16
HORAMA_CHANNELS = 16
TRANSFORMS_FOR = fv.transforms_for


# ---------------------------------------------------------------- the stand-ins
def _roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """torchvision.ops.roi_align for (K, 5) boxes (batch index, x1, y1, x2, y2): bilinear samples at
    the bin centers (pixel i at coordinate i, or i + 0.5 when ``aligned``), zeros outside."""
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    n, c, h, w = input.shape
    b = boxes.to(input.dtype)
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (b[:, i] * spatial_scale - off for i in range(1, 5))
    tx = (torch.arange(ow, device=input.device, dtype=input.dtype) + 0.5) / ow
    ty = (torch.arange(oh, device=input.device, dtype=input.dtype) + 0.5) / oh
    xs = x1.view(-1, 1) + (x2 - x1).view(-1, 1) * tx.view(1, -1)            # (K, ow) pixel coordinates
    ys = y1.view(-1, 1) + (y2 - y1).view(-1, 1) * ty.view(1, -1)            # (K, oh)
    gx = xs / max(w - 1, 1) * 2 - 1
    gy = ys / max(h - 1, 1) * 2 - 1
    g = torch.stack([gx.view(-1, 1, ow).expand(-1, oh, ow), gy.view(-1, oh, 1).expand(-1, oh, ow)], -1)
    src = input[b[:, 0].long()]
    return F.grid_sample(src, g, mode="bilinear", padding_mode="zeros", align_corners=True)


class _Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def __call__(self, t):
        return (t - self.mean.view(-1, 1, 1).to(t)) / self.std.view(-1, 1, 1).to(t)


SPECTRUM: dict = {}


def _download_url(url, root, filename=None, md5=None):
    """Horama's magnitude template: our natural amplitude spectrum, written where it looks."""
    np.save(os.path.join(root, filename or "spectrum.npy"), SPECTRUM["maco"].numpy())


def install_torchvision_standin() -> None:
    tv = types.ModuleType("torchvision")
    mods = {name: types.ModuleType(f"torchvision.{name}") for name in ("transforms", "ops", "datasets", "datasets.utils")}
    mods["transforms"].Normalize = _Normalize  # type: ignore[attr-defined]
    mods["ops"].roi_align = _roi_align  # type: ignore[attr-defined]
    mods["datasets.utils"].download_url = _download_url  # type: ignore[attr-defined]
    mods["datasets"].utils = mods["datasets.utils"]  # type: ignore[attr-defined]
    for name, m in mods.items():
        if "." not in name:
            setattr(tv, name, m)
        sys.modules[f"torchvision.{name}"] = m
    sys.modules["torchvision"] = tv
    import kornia  # lucent 0.1.8 calls the pre-0.6 top-level names
    from kornia.geometry import transform as kt
    kornia.get_rotation_matrix2d = kt.get_rotation_matrix2d
    kornia.warp_affine = kt.warp_affine


# ---------------------------------------------------------------- the rows
def quantize(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def ours(root: Path, row: str, preset: str, param: str) -> dict:
    out = {}
    for what, args in (("classes", ["--layer", "fc8", "--classes", "all"]),
                       ("conv5", ["--layer", "conv5", "--channels", f"0:{len(CHANNELS)}"])):
        # the table's own images under the row's name; other seeds and step counts beside them
        folder = root / "featurevis" / (row + (f"-seed{SEED}" if SEED else "") + (f"-steps{STEPS}" if STEPS != 300 else "")) / what
        assert cli(["--threads", "1", "maximize", "--model", "refnet", *args, "--param", param, "--preset", preset, "--iters", str(STEPS),
                    "--seed", str(SEED), "--quiet", "--force", "--out", str(folder)]) == 0, row
        rec = json.loads((folder / "results.json").read_text())
        x = torch.stack([load_image(str(folder / u["output"]), 32) for u in rec["units"]])
        out[what] = (x, rec["seconds"] / len(rec["units"]))
    return out


def lucent_row(info) -> dict:
    from lucent.optvis import objectives, param, render, transform

    model = Classifier.from_info(info).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    chain = [transform.pad(4, mode="constant", constant_value=0.5), transform.jitter(5),
             transform.random_scale([0.9 + 0.02 * i for i in range(11)]), transform.random_rotate(list(range(-10, 11))),
             transform.jitter(3)]
    out = {}
    for what, units in (("classes", CLASSES), ("conv5", CHANNELS)):
        torch.manual_seed(0)
        np.random.seed(0)
        if what == "classes":
            objs = [objectives.channel("model_classifier_6", u, batch=i) for i, u in enumerate(units)]
        else:
            objs = [objectives.neuron("model_features_14", u, batch=i) for i, u in enumerate(units)]
        obj = functools.reduce(operator.add, objs)
        t0 = time.perf_counter()
        imgs = render.render_vis(model, obj, lambda n=len(units): param.image(32, batch=n, fft=True, decorrelate=True),
                                 transforms=list(chain), thresholds=(STEPS,), preprocess=False, progress=False,
                                 show_image=False, fixed_image_size=32)
        sec = time.perf_counter() - t0
        out[what] = (quantize(torch.from_numpy(imgs[-1]).permute(0, 3, 1, 2).float()), sec / len(units))
    return out


def horama_row(kind: str) -> dict:
    import horama
    import horama.maco_fv

    rep8, rep5 = build("refnet", "fc8"), build("refnet", "conv5")
    for r in (rep8, rep5):
        for p in r.network.parameters():
            p.requires_grad_(False)
    fn = horama.fourier if kind == "fourier" else horama.maco
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        horama.maco_fv.MACO_SPECTRUM_FILENAME = os.path.join(tmp, "spectrum_decorrelated.npy")
        for what, units, rep in (("classes", CLASSES, rep8), ("conv5", CHANNELS[:HORAMA_CHANNELS], rep5)):
            imgs = []
            t0 = time.perf_counter()
            for u in units:
                torch.manual_seed(u)
                if what == "classes":
                    def objective(x, u=u, rep=rep):
                        return rep(x)[:, u].mean()
                else:
                    def objective(x, u=u, rep=rep):
                        f = rep(x)
                        return f[:, u, f.shape[-2] // 2, f.shape[-1] // 2].mean()
                img, _ = fn(objective, total_steps=STEPS, learning_rate=1.0, image_size=32, model_input_size=32,
                            noise=0.05, values_range=(0.0, 1.0), crops_per_iteration=6, box_size=(0.8, 0.9), device="cpu")
                imgs.append(img.detach())
            sec = time.perf_counter() - t0
            out[what] = (quantize(torch.stack(imgs)), sec / len(units))
    return out


# ---------------------------------------------------------------- the measures
def recognition(x: torch.Tensor) -> dict:
    target = torch.tensor(CLASSES)
    out = {}
    for name in JUDGES:
        with torch.no_grad():
            p = Classifier.from_info(load_model(name)).eval()(x).softmax(1)
        out[name] = {"top1": int((p.argmax(1) == target).sum()), "of": len(target),
                     "mean_p": float(p[torch.arange(len(target)), target].mean())}
    return out


def normalized(rep, x: torch.Tensor, units, maxima: torch.Tensor) -> float:
    with torch.no_grad():
        a = unit_values(rep(x), torch.tensor(units), "center")
    m = maxima[units]
    return float((a / torch.where(m > 0, m, torch.ones_like(m))).mean())


def measure(row: str, res: dict, ctx: dict) -> dict:
    cls, sec_c = res["classes"]
    ch, sec_5 = res["conv5"]
    s_c, s_5 = spectrum_slope(cls), spectrum_slope(ch)
    units5 = CHANNELS[:len(ch)]
    rec = {"row": row, "steps": STEPS, "conv5_channels": len(units5),
           "seconds_per_unit": {"classes": sec_c, "conv5": sec_5},
           "slope_classes": {"mean": float(s_c.mean()), "min": float(s_c.min()), "max": float(s_c.max())},
           "slope_conv5": {"mean": float(s_5.mean()), "min": float(s_5.min()), "max": float(s_5.max())},
           "recognition": recognition(cls),
           "normalized_activation": {"classes": normalized(ctx["rep8"], cls, CLASSES, ctx["max8"]),
                                     "conv5": normalized(ctx["rep5"], ch, units5, ctx["max5"])},
           "judged": {}}
    for name, judge in ctx["judges"].items():
        c = judge_units(cls.unsqueeze(1), CLASSES, ctx["rep8"], judge, ctx["reference"], CIFAR10_CLASSES,
                        activations=ctx["act8"])
        k = judge_units(ch.unsqueeze(1), units5, ctx["rep5"], judge, ctx["reference"],
                        activations=ctx["act5"][:, :len(units5)])
        first = [k["interpretability"]["per_unit"][str(u)] for u in CHANNELS[:HORAMA_CHANNELS]]
        rec["judged"][name] = {"plausibility": {k2: v for k2, v in c["plausibility"].items() if k2 != "per_image"},
                               "interpretability_classes": c["interpretability"]["accuracy"],
                               "interpretability_classes_p": c["interpretability"]["probability"],
                               "interpretability_conv5": k["interpretability"]["accuracy"],
                               "interpretability_conv5_p": k["interpretability"]["probability"],
                               "interpretability_conv5_first16": sum(first) / len(first),
                               "interpretability_conv5_per_unit": k["interpretability"]["per_unit"]}
    return rec


def save_grids(root: Path, row: str, res: dict) -> None:
    from PIL import Image

    for what, (x, _) in res.items():
        folder = root / "featurevis" / row / what
        folder.mkdir(parents=True, exist_ok=True)
        per = 10 if what == "classes" else 16
        cells = [list(x[i:i + per]) for i in range(0, len(x), per)]
        labels = [[CIFAR10_CLASSES[i] if what == "classes" else f"ch {i}" for i in range(j, j + len(r))]
                  for j, r in zip(range(0, len(x), per), cells)]
        Image.fromarray(grid(cells, cell_labels=labels)).save(folder / "grid.png")
        for i, im in enumerate(x):
            (folder / f"unit{i:04d}_s0.png").write_bytes(encode_png(im))


LABEL = {"pixel": "pixel (the default before fourier)", "fourier": "fourier (the default before maco)",
         "maco": "maco (the default now)"}


def table(rows, nat: dict) -> str:
    head = ("| row | s / unit (classes, conv5) | class slope mean (range) | cifar-resnet top-1, p | cifar-vgg top-1, p | "
            "plausibility: same class of 10 NN, 1-NN (cifar-resnet / cifar-vgg) | MIS classes (resnet / vgg) | "
            "MIS conv5 0:64 (resnet / vgg) | MIS conv5 0:16 (resnet / vgg) | conv5 slope | "
            "normalized activation (classes, conv5) |")
    lines = [f"Natural slopes: CIFAR-10 reference images {nat['reference']:.2f}, scikit-image photos {nat['photos']:.2f}. "
             f"{STEPS} steps each, one thread.", "", head, "|" + "---|" * 11]
    for r in rows:
        j, g = r["recognition"], r["judged"]
        pl = " / ".join(f"{g[n]['plausibility']['same_class_of_k_nearest']:.2f}, "
                        f"{g[n]['plausibility']['nearest_neighbour_accuracy']:.1f}" for n in JUDGES)
        lines.append(
            f"| {LABEL.get(r['row'], r['row'])} | {r['seconds_per_unit']['classes']:.2f}, {r['seconds_per_unit']['conv5']:.2f} | "
            f"{r['slope_classes']['mean']:.2f} ({r['slope_classes']['min']:.2f} to {r['slope_classes']['max']:.2f}) | "
            + " | ".join(f"{j[n]['top1']}/{j[n]['of']}, {j[n]['mean_p']:.2f}" for n in JUDGES)
            + f" | {pl} | "
            + " / ".join(f"{g[n]['interpretability_classes']:.2f}" for n in JUDGES) + " | "
            + (" / ".join(f"{g[n]['interpretability_conv5']:.2f}" for n in JUDGES) if r["conv5_channels"] == len(CHANNELS)
               else "-") + " | "
            + " / ".join(f"{g[n]['interpretability_conv5_first16']:.2f}" for n in JUDGES) + " | "
            + f"{r['slope_conv5']['mean']:.2f} | {r['normalized_activation']['classes']:.2f}, "
            f"{r['normalized_activation']['conv5']:.2f} |")
    return "\n".join(lines)


def summarize(root: Path, parts: List[str]) -> str:
    """Per row, the recognition p and the plausibility (same class of 10 nearest) of each judge, as
    mean (min-max) over the parts given (one seed each, ``--seed S --part P``; ``table``: the
    table's own run, seed 0)."""
    rows: Dict[str, Dict[str, List[float]]] = {}
    for part in parts:
        for r in json.loads((root / ("featurevis.json" if part == "table" else f"featurevis_{part}.json")).read_text())["rows"]:
            got = rows.setdefault(r["row"], {})
            for j in JUDGES:
                got.setdefault(f"p {j}", []).append(r["recognition"][j]["mean_p"])
                got.setdefault(f"plausibility {j}", []).append(r["judged"][j]["plausibility"]["same_class_of_k_nearest"])
            got.setdefault("class slope", []).append(r["slope_classes"]["mean"])
    cols = [f"p {j}" for j in JUDGES] + [f"plausibility {j}" for j in JUDGES] + ["class slope"]
    lines = [f"| row | {' | '.join(cols)} |", "|---" * (len(cols) + 1) + "|"]
    for name, got in sorted(rows.items(), key=lambda kv: len(kv[1]["class slope"]), reverse=True):
        if len(got["class slope"]) < 2:        # a row of one run (the table's peers)
            continue
        cells = [f"{sum(v) / len(v):.3f} ({min(v):.3f}-{max(v):.3f})" for v in (got[c] for c in cols)]
        lines.append(f"| {name} ({len(got[cols[0]])} seeds) | {' | '.join(cells)} |")
    return "\n".join(lines)


def main():
    global STEPS, SEED
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--reference", default="/work/shared/data/cifar10/test")
    ap.add_argument("--reference-images", type=int, default=1000)
    ap.add_argument("--rows", default=",".join([r[0] for r in OURS] + PEERS))
    ap.add_argument("--steps", type=int, default=STEPS, help="a quick check only: the table is at 300")
    ap.add_argument("--part", help="write featurevis_PART.json only (rows run in two processes)")
    ap.add_argument("--merge", help="PART,PART: the table from parts already written")
    ap.add_argument("--table-only", action="store_true", help="rewrite featurevis.txt from featurevis.json")
    ap.add_argument("--seed", type=int, default=SEED, help="our rows' seed (not 0: needs --part; images in <row>-seedS/)")
    ap.add_argument("--summarize", metavar="PART,PART", help="p and plausibility over parts of other seeds")
    ap.add_argument("--update", action="store_true",
                    help="the rows run now replace theirs in featurevis.json; the other rows are kept")
    a = ap.parse_args()
    STEPS, SEED = a.steps, a.seed
    if SEED != 0 and not a.part:
        ap.error("--seed other than 0 writes a part (--part P), not the table")
    torch.set_num_threads(1)
    root = Path(a.out)
    if a.summarize:
        print(summarize(root, a.summarize.split(",")))
        return
    if a.table_only:
        rec = json.loads((root / "featurevis.json").read_text())
        (root / "featurevis.txt").write_text(table(rec["rows"], rec["natural_slope"]) + "\n")
        return
    install_torchvision_standin()
    info = load_model("refnet")
    rep8, rep5 = build("refnet", "fc8"), build("refnet", "conv5")
    photos, _ = natural_images(None, 32)
    reference = load_reference(a.reference, 32, a.reference_images, CIFAR10_CLASSES)
    SPECTRUM["maco"], _ = natural_spectrum("maco", None, 32)
    ctx = {"rep8": rep8, "rep5": rep5, "max8": natural_maxima(rep8, photos), "max5": natural_maxima(rep5, photos),
           "reference": reference, "judges": {n: load_judge(n) for n in JUDGES},
           "act8": unit_activations(rep8, reference.images, CLASSES),
           "act5": unit_activations(rep5, reference.images, CHANNELS)}
    nat = {"reference": float(spectrum_slope(reference.images).mean()), "photos": float(spectrum_slope(photos).mean())}
    wanted = a.rows.split(",")
    rows = []
    if a.merge or a.update:
        names = [f"featurevis_{p}" for p in a.merge.split(",")] if a.merge else ["featurevis"]
        parts = [json.loads((root / f"{p}.json").read_text()) for p in names]
        byname = {r["row"]: r for part in parts for r in part["rows"]}
        rows = [byname[n] for n in [r[0] for r in OURS] + PEERS if n in byname and not (a.update and n in wanted)]
    for row, preset, param in OURS:
        if row in wanted:
            fv.transforms_for = VARIANT_ROWS.get(row, TRANSFORMS_FOR)
            try:
                rows.append(measure(row, ours(root, row, preset, param), ctx))
            finally:
                fv.transforms_for = TRANSFORMS_FOR
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "judged"}), flush=True)
    for row in PEERS:
        if row not in wanted:
            continue
        res = lucent_row(info) if row == "lucent" else horama_row(row.split("-")[1])
        save_grids(root, row, res)
        rows.append(measure(row, res, ctx))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "judged"}), flush=True)
    order = [r[0] for r in OURS] + PEERS
    rows.sort(key=lambda r: order.index(r["row"]))
    root.mkdir(parents=True, exist_ok=True)
    record = {"threads": 1, "steps": STEPS, "reference": reference.where, "natural_slope": nat, "rows": rows}
    if a.part:
        (root / f"featurevis_{a.part}.json").write_text(json.dumps(record, indent=2) + "\n")
        return
    text = table(rows, nat)
    print(text)
    (root / "featurevis.json").write_text(json.dumps({"threads": 1, "steps": STEPS, "reference": reference.where,
                                                      "natural_slope": nat, "rows": rows}, indent=2) + "\n")
    (root / "featurevis.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
