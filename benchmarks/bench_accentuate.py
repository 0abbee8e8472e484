"""Feature accentuation and diversity (issue 26, second slice).

    OMP_NUM_THREADS=1 python benchmarks/bench_accentuate.py

Accentuation: on the three demo photos (sample:astronaut, sample:coffee, sample:chelsea) and refnet
at 32 px, three unit sets - conv5 (each photo's strongest channel at the center of the map), fc8 (the
photo's own top class) and fc8 (its second-ranked class) - with --param fourier and pixel, at
several --keep weights (the default iterations): each image's activation before and after, the gain
(after / before), SSIM and image_error to the photo, and whether the issue's bar (gain >= 2 and
SSIM >= 0.5) is met. The figures (photo | accentuated | amplified difference | gradient map) of the
default keep are saved in benchmarks/results/accentuate/<units>_<param>/ through the report.

Diversity: ``maximize`` refnet conv5 channels 0:4, --samples 3, at --diversity 0 and a positive
weight, pixel and fourier: each unit's mean pairwise Gram cosine of its samples, and the normalized
activation reached.

Writes benchmarks/results/accentuate.{json,txt}.

    OMP_NUM_THREADS=1 python benchmarks/bench_accentuate.py --keep-layer conv3

The same accentuation with the penalty on a layer's code instead of the pixels (``--keep-layer``;
fourier, keeps 1-100 of the relative squared change), writing accentuate_layer_<L>.{json,txt}; no
diversity part.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from preimage.images import labels_for, load_image
from preimage.jobs.natural import Accentuation
from preimage.models.zoo import MODELS
from preimage.optimize.accentuate import ITERS, KEEP, KEEP_LAYER, accentuate
from preimage.optimize.maximize import maximize
from preimage.report.present import save
from preimage.representations import build

PHOTOS = ["sample:astronaut", "sample:coffee", "sample:chelsea"]
KEEPS = (30.0, 100.0, 300.0, 1000.0)
LAYER_KEEPS = (1.0, 3.0, 10.0, 30.0, 100.0)
PARAMS = ("fourier", "pixel")
DIVERSITY = (0.0, 10.0)
OUT = Path(__file__).parent / "results"


def unit_sets(x: torch.Tensor):
    conv5, fc8 = build("refnet", "conv5"), build("refnet", "fc8")
    with torch.no_grad():
        f = conv5(x)
        strongest = f[:, :, f.shape[2] // 2, f.shape[3] // 2].argmax(1)
        order = fc8(x).argsort(1, descending=True)
    return [("conv5_strongest", conv5, "conv5", "channel", [int(v) for v in strongest]),
            ("fc8_top_class", fc8, "fc8", "class", [int(v) for v in order[:, 0]]),
            ("fc8_second_class", fc8, "fc8", "class", [int(v) for v in order[:, 1]])]


def accentuation(iters: int, keep_layer=None) -> dict:
    x = torch.stack([load_image(p, 32) for p in PHOTOS])
    names = MODELS["refnet"].classes
    rows = []
    keeps, params, default = (KEEPS, PARAMS, KEEP) if keep_layer is None else (LAYER_KEEPS, ("fourier",), KEEP_LAYER)
    for name, rep, layer, kind, units in unit_sets(x):
        for param in params:
            for keep in keeps:
                r = accentuate(rep, x, units, param=param, iters=iters, keep=keep, show=False, keep_layer=keep_layer)
                gain = r.gain
                row = {"units": name, "param": param, "keep": keep, "seconds": round(r.seconds, 2),
                       "images": [{"photo": p, kind: u, "before": float(r.before[i]), "after": float(r.after[i]),
                                   "gain": None if torch.isnan(gain[i]) else float(gain[i]), "ssim": float(r.ssim[i]),
                                   "image_error": float(r.image_error[i]),
                                   "bar": bool(r.before[i] > 0 and gain[i] >= 2 and r.ssim[i] >= 0.5)}
                                  for i, (p, u) in enumerate(zip(PHOTOS, units))]}
                rows.append(row)
                print(f"{name:<17} {param:<7} keep {keep:>6g}  " + "  ".join(
                    f"{im['gain'] if im['gain'] is not None else float('nan'):6.2f}/{im['ssim']:.2f}"
                    for im in row["images"]), flush=True)
                if keep == default:
                    tag = f"{name}_{param}" + (f"_keep_{keep_layer}" if keep_layer else "")
                    save(Accentuation(PHOTOS, labels_for(PHOTOS), "refnet", layer, r, kind, names),
                         str(OUT / "accentuate" / tag), force=True)
    return {"iters": iters, "keeps": list(keeps), "default_keep": default, "keep_layer": keep_layer, "rows": rows}


def diversity(iters: int) -> dict:
    rep = build("refnet", "conv5")
    rows = []
    for param in ("pixel", "fourier"):
        for w in DIVERSITY:
            t0 = time.perf_counter()
            m = maximize(rep, [0, 1, 2, 3], samples=3, param=param, diversity=w, iters=iters, seed=0, show=False)
            assert m.similarity is not None
            rows.append({"param": param, "diversity": w, "mean_pairwise_gram_cosine": float(m.similarity.mean()),
                         "per_unit": [float(v) for v in m.similarity], "activation_mean": float(m.activation.mean()),
                         "seconds": round(time.perf_counter() - t0, 2)})
            print(f"diversity {param:<7} W {w:>4g}: Gram cosine {rows[-1]['mean_pairwise_gram_cosine']:.3f} "
                  f"{[round(v, 3) for v in rows[-1]['per_unit']]}  activation {rows[-1]['activation_mean']:.2f}", flush=True)
    return {"units": "refnet conv5 channels 0:4 (center), 3 samples, seed 0", "iters": iters, "rows": rows}


def table(rec: dict) -> str:
    acc = rec["accentuation"]
    where = f"the penalty on {acc['keep_layer']}'s code" if acc.get("keep_layer") else "the penalty on pixels"
    out = [f"Accentuation, refnet, {acc['iters']} iterations, {where}; per photo gain/SSIM ({', '.join(PHOTOS)}); "
           f"bar: gain >= 2 and SSIM >= 0.5", ""]
    out.append("| units | param | keep | astronaut | coffee | chelsea | bar met |")
    out.append("|---|---|---|---|---|---|---|")
    for r in acc["rows"]:
        cells = [(f"{im['gain']:.2f}" if im["gain"] is not None else f"{im['before']:.2f}->{im['after']:.2f}")
                 + f" / {im['ssim']:.2f}" for im in r["images"]]
        out.append(f"| {r['units']} | {r['param']} | {r['keep']:g} | " + " | ".join(cells)
                   + f" | {sum(im['bar'] for im in r['images'])}/3 |")
    div = rec.get("diversity")
    if div is None:
        return "\n".join(out) + "\n"
    out += ["", f"Diversity, {div['units']}, {div['iters']} iterations", "",
            "| param | W | mean pairwise Gram cosine | per unit | activation |", "|---|---|---|---|---|"]
    for r in div["rows"]:
        out.append(f"| {r['param']} | {r['diversity']:g} | {r['mean_pairwise_gram_cosine']:.3f} | "
                   f"{', '.join(f'{v:.3f}' for v in r['per_unit'])} | {r['activation_mean']:.2f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=ITERS)
    ap.add_argument("--diversity-iters", type=int, default=300)
    ap.add_argument("--keep-layer", help="the penalty on this refnet layer's code (accentuation only)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    if a.keep_layer:
        rec = {"accentuation": accentuation(a.iters, a.keep_layer)}
        stem = f"accentuate_layer_{a.keep_layer}"
    else:
        rec = {"accentuation": accentuation(a.iters), "diversity": diversity(a.diversity_iters)}
        stem = "accentuate"
    (OUT / f"{stem}.json").write_text(json.dumps(rec, indent=1))
    text = table(rec)
    (OUT / f"{stem}.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
