"""Verbs of optimization inversion: ``layers``, ``invert``, ``evaluate``."""

from __future__ import annotations

import argparse

from ..jobs.inversion import check_options, evaluate, reconstruct
from ..optimize.objectives import parse_channels
from ..representations import describe_layers
from .common import (
    add_device,
    add_model_args,
    add_run_args,
    add_workers,
    build_rep,
    command,
    converge_option,
    device,
    finish,
    output,
    positive,
)


def _layers_options(p):
    p.add_argument("model", help="zoo name, model file (.toml), package.module:factory or file.py:factory")
    p.add_argument("--size", type=positive("--size"), help="input size in pixels (default: the model's)")
    p.add_argument("--weights", help="weights file (not needed to list layers)")
    p.add_argument("--random-weights", action="store_true", default=True, help=argparse.SUPPRESS)


@command("layers", "list every addressable layer of a model with its output shape",
         "preimage layers refnet --size 32", _layers_options, writes=False)
def cmd_layers(a):
    print("\n".join(describe_layers(a.model, size=a.size, weights=a.weights)))


def _invert_options(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or sample:NAME (astronaut, coffee, chelsea, ...)")
    add_model_args(p)
    p.add_argument("--samples", type=positive("--samples"), default=1, help="reconstructions per image from different random starts")
    p.add_argument("--window", type=positive("--window"), help="match only a centered KxK window of the feature map")
    p.add_argument("--channels", help="match only channels A:B")
    p.add_argument("--size", type=positive("--size"), help="image size in pixels (default: the model's input size)")
    add_device(p)
    p.add_argument("--method", choices=("optimization", "learned", "hybrid"), default="optimization",
                   help="optimization (default); learned: one pass of a trained inverter; hybrid: optimization "
                        "started from the inverter's reconstruction")
    p.add_argument("--inverter", help="inverter file for --method learned/hybrid (default: the bundled one for "
                   "this model and layer; 'preimage train-inverter' makes others)")
    p.add_argument("--converge", type=converge_option, metavar="WINDOW,TOL",
                   help="end each image on its own when its energy improved by at most TOL (relative) over its last "
                        "WINDOW iterations, --iters being the cap (default: the preset's test, 30,1e-3 for default, "
                        "classic and hybrid, none for mv2015 and mv2016; off: every iteration)")
    add_run_args(p, "preimage-out")


@command("invert", "reconstruct images from the code of a layer (optimization, a trained inverter, or both)",
         "preimage invert sample:astronaut sample:coffee --model refnet --layer conv3 --samples 3 --out out/",
         _invert_options)
def cmd_invert(a):
    channels = parse_channels(a.channels)
    dev = device(a)
    rep = build_rep(a).to(dev)
    check_options(rep, a.method, a.inverter, a.samples, a.window, channels, a.converge)
    with output(a, "invert") as out:
        r = reconstruct(rep, a.images, a.method, inverter=a.inverter, preset=a.preset, iters=a.iters,
                        samples=a.samples, window=a.window, channels=channels, seed=a.seed, size=a.size,
                        layer=a.layer, model=a.model, converge=a.converge)
        finish(out, r, f"wrote {len(r.records())} reconstructions, side_by_side.png and results.json to {a.out} "
                       f"({r.seconds:.1f}s)")


def _evaluate_options(p):
    p.add_argument("--rep", required=True, help="representation: hog, hogb, dsift, hog-dt (options as dsift:bin_size=5), "
                   "or a model spec with --layer")
    p.add_argument("--layer", help="layer, for a CNN")
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--mean", help=argparse.SUPPRESS)
    p.add_argument("--std", help=argparse.SUPPRESS)
    p.add_argument("--random-weights", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", required=True, help="folder of images or tar shards (N of them, evenly spaced in name order)")
    add_workers(p)
    p.add_argument("--n", type=positive("--n"), default=100, help="images, evenly spaced in name order (at least 2; default 100)")
    p.add_argument("--size", type=positive("--size"), default=128, help="image size in pixels (default 128)")
    add_run_args(p, "preimage-eval")


@command("evaluate", "the CVPR-2015 inversion protocol on a folder of images: error table and figure",
         "preimage evaluate --rep hog --data ../shared/data/imagenet-dev100 --n 100 --out eval-hog", _evaluate_options)
def cmd_evaluate(a):
    rep = build_rep(a, model=a.rep)
    with output(a, "evaluate") as out:
        ev = evaluate(rep, a.data, n=a.n, size=a.size, preset=a.preset or "default", iters=a.iters, seed=a.seed,
                      workers=a.workers)
        finish(out, ev, f"wrote {a.out}/evaluate.json, evaluate.png and per_image.json")

