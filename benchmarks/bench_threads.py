"""How many threads should torch use here? ``preimage invert`` on refnet timed with 1 and 2 threads,
on an idle machine and beside another CPU-heavy process (a torch job using two threads, as a
training run or a second user would), on the same photos and settings.

    python benchmarks/bench_threads.py --iters 60 --repeats 3

Writes benchmarks/results/threads.{json,txt}. Each cell is the median wall time of ``repeats`` runs
of the command (process start included), in seconds. "2 threads, spin 3 ms" is the same command with
``GOMP_SPINCOUNT=300000``, libgomp's own default, which ``preimage`` replaces by 10000 (about 0.1 ms)
when it is imported before torch and no wait policy is set (``preimage/__init__.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

LOAD = """
import torch, time
torch.set_num_threads(2)
a = torch.randn(768, 768)
t0 = time.time()
while time.time() - t0 < 3600:
    a = torch.tanh(a @ a / 768.0)
"""


def run(threads: int, iters: int, layer: str, out: str, spin: Optional[str] = None) -> float:
    cmd = [sys.executable, "-m", "preimage.cli", "--quiet", "--threads", str(threads), "invert", "sample:astronaut",
           "sample:coffee", "--model", "refnet", "--layer", layer, "--iters", str(iters), "--force", "--out", out]
    env = dict(os.environ, GOMP_SPINCOUNT=spin) if spin else None
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", default="conv3,fc6")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    tmp = str(Path(a.out) / ".threads-scratch")
    rows = []
    for loaded in (False, True):
        load = subprocess.Popen([sys.executable, "-c", LOAD]) if loaded else None
        try:
            if load:
                time.sleep(2)
            for layer in a.layers.split(","):
                for threads, spin in ((1, None), (2, None), (2, "300000")):
                    ts = [run(threads, a.iters, layer, tmp, spin) for _ in range(a.repeats)]
                    rows.append({"machine": "loaded" if loaded else "idle", "layer": layer, "threads": threads,
                                 "spin": spin, "seconds": statistics.median(ts), "runs": ts})
                    print(rows[-1], flush=True)
        finally:
            if load:
                load.kill()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    lines = ["| machine | layer | 1 thread (s) | 2 threads (s) | 2 threads / 1 thread | 2 threads, spin 3 ms (s) | "
             "spin 3 ms / 1 thread |", "|---|---|---|---|---|---|---|"]
    for m in ("idle", "loaded"):
        for layer in a.layers.split(","):
            t1, t2, t3 = (next(r["seconds"] for r in rows if (r["machine"], r["layer"], r["threads"], r["spin"]) == key)
                          for key in ((m, layer, 1, None), (m, layer, 2, None), (m, layer, 2, "300000")))
            lines.append(f"| {m} | {layer} | {t1:.1f} | {t2:.1f} | {t2 / t1:.2f} | {t3:.1f} | {t3 / t1:.2f} |")
    text = "\n".join(lines)
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "threads.json").write_text(json.dumps({"iters": a.iters, "rows": rows}, indent=2) + "\n")
    (Path(a.out) / "threads.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
