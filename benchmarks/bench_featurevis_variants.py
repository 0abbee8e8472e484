"""Variants of the fourier recipe for class visualizations (issue 26): each network's ten classes
maximized with ``--param fourier`` at 300 steps, one thread, and judged by the two other bundled
networks (mean probability of the intended class on the 8-bit images), with the mean spectrum slope.
A variant is chosen on cifar-resnet's and cifar-vgg's classes, then checked on refnet's.

    python benchmarks/bench_featurevis_variants.py NETS VARIANTS SEEDS >> benchmarks/results/featurevis_variants.jsonl
    python benchmarks/bench_featurevis_variants.py cifar-vgg base,lrcos,strong 3

Variants (patched into ``preimage.optimize.featurevis`` / ``maximize`` for the run; every variant sets
the step's schedule itself, so ``base`` is the recipe as it was before ``LR_FLOOR``):

* ``base``: constant Adam step 0.05 (lucid's);
* ``decay1.75``: the 1/f exponent 1.75 instead of 1.5;
* ``strong`` / ``strong2``: transformation robustness pad 6, roll 6, scale 0.8-1.2, rotate 15 degrees,
  roll 3 (``strong2``: 8, 8, 0.7-1.3, 20, 4);
* ``lrcos`` / ``lrcos0.02`` / ``lrcos0.3``: the step falling on a cosine to 10% / 2% / 30% of 0.05
  (``lrcos`` is what ``LR_FLOOR`` now makes the default for fourier); combinations joined by ``+``.

One JSON line per (network, variant): the probabilities per judge and seed, their mean, the mean
slope and the seconds.
"""
import argparse
import json
import time

import torch

import preimage.optimize.featurevis as fv
import preimage.optimize.maximize as mx
from preimage.attacks import Classifier
from preimage.jobs.natural import natural_spectrum
from preimage.metrics import spectrum_slope
from preimage.models import load_model
from preimage.optimize.loop import Stage
from preimage.optimize.transforms import Pad, RandomRotate, RandomScale, RandomShift, Resize
from preimage.representations import CNNLayer

ORIG_RESTYLE, ORIG_ROBUSTNESS, ORIG_DECAY = fv.restyle, fv.robustness, fv.DECAY


def strong(size, keys):
    return [Pad(6), RandomShift(6, keys), RandomScale(keys, 0.8, 1.2), RandomRotate(keys, 15.0), RandomShift(3, keys),
            Resize(size)]


def strong2(size, keys):
    return [Pad(8), RandomShift(8, keys), RandomScale(keys, 0.7, 1.3), RandomRotate(keys, 20.0), RandomShift(4, keys),
            Resize(size)]


VARIANTS = {
    "base": {},
    "decay1.75": {"decay": 1.75},
    "strong": {"rob": strong},
    "lrcos": {"lrdecay": 0.1},
    "lrcos0.02": {"lrdecay": 0.02},
    "lrcos0.3": {"lrdecay": 0.3},
    "strong+lrcos": {"rob": strong, "lrdecay": 0.1},
    "strong+lrcos0.02": {"rob": strong, "lrdecay": 0.02},
    "strong2+lrcos": {"rob": strong2, "lrdecay": 0.1},
}


def apply(v):
    fv.DECAY = v.get("decay", ORIG_DECAY)
    fv.robustness = v.get("rob", ORIG_ROBUSTNESS)

    def restyle(*a, **k):
        s = ORIG_RESTYLE(*a, **k)
        s.stages = [Stage(st.iters, st.lr, st.jitter, v.get("lrdecay", 1.0)) for st in s.stages]
        return s
    mx.restyle = restyle


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nets", help="refnet, cifar-resnet, cifar-vgg (comma-separated)")
    ap.add_argument("variants", help=", ".join(VARIANTS) + " (comma-separated)")
    ap.add_argument("seeds", type=int, help="seeds 0 .. SEEDS-1")
    ap.add_argument("--param", default="fourier", help="fourier (default) or maco")
    ap.add_argument("--views", type=int, default=1, help="views per step (maximize(views=V))")
    a = ap.parse_args()
    torch.set_num_threads(1)
    nets, variants, seeds = a.nets.split(","), a.variants.split(","), range(a.seeds)
    spectrum = natural_spectrum("maco", None, 32)[0] if a.param == "maco" else None
    judges = {n: Classifier.from_info(load_model(n)).eval() for n in ("refnet", "cifar-resnet", "cifar-vgg")}
    for net in nets:
        info = load_model(net)
        rep = CNNLayer.from_info(info, "fc8" if net == "refnet" else "logits")
        for vn in variants:
            apply(VARIANTS[vn])
            ps, sl = {}, []
            t = time.time()
            for seed in seeds:
                m = mx.maximize(rep, list(range(10)), iters=300, seed=seed, show=False, param=a.param,
                                spectrum=spectrum, views=a.views)
                x = (m.images[:, 0] * 255).round() / 255
                sl.append(float(spectrum_slope(x).mean()))
                with torch.no_grad():
                    for jn, j in judges.items():
                        if jn == net:
                            continue
                        ps.setdefault(jn, []).append(float(j(x).softmax(1).diagonal().mean()))
            print(json.dumps({"net": net, "variant": vn, "param": a.param, "views": a.views,
                              "p": {k: [round(q, 3) for q in v] for k, v in ps.items()},
                              "p_mean": round(sum(sum(v) for v in ps.values()) / sum(len(v) for v in ps.values()), 3),
                              "slope": round(sum(sl) / len(sl), 2), "s": round(time.time() - t, 1)}), flush=True)


if __name__ == "__main__":
    main()
