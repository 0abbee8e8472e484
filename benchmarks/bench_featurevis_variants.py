"""Variants of the fourier and maco recipes for class visualizations (issue 26): each network's ten
classes maximized with ``--param fourier`` (or ``--param maco``) at 300 steps, one thread, and judged by the two other bundled
networks (mean probability of the intended class on the 8-bit images), with the mean spectrum slope.
A variant is chosen on cifar-resnet's and cifar-vgg's classes, then checked on refnet's.

    python benchmarks/bench_featurevis_variants.py NETS VARIANTS SEEDS >> benchmarks/results/featurevis_variants.jsonl
    python benchmarks/bench_featurevis_variants.py cifar-vgg base,lrcos,strong 3

Variants (patched into ``preimage.optimize.featurevis`` / ``maximize`` for the run; every variant sets
the step, its schedule and the transforms itself, so ``base`` is the recipe as it was before
``LR_FLOOR``, ``STEP`` and ``CROPS``, for either parameterization):

* ``base``: constant Adam step 0.05 (lucid's), lucid's transformation robustness;
* ``decay1.75``: the 1/f exponent 1.75 instead of 1.5;
* ``strong`` / ``strong2``: transformation robustness pad 6, roll 6, scale 0.8-1.2, rotate 15 degrees,
  roll 3 (``strong2``: 8, 8, 0.7-1.3, 20, 4);
* ``lrcos`` / ``lrcos0.02`` / ``lrcos0.3``: the step falling on a cosine to 10% / 2% / 30% of 0.05
  (``lrcos`` is what ``LR_FLOOR`` now makes the default for fourier);
* ``lr0.1`` ... ``lr1``: a constant step of 0.1 ... 1 instead of 0.05;
* ``crops``: MACO's crops with noise (80-100% of the side, noise sd 0.05) instead of lucid's
  robustness; ``crops-b0.6`` / ``crops-b0.9``: of 60-100% / 90-100%; ``crops-n0.02`` / ``crops-n0.1``:
  noise 0.02 / 0.1; ``flip+crops+lr0.1``: a left-right mirror with probability 1/2 (from the
  image's own generator, which the crops then continue) before ``crops+lr0.1`` (the three networks
  were trained with mirrored images); ``robcrops``: lucid's robustness, then the crops (``crops+lr0.1`` is what ``STEP``
  and ``CROPS`` now make the default for maco);
* ``stdphase``: Horama's standardized phase (per image) in MacoParam;
  combinations joined by ``+``.

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
from preimage.optimize.param import MacoParam, recorrelate
from preimage.optimize.transforms import Pad, PerImage, RandomCrops, RandomRotate, RandomScale, RandomShift, Resize
from preimage.representations import CNNLayer

ORIG_RESTYLE, ORIG_ROBUSTNESS, ORIG_DECAY = fv.restyle, fv.robustness, fv.DECAY


def strong(size, keys):
    return [Pad(6), RandomShift(6, keys), RandomScale(keys, 0.8, 1.2), RandomRotate(keys, 15.0), RandomShift(3, keys),
            Resize(size)]


def strong2(size, keys):
    return [Pad(8), RandomShift(8, keys), RandomScale(keys, 0.7, 1.3), RandomRotate(keys, 20.0), RandomShift(4, keys),
            Resize(size)]


def crops(size, keys):
    return [RandomCrops(size, keys, (0.8, 1.0), 0.05)]


def crops_with(box, noise):
    return lambda size, keys: [RandomCrops(size, keys, box, noise)]


def robust_crops(size, keys):
    return [*ORIG_ROBUSTNESS(size, keys), RandomCrops(size, keys, (0.8, 1.0), 0.05)]


class RandomFlip(PerImage):
    """Each image mirrored left-right with probability 1/2, drawn from its own generator."""

    def __call__(self, x, random=True):
        if not random:
            return x
        self._check(x)
        return torch.cat([x[i:i + 1].flip(-1) if float(torch.rand((), generator=g)) < 0.5 else x[i:i + 1]
                          for i, g in enumerate(self.keys)])


def flipped(rob):
    return lambda size, keys: [RandomFlip(keys), *rob(size, keys)]


ORIG_MACO_IMAGE = MacoParam.image


def std_phase_image(self):
    """Horama's: the phase standardized (per image here) before it meets the magnitude."""
    u = self.u
    u = (u - u.mean(dim=(1, 2, 3), keepdim=True)) / u.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    spec = torch.polar(self.magnitude.expand_as(u), u)
    z = torch.fft.irfft2(spec, s=self.size, norm="ortho")
    z = (z - z.mean(dim=(1, 2, 3), keepdim=True)) / z.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return torch.sigmoid(recorrelate(z))


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
    "lr0.1": {"lr": 0.1},
    "lr0.2": {"lr": 0.2},
    "lr0.5": {"lr": 0.5},
    "lr0.2+lrcos": {"lr": 0.2, "lrdecay": 0.1},
    "lr1": {"lr": 1.0},
    "crops": {"rob": crops},
    "robcrops": {"rob": robust_crops},
    "crops-n0.1": {"rob": crops_with((0.8, 1.0), 0.1)},
    "crops-n0.02": {"rob": crops_with((0.8, 1.0), 0.02)},
    "crops-b0.6": {"rob": crops_with((0.6, 1.0), 0.05)},
    "crops-b0.9": {"rob": crops_with((0.9, 1.0), 0.05)},
    "crops+lr0.1": {"rob": crops, "lr": 0.1},
    "crops+lrcos": {"rob": crops, "lrdecay": 0.1},
    "crops+lr0.2": {"rob": crops, "lr": 0.2},
    "crops+lrcos+decay1.75": {"rob": crops, "lrdecay": 0.1, "decay": 1.75},
    "crops-b0.9+lr0.1": {"rob": crops_with((0.9, 1.0), 0.05), "lr": 0.1},
    "crops-b0.9+lr0.2": {"rob": crops_with((0.9, 1.0), 0.05), "lr": 0.2},
    "flip+crops+lr0.1": {"rob": flipped(crops), "lr": 0.1},
    "stdphase+lr1": {"stdphase": True, "lr": 1.0},
    "stdphase+lr0.5": {"stdphase": True, "lr": 0.5},
    "stdphase+lr1+crops": {"stdphase": True, "lr": 1.0, "rob": crops},
    "stdphase+lr0.3+crops": {"stdphase": True, "lr": 0.3, "rob": crops},
}


def apply(v):
    fv.DECAY = v.get("decay", ORIG_DECAY)
    rob = v.get("rob", ORIG_ROBUSTNESS)
    fv.transforms_for = lambda param, size, keys: rob(size, keys)
    MacoParam.image = std_phase_image if v.get("stdphase") else ORIG_MACO_IMAGE

    def restyle(*a, **k):
        k["lr"] = v.get("lr", fv.LR)
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
    ap.add_argument("--steps", type=int, default=300, help="steps per image (default 300, the table's)")
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
                m = mx.maximize(rep, list(range(10)), iters=a.steps, seed=seed, show=False, param=a.param,
                                spectrum=spectrum, views=a.views)
                x = (m.images[:, 0] * 255).round() / 255
                sl.append(float(spectrum_slope(x).mean()))
                with torch.no_grad():
                    for jn, j in judges.items():
                        if jn == net:
                            continue
                        ps.setdefault(jn, []).append(float(j(x).softmax(1).diagonal().mean()))
            print(json.dumps({"net": net, "variant": vn, "param": a.param, "views": a.views,
                              **({"steps": a.steps} if a.steps != 300 else {}),
                              "p": {k: [round(q, 3) for q in v] for k, v in ps.items()},
                              "p_mean": round(sum(sum(v) for v in ps.values()) / sum(len(v) for v in ps.values()), 3),
                              "slope": round(sum(sl) / len(sl), 2), "s": round(time.time() - t, 1)}), flush=True)


if __name__ == "__main__":
    main()
