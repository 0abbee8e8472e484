"""The prepared check for a session that is lent a GPU (the project has not run on one yet).

    python benchmarks/device_check.py --device cuda --out OUT          # on the GPU machine
    python benchmarks/device_check.py --device cpu --out /tmp/dc       # the same steps here, as a dry run

Runs, timing each and never stopping at the first failure:

* every command that takes ``--device`` (invert, maximize, caricature, accentuate, the demo at its
  full settings, whose numbers are its layers' mean feature errors, and the atlas of conv5 and fc8
  over 27 crops of the photos, whose numbers are its units' largest activations) on refnet with
  ``--device DEV`` and again on the CPU, and compares their numbers (feature error, normalized
  activation, gain): the same seed on another device may round differently, so the check reports
  the largest difference rather than asserting equality;
* ``invert`` of a 224 px photo from a torchvision-layout AlexNet with random weights (the size where a
  GPU pays), on DEV and on the CPU, with the seconds of each;
* the test suite with the device visible (``python -m pytest -q -x``), its wall time.

Writes OUT/device_check.json and prints it. On the GPU machine, carry this checkout's ``.venv`` only if
that machine's torch lacks the project's other dependencies; the project runs from ``src`` with
``PYTHONPATH=src``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["sample:astronaut", "sample:coffee", "sample:chelsea"]
COMMANDS = {
    "invert": ["invert", *PHOTOS, "--model", "refnet", "--layer", "conv3", "--iters", "100"],
    "maximize": ["maximize", "--model", "refnet", "--layer", "fc8", "--classes", "all", "--iters", "100"],
    "caricature": ["caricature", *PHOTOS, "--model", "refnet", "--layer", "conv5", "--iters", "100"],
    "accentuate": ["accentuate", *PHOTOS, "--model", "refnet", "--layer", "conv5", "--channel", "45", "--iters", "100"],
    "invert-alexnet-224": ["invert", "sample:astronaut", "--model", "alexnet", "--random-weights", "--layer", "conv3",
                           "--size", "224", "--iters", "30"],
    "demo": ["demo"],
    "atlas": ["atlas", "--model", "refnet", "--data", "ATLAS_DATA", "--layers", "conv5,fc8", "--channels", "0:8",
              "--iters", "100", "--accent-iters", "50"],
}
#: the numbers compared between the two devices, per command: the key of each image's record
NUMBERS = {"invert": "feature_error", "invert-alexnet-224": "feature_error", "caricature": "gain",
           "accentuate": "gain", "maximize": "normalized_activation", "demo": "feature_error_mean",
           "atlas": "data_max"}


def run(args, out: Path, env) -> dict:
    cmd = [sys.executable, "-m", "preimage.cli", "--quiet", *args, "--force", "--out", str(out)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    rec = {"seconds": round(time.perf_counter() - t0, 2), "rc": r.returncode, "error": r.stderr.strip()[-2000:] or None}
    if r.returncode == 0 and (out / "results.json").is_file():
        res = json.loads((out / "results.json").read_text())
        if args[0] == "demo":
            items = res["layers"]
        elif args[0] == "atlas":
            items = [u for layer in res["layers"].values() for u in layer["units"]]
        else:
            items = res.get("images", res.get("units", []))
        rec["numbers"] = [im.get(key) for im in items
                          for key in (NUMBERS.get(args[0]),) if isinstance(im, dict)]
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-tests", action="store_true", help="skip the test suite")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, torch.cuda.is_available(), "
                            "torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"],
                           capture_output=True, text=True, env=env)
    report: dict = {"device": a.device, "torch": probe.stdout.strip() or probe.stderr.strip()[-500:], "commands": {}}
    data = out / "atlas-data"      # the atlas's images: 32 px crops of the photos, written here
    data.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-c", "import sys\nfrom preimage.images import load_image, save_image\n"
                    "for n in ('astronaut', 'coffee', 'chelsea'):\n    x = load_image('sample:' + n, 96)\n"
                    "    for i in range(3):\n        for j in range(3):\n"
                    "            save_image(x[:, 32 * i:32 * i + 32, 32 * j:32 * j + 32], f'{sys.argv[1]}/{n}{i}{j}.png')",
                    str(data)], check=True, env=env)
    for name, args in COMMANDS.items():
        args = [str(data) if v == "ATLAS_DATA" else v for v in args]
        here = run([*args, "--device", a.device], out / f"{name}-{a.device.replace(':', '_')}", env)
        cpu = run([*args, "--device", "cpu"], out / f"{name}-cpu", env)
        row = {"device": here, "cpu": cpu}
        x, y = here.get("numbers"), cpu.get("numbers")
        pairs = [(p, q) for p, q in zip(x or [], y or []) if p is not None and q is not None]
        if pairs and len(x or []) == len(y or []):
            row["largest_difference"] = max(abs(float(p) - float(q)) for p, q in pairs)
        report["commands"][name] = row
        print(name, json.dumps(row)[:400], flush=True)
    if not a.no_tests:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"], cwd=ROOT,
                           capture_output=True, text=True, env=env)
        report["tests"] = {"rc": r.returncode, "seconds": round(time.perf_counter() - t0, 1),
                           "tail": r.stdout.strip().splitlines()[-3:]}
        print("tests", report["tests"], flush=True)
    (out / "device_check.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
