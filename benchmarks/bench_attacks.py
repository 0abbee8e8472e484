"""Adversarial examples on the three bundled networks (issue 14).

    python benchmarks/bench_attacks.py --data ../shared/data/cifar10/test --n 1000

* refnet's accuracy under PGD-10 (L-inf) at 0, 1, 2, 4, 8 /255 on n test images;
* the 3x3 transfer matrix at 8/255 (PGD, 10 steps): rows made on, columns tested on;
* refnet PGD at 8/255: success for the float images and for their 8-bit PNGs;
* speed on one batch of 100: PGD-10 against ten bare forward + backward passes, and against
  foolbox's LinfPGD with the same steps, measured in alternation (median of 5).
Writes benchmarks/results/attacks.{json,txt}. Torch threads: OMP_NUM_THREADS (printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from preimage.attacks import Classifier, outcome, pgd, quantize
from preimage.jobs.attacks import labeled_stream, robustness, transfer
from preimage.models import load_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    names = ["refnet", "cifar-resnet", "cifar-vgg"]
    infos = [load_model(n) for n in names]
    out = {"threads": torch.get_num_threads()}
    eps = [0, 1 / 255, 2 / 255, 4 / 255, 8 / 255]
    out["robustness"] = robustness(infos[0], a.data, eps, a.n, show=False).record
    out["transfer"] = transfer(infos, names, a.data, 8 / 255, a.n, show=False).record
    clf = Classifier.from_info(infos[0])
    stream, y = labeled_stream(infos[0], a.data, a.n)
    x = torch.cat([b for _, b in stream])
    adv = torch.cat([pgd(clf, x[i:i + 250], y[i:i + 250], 8 / 255) for i in range(0, len(x), 250)])
    o, o8 = outcome(clf, x, adv, y), outcome(clf, x, quantize(adv), y)
    out["float_vs_8bit"] = {"success_rate": float(o.success.float().mean()), "success_rate_8bit": float(o8.success.float().mean())}
    from preimage.representations import CNNLayer

    layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    rep = CNNLayer(infos[0].module, "fc8", infos[0].mean, infos[0].std, infos[0].aliases, 32)
    with torch.no_grad():
        f0 = {k: torch.cat([rep.features_at(x[i:i + 250], layers)[k] for i in range(0, len(x), 250)]) for k in layers}
        f1 = {k: torch.cat([rep.features_at(adv[i:i + 250], layers)[k] for i in range(0, len(x), 250)]) for k in layers}
    out["code_change"] = {k: float(((f1[k] - f0[k]).flatten(1).norm(dim=1) / f0[k].flatten(1).norm(dim=1)).mean())
                          for k in layers}
    out["pixel_change"] = float(((adv - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)).mean())
    xb, yb = x[:100], y[:100]
    import foolbox as fb

    fmodel = fb.PyTorchModel(clf.eval(), bounds=(0, 1))
    fattack = fb.attacks.LinfPGD(steps=10, abs_stepsize=2.5 * (8 / 255) / 10)
    t_pgd, t_bare, t_fb = [], [], []
    for r in range(5):
        t0 = time.perf_counter()
        for _ in range(10):
            xr = xb.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(clf(xr), yb, reduction="sum"), xr)
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pgd(clf, xb, yb, 8 / 255, seed=r)
        t_pgd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fattack(fmodel, xb, yb, epsilons=8 / 255)
        t_fb.append(time.perf_counter() - t0)
    m = {k: statistics.median(v) for k, v in (("pgd", t_pgd), ("bare", t_bare), ("foolbox", t_fb))}
    out["speed"] = {**m, "pgd_over_bare": m["pgd"] / m["bare"], "pgd_over_foolbox": m["pgd"] / m["foolbox"]}
    rb = out["robustness"]
    lines = [f"torch threads: {out['threads']}; {rb['n']} images of {Path(a.data).name}", "",
             "| eps | " + " | ".join(f"{e * 255:.0f}/255" for e in rb["eps"]) + " |", "|---|" + "---|" * len(eps),
             "| refnet accuracy, PGD-10 L-inf | " + " | ".join(f"{v:.3f}" for v in rb["accuracy"]) + " |", "",
             "| made on \\ tested on | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {src} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for src, row in zip(names, out["transfer"]["matrix"])]
    fv = out["float_vs_8bit"]
    sp = out["speed"]
    lines += ["", "| | pixels | " + " | ".join(out["code_change"]) + " |", "|---|---|" + "---|" * len(out["code_change"]),
              f"| relative change, refnet PGD-10 at 8/255 | {out['pixel_change']:.3f} | "
              + " | ".join(f"{v:.3f}" for v in out["code_change"].values()) + " |"]
    lines += ["", f"refnet PGD-10 at 8/255: success {fv['success_rate']:.3f} for the float images, "
              f"{fv['success_rate_8bit']:.3f} for the 8-bit PNGs", "",
              f"speed, a batch of 100: PGD-10 {sp['pgd']:.3f} s, ten bare forward+backward {sp['bare']:.3f} s "
              f"(ratio {sp['pgd_over_bare']:.3f}), foolbox LinfPGD {sp['foolbox']:.3f} s (ratio {sp['pgd_over_foolbox']:.3f})"]
    text = "\n".join(lines)
    print(text)
    (Path(a.out) / "attacks.json").write_text(json.dumps(out, indent=2) + "\n")
    (Path(a.out) / "attacks.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
