"""Activation maximization and caricatures on refnet (issue 12), default preset against mv2016.

    python benchmarks/bench_maximize.py --judges cifar-resnet,cifar-vgg

* classes: all 10 refnet logits maximized as one batch; refnet's probability of the intended
  class, and how many of the 10 each judge network (which never saw the images) assigns to the
  intended class, with its mean probability for it;
* conv5: 64 channels at the center of the map as one batch; normalized activation (over the
  scikit-image photos) and rank among the 256 channels;
* caricatures of the three demo photos at conv3, conv5, fc8: the gain and the pixel range;
* speed: one iteration of maximizing 64 channels as a batch against a bare forward + backward of
  a 64-image batch to conv5, as a ratio measured in the same run (median of several repeats).

Writes benchmarks/results/maximize.{json,txt}. Torch threads: as set by OMP_NUM_THREADS (printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from preimage.images import PHOTOS, load_image
from preimage.models import load_model
from preimage.optimize.maximize import caricature, maximize, natural_maxima
from preimage.representations import CNNLayer


def rep_for(info, layer):
    return CNNLayer(info.module, layer, info.mean, info.std, info.aliases, info.input_size, name=f"{info.name}/{layer}")


def speed(rep, nat, repeats: int, iters: int = 30):
    """(seconds per maximization iteration, seconds per bare forward+backward) for 64 units, the two
    measured in alternation so that both see the same machine (medians over ``repeats``)."""
    x = torch.rand(64, 3, 32, 32, requires_grad=True)
    bare, full = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            f = rep.features(x)
            torch.autograd.grad(f[:, 0].sum(), x)
        bare.append((time.perf_counter() - t0) / iters)
        m = maximize(rep, list(range(64)), iters=iters, seed=r, normalizers=nat, show=False)
        full.append(m.seconds / iters)
    return statistics.median(full), statistics.median(bare)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--judges", default="cifar-resnet,cifar-vgg")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    info = load_model("refnet")
    nat = torch.stack([load_image(f"sample:{n}", 32) for n in PHOTOS])
    judges = [load_model(j) for j in a.judges.split(",") if j]
    out = {"threads": torch.get_num_threads(), "classes": {}, "conv5": {}, "caricature": {}}
    lines = [f"torch threads: {torch.get_num_threads()}", "",
             "| preset | refnet p(class) min | refnet p >= 0.99 | " + " | ".join(f"{j.name}: hits, mean p" for j in judges)
             + " | seconds |", "|---|---|---|" + "---|" * len(judges) + "---|"]
    fc8 = rep_for(info, "fc8")
    for preset in ("default", "mv2016"):
        m = maximize(fc8, list(range(10)), preset=preset, seed=0, normalizers=natural_maxima(fc8, nat), show=False)
        imgs = m.images[:, 0]
        with torch.no_grad():
            p = torch.softmax(fc8(imgs), 1).diagonal()
            row = {"refnet_p": [float(v) for v in p], "seconds": m.seconds}
            cells = []
            for j in judges:
                norm = (imgs - torch.tensor(j.mean).view(1, 3, 1, 1)) / torch.tensor(j.std).view(1, 3, 1, 1)
                pj = torch.softmax(j.module.eval()(norm), 1)
                hits = int((pj.argmax(1) == torch.arange(10)).sum())
                row[j.name] = {"hits": hits, "p_intended": [float(v) for v in pj.diagonal()]}
                cells.append(f"{hits}/10, {float(pj.diagonal().mean()):.2f}")
        out["classes"][preset] = row
        lines.append(f"| {preset} | {float(p.min()):.3f} | {int((p >= 0.99).sum())}/10 | " + " | ".join(cells)
                     + f" | {m.seconds:.1f} |")
    conv5 = rep_for(info, "conv5")
    nat5 = natural_maxima(conv5, nat)
    lines += ["", "| preset | conv5 channels | normalized activation min / median | rank 1 | seconds |", "|---|---|---|---|---|"]
    for preset in ("default", "mv2016"):
        m = maximize(conv5, list(range(64)), preset=preset, seed=0, normalizers=nat5, show=False)
        nv = m.normalized[:, 0]
        out["conv5"][preset] = {"normalized": [float(v) for v in nv], "rank": [int(v) for v in m.rank[:, 0]],
                                "seconds": m.seconds}
        lines.append(f"| {preset} | 64 | {float(nv.min()):.2f} / {float(nv.median()):.2f} | "
                     f"{int((m.rank[:, 0] == 1).sum())}/64 | {m.seconds:.1f} |")
    photos = torch.stack([load_image(f"sample:{n}", 32) for n in ("astronaut", "coffee", "chelsea")])
    lines += ["", "| preset | layer | gain (astronaut, coffee, chelsea) | pixel range |", "|---|---|---|---|"]
    for preset in ("default", "mv2016"):
        for layer in ("conv3", "conv5", "fc8"):
            c = caricature(rep_for(info, layer), photos, preset=preset, seed=0, show=False)
            out["caricature"][f"{preset}/{layer}"] = {"gain": [float(g) for g in c.gain],
                                                      "min": float(c.images.min()), "max": float(c.images.max())}
            lines.append(f"| {preset} | {layer} | {', '.join(f'{float(g):.2f}' for g in c.gain)} | "
                         f"{float(c.images.min()):.3f} - {float(c.images.max()):.3f} |")
    t_max, t_bare = speed(conv5, nat5, a.repeats)
    out["speed"] = {"maximize_iteration_s": t_max, "bare_forward_backward_s": t_bare, "ratio": t_max / t_bare}
    lines += ["", f"speed, 64 conv5 channels: {1000 * t_max:.1f} ms per iteration against {1000 * t_bare:.1f} ms "
              f"for a bare forward + backward of 64 images: ratio {t_max / t_bare:.3f} (median of {a.repeats})"]
    text = "\n".join(lines)
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "maximize.json").write_text(json.dumps(out, indent=2) + "\n")
    (Path(a.out) / "maximize.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
