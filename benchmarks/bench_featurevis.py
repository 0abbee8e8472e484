"""Feature visualization parameterizations on refnet's ten classes (issue 26, first slice).

    python benchmarks/bench_featurevis.py

For each of pixel (the default preset; also mv2016), fourier and maco, runs exactly
``preimage maximize --model refnet --layer fc8 --classes all --param P`` at the preset's default
iterations (through the command, its output in benchmarks/results/featurevis/<row>/ with grid.png),
then reports: the amplitude-spectrum slope of the ten class images (mean, range; from results.json)
beside the natural photos' (the scikit-image photos normalized on), the recognition of the saved
PNGs by cifar-resnet and cifar-vgg (classes with the intended class on top, mean probability of the
intended class), refnet's own, and the optimization's seconds per unit (one torch thread).

Writes benchmarks/results/featurevis.{json,txt}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from preimage.cli import main as cli
from preimage.images import load_image
from preimage.models import load_model
from preimage.models.classifier import Classifier

ROWS = [("pixel", "default", "pixel"), ("pixel-mv2016", "mv2016", "pixel"), ("fourier", "default", "fourier"),
        ("maco", "default", "maco")]
JUDGES = ("refnet", "cifar-resnet", "cifar-vgg")


def judge(names, folder: Path, rec) -> dict:
    x = torch.stack([load_image(str(folder / u["output"]), 32) for u in rec["units"]])
    target = torch.tensor([u["unit"] for u in rec["units"]])
    out = {}
    for name in names:
        with torch.no_grad():
            p = Classifier.from_info(load_model(name)).eval()(x).softmax(1)
        out[name] = {"top1": int((p.argmax(1) == target).sum()), "of": len(target),
                     "mean_p": float(p[torch.arange(len(target)), target].mean())}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--iters", type=int, default=None, help="default: the preset's")
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.out)
    rows = []
    for row, preset, param in ROWS:
        folder = root / "featurevis" / row
        args = ["maximize", "--model", "refnet", "--layer", "fc8", "--classes", "all", "--param", param,
                "--preset", preset, "--quiet", "--force", "--out", str(folder)]
        if a.iters:
            args += ["--iters", str(a.iters)]
        assert cli(args) == 0, row
        rec = json.loads((folder / "results.json").read_text())
        s = rec["spectrum_slope"]
        rows.append({"row": row, "preset": preset, "param": param, "iters": rec["iters"],
                     "slope_mean": s["mean"], "slope_min": s["min"], "slope_max": s["max"], "natural_slope": s["natural"],
                     "seconds_per_unit": rec["seconds"] / len(rec["units"]),
                     "rank1": sum(u["rank"] == 1 for u in rec["units"]),
                     "normalized_mean": sum(u["normalized_activation"] for u in rec["units"]) / len(rec["units"]),
                     "judges": judge(JUDGES, folder, rec)})
        print(row, json.dumps(rows[-1]))
    head = ("| parameterization | iters | spectrum slope mean (range) | photos' slope | refnet top-1, mean p | "
            "cifar-resnet top-1, mean p | cifar-vgg top-1, mean p | normalized activation | s / unit |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        j = r["judges"]
        lines.append(f"| {r['row']} | {r['iters']} | {r['slope_mean']:.2f} ({r['slope_min']:.2f} to {r['slope_max']:.2f}) | "
                     f"{r['natural_slope']:.2f} | "
                     + " | ".join(f"{j[n]['top1']}/{j[n]['of']}, {j[n]['mean_p']:.2f}" for n in JUDGES)
                     + f" | {r['normalized_mean']:.2f} | {r['seconds_per_unit']:.2f} |")
    text = "\n".join(lines)
    print(text)
    root.mkdir(parents=True, exist_ok=True)
    (root / "featurevis.json").write_text(json.dumps({"threads": 1, "rows": rows}, indent=2) + "\n")
    (root / "featurevis.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
