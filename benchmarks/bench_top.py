"""Throughput and memory of the streaming channel statistics (issue 13).

    python benchmarks/bench_top.py --data ../shared/data/cifar10/test --workers 0,1

For n = 1,000 and 10,000 images: one pass of top-9 per channel over refnet conv1 ... conv5 (every
channel of all five layers, one forward pass per batch), and one pass of `diagnose` over every
layer; each run in its own process, timed (wall) and its peak resident memory read from
getrusage. Writes benchmarks/results/top.{json,txt}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, torch
from preimage.data import stream_folder
from preimage.models import load_model
from preimage.representations import CNNLayer
from preimage.jobs.projection.top import stream_top
from preimage.jobs.projection.diagnose import diagnose
what, data, n, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
info = load_model("refnet")
t0 = time.perf_counter()
s = stream_folder(data, 32, 256, workers, n, show=False)
if what == "top":
    rep = CNNLayer(info.module, "conv5", info.mean, info.std, info.aliases, 32)
    tops = stream_top(info, rep, s, range(256), 9, ["conv1", "conv2", "conv3", "conv4"])
    assert len(tops) == 5
else:
    diagnose(info, s)
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": torch.get_num_threads()}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--workers", default="0,1")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    rows = []
    for what in ("top", "diagnose"):
        for w in (int(v) for v in a.workers.split(",")):
            for n in (int(v) for v in a.sizes.split(",")):
                r = subprocess.run([sys.executable, "-c", CHILD, what, a.data, str(n), str(w)], capture_output=True,
                                   text=True, check=True)
                rows.append({"what": what, "workers": w, "n": n, **json.loads(r.stdout.strip().splitlines()[-1])})
                print(rows[-1], flush=True)
    lines = ["| pass | workers | images | seconds | images/s | peak memory (MB) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {'top-9, refnet conv1-conv5' if r['what'] == 'top' else 'diagnose, every refnet layer'} | "
                     f"{r['workers']} | {r['n']:,} | {r['seconds']:.1f} | {r['n'] / r['seconds']:.0f} | {r['peak_mb']:.0f} |")
    text = "\n".join(lines) + f"\n\ntorch threads: {rows[0]['threads']}"
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "top.json").write_text(json.dumps(rows, indent=2) + "\n")
    (Path(a.out) / "top.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
