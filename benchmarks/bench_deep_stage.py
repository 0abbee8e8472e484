"""Toward the floor on a deep residual stage (issue 11): what changes cifar-resnet's stage3 (and
stage2) feature error after the default preset's 300 iterations.

    python benchmarks/bench_deep_stage.py            # the variants below
    python benchmarks/bench_deep_stage.py --sweep    # session 5's candidate rule on every refnet / cifar-resnet stage

Variants, all on the preset's classic recipe (which the default preset used before session 6):
its TV weight; Adam's beta2; a ReLU backward that leaks a share of the gradient through inactive
units (``relu_rule("leaky", s)``, forward unchanged), constant or annealed to 0; a softened ReLU
backward (``relu_rule("soft", t)``); a coarse-amplified gradient (``PyramidAdam``); the TV weight
annealed; combinations; 1000 iterations. The rule the default preset adopted is the row marked
"(the rule)". First 16 images of imagenet-dev100 at 32x32, seed 0.
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
from preimage.optimize import Adam, PyramidAdam
from preimage.optimize.loop import optimize, rescale_stages
from preimage.optimize.objectives import FeatureMatch, Selection, TotalVariation
from preimage.optimize.presets import Default
from preimage.representations import CNNLayer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev100"
#: the rule the default preset adopted in session 6 (Default.INVERT_*), here on the classic recipe's
#: jitter unless a row says otherwise
RULE_NEW = {"pyr": 3, "pw": 2.0, "b2": 0.8, "soft": 0.2, "tv_anneal": (10.0, 0.25)}
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
    # session 6: a softened ReLU backward (temperature 0.2 x the input's RMS per image) in place of
    # the leak, and the TV weight annealed from 10 w to w / 4 (w: the preset's weight)
    ("stage3", "pyramid + beta2 0.8 + soft 0.2", {"pyr": 3, "pw": 2.0, "b2": 0.8, "soft": 0.2}),
    ("stage3", "pyramid + beta2 0.8 + leak 0.1 + TV 10w -> w/4", {"pyr": 3, "pw": 2.0, "b2": 0.8, "leak": 0.1,
                                                                  "tv_anneal": (10.0, 0.25)}),
    ("stage3", "pyramid + beta2 0.8 + soft 0.1 + TV 10w -> w/4", {"pyr": 3, "pw": 2.0, "b2": 0.8, "soft": 0.1,
                                                                  "tv_anneal": (10.0, 0.25)}),
    ("stage3", "pyramid + beta2 0.8 + soft 0.2 + TV 10w -> w/4 (the rule)", RULE_NEW),
    ("stage3", "pyramid + beta2 0.8 + soft 0.3 + TV 10w -> w/4", {"pyr": 3, "pw": 2.0, "b2": 0.8, "soft": 0.3,
                                                                  "tv_anneal": (10.0, 0.25)}),
    ("stage3", "the rule, TV 10w -> w", {"pyr": 3, "pw": 2.0, "b2": 0.8, "soft": 0.2, "tv_anneal": (10.0, 1.0)}),
    ("stage3", "the rule, TV 10w -> w/10", {"pyr": 3, "pw": 2.0, "b2": 0.8, "soft": 0.2, "tv_anneal": (10.0, 0.1)}),
    ("stage3", "the rule without the pyramid", {"b2": 0.8, "soft": 0.2, "tv_anneal": (10.0, 0.25)}),
    ("stage3", "the rule with beta2 0.999", {"pyr": 3, "pw": 2.0, "b2": 0.999, "soft": 0.2, "tv_anneal": (10.0, 0.25)}),
    ("refnet pool5", "the rule, jittered as the classic recipe", dict(RULE_NEW)),
    ("refnet pool5", "the rule, no jitter", {**RULE_NEW, "jitter": 0.0}),
]


def run(rep, x, tv=None, b2=0.999, leak=0.0, anneal=False, iters=300, jitter=None, pyr=0, pw=1.0,
        tv_anneal=None, soft=0.0):
    with torch.no_grad():
        target = rep(x)
    rule_name = "soft" if soft else None
    preset = Default(tv=tv, jitter_frac=jitter, recipe="classic")
    setup = preset.setup(rep, target, Selection(), (32, 32), torch.Generator().manual_seed(0),
                         keys=list(range(len(x))))
    stages = rescale_stages(setup.stages, iters)
    lr = preset.learning_rate(rep, target)
    opt = PyramidAdam(lr, (0.9, b2), levels=pyr, weight=pw) if pyr else Adam(lr, betas=(0.9, b2))
    objective = setup.objective
    if tv_anneal is not None:  # the TV term annealed from tv_anneal[0] w to tv_anneal[1] w
        w = preset.tv_weight(rep, target)
        objective = FeatureMatch(target, Selection()) + TotalVariation(2.0, "mean").annealed(
            tv_anneal[0] * w, tv_anneal[1] * w)
    with relu_rule(rule_name or "leaky", soft if rule_name == "soft" else leak) as rule:
        def schedule(step, energy):
            if anneal:
                rule.slope = leak * max(0.0, 1 - (step + 1) / iters)
        res = optimize(setup.param, objective, opt, stages, rep=rep,
                       transforms=setup.transforms, callback=schedule, show=False)
    with torch.no_grad():
        return float(metrics.feature_error(rep(res.image), target).mean())


SWEEP = {"refnet": ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"],
         "cifar-resnet": ["conv1", "stage1", "stage2", "stage3", "pool", "logits"]}
RULE = {"pyr": 3, "pw": 2.0, "b2": 0.8, "leak": 0.1}


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", action="store_true", help="instead: the candidate optimizer rule (pyramid gradient, "
                    "beta2 0.8, leak 0.1; the preset's TV and jitter) on every stage of refnet and cifar-resnet "
                    "(never cifar-vgg); writes deep_stage_sweep.{json,txt}")
    ap.add_argument("--missing", action="store_true", help="run only the variants that results/deep_stage.json "
                    "does not hold yet, keeping its other rows (the variants are deterministic)")
    a = ap.parse_args()
    out = Path(__file__).parent / "results"
    name = "deep_stage_sweep" if a.sweep else "deep_stage"
    done = {}
    if a.missing and (out / f"{name}.json").exists():
        done = {(r["layer"], r["variant"]): r for r in json.loads((out / f"{name}.json").read_text())}
    x = torch.stack([load_image(f, 32) for f in list_images(DATA)[:16]])
    jobs = ([(f"{m} {s}", "candidate rule", RULE) for m, stages in SWEEP.items() for s in stages] if a.sweep
            else VARIANTS)
    rows = []
    for layer, variant, kw in jobs:
        if (layer, variant) in done:
            rows.append(done[(layer, variant)])
            continue
        model, _, short = layer.rpartition(" ")
        info = load_model(model or "cifar-resnet")
        rep = CNNLayer(info.module, short, info.mean, info.std, info.aliases, 32)
        t0 = time.perf_counter()
        fe = run(rep, x, **kw)
        rows.append({"layer": layer, "variant": variant, "feature_error": fe, "seconds": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    text = "\n".join([f"torch threads: {torch.get_num_threads()}", "", "| stage | variant | feature error |", "|---|---|---|"]
                     + [f"| {r['layer']} | {r['variant']} | {r['feature_error']:.4f} |" for r in rows])
    print(text)
    (out / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / f"{name}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
