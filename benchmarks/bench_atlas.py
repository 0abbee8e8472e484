"""The atlas of refnet, every unit of conv1-conv5, fc6, fc7 and fc8 (issue 27), timed.

    python benchmarks/bench_atlas.py [--data ../shared/data/cifar10/test] [--threads 2]

Runs exactly ``preimage atlas --model refnet --data DATA --layers conv1,...,fc8 --out
benchmarks/results/atlas/site`` (in this process, the default settings) and writes
benchmarks/results/atlas.{json,txt}: wall time, the seconds of each stage (the one pass over the
data, then each layer's visualizations, projections and accentuations, then writing the site), the
site's size and file count, and the weight of the largest layer page and of a unit page. The site
itself (benchmarks/results/atlas/site) is not committed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from preimage.cli import main as cli

LAYERS = "conv1,conv2,conv3,conv4,conv5,fc6,fc7,fc8"
HERE = Path(__file__).parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "cifar10" / "test"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=None, help="images (default: all)")
    ap.add_argument("--layers", default=LAYERS)
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    site = Path(a.out) / "atlas" / "site"
    args = ["--threads", str(a.threads), "--quiet", "atlas", "--model", "refnet", "--data", a.data, "--layers", a.layers,
            "--out", str(site), "--force", "--fresh"] + (["--n", str(a.n)] if a.n else [])
    t0 = time.perf_counter()
    assert cli(args) == 0
    wall = time.perf_counter() - t0
    rec = json.loads((site / "results.json").read_text())
    files = [p for p in site.rglob("*") if p.is_file()]
    layer_pages = {p.stem: p.stat().st_size for p in (site / "layers").glob("*.html")}
    units = sum(len(v["units"]) for v in rec["layers"].values())
    one_unit = next((site / "units" / "conv5").glob("*.html"), None)
    out = {"command": "preimage atlas --model refnet --data DATA --layers " + a.layers, "threads": a.threads,
           "torch_threads": torch.get_num_threads(), "images": rec["images"], "units": units, "wall_seconds": round(wall, 1),
           "stage_seconds": rec["seconds"], "site_bytes": sum(p.stat().st_size for p in files), "site_files": len(files),
           "data_bytes": sum(p.stat().st_size for p in (site / "data").glob("*")),
           "largest_layer_page_bytes": max(layer_pages.values()), "unit_page_bytes": one_unit.stat().st_size if one_unit else None,
           "settings": rec["settings"], "accuracy": rec["accuracy"],
           "dead": {k: len(v.get("dead", [])) for k, v in rec["layers"].items()}}
    lines = [f"refnet atlas: {units} units of {a.layers} over {rec['images']} images, {a.threads} thread(s): "
             f"{wall / 60:.1f} min wall",
             "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in rec["seconds"].items()]
    out["rest_seconds"] = round(wall - sum(rec["seconds"].values()), 1)
    lines.append(f"| the rest: loading the model, drawing and writing the site | {out['rest_seconds']:.1f} |")
    lines.append(f"site: {out['site_bytes'] / 1e6:.1f} MB in {len(files)} files (layer data {out['data_bytes'] / 1e6:.1f} MB); "
                 f"largest layer page {out['largest_layer_page_bytes'] / 1e3:.0f} kB, a unit page "
                 f"{(out['unit_page_bytes'] or 0) / 1e3:.1f} kB")
    text = "\n".join(lines)
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "atlas.json").write_text(json.dumps(out, indent=2) + "\n")
    (Path(a.out) / "atlas.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
