"""Speed of `invert` against a bare forward-to-layer + backward loop (issue 2's floor).

An AlexNet-shaped network (torchvision layout, random weights) at 224x224. For batch 1 and 8 and
layers conv3 and fc6 it times:

* bare: x.requires_grad; f = net-up-to-layer(normalize(x)); loss = ||f - f0||^2; grad wrt x; x -= lr*g
  (the network called directly, module by module, nothing of preimage involved);
* invert: the optimization loop of `preimage.optimize.invert` with the default preset's classic
  recipe (plain Adam, TV, jitter: the same gradient as bare plus the engine), seconds per
  iteration - the engine's overhead, which the floor bounds;
* rule: the default preset as it inverts a network's code (issue 11's rule: soft ReLU backward,
  pyramid-preconditioned Adam, annealed TV) - what the rule's extra arithmetic costs per iteration.

Then it times inverting conv1 against fc8 (batch 1): nothing past the target layer runs, so conv1
must cost at most a third of fc8. Measurements alternate and the median of several repeats is
kept. Writes benchmarks/results/invert_speed.json and prints a markdown table.

    python benchmarks/bench_invert_speed.py [--iters 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from preimage import _io
from preimage.models import load_model
from preimage.optimize import invert
from preimage.optimize.presets import Default
from preimage.representations import CNNLayer


def bare_step_fn(info, layer_path):
    """A closure computing forward-to-layer + backward by calling the modules directly."""
    m = info.module
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)
    part, idx = layer_path.split(".")
    idx = int(idx)
    if part == "features":
        def fwd(x):
            return m.features[: idx + 1]((x - mean) / std)
    else:
        def fwd(x):
            f = torch.flatten(m.avgpool(m.features((x - mean) / std)), 1)
            return m.classifier[: idx + 1](f)
    return fwd


def time_bare(fwd, x0, iters):
    with torch.no_grad():
        f0 = fwd(x0)
    x = torch.rand_like(x0).requires_grad_(True)
    t = time.perf_counter()
    for _ in range(iters):
        loss = (fwd(x) - f0).pow(2).sum()
        (g,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x -= 1e-3 * g
    return (time.perf_counter() - t) / iters


CLASSIC = Default(recipe="classic")


def time_invert(rep, x0, iters, preset=CLASSIC):
    res = invert(rep, x0, iters=iters, seed=0, show=False, preset=preset)
    return res.seconds / res.iterations


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "invert_speed.json"))
    a = ap.parse_args()
    torch.manual_seed(0)
    info = load_model("alexnet", pretrained=False)
    rows = []
    for batch in (1, 8):
        x0 = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(batch))
        for layer in ("conv3", "fc6"):
            rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, 224)
            fwd = bare_step_fn(info, rep.path)
            time_bare(fwd, x0, 2)
            time_invert(rep, x0, 2)  # warm up
            time_invert(rep, x0, 2, "default")
            b, v, w = [], [], []
            for _ in range(a.repeats):
                b.append(time_bare(fwd, x0, a.iters))
                v.append(time_invert(rep, x0, a.iters))
                w.append(time_invert(rep, x0, a.iters, "default"))
            bm, vm, wm = statistics.median(b), statistics.median(v), statistics.median(w)
            rows.append({"batch": batch, "layer": layer, "bare_ms": 1000 * bm, "invert_ms": 1000 * vm,
                         "ratio": vm / bm, "rule_ms": 1000 * wm, "rule_over_bare": wm / bm, "rule_over_invert": wm / vm})
            print(f"batch {batch} {layer}: bare {1000 * bm:.1f} ms/it, invert {1000 * vm:.1f} ms/it, ratio {vm / bm:.3f}; "
                  f"rule {1000 * wm:.1f} ms/it ({wm / vm:.3f} x invert)", flush=True)
    x1 = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    reps = {l: CNNLayer(info.module, l, info.mean, info.std, info.aliases, 224) for l in ("conv1", "fc8")}
    t = {l: [] for l in reps}
    for l in reps:
        time_invert(reps[l], x1, 2)
    for _ in range(a.repeats):
        for l, r in reps.items():
            t[l].append(time_invert(r, x1, a.iters))
    c1, f8 = statistics.median(t["conv1"]), statistics.median(t["fc8"])
    depth = {"conv1_ms": 1000 * c1, "fc8_ms": 1000 * f8, "ratio": c1 / f8}
    print(f"conv1 {1000 * c1:.1f} ms/it vs fc8 {1000 * f8:.1f} ms/it: ratio {c1 / f8:.3f}")
    result = {"benchmark": "invert_speed", "model": "alexnet (random weights)", "size": 224,
              "iters": a.iters, "repeats": a.repeats, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "machine": platform.machine(),
              "rows": rows, "depth": depth,
              "floor": {"invert_over_bare_max": 1.15, "conv1_over_fc8_max": 1 / 3},
              "pass": all(r["ratio"] <= 1.15 for r in rows) and depth["ratio"] <= 1 / 3}
    _io.write_json(a.out, result)
    print("\n| batch | layer | bare ms/it | invert ms/it | invert / bare | rule ms/it | rule / bare | rule / invert |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['layer']} | {r['bare_ms']:.1f} | {r['invert_ms']:.1f} | {r['ratio']:.3f} | "
              f"{r['rule_ms']:.1f} | {r['rule_over_bare']:.3f} | {r['rule_over_invert']:.3f} |")
    print(f"\nconv1 / fc8 per iteration: {depth['conv1_ms']:.1f} / {depth['fc8_ms']:.1f} ms = {depth['ratio']:.3f}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
