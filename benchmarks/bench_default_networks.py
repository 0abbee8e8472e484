"""Does the default preset hold on networks it was not tuned on? (issue 11)

Inverts the first N images of a folder (default: imagenet-dev100, N = 16) at 32x32 from every
addressable stage of each network with the default preset, 300 iterations, and reports the mean
feature error ||Phi(x) - Phi0|| / ||Phi0|| per stage (floor: 0.1).

    python benchmarks/bench_default_networks.py --models refnet,cifar-resnet,cifar-vgg

Writes benchmarks/results/default_networks.{json,txt} (with --start K: default_networks_fromK.*). Torch threads: OMP_NUM_THREADS (printed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from preimage.images import list_images, load_image
from preimage.models import load_model
from preimage.optimize import invert
from preimage.representations import CNNLayer

STAGES = {
    "refnet": ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"],
    "cifar-resnet": ["conv1", "stage1", "stage2", "stage3", "pool", "logits"],
    "cifar-vgg": ["block1", "block2", "block3", "fc1", "logits"],
}
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev100"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="refnet,cifar-resnet,cifar-vgg")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--start", type=int, default=0, help="skip this many images first (--start 16: the next 16, "
                    "which no rule was chosen on)")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--held-out", default="cifar-vgg", help="the network not used for choosing the rule")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    x = torch.stack([load_image(f, 32) for f in list_images(a.data)[a.start:a.start + a.n]])
    rows = []
    for name in a.models.split(","):
        info = load_model(name)
        for layer in STAGES.get(name, list(info.aliases)):
            rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, 32, name=f"{name}/{layer}")
            t0 = time.perf_counter()
            r = invert(rep, x, iters=a.iters, seed=0, show=False)
            fe = r.feature_error[:, 0]
            rows.append({"model": name, "layer": layer, "shape": list(rep.probed_shape or ()),
                         "feature_error_mean": float(fe.mean()), "feature_error_max": float(fe.max()),
                         "image_error_mean": float(r.image_metrics()["image_error"].mean()),
                         "seconds": time.perf_counter() - t0, "held_out": name == a.held_out})
            print(rows[-1], flush=True)
    which = f"images {a.start}-{a.start + a.n - 1}" if a.start else f"the first {a.n} images"
    lines = [f"torch threads: {torch.get_num_threads()}; {which} of {Path(a.data).name} at 32x32, "
             f"default preset, {a.iters} iterations", "",
             "| network | stage | code | feature error (mean) | max | image error | s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        tag = " (not used for choosing)" if r["held_out"] else ""
        lines.append(f"| {r['model']}{tag} | {r['layer']} | {'x'.join(map(str, r['shape']))} | "
                     f"{r['feature_error_mean']:.4f} | {r['feature_error_max']:.3f} | {r['image_error_mean']:.3f} | "
                     f"{r['seconds']:.1f} |")
    worst = max(r["feature_error_mean"] for r in rows)
    lines.append(f"\nlargest mean feature error: {worst:.4f} (floor 0.1)")
    text = "\n".join(lines)
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    stem = f"default_networks_from{a.start}" if a.start else "default_networks"
    (Path(a.out) / f"{stem}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (Path(a.out) / f"{stem}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
