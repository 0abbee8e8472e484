"""The leakage table of issue #15: refnet, private = 1,000 cifar10/test images, public = cifar10/train,
layers conv2, conv5, fc6, fc7, fc8 (bundled inverters), three defenses at several strengths.

    python benchmarks/bench_leakage.py --data ../shared/data --threads 1

Runs ``preimage leakage`` as a user would (a fresh process, progress on), times it, and writes
benchmarks/results/leakage.{json,txt} (the command's leakage.json plus wall time and threads) and
the page, plots and examples under benchmarks/results/leakage/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DEFENSES = "noise:0.1,0.3,1,3|quantize:4,2,1|topk:0.1,0.01"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    res = Path(a.out)
    page = res / "leakage"
    cmd = [sys.executable, "-m", "preimage.cli", "--threads", str(a.threads), "leakage", "--model", "refnet",
           "--layers", "conv2,conv5,fc6,fc7,fc8", "--private", f"{a.data}/cifar10/test",
           "--public", f"{a.data}/cifar10/train", "--n", str(a.n), "--defense", DEFENSES, "--force", "--out", str(page)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - t0
    record = json.loads((page / "leakage.json").read_text())
    record["benchmark"] = {"wall_seconds": wall, "threads": a.threads, "cpus": os.cpu_count(),
                           "command": "preimage " + " ".join(cmd[3:])}
    (res / "leakage.json").write_text(json.dumps(record, indent=2) + "\n")
    text = proc.stdout + f"wall time {wall:.0f} s with {a.threads} thread(s) on {os.cpu_count()} cores\n"
    (res / "leakage.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
