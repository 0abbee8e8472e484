"""Does image error grow with depth, and how firmly? The demo's sweep over several seeds.

refnet at 32x32 with the default preset (300 iterations): every layer conv1 ... fc8, for each seed
the mean image_error and feature_error over a set of images; the set is the demo's three
scikit-image photos and, when the data folder is there, the first N images of imagenet-dev100.
Beside them, the image error of a flat gray image (what a reconstruction from no information
scores). Writes benchmarks/results/depth_order.{json,txt}.

    python benchmarks/bench_depth_order.py --seeds 4 --n 16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from preimage import _io
from preimage.images import list_images, load_image
from preimage.jobs.inversion.sweep import layer_sweep
from preimage.models import load_model
from preimage.report.demo import DEMO_IMAGES
from preimage.report.layers_page import gray_reference

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev100"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--n", type=int, default=16, help="development images (0: the demo photos only)")
    ap.add_argument("--data", default=str(DATA))
    a = ap.parse_args()
    if a.seeds < 1 or a.n < 0:
        ap.error("--seeds must be at least 1 and --n at least 0")
    info = load_model("refnet")
    sets = {"demo photos": list(DEMO_IMAGES)}
    if a.n and Path(a.data).is_dir():
        sets[f"imagenet-dev100[:{a.n}]"] = [str(f) for f in list_images(a.data)[:a.n]]
    out, lines = {}, []
    for name, sources in sets.items():
        x = torch.stack([load_image(s, info.input_size) for s in sources])
        runs = []
        for seed in range(a.seeds):
            res = layer_sweep(info, x, seed=seed, show=False)
            runs.append({r.layer: {"image_error": float(r.image_error.mean()),
                                   "feature_error": float(r.feature_error.mean()),
                                   "feature_error_max": float(r.feature_error.max())} for r in res})
            print(name, seed, " ".join(f"{k} {v['image_error']:.4f}" for k, v in runs[-1].items()), flush=True)
        layers = list(runs[0])
        monotonic = [all(run[l1]["image_error"] < run[l2]["image_error"] for l1, l2 in zip(layers, layers[1:]))
                     for run in runs]
        gray = gray_reference(x)
        out[name] = {"images": sources, "gray_image_error": gray, "runs": runs, "monotonic": monotonic}
        lines += [f"### {name} ({len(sources)} images; gray image: image_error {gray:.4f})", "",
                  "| seed | " + " | ".join(layers) + " | grows at every step |",
                  "|---|" + "---|" * (len(layers) + 1)]
        lines += [f"| {s} | " + " | ".join(f"{run[l]['image_error']:.4f}" for l in layers) + f" | {'yes' if m else 'no'} |"
                  for s, (run, m) in enumerate(zip(runs, monotonic))]
        worst = [max(run[l]["feature_error_max"] for run in runs) for l in layers]
        lines += ["| worst feature_error | " + " | ".join(f"{w:.4f}" for w in worst) + " | |", ""]
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "depth_order.json", out)
    _io.write_text(RESULTS / "depth_order.txt", text + "\n")


if __name__ == "__main__":
    main()
