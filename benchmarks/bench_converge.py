"""Stop when done (issue 25, item 2): what each image's convergence test (``invert(...,
converge=(WINDOW, TOL))``, ``preimage invert --converge``) saves, and what it costs in feature error.

For the three demo photos (refnet at 32 px, hog and dsift at 128 px), per preset and test: the
iterations each image ran (the cap is the preset's 300), the mean feature error and the seconds, against
the same run with every iteration (``off``). Writes benchmarks/results/converge.{json,txt}.

    python benchmarks/bench_converge.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from preimage import _io
from preimage.images import load_image
from preimage.models import load_model
from preimage.optimize import invert
from preimage.report.demo import DEMO_IMAGES
from preimage.representations import DSIFT, HOG, CNNLayer

RESULTS = Path(__file__).parent / "results"
TESTS = {"off": False, "30,1e-3": (30, 1e-3), "20,1e-2": (20, 1e-2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.parse_args()
    info = load_model("refnet")
    x32 = torch.stack([load_image(s, 32) for s in DEMO_IMAGES])
    x128 = torch.stack([load_image(s, 128) for s in DEMO_IMAGES])
    cases = [(f"refnet {lay}", CNNLayer.from_info(info, lay), x32, p)
             for p in ("default", "classic") for lay in ("conv1", "conv3", "conv5", "fc6", "fc8")]
    cases += [("hog", HOG(), x128, "default"), ("dsift", DSIFT(), x128, "default")]
    rows = []
    for name, rep, x, preset in cases:
        for test, conv in TESTS.items():
            t = time.perf_counter()
            r = invert(rep, x, preset=preset, converge=conv, show=False)
            dt = time.perf_counter() - t
            its = [r.iterations] * len(x) if r.stopped is None else [int(v) for v in r.stopped[:, 0]]
            rows.append({"case": name, "preset": preset, "test": test, "iterations": its, "seconds": dt,
                         "feature_error": float(r.feature_error.mean())})
            print(rows[-1], flush=True)
    lines = [f"torch threads: {torch.get_num_threads()}; three demo photos; cap 300 iterations",
             "| code | preset | test | iterations per image | feature error (mean) | seconds |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['preset']} | {r['test']} | {', '.join(map(str, r['iterations']))} | "
              f"{r['feature_error']:.4f} | {r['seconds']:.2f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    _io.write_json(RESULTS / "converge.json", {"threads": torch.get_num_threads(), "rows": rows})
    _io.write_text(RESULTS / "converge.txt", text + "\n")


if __name__ == "__main__":
    main()
