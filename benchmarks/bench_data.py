"""Data at scale (issue 18): peak memory of every command that reads a folder at 1,000 and 10,000
images, time to the first training step on cifar10/train against a 1,000-image folder, 100 training
steps on 200,000 synthetic JPEGs, and loader against model throughput for two inverters.

    python benchmarks/bench_data.py --data ../shared/data --parts memory,first,synthetic,throughput

Every command runs as a user would run it (a fresh process, ``--threads 1``); peak memory is the
process's maximum resident set (``wait4``'s ``ru_maxrss``), with ``--workers 0`` so that it is one
process. Folders of 1,000 and 10,000 images are links to cifar10/train images evenly spread over its
classes; the 200,000 JPEGs are written to a scratch folder (removed afterwards; ``--scratch``).
Writes benchmarks/results/data.{json,txt}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
PY = [sys.executable, "-m", "preimage.cli", "--threads", "1", "--quiet"]


def run(args, env=None):
    """(wall seconds, peak RSS in MB) of one command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(PY + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read() if p.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: preimage {' '.join(args)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def linked_folder(src: Path, n: int, dst: Path) -> Path:
    """``n`` images of ``src`` (root/<class>/...) evenly spaced in name order, linked into ``dst``."""
    if dst.is_dir() and sum(1 for _ in dst.rglob("*.*")) == n:
        return dst
    shutil.rmtree(dst, ignore_errors=True)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for i in range(n):
        f = files[(i * len(files)) // n]
        (dst / f.parent.name).mkdir(parents=True, exist_ok=True)
        (dst / f.parent.name / f.name).symlink_to(f)
    return dst


def memory(data: Path, scratch: Path, sizes=(1000, 10000), only=None, previous=None):
    train, test = data / "cifar10" / "train", data / "cifar10" / "test"
    folders = {n: linked_folder(train, n, scratch / f"cifar-{n}") for n in sizes}
    out = scratch / "out"
    cmds = {
        "train-inverter": lambda n: ["train-inverter", "--model", "refnet", "--layer", "conv5", "--data",
                                     str(folders[n]), "--val", str(test), "--val-n", "64", "--steps", "30", "--batch-size",
                                     "64", "--force", "--out", str(out / "inv.safetensors")],
        "train-classifier": lambda n: ["train-classifier", "--arch", "refnet", "--data", str(folders[n]), "--epochs", "1",
                                       "--batch-size", "128", "--force", "--out", str(out / "clf.safetensors")],
        "eval-classifier": lambda n: ["eval-classifier", "--model", "refnet", "--data", str(folders[n])],
        "perturb": lambda n: ["perturb", "--model", "refnet", "--layer", "fc6", "--data", str(train), "--n", str(n),
                              "--force", "--out", str(out / "perturb")],
        "evaluate": lambda n: ["evaluate", "--rep", "hog", "--size", "32", "--iters", "2", "--data", str(folders[n]),
                               "--n", str(n), "--force", "--out", str(out / "evaluate")],
        "robustness": lambda n: ["robustness", "--model", "refnet", "--data", str(train), "--n", str(n), "--eps",
                                 "0,2/255", "--steps", "2", "--force", "--out", str(out / "robust")],
        "transfer": lambda n: ["transfer", "--models", "refnet,cifar-resnet", "--data", str(train), "--n", str(n),
                               "--steps", "2", "--force", "--out", str(out / "transfer")],
        "top-activations": lambda n: ["top-activations", "--model", "refnet", "--layer", "conv5", "--data", str(train),
                                      "--n", str(n), "--force", "--out", str(out / "top")],
        "diagnose": lambda n: ["diagnose", "--model", "refnet", "--data", str(train), "--n", str(n), "--force",
                               "--out", str(out / "diag")],
        "leakage": lambda n: ["leakage", "--model", "refnet", "--layers", "conv2", "--private", str(train), "--n", str(n),
                              "--force", "--out", str(out / "leak")],
    }
    rows = dict(previous or {})
    for name, make in cmds.items():
        if only and name not in only:
            continue
        row = {}
        for n in sizes:
            wall, mb = run(make(n) + ["--workers", "0"])
            row[n] = {"seconds": round(wall, 1), "peak_mb": round(mb, 1)}
            print(f"{name:<17} {n:>6} images: peak {mb:7.1f} MB  {wall:6.1f} s", flush=True)
        row["growth"] = round(row[sizes[-1]]["peak_mb"] / row[sizes[0]]["peak_mb"] - 1, 4)
        rows[name] = row
    return {"sizes": list(sizes), "commands": rows}


def first_step(data: Path, scratch: Path):
    """Time to the first training step (from the training function's start, and the whole process
    to the same point), cifar10/train against a 1,000-image folder."""
    train, test = data / "cifar10" / "train", data / "cifar10" / "test"
    small = linked_folder(train, 1000, scratch / "cifar-1000")
    out = {}
    for label, folder in (("1,000 images", small), ("cifar10/train (50,000)", train)):
        path = scratch / "first.safetensors"
        wall, mb = run(["train-inverter", "--model", "refnet", "--layer", "conv5", "--data", str(folder), "--val", str(test),
                        "--val-n", "64", "--steps", "2", "--batch-size", "64", "--force", "--out", str(path)])
        s = json.loads(path.with_name(path.name + ".json").read_text())
        out[label] = {"first_step_seconds": round(s["first_step_seconds"], 2), "process_seconds": round(wall, 2),
                      "peak_mb": round(mb, 1)}
        print(f"first step, {label}: {s['first_step_seconds']:.2f} s in training ({wall:.1f} s whole process, 2 steps)",
              flush=True)
    a, b = out["1,000 images"]["first_step_seconds"], out["cifar10/train (50,000)"]["first_step_seconds"]
    return {"runs": out, "ratio": round(b / a, 3)}


def synthetic(scratch: Path, n: int = 200_000, steps: int = 100):
    """``n`` 32x32 JPEGs in 100 class folders, then 100 steps of a refnet conv5 inverter on them."""
    import numpy as np
    from PIL import Image

    root = scratch / f"synthetic-{n}"
    t0 = time.perf_counter()
    if not (root / "c099").is_dir():
        rng = np.random.default_rng(0)
        base = (rng.random((64, 4, 4, 3)) * 255).astype(np.uint8)
        for i in range(n):
            d = root / f"c{i % 100:03d}"
            if i < 100:
                d.mkdir(parents=True, exist_ok=True)
            img = Image.fromarray(base[i % 64]).resize((32, 32), Image.BILINEAR)
            img.save(d / f"{i:07d}.jpg", quality=85)
    written = time.perf_counter() - t0
    du = sum(p.stat().st_size for p in root.rglob("*.jpg")) / 2 ** 20
    path = scratch / "synthetic.safetensors"
    wall, mb = run(["train-inverter", "--model", "refnet", "--layer", "conv5", "--data", str(root), "--val-n", "64",
                    "--steps", str(steps), "--batch-size", "64", "--force", "--out", str(path)])
    s = json.loads(path.with_name(path.name + ".json").read_text())
    print(f"{n} synthetic JPEGs ({du:.0f} MB, written in {written:.0f} s): {steps} steps in {wall:.1f} s, peak {mb:.0f} MB, "
          f"first step after {s['first_step_seconds']:.1f} s", flush=True)
    return {"images": n, "megabytes_on_disk": round(du, 1), "steps": steps, "process_seconds": round(wall, 1),
            "peak_mb": round(mb, 1), "first_step_seconds": round(s["first_step_seconds"], 2),
            "train_images": s["train_images"]}


def throughput(data: Path, scratch: Path, steps: int = 60):
    """Loader images/s (decoding capacity) and model images/s with 0, 1 and 2 workers for a 64 px HOG
    inverter on imagenet-train800 and a refnet conv5 inverter on cifar10/train."""
    jobs = {"hog, 64 px, imagenet-train800": ["--model", "hog", "--size", "64", "--data", str(data / "imagenet-train800"),
                                              "--val", str(data / "imagenet-dev100"), "--val-n", "32"],
            "refnet conv5, 32 px, cifar10/train": ["--model", "refnet", "--layer", "conv5", "--data",
                                                   str(data / "cifar10" / "train"), "--val", str(data / "cifar10" / "test"),
                                                   "--val-n", "64"]}
    out = {}
    for name, args in jobs.items():
        for w in (0, 1, 2):
            path = scratch / "tp.safetensors"
            wall, _ = run(["train-inverter", *args, "--steps", str(steps), "--batch-size", "64", "--val-every",
                           str(steps), "--workers", str(w), "--force", "--out", str(path)])
            s = json.loads(path.with_name(path.name + ".json").read_text())
            t = s["throughput"]
            steps_per_s = steps / s["train_seconds"]
            out[f"{name}, workers {w}"] = {**t, "steps_per_second": round(steps_per_s, 2),
                                           "train_seconds": round(s["train_seconds"], 1)}
            print(f"{name}, workers {w}: loader {t['loader_images_per_second']:.0f} img/s, model "
                  f"{t['model_images_per_second']:.0f} img/s, {steps_per_s:.2f} steps/s, waiting for data "
                  f"{100 * t['waiting_for_data']:.0f}%", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--parts", default="memory,first,synthetic,throughput")
    ap.add_argument("--scratch", help="scratch folder (default: a temporary one, removed afterwards)")
    ap.add_argument("--synthetic-n", type=int, default=200_000)
    ap.add_argument("--commands", help="memory part: only these commands (comma-separated); the others keep "
                    "their earlier rows")
    a = ap.parse_args()
    data = Path(a.data).resolve()
    scratch = Path(a.scratch) if a.scratch else Path(tempfile.mkdtemp(prefix="preimage-bench-data-"))
    scratch.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "data.json"
    res = json.loads(path.read_text()) if path.is_file() else {}
    res["cpus"] = os.cpu_count()
    res["threads"] = 1
    try:
        for part in a.parts.split(","):
            t0 = time.perf_counter()
            if part == "memory":
                only = a.commands.split(",") if a.commands else None
                res["memory"] = memory(data, scratch, only=only,
                                       previous=res.get("memory", {}).get("commands") if only else None)
            elif part == "first":
                res["first_step"] = first_step(data, scratch)
            elif part == "synthetic":
                res["synthetic"] = synthetic(scratch, a.synthetic_n)
            elif part == "throughput":
                res["throughput"] = throughput(data, scratch)
            else:
                raise SystemExit(f"unknown part {part!r}")
            res.setdefault("seconds", {})[part] = round(time.perf_counter() - t0, 1)
            path.write_text(json.dumps(res, indent=2) + "\n")
    finally:
        if not a.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
