"""Does one batch cost less than several (issue 25, item 3)? Seconds per image and iteration of
``invert`` (default preset) on refnet conv3 and fc8 at batch sizes 1 to 36 (the scikit-image photos
repeated), 60 iterations each, at torch's thread count here. If the cost per image falls little
from the demo's batches (3 photos; 8 and 10 units) to larger ones, putting sections into one batch
cannot make the demo much faster. Writes benchmarks/results/batch_scaling.{json,txt}.

    python benchmarks/bench_batch_scaling.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from preimage import _io
from preimage.images import PHOTOS, load_image
from preimage.models import load_model
from preimage.optimize import invert
from preimage.representations import CNNLayer

RESULTS = Path(__file__).parent / "results"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=60)
    a = ap.parse_args()
    info = load_model("refnet")
    x = torch.stack([load_image(f"sample:{p}", 32) for p in PHOTOS])
    x = torch.cat([x] * (36 // len(x) + 1))[:36]
    rows = []
    for layer in ("conv3", "fc8"):
        rep = CNNLayer.from_info(info, layer)
        invert(rep, x[:1], iters=5, show=False)
        for n in (1, 3, 9, 18, 36):
            t = time.perf_counter()
            invert(rep, x[:n], iters=a.iters, show=False, converge=False)
            dt = time.perf_counter() - t
            rows.append({"layer": layer, "batch": n, "ms_per_iteration": 1000 * dt / a.iters,
                         "ms_per_image_iteration": 1000 * dt / a.iters / n})
            print(rows[-1], flush=True)
    lines = [f"torch threads: {torch.get_num_threads()}; {a.iters} iterations, default preset",
             "| layer | batch | ms / iteration | ms / image and iteration |", "|---|---|---|---|"]
    lines += [f"| {r['layer']} | {r['batch']} | {r['ms_per_iteration']:.1f} | {r['ms_per_image_iteration']:.2f} |"
              for r in rows]
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "batch_scaling.json", {"threads": torch.get_num_threads(), "iters": a.iters, "rows": rows})
    _io.write_text(RESULTS / "batch_scaling.txt", text + "\n")


if __name__ == "__main__":
    main()
