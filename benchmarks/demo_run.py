"""Run the demo as a user would (`preimage demo`, timed wall clock) into benchmarks/results/demo,
keep its printed table in benchmarks/results/demo.txt, and regenerate the README's picture
(docs/demo.png: the report's main figure, every layer's reconstruction of the three photos).

    python benchmarks/demo_run.py            # add --threads N to time another thread count
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int)
    a = ap.parse_args()
    out = ROOT / "benchmarks" / "results" / "demo"
    cmd = [sys.executable, "-m", "preimage.cli", "--quiet"] + (["--threads", str(a.threads)] if a.threads else []) + \
          ["demo", "--force", "--out", str(out)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    text = r.stdout + f"wall time of the command: {wall:.1f} s\n"
    (ROOT / "benchmarks" / "results" / "demo.txt").write_text(text)
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(out / "layers.png", ROOT / "docs" / "demo.png")
    print(text)


if __name__ == "__main__":
    main()
