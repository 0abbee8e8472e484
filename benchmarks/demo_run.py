# ruff: noqa: I001
"""Run the demo as a user would (`preimage demo`, timed wall clock) into benchmarks/results/demo,
keep its printed table in benchmarks/results/demo.txt, and regenerate the README's picture
(docs/demo.png: the report's main figure, every layer's reconstruction of the three photos).

Before it, in the same run and at the same thread count, the bare sweep of issue 25: the demo's
8 refnet layers x 3 photos x 300 iterations of forward-to-the-layer (``CNNLayer.features``: the
model stops at the layer), squared error, gradient to the pixels and a plain step, with nothing else
(``bench_invert_speed.time_bare``); demo.txt ends with both and their ratio (results also in
benchmarks/results/demo_ratio.json).

    python benchmarks/demo_run.py            # add --threads N to time another thread count
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import preimage  # noqa: F401  (before torch: its OpenMP spin setting holds here as in the demo's own process)
import torch
from bench_invert_speed import time_bare
from preimage.data import usable_cores
from preimage.images import load_image
from preimage.jobs.inversion import default_layers
from preimage.models import load_model
from preimage.report.demo import DEMO_IMAGES
from preimage.representations import CNNLayer

ROOT = Path(__file__).resolve().parents[1]


def bare_sweep(threads: int) -> float:
    """Seconds of the bare sweep: every refnet default layer, the 3 demo photos, 300 iterations."""
    torch.set_num_threads(threads or usable_cores())
    info = load_model("refnet")
    x = torch.stack([load_image(s, info.input_size) for s in DEMO_IMAGES])
    total = 0.0
    for layer in default_layers(info):
        fwd = CNNLayer.from_info(info, layer).features
        time_bare(fwd, x, 2)
        total += 300 * time_bare(fwd, x, 300)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int)
    a = ap.parse_args()
    out = ROOT / "benchmarks" / "results" / "demo"
    cmd = [sys.executable, "-m", "preimage.cli", "--quiet"] + (["--threads", str(a.threads)] if a.threads else []) + \
          ["demo", "--force", "--out", str(out)]
    bare = bare_sweep(a.threads)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    text = (r.stdout + f"wall time of the command: {wall:.1f} s\n"
            f"bare sweep (8 layers x 3 photos x 300 iterations, forward + gradient + step): {bare:.1f} s; "
            f"demo / bare sweep {wall / bare:.2f}\n")
    (ROOT / "benchmarks" / "results" / "demo_ratio.json").write_text(json.dumps(
        {"demo_seconds": wall, "bare_sweep_seconds": bare, "ratio": wall / bare,
         "threads": a.threads or usable_cores()}, indent=2) + "\n")
    (ROOT / "benchmarks" / "results" / "demo.txt").write_text(text)
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(out / "layers.png", ROOT / "docs" / "demo.png")
    print(text)


if __name__ == "__main__":
    main()
