"""How the default preset's learning rate, TV weight and jitter were chosen.

refnet at 32x32, the first 16 images of imagenet-dev100 in name order (not the demo's photos),
300 iterations, seed 0. For every layer conv1 ... fc8 and every candidate (learning rate, TV
weight, jittered share of the iterations), the mean and worst feature_error and the mean
image_error. Candidates: the learning rates 0.05, 0.1, 0.15 at the preset's TV weight and jitter
for spatial codes; for vector codes (0.05, 2), (0.03, 2), (0.03, 1), (0.02, 2) with 60% of the
iterations jittered and (0.05, 1), (0.03, 1), (0.03, 2), (0.02, 1) without jitter. The preset
keeps, per band, the candidate with the lowest mean feature error over the band's layers.
Writes benchmarks/results/default_tuning.{json,txt}.

    python benchmarks/bench_default_tuning.py --data ../shared/data/imagenet-dev100 --n 16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from preimage import _io
from preimage.images import list_images, load_image
from preimage.optimize import invert
from preimage.optimize.presets import Default, mv2015_lambda_tv
from preimage.representations import build

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev100"
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
SPATIAL = ((0.05, None, None), (0.1, None, None), (0.15, None, None))
VECTOR = ((0.05, 2.0, 0.6), (0.03, 2.0, 0.6), (0.03, 1.0, 0.6), (0.02, 2.0, 0.6),
          (0.05, 1.0, 0.0), (0.03, 1.0, 0.0), (0.03, 2.0, 0.0), (0.02, 1.0, 0.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--n", type=int, default=16)
    a = ap.parse_args()
    x = torch.stack([load_image(f, 32) for f in list_images(a.data)[:a.n]])
    rows = []
    for layer in LAYERS:
        rep = build("refnet", layer, size=32).eval()
        vector = len(rep.output_shape(32)) == 1
        for lr, tv, jit in (VECTOR if vector else SPATIAL):
            preset = Default(lr=lr, tv=tv, jitter_frac=jit, recipe="classic")  # the recipe these rows chose
            r = invert(rep, x, preset=preset, seed=0, show=False)
            fe, ie = r.feature_error[:, 0], r.image_metrics()["image_error"][:, 0]
            code = rep(x[:1])
            tv_used, jit_used = preset.tv_weight(rep, code), preset.jitter_share(rep, code)
            rows.append({"layer": layer, "band": 0 if vector else mv2015_lambda_tv(rep), "lr": lr, "tv": tv_used,
                         "jitter": jit_used, "feature_error_mean": float(fe.mean()),
                         "feature_error_max": float(fe.max()), "image_error_mean": float(ie.mean())})
            print(f"{layer:<6} lr {lr:<5} tv {tv_used:<4} jitter {jit_used:<4} feature_error {fe.mean():.4f} "
                  f"(max {fe.max():.4f})  image_error {ie.mean():.4f}", flush=True)
    lines = ["| layer | lr | TV weight | jittered share | feature_error mean | feature_error max | image_error mean |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['layer']} | {r['lr']} | {r['tv']} | {r['jitter']} | {r['feature_error_mean']:.4f} | "
              f"{r['feature_error_max']:.4f} | {r['image_error_mean']:.4f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "default_tuning.json", {"n": len(x), "size": 32, "rows": rows})
    _io.write_text(RESULTS / "default_tuning.txt", text + "\n")


if __name__ == "__main__":
    main()
