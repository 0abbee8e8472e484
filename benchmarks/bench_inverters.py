"""Trained inverters against optimization, on held-back images, and the feature-perturbation study.

table: for each bundled inverter, on held-back images (imagenet-dev100 for hog and lbp at 64 px,
cifar10/test for refnet at 32 px; N images evenly spaced in name order, so every class folder of
cifar10/test is represented), three methods:

* optimization: the default preset (300 iterations), batches of 25, from the image's code;
* learned: one pass of the bundled inverter (the code is computed and decoded in one batch;
  median of 5 timed runs);
* hybrid: the default preset started from the learned reconstruction.

image_error (``||x - x0|| / ||x0||`` against the color original), feature_error
(``||Phi(x) - Phi0|| / ||Phi0||``) and seconds per image; ``n/a`` where the representation is not
differentiable (lbp). Hand-crafted descriptors see the luma only; the reconstructions are
compared with the color original for every method alike.

perturb: the bundled refnet relu6 (fc6 after its ReLU, the code the paper binarized), fc6 (before
the ReLU) and conv5 inverters on N cifar10/test images: decode the clean, binarized and
50%-dropped codes (``preimage.jobs.studies.perturb``).

speed (issue 25): for each differentiable case, the seconds per image of optimization (default
preset, 300 iterations, batches of 25) against the trained inverter's one pass: the decoder alone on
the given codes (what the inverter computes; optimization also starts from a code it is given) and
the codes computed from the images and decoded (``decode``); medians of 7 timed passes over the N
images. Writes inverters_speed.{json,txt}.

    python benchmarks/bench_inverters.py table --n 100
    python benchmarks/bench_inverters.py perturb --n 1000
    python benchmarks/bench_inverters.py speed --n 50
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from preimage import _io, metrics
from preimage.data import list_items
from preimage.images import encode_png, load_image
from preimage.jobs.studies import perturb
from preimage.learned import decode, find_bundled, hybrid
from preimage.learned.data import in_batches
from preimage.optimize import invert
from preimage.report import grid
from preimage.representations import build

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = [  # (model, layer, data folder, size)
    ("hog", None, "imagenet-dev100", 64),
    ("lbp", None, "imagenet-dev100", 64),
    ("refnet", "conv2", "cifar10/test", 32),
    ("refnet", "conv5", "cifar10/test", 32),
    ("refnet", "fc6", "cifar10/test", 32),
    ("refnet", "fc7", "cifar10/test", 32),
    ("refnet", "fc8", "cifar10/test", 32),
]


def _images(folder: Path, n: int, size: int) -> torch.Tensor:
    return torch.stack([load_image(f, size) for f in list_items(str(folder)).evenly_spaced(n).names])


def _row(rep, method, x, rec, seconds):
    with torch.no_grad():
        phi0, phi = rep(x), rep(rec)
    return {"representation": rep.name, "method": method, "n": len(x),
            "image_error": float(metrics.image_error(rec, x).mean()),
            "feature_error": float(metrics.feature_error(phi, phi0).mean()),
            "seconds_per_image": seconds / len(x)}


def table(a):
    rows, figure = [], []
    for model, layer, data, size in CASES:
        rep = build(model, layer, size=size).eval()
        inv = find_bundled(rep, size)
        x = _images(Path(a.data) / data, a.n, size)
        times = []
        for _ in range(5):
            learned = decode(rep, inv, x)
            times.append(learned.seconds)  # computing the codes and decoding them
        lrec = learned.images[:, 0]
        r_learned = _row(rep, "learned", x, lrec, statistics.median(times))
        r_learned["val_image_error_at_training"] = inv.training.get("val_image_error")
        out = [r_learned]
        fig = [x[:a.show], lrec[:a.show]]
        if rep.differentiable:
            t = time.perf_counter()
            orec = torch.cat([invert(rep, x[i:i + 25], seed=i, show=False).images[:, 0] for i in range(0, len(x), 25)])
            out.insert(0, _row(rep, "optimization", x, orec, time.perf_counter() - t))
            t = time.perf_counter()
            hrec = torch.cat([hybrid(rep, inv, x[i:i + 25], seed=i, show=False).images[:, 0]
                              for i in range(0, len(x), 25)])
            out.append(_row(rep, "hybrid", x, hrec, time.perf_counter() - t))
            fig = [x[:a.show], orec[:a.show], lrec[:a.show], hrec[:a.show]]
            out[1]["speedup_vs_optimization"] = out[0]["seconds_per_image"] / out[1]["seconds_per_image"]
        for r in out:
            r.update(size=size, data=data)
            rows.append(r)
            print(f"{r['representation']:<14} {r['method']:<13} image_error {r['image_error']:.4f}  "
                  f"feature_error {r['feature_error']:.4f}  {1000 * r['seconds_per_image']:.3f} ms/image", flush=True)
        for i in range(a.show):
            figure.append(([f[i] for f in fig], f"{rep.name} #{i}", len(fig)))
    lines = ["| representation | data (n, size) | method | image_error | feature_error | ms / image | learned speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        sp = f"{r['speedup_vs_optimization']:.0f}x" if "speedup_vs_optimization" in r else ""
        lines.append(f"| {r['representation']} | {r['data']} ({r['n']}, {r['size']} px) | {r['method']} | "
                     f"{r['image_error']:.4f} | {r['feature_error']:.4f} | {1000 * r['seconds_per_image']:.3f} | {sp} |")
    for rep_name in dict.fromkeys(r["representation"] for r in rows):
        if rep_name == "lbp":
            lines.append("| lbp | | optimization, hybrid | n/a (not differentiable) | | | |")
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "inverters_table.json", {"n": a.n, "rows": rows})
    _io.write_text(RESULTS / "inverters_table.txt", text + "\n")
    for cols, name in ((4, "differentiable"), (2, "lbp")):
        sel = [f for f in figure if f[2] == cols]
        if sel:
            heads = ["original", "optimization", "learned", "hybrid"] if cols == 4 else ["original", "learned"]
            png = grid([f[0] for f in sel], heads, [f[1] for f in sel], min_side=64)
            _io.write_bytes(RESULTS / f"inverters_{name}.png", encode_png(png))


def speed(a):
    rows = []
    for model, layer, data, size in CASES:
        rep = build(model, layer, size=size).eval()
        if not rep.differentiable:
            continue
        inv = find_bundled(rep, size)
        x = _images(Path(a.data) / data, a.n, size)
        with torch.no_grad():
            codes = in_batches(rep, x, 256)
        dec, full = [], []
        for _ in range(7):
            t = time.perf_counter()
            with torch.no_grad():
                in_batches(inv, codes, 256)
            dec.append(time.perf_counter() - t)
            full.append(decode(rep, inv, x).seconds)
        t = time.perf_counter()
        for i in range(0, len(x), 25):
            invert(rep, x[i:i + 25], seed=i, show=False, converge=False)     # every image its 300 iterations
        opt = (time.perf_counter() - t) / len(x)
        r = {"representation": rep.name, "n": len(x), "size": size, "optimization_ms": 1000 * opt,
             "decoder_ms": 1000 * statistics.median(dec) / len(x), "codes_and_decoder_ms": 1000 * statistics.median(full) / len(x)}
        r["speedup_decoder"] = r["optimization_ms"] / r["decoder_ms"]
        r["speedup_codes_and_decoder"] = r["optimization_ms"] / r["codes_and_decoder_ms"]
        rows.append(r)
        print(r, flush=True)
    lines = [f"torch threads: {torch.get_num_threads()}; optimization: default preset, 300 iterations, batches of 25",
             "| representation | n | optimization ms / image | decoder ms / image | speed-up | codes + decoder ms / image | speed-up |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['representation']} | {r['n']} | {r['optimization_ms']:.1f} | {r['decoder_ms']:.3f} | "
              f"{r['speedup_decoder']:.0f}x | {r['codes_and_decoder_ms']:.3f} | {r['speedup_codes_and_decoder']:.0f}x |"
              for r in rows]
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "inverters_speed.json", {"n": a.n, "threads": torch.get_num_threads(), "rows": rows})
    _io.write_text(RESULTS / "inverters_speed.txt", text + "\n")


def perturb_study(a):
    rows = []
    for layer in ("relu6", "fc6", "conv5"):
        rep = build("refnet", layer, size=32).eval()
        inv = find_bundled(rep, 32)
        x = _images(Path(a.data) / "cifar10/test", a.n, 32)
        r = perturb(rep, inv, x, p=0.5, seed=0)
        for mode in r["images"]:
            rows.append({"representation": rep.name, "mode": mode, "n": len(x),
                         "image_error": float(r["image_error"][mode].mean()),
                         "code_change": float(r["feature_error"][mode].mean())})
        png = grid([[x[i]] + [r["images"][m][i] for m in r["images"]] for i in range(a.show)],
                   ["original", "clean code", "binarized", "50% dropped", "mean code", "next image's"], min_side=64)
        _io.write_bytes(RESULTS / f"inverters_perturb_{layer}.png", encode_png(png))
    lines = ["| representation | code | n | image_error | code change (relative) |", "|---|---|---|---|---|"]
    lines += [f"| {r['representation']} | {r['mode']} | {r['n']} | {r['image_error']:.4f} | {r['code_change']:.4f} |"
              for r in rows]
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "inverters_perturb.json", {"rows": rows})
    _io.write_text(RESULTS / "inverters_perturb.txt", text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("table", "perturb", "speed"))
    ap.add_argument("--data", default=str(DATA), help="the shared data folder")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--show", type=int, default=4, help="images per representation in the figure")
    a = ap.parse_args()
    torch.manual_seed(0)
    {"table": table, "perturb": perturb_study, "speed": speed}[a.what](a)


if __name__ == "__main__":
    main()
