"""Gradient leakage (issue #28): what a server rebuilds from one update, per batch size, local steps,
network and defense, and the attack's speed against a bare loop of the same double backward.

    python benchmarks/bench_gradients.py --data ../shared/data --threads 1

Each measurement runs ``preimage gradient-leakage`` as a user would (a fresh process), into
benchmarks/results/gradients/<run>/ (record, page, figures, reconstructions); the summary of all
runs goes to benchmarks/results/gradients.{json,txt}. ``--only`` runs some of them (comma-separated
names from :func:`runs`, or ``speed``); ``--n1/--iters1`` size the main batch-1 run. The private images are ``--n``
images evenly spaced over cifar10/test in name order (the command's rule: with 8, one from each of
8 of the 10 class folders); LeNet (Zhu) is initialised from --seed 0.

Speed: inverting gradients' loop (:func:`preimage.jobs.gradients.invert_gradients`: the client's
double backward, cosine distance, TV, signed Adam, box projection) against a bare loop of the same
double backward (forward, gradient with ``create_graph``, cosine distance, TV, gradient to the
image, sign step, clamp), on one LeNet (Zhu) image, in alternated repeats.
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
from typing import Dict, List

import torch

from preimage.jobs.gradients import AttackSettings, Client, invert_gradients
from preimage.jobs.gradients.attacks import anisotropic_tv, cosine_distance, start
from preimage.models import load_model

DEFENSES = "noise:0.01,0.1,1|prune:0.5,0.9,0.99|quantize:8,4,2|dpsgd:1/0.01,1/0.1,1/1"


def runs(a) -> Dict[str, List[str]]:
    test, train = f"{a.data}/cifar10/test", f"{a.data}/cifar10/train"
    lenet = ["--model", "lenet-zhu", "--private", test, "--seed", "0"]
    return {
        # the main table: batch 1 at the largest budget that fits
        "lenet_b1": lenet + ["--n", str(a.n1), "--iters", str(a.iters1)],
        # batch sizes and local steps on the same 8 images (--iters-curves)
        "lenet_b1_8": lenet + ["--n", "8", "--iters", str(a.iters_curves)],
        **{f"lenet_b{b}": lenet + ["--n", "8", "--batch-size", str(b), "--iters", str(a.iters_curves)] for b in (2, 4, 8)},
        "lenet_s4": lenet + ["--n", "8", "--local-steps", "4", "--iters", str(a.iters_curves)],
        # the other runs at --iters
        "lenet_dlg": lenet + ["--n", "8", "--attack", "dlg", "--iters", str(a.iters)],
        # the defenses at three strengths each, with their utility
        "lenet_defenses": lenet + ["--n", "4", "--iters", str(a.iters), "--defense", DEFENSES, "--public", train,
                                   "--utility-steps", "1000"],
        # trained ReLU networks (the paper's numbers there are lower)
        "resnet_b1": ["--model", "cifar-resnet", "--private", test, "--n", "4", "--iters", str(a.iters)],
        "refnet_b1": ["--model", "refnet", "--private", test, "--n", "4", "--iters", str(a.iters)],
    }


def run_cli(name: str, args: List[str], a, res: Path) -> Dict:
    out = res / "gradients" / name
    cmd = [sys.executable, "-m", "preimage.cli", "--threads", str(a.threads), "gradient-leakage", *args, "--force",
           "--out", str(out)]
    print(f"== {name}: preimage {' '.join(cmd[3:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - t0
    print(proc.stdout, flush=True)
    r = json.loads((out / "gradient_leakage.json").read_text())
    return {"command": "preimage " + " ".join(cmd[3:]), "wall_seconds": wall, "model": r["model"], "n": r["n"],
            "batch_size": r["batch_size"], "local_steps": r["client"]["local_steps"], "attack": r["attack"],
            "floor": r["floor"], "chance": r["chance"], "utility": r["utility"], "seconds_per_image": r["seconds_per_image"],
            "variants": [{k: v for k, v in e.items() if k != "images"} | {"psnr_per_image": [i["psnr"] for i in e["images"]]}
                         for e in r["variants"]],
            "table": proc.stdout.strip().splitlines()}


def bare_loop(client: Client, target, labels, z: torch.Tensor, iters: int, lr: float = 0.1, tv: float = 0.01):
    """The same double backward without the package's parameterization, optimizer or schedule."""
    t_norm = torch.stack([(t * t).sum() for t in target]).sum().sqrt()
    mean = torch.tensor(client.info.mean).view(1, 3, 1, 1)
    std = float(torch.tensor(client.info.std).mean())
    u = z.clone().requires_grad_()
    for _ in range(iters):
        g = torch.autograd.grad(torch.nn.functional.cross_entropy(client.net(mean + u * std), labels), client.params,
                                create_graph=True)
        cost = cosine_distance(g, target, t_norm) + tv * anisotropic_tv(u)
        gu, = torch.autograd.grad(cost, u)
        with torch.no_grad():
            u -= lr * gu.sign()
            u.copy_(((mean + u * std).clamp(0, 1) - mean) / std)
    return u


def speed(a) -> Dict:
    torch.set_num_threads(a.threads)
    info = load_model("lenet-zhu", seed=0)
    client = Client(info)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([3])
    target = client.shared(x, labels)
    z = start(0, [0], 0, 32)
    s = AttackSettings("ig", iters=a.speed_iters)
    attack_t, bare_t = [], []
    for _ in range(a.repeats):  # alternated: the machine's load falls on both alike
        t0 = time.perf_counter()
        invert_gradients(client, target, labels, z, s)
        attack_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bare_loop(client, target, labels, z, a.speed_iters)
        bare_t.append(time.perf_counter() - t0)
    ma, mb = statistics.median(attack_t), statistics.median(bare_t)
    return {"iters": a.speed_iters, "repeats": a.repeats, "threads": a.threads, "attack_seconds": attack_t,
            "bare_seconds": bare_t, "attack_iters_per_second": a.speed_iters / ma, "bare_iters_per_second": a.speed_iters / mb,
            "ratio_attack_over_bare_time": ma / mb,
            "what": "median of alternated repeats, LeNet (Zhu) seed 0, one 32 px image, batch 1"}


def text(summary: Dict) -> str:
    out = []
    for name, r in summary["runs"].items():
        out.append(f"== {name} ({r['wall_seconds']:.0f} s wall, {r['seconds_per_image']:.1f} s per image and update)")
        out.append(f"   {r['command']}")
        out += [f"   {line}" for line in r["table"] if not line.startswith("wrote ")]
    sp = summary.get("speed")
    if sp:
        out.append(f"== speed: attack {sp['attack_iters_per_second']:.1f} it/s, bare loop {sp['bare_iters_per_second']:.1f} "
                   f"it/s, attack / bare time {sp['ratio_attack_over_bare_time']:.3f} ({sp['repeats']} alternated repeats "
                   f"of {sp['iters']} iterations, {sp['threads']} thread(s))")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n1", type=int, default=8, help="images of the main batch-1 run (default 8)")
    ap.add_argument("--iters1", type=int, default=3000, help="iterations of the main batch-1 run (default 3000)")
    ap.add_argument("--iters-curves", type=int, default=3000,
                    help="iterations of the batch-size and local-step runs on 8 images (default 3000)")
    ap.add_argument("--iters", type=int, default=1000, help="iterations of the other runs (default 1000)")
    ap.add_argument("--speed-iters", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", help="comma-separated runs (and/or 'speed'); default: all")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    res = Path(a.out)
    res.mkdir(parents=True, exist_ok=True)
    path = res / "gradients.json"
    if not a.only and path.is_file():
        path.unlink()  # a whole run starts afresh; --only adds to (or replaces in) the summary
    only = set(a.only.split(",")) if a.only else None
    for name, args in runs(a).items():
        if only is None or name in only:
            record(path, res, "runs", name, run_cli(name, args, a, res))
    if only is None or "speed" in only:
        record(path, res, None, "speed", speed(a))
    print(text(json.loads(path.read_text())))


def record(path: Path, res: Path, group, name: str, entry: Dict) -> None:
    """Add one entry to the summary, re-read just before writing (two parts may run side by side)."""
    summary = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    (summary.setdefault(group, {}) if group else summary)[name] = entry
    summary["machine"] = {"cpus": os.cpu_count(), "torch": torch.__version__}
    path.write_text(json.dumps(summary, indent=2) + "\n")
    (res / "gradients.txt").write_text(text(summary))


if __name__ == "__main__":
    main()
