"""Verbs of natural pre-images (IJCV 2016): ``maximize`` and ``caricature``; feature accentuation: ``accentuate``."""

from __future__ import annotations

from typing import Optional, Tuple

from ..errors import ConfigError
from ..jobs.natural import (
    REFERENCE_IMAGES,
    accentuations,
    caricatures,
    check_accent_args,
    check_judge_args,
    check_param_args,
    load_judge,
    load_reference,
    maximize_param,
    maximize_units,
    parse_units,
)
from ..models.zoo import MODELS
from ..optimize.accentuate import ITERS, KEEP, KEEP_LAYER, check_keep_layer
from ..optimize.maximize import check_diversity, check_views
from .common import add_device, add_model_args, add_run_args, build_rep, command, device, finish, output, positive


def add_param_args(p, default: Optional[str] = "pixel") -> None:
    """``--param`` and ``--spectrum-from`` (checked by the job, so a bad value is one line, exit 2);
    ``default`` None: the preset's choice (``maximize``)."""
    said = ("default: the preset's - maco for default, classic and hybrid, pixel for mv2015 and mv2016"
            if default is None else f"default {default}")
    recipe = ("the preset's iterations - fourier with lucid's transformation robustness and Adam 0.05 falling to "
              "0.005, maco with MACO's random crops with noise and Adam 0.1" if default is None else
              "Adam 0.05 from the photo's own spectrum or phase, without transforms, for the preset's iterations")
    p.add_argument("--param", default=default, metavar="pixel|fourier|maco",
                   help=f"parameterization ({said}): pixel (the preset's own recipe), fourier (lucid: decorrelated "
                   f"1/f spectrum) or maco (phase only, natural amplitude); fourier and maco use {recipe}")
    p.add_argument("--spectrum-from", metavar="DIR", help="folder of natural images whose mean amplitude spectrum "
                   "--param maco keeps (default: the color photos scikit-image ships)")


def _add_size(p) -> None:
    p.add_argument("--size", type=positive("--size"), help="image size in pixels (default: the model's input size; "
                   "any size the layer's part of the network takes)")


def _maximize_options(p):
    add_model_args(p)
    add_param_args(p, None)
    _add_size(p)
    p.add_argument("--channels", help="channels (or vector elements) A:B")
    p.add_argument("--units", help="units 3,17,40")
    p.add_argument("--classes", help="class logits: all or 3,5 (the last layer)")
    p.add_argument("--mode", choices=("center", "mean"), default="center",
                   help="a channel at the center of the map (default) or its spatial mean")
    p.add_argument("--position", help="Y,X of the map instead of the center")
    p.add_argument("--samples", type=positive("--samples"), default=1, help="different starts per unit")
    p.add_argument("--diversity", type=float, metavar="W", help="with --samples K > 1: weight of lucid's diversity "
                   "term (the samples' Gram matrices of the layer pushed apart); results.json then records their "
                   "mean pairwise Gram cosine")
    p.add_argument("--views", type=positive("--views"), default=1, metavar="V",
                   help="with --param fourier or maco: each image seen V times per step, each view through its own "
                   "transforms, the energy their mean (MACO's several crops per step; V times the arithmetic)")
    p.add_argument("--normalize-on", help="folder of natural images whose maximum activation normalizes each unit "
                   "(default: the color photos scikit-image ships)")
    p.add_argument("--judge", metavar="MODEL", help="with --reference: an independent network (zoo name or model "
                   "file) whose penultimate features judge the images' naturalness - the interpretability score "
                   "(MIS-style) and, for --classes, plausibility - recorded in results.json")
    p.add_argument("--reference", metavar="DIR", help="with --judge: natural images in class folders (the "
                   "visualized classes' names, for plausibility)")
    p.add_argument("--reference-images", type=positive("--reference-images"), default=REFERENCE_IMAGES, metavar="N",
                   help=f"images read from --reference, spread evenly over it (default {REFERENCE_IMAGES})")
    add_device(p)
    add_run_args(p, "preimage-maximize")


@command("maximize", "synthesize images that maximize units of a layer (all units as one batch)",
         "preimage maximize --model refnet --layer fc8 --classes all --out classes", _maximize_options)
def cmd_maximize(a):
    rep = build_rep(a).to(device(a))
    size = rep.input_size
    shape = rep.output_shape(size)
    count = shape[0]
    entry = MODELS.get(a.model)
    if a.classes is not None:
        n_classes = len(entry.classes) if entry and entry.classes else None
        if len(shape) != 1 or (n_classes is not None and count != n_classes):
            what = "x".join(map(str, shape))
            raise ConfigError(f"--classes is for the class scores (a vector of {n_classes or 'one score per class'}"
                              f"{' numbers' if n_classes else ''}); {a.layer} gives {what}: use --channels A:B or --units")
    units = parse_units(a.channels, a.units, a.classes, count)
    position: Optional[Tuple[int, int]] = None
    if a.position:
        try:
            y, x = (int(v) for v in a.position.split(","))  # not exactly two integers: ValueError
        except ValueError:
            raise ConfigError(f"--position must be Y,X, got {a.position!r}") from None
        position = (y, x)
    labels = entry.classes if (entry and a.classes and entry.classes and count == len(entry.classes)) else None
    param = maximize_param(a.param, a.preset)
    check_param_args(param, a.spectrum_from)  # a bad --param / --spectrum-from fails before --out is claimed
    check_diversity(a.diversity, a.samples)
    check_views(a.views, param, a.diversity)
    check_judge_args(a.judge, a.reference, a.reference_images)
    judge = reference = None
    if a.judge is not None:   # the judge and its folder are loaded (and refused) before --out is claimed
        judge = load_judge(a.judge)
        reference = load_reference(a.reference, size, a.reference_images, labels)
        judge.model.to(device(a))
    with output(a, "maximize") as out:
        r = maximize_units(rep, units, mode="position" if position else a.mode, position=position, samples=a.samples,
                           preset=a.preset, iters=a.iters, seed=a.seed, normalize_on=a.normalize_on, model=a.model,
                           layer=a.layer, labels=labels, param=param, spectrum_from=a.spectrum_from,
                           diversity=a.diversity, judge=judge, reference=reference, judge_classes=labels,
                           views=a.views)
        finish(out, r, f"wrote {len(units) * a.samples} images, grid.png and results.json to {a.out} "
                       f"({r.result.seconds:.1f}s)")


def _caricature_options(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or sample:NAME")
    add_model_args(p)
    add_param_args(p)
    _add_size(p)
    add_device(p)
    add_run_args(p, "preimage-caricature")


@command("caricature", "exaggerate what a layer sees in photos (start at the photo, maximize its own code)",
         "preimage caricature sample:chelsea --model refnet --layer conv5 --out caricature", _caricature_options)
def cmd_caricature(a):
    rep = build_rep(a).to(device(a))
    check_param_args(a.param, a.spectrum_from)  # a bad --param / --spectrum-from fails before --out is claimed
    with output(a, "caricature") as out:
        r = caricatures(rep, a.images, preset=a.preset, iters=a.iters, seed=a.seed, model=a.model, layer=a.layer,
                        param=a.param, spectrum_from=a.spectrum_from)
        finish(out, r, f"wrote {len(a.images)} caricatures, side_by_side.png and results.json to {a.out} "
                       f"({r.seconds:.1f}s)")


def _accentuate_options(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or sample:NAME")
    add_model_args(p)
    p.add_argument("--channel", type=int, metavar="C", help="the channel (or vector element) C to accentuate")
    p.add_argument("--class", dest="klass", type=int, metavar="K", help="the class score K to accentuate (a class layer)")
    p.add_argument("--mode", choices=("center", "mean"), default="center",
                   help="a channel at the center of the map (default) or its spatial mean")
    p.add_argument("--param", default="fourier", metavar="fourier|pixel",
                   help="start from the photo's own spectrum (fourier, default) or its pixels")
    p.add_argument("--keep", type=float, default=None, metavar="W",
                   help=f"weight of the mean squared pixel difference to the photo (default {KEEP:g}; larger: "
                   f"closer to the photo, smaller gain); with --keep-layer, of that layer's relative change "
                   f"(default {KEEP_LAYER:g})")
    p.add_argument("--keep-layer", metavar="L", help="keep layer L's activations near the photo's instead of its "
                   "pixels (the image may change where L does not look)")
    p.add_argument("--iters", type=positive("--iters"), help=f"iterations (default {ITERS})")
    _add_size(p)
    add_device(p)
    p.add_argument("--out", default="preimage-accentuate", help="output folder (default preimage-accentuate)")


@command("accentuate", "push one unit in photos while keeping them near themselves (feature accentuation)",
         "preimage accentuate sample:chelsea --model refnet --layer conv5 --channel 139 --out accent",
         _accentuate_options)
def cmd_accentuate(a):
    rep = build_rep(a).to(device(a))
    entry = MODELS.get(a.model)
    names = entry.classes if entry and entry.classes else None
    # every bad choice fails before --out is claimed
    check_accent_args(rep, a.channel, a.klass, a.param, names)
    if a.keep is not None and not (a.keep >= 0 and a.keep < float("inf")):
        raise ConfigError(f"--keep must be a finite number >= 0, got {a.keep}")
    check_keep_layer(rep, a.keep_layer)
    with output(a, "accentuate") as out:
        r = accentuations(rep, a.images, channel=a.channel, klass=a.klass, mode=a.mode, param=a.param, iters=a.iters,
                          keep=a.keep, model=a.model, layer=a.layer, class_names=names, keep_layer=a.keep_layer)
        finish(out, r, f"wrote {len(a.images)} accentuated images, their gradient maps, side_by_side.png and "
                       f"results.json to {a.out} ({r.result.seconds:.1f}s)")
