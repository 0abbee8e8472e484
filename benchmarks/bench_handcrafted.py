"""Hand-crafted representations: speed, and the CVPR-2015 inversion table.

speed: at 224x224, batch 16: forward + backward (gradient of a squared loss with respect to the
image) per image for hog, hogb and dsift; forward per image for hog against skimage.feature.hog
(same cells and orientations, on the luma image, one image at a time as skimage works).

table: `preimage.jobs.inversion.evaluate` (grayscale, N images evenly spaced in name order, size S) for hog,
hogb and dsift with the default and mv2015 presets; mean mv_error, feature_error, image_error,
seconds per image; plus a figure of originals next to their reconstructions from each.

    python benchmarks/bench_handcrafted.py speed
    python benchmarks/bench_handcrafted.py table --data ../shared/data/imagenet-dev100 --n 100 --size 128
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from preimage import _io
from preimage.images import encode_png
from preimage.report import grid
from preimage.representations import DSIFT, HOG
from preimage.representations._grad import luma

RESULTS = Path(__file__).parent / "results"


def speed(a):
    from skimage.feature import hog as sk_hog

    torch.manual_seed(0)
    x = torch.rand(16, 3, 224, 224)
    rows = []
    for rep in (HOG(), HOG(soft=True), DSIFT()):
        xx = x.clone().requires_grad_(True)
        for _ in range(2):
            torch.autograd.grad(rep(xx).pow(2).sum(), xx)
        fb, fw = [], []
        for _ in range(a.repeats):
            t = time.perf_counter()
            torch.autograd.grad(rep(xx).pow(2).sum(), xx)
            fb.append((time.perf_counter() - t) / 16)
            t = time.perf_counter()
            with torch.no_grad():
                rep(x)
            fw.append((time.perf_counter() - t) / 16)
        rows.append({"representation": rep.name, "forward_backward_ms": 1000 * statistics.median(fb),
                     "forward_ms": 1000 * statistics.median(fw)})
    g = luma(x)[:, 0].numpy()
    sk = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for i in range(16):
            sk_hog(g[i], orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
        sk.append((time.perf_counter() - t) / 16)
    sk_ms = 1000 * statistics.median(sk)
    hog_fw = rows[0]["forward_ms"]
    floors = {"hog": 10.0, "hogb": 20.0, "dsift": 20.0}
    result = {"benchmark": "handcrafted_speed", "size": 224, "batch": 16, "threads": torch.get_num_threads(),
              "rows": rows, "skimage_hog_forward_ms": sk_ms, "hog_speedup_over_skimage": sk_ms / hog_fw,
              "pass": all(r["forward_backward_ms"] <= floors[r["representation"]] for r in rows) and sk_ms / hog_fw >= 3}
    _io.write_json(RESULTS / "handcrafted_speed.json", result)
    print("| representation | forward+backward ms/image | forward ms/image | floor (f+b) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['representation']} | {r['forward_backward_ms']:.2f} | {r['forward_ms']:.2f} | {floors[r['representation']]:.0f} |")
    print(f"\nskimage.feature.hog forward: {sk_ms:.2f} ms/image; hog is {sk_ms / hog_fw:.1f}x faster (floor 3x)")


def table(a):
    from preimage.jobs.inversion.evaluate import evaluate

    rows, fig, names = [], None, []
    for rep in (HOG(), HOG(soft=True), DSIFT()):
        for preset in a.presets.split(","):
            ev = evaluate(rep, a.data, n=a.n, size=a.size, preset=preset, seed=0)
            s = ev.summary
            rows.append(s)
            print(f"{s['representation']:6s} {s['preset']:8s} mv_error {100 * s['mv_error_mean']:.2f} +- "
                  f"{100 * s['mv_error_std']:.2f} %  feature_error {s['feature_error_mean']:.4f}  "
                  f"image_error {s['image_error_mean']:.4f}  {s['seconds_per_image']:.2f} s/image", flush=True)
            if preset == "default":
                if fig is None:
                    fig = [[ev.originals[i]] for i in range(min(5, len(ev.sources)))]
                for i, row in enumerate(fig):
                    row.append(ev.reconstructions[i])
                names.append(rep.name)
    _io.write_json(RESULTS / "handcrafted_table.json", {"benchmark": "handcrafted_table", "data": a.data,
                                                          "n": a.n, "size": a.size, "rows": rows})
    _io.write_bytes(RESULTS / "handcrafted_table.png", encode_png(grid(fig, ["original", *names], min_side=a.size)))
    print("\n| representation | preset | mv_error % (mean +- std) | feature_error | image_error | s/image |\n|---|---|---|---|---|---|")
    for s in rows:
        print(f"| {s['representation']} | {s['preset']} | {100 * s['mv_error_mean']:.2f} +- {100 * s['mv_error_std']:.2f} | "
              f"{s['feature_error_mean']:.4f} | {s['image_error_mean']:.4f} | {s['seconds_per_image']:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--repeats", type=int, default=7)
    t = sub.add_parser("table")
    t.add_argument("--data", required=True)
    t.add_argument("--n", type=int, default=100)
    t.add_argument("--size", type=int, default=128)
    t.add_argument("--presets", default="default,mv2015")
    a = ap.parse_args()
    {"speed": speed, "table": table}[a.what](a)


if __name__ == "__main__":
    main()
