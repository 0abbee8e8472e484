"""Time to quality (issue 25, item 1), one more structural candidate: the default inversion's energy
(feature match + TV annealed 10w -> w/4, soft ReLU backward) optimized through lucid's decorrelated
Fourier parameterization (``FourierParam``, spectrum scaled by 1/f^decay, started at the default's
own start image) with Adam on a cosine to 2%, 100 iterations, against the default's numbers in
``time_to_quality.txt`` (its 300-iteration error and its 100-iteration compressed schedule). Same
first 4 images of imagenet-dev100 at 32 px, one thread, the three hardest stages. Prints one line per
setting and writes benchmarks/results/time_to_quality_fourier.txt.

    python benchmarks/bench_time_to_quality_fourier.py
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_time_to_quality import DATA, _setup

from preimage import _io, metrics
from preimage.images import list_images, load_image
from preimage.models import load_model
from preimage.optimize.loop import Stage, optimize
from preimage.optimize.objectives import Context, FeatureMatch, Objective, Selection, TotalVariation
from preimage.optimize.optimizers import Adam
from preimage.optimize.param import FourierParam
from preimage.representations import CNNLayer


def tv_on_image(ctx):
    """The default's TV prior on the image itself (a Fourier parameter's ``pixels`` are its spectrum)."""
    return TotalVariation(2.0, "mean")(Context(ctx.image, ctx.image))


def main():
    torch.set_num_threads(1)
    lines = []
    names = sorted(list_images(str(DATA)))[:4]
    x = torch.stack([load_image(str(n), 32) for n in names])
    for net, stage in [("cifar-resnet", "stage3"), ("cifar-vgg", "block3"), ("refnet", "fc6")]:
        rep = CNNLayer.from_info(load_model(net), stage)
        with torch.no_grad():
            target = rep(x)
        preset, setup = _setup(rep, x, target)
        w = preset.tv_weight(rep, target)
        a, b = preset.INVERT_TV
        u0 = setup.param.image().detach().clamp(0.01, 0.99)
        for decay in (0.5, 1.0):
            for lr in (0.02, 0.05, 0.1, 0.2):
                p = FourierParam(None, (32, 32), decay, init=u0)
                obj = FeatureMatch(target, Selection()) + Objective(tv_on_image, "tv_img").annealed(a * w, b * w)
                res = optimize(p, obj, Adam(lr), [Stage(100, lr, False, 0.02)], rep=rep, relu=setup.relu, show=False)
                with torch.no_grad():
                    fe = float(metrics.feature_error(rep(res.image), target).mean())
                lines.append(f"{net} {stage} decay {decay} lr {lr}: feature error at 100 iterations {fe:.4f}")
                print(lines[-1], flush=True)
    _io.write_text(Path(__file__).parent / "results" / "time_to_quality_fourier.txt", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
