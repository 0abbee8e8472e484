"""Compare the inversion presets (default, mv2015, mv2016) on the development images.

For each layer, inverts the first N images of a folder (resized and center-cropped to the model's
input size) with each preset's own schedule, and records mean feature_error, image_error, PSNR and
wall time (after a short warm-up run of each preset). Writes benchmarks/results/presets_<model>.json, a markdown table, and a figure
(benchmarks/results/presets_<model>.png: originals and each preset's reconstructions).

    python benchmarks/bench_presets.py --data ../shared/data/imagenet-dev100 --model refnet --n 16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from preimage import _io
from preimage.errors import DivergedError
from preimage.images import encode_png, list_images, load_image
from preimage.models import load_model
from preimage.optimize import invert
from preimage.report import grid
from preimage.representations import CNNLayer

PRESETS = ("default", "mv2015", "mv2016")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="refnet")
    ap.add_argument("--weights")
    ap.add_argument("--layers", default="conv1,conv2,conv3,conv4,conv5,pool5,fc6,fc7,fc8")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    info = load_model(a.model, weights=a.weights)
    size = info.input_size
    files = list_images(a.data)[: a.n]
    x = torch.stack([load_image(f, size) for f in files])
    rows, fig_rows = [], []
    warm = CNNLayer(info.module, a.layers.split(",")[0], info.mean, info.std, info.aliases, size)
    for p in PRESETS:  # warm-up: first-call allocations and kernel selection stay out of the timings
        invert(warm, x, preset=p, iters=10, show=False)
    for layer in a.layers.split(","):
        rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, size)
        recs = {}
        for p in PRESETS:
            try:
                res = invert(rep, x, preset=p, seed=0, show=False)
            except DivergedError as e:
                rows.append({"layer": layer, "preset": p, "diverged": str(e)})
                recs[p] = torch.zeros_like(x[:4])
                print(f"{layer:6s} {p:8s} diverged: {e}", flush=True)
                continue
            m = res.image_metrics()
            r = {"layer": layer, "preset": p, "iters": res.iterations, "seconds": res.seconds,
                 "feature_error": float(res.feature_error.mean()),
                 "image_error": float(m["image_error"].mean()), "psnr": float(m["psnr"].mean()),
                 "ssim": float(m["ssim"].mean())}
            rows.append(r)
            recs[p] = res.images[:4, 0]
            print(f"{layer:6s} {p:8s} {r['iters']:4d} it {r['seconds']:6.1f}s  feature_error {r['feature_error']:.4f}  "
                  f"image_error {r['image_error']:.4f}  psnr {r['psnr']:.2f}", flush=True)
        for i in range(min(4, len(files))):
            fig_rows.append([x[i]] + [recs[p][i] for p in PRESETS])
    stem = f"presets_{a.model.replace('/', '_').replace(':', '_')}"
    out = Path(a.out)
    _io.write_json(out / f"{stem}.json", {"benchmark": "presets", "model": a.model, "data": a.data,
                                           "n": len(files), "size": size, "rows": rows})
    _io.write_bytes(out / f"{stem}.png", encode_png(grid(fig_rows, ["original", *PRESETS], min_side=64)))
    print("\n| layer | preset | iters | seconds | feature_error | image_error | PSNR |\n|---|---|---|---|---|---|---|")
    for r in rows:
        if "diverged" in r:
            print(f"| {r['layer']} | {r['preset']} | diverged | | | | |")
            continue
        print(f"| {r['layer']} | {r['preset']} | {r['iters']} | {r['seconds']:.1f} | {r['feature_error']:.4f} | "
              f"{r['image_error']:.4f} | {r['psnr']:.2f} |")
    print(f"wrote {out / stem}.json and .png")


if __name__ == "__main__":
    main()
