"""Toward the floor on a deep residual stage (issue 11): what changes cifar-resnet's stage3 (and
stage2) feature error after the default preset's 300 iterations.

    python benchmarks/bench_deep_stage.py            # the variants below
    python benchmarks/bench_deep_stage.py --sweep    # the candidate rule on every refnet / cifar-resnet stage

Variants: the default preset; its TV weight; Adam's beta2; a ReLU backward that leaks a share of
the gradient through inactive units (``relu_rule("leaky", s)``, forward unchanged), constant or
annealed to 0; combinations; 1000 iterations. First 16 images of imagenet-dev100 at 32x32, seed 0.
Writes benchmarks/results/deep_stage.{json,txt}. Torch threads: OMP_NUM_THREADS (printed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from preimage import metrics
from preimage.backward import relu_rule
from preimage.images import list_images, load_image
from preimage.models import load_model
from preimage.optimize import Adam
from preimage.optimize.loop import optimize, rescale_stages
from preimage.optimize.objectives import Selection
from preimage.optimize.presets import Default
from preimage.representations import CNNLayer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev100"
VARIANTS = [
    ("stage3", "default preset", {}),
    ("stage3", "TV weight 0.1", {"tv": 0.1}),
    ("stage3", "TV weight 1.0", {"tv": 1.0}),
    ("stage3", "TV weight 3.0", {"tv": 3.0}),
    ("stage3", "Adam beta2 0.9", {"b2": 0.9}),
    ("stage3", "leak 0.1", {"leak": 0.1}),
    ("stage3", "beta2 0.9 + leak 0.1", {"b2": 0.9, "leak": 0.1}),
    ("stage3", "beta2 0.9 + leak 0.3 annealed to 0", {"b2": 0.9, "leak": 0.3, "anneal": True}),
    ("stage3", "beta2 0.9 + leak 0.1, 1000 iterations", {"b2": 0.9, "leak": 0.1, "iters": 1000}),
    ("stage2", "default preset", {}),
    ("stage2", "beta2 0.9 + leak 0.1", {"b2": 0.9, "leak": 0.1}),
    # session 5: gradients preconditioned by a Laplacian-style pyramid (coarse components amplified)
    ("stage3", "pyramid 3 levels x2", {"pyr": 3, "pw": 2.0}),
    ("stage3", "pyramid + beta2 0.9 + leak 0.1", {"pyr": 3, "pw": 2.0, "b2": 0.9, "leak": 0.1}),
    ("stage3", "pyramid + beta2 0.9 + leak 0.1 + TV 1", {"pyr": 3, "pw": 2.0, "b2": 0.9, "leak": 0.1, "tv": 1.0}),
    ("stage3", "pyramid + beta2 0.8 + leak 0.1 + TV 1", {"pyr": 3, "pw": 2.0, "b2": 0.8, "leak": 0.1, "tv": 1.0}),
    ("refnet pool5", "default preset", {}),
    ("refnet pool5", "no jitter", {"jitter": 0.0}),
    ("refnet pool5", "no jitter + beta2 0.9 + leak 0.1", {"jitter": 0.0, "b2": 0.9, "leak": 0.1}),
    ("refnet pool5", "no jitter + pyramid + beta2 0.8 + leak 0.1", {"jitter": 0.0, "pyr": 3, "pw": 2.0, "b2": 0.8,
                                                                     "leak": 0.1}),
]


class PyramidAdam(Adam):
    """Adam on a gradient whose coarse components are amplified: g + sum_k w^k up(avgpool_{2^k}(g))
    (the gradient a Laplacian-pyramid parameterisation of the image would see, to first order)."""

    def __init__(self, lr, betas, levels: int, weight: float):
        super().__init__(lr, betas=betas)
        self.levels, self.weight = levels, weight

    def step(self, u, g):
        import torch.nn.functional as F

        out = g.clone()
        h, w = g.shape[-2:]
        for k in range(1, self.levels + 1):
            if h // 2 ** k < 1:
                break
            out += self.weight ** k * F.interpolate(F.avg_pool2d(g, 2 ** k, ceil_mode=True), size=(h, w),
                                                    mode="bilinear", align_corners=False)
        return super().step(u, out)


def run(rep, x, tv=None, b2=0.999, leak=0.0, anneal=False, iters=300, jitter=None, pyr=0, pw=1.0):
    with torch.no_grad():
        target = rep(x)
    preset = Default(tv=tv, jitter_frac=jitter)
    setup = preset.setup(rep, target, Selection(), (32, 32), torch.Generator().manual_seed(0),
                         keys=list(range(len(x))))
    stages = rescale_stages(setup.stages, iters)
    lr = preset.learning_rate(rep, target)
    opt = PyramidAdam(lr, (0.9, b2), pyr, pw) if pyr else Adam(lr, betas=(0.9, b2))
    with relu_rule("leaky", leak) as rule:
        def schedule(step, energy):
            if anneal:
                rule.slope = leak * max(0.0, 1 - (step + 1) / iters)
        res = optimize(setup.param, setup.objective, opt, stages, rep=rep,
                       transforms=setup.transforms, callback=schedule, show=False)
    with torch.no_grad():
        return float(metrics.feature_error(rep(res.image), target).mean())


SWEEP = {"refnet": ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"],
         "cifar-resnet": ["conv1", "stage1", "stage2", "stage3", "pool", "logits"]}
RULE = {"pyr": 3, "pw": 2.0, "b2": 0.8, "leak": 0.1}


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", action="store_true", help="instead: the candidate optimiser rule (pyramid gradient, "
                    "beta2 0.8, leak 0.1; the preset's TV and jitter) on every stage of refnet and cifar-resnet "
                    "(never cifar-vgg); writes deep_stage_sweep.{json,txt}")
    a = ap.parse_args()
    x = torch.stack([load_image(f, 32) for f in list_images(DATA)[:16]])
    jobs = ([(f"{m} {s}", "candidate rule", RULE) for m, stages in SWEEP.items() for s in stages] if a.sweep
            else VARIANTS)
    rows = []
    for layer, name, kw in jobs:
        model, _, short = layer.rpartition(" ")
        info = load_model(model or "cifar-resnet")
        rep = CNNLayer(info.module, short, info.mean, info.std, info.aliases, 32)
        t0 = time.perf_counter()
        fe = run(rep, x, **kw)
        rows.append({"layer": layer, "variant": name, "feature_error": fe, "seconds": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    text = "\n".join([f"torch threads: {torch.get_num_threads()}", "", "| stage | variant | feature error |", "|---|---|---|"]
                     + [f"| {r['layer']} | {r['variant']} | {r['feature_error']:.4f} |" for r in rows])
    print(text)
    out = Path(__file__).parent / "results"
    name = "deep_stage_sweep" if a.sweep else "deep_stage"
    (out / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / f"{name}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
