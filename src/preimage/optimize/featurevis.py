"""Feature visualization as the field does it now (lucid / lucent, Horama / MACO), on the same loop
and objectives as every other optimization here: a preset's :class:`~preimage.optimize.presets.Setup`
re-dressed with another parameterization (``fourier``: a decorrelated 1/f spectrum; ``maco``: the
phase alone, the amplitude of natural images), each with its family's transforms drawn per image
(fourier: lucid's transformation robustness; maco: MACO's crops with noise), Adam (fourier at 0.05
falling on a cosine to a tenth; maco at 0.1), the data term alone (the sigmoid keeps the image in
[0, 1]; no pixel prior), for the preset's iteration count.
"""

from __future__ import annotations

import functools
from typing import List, Optional, Sequence, Tuple, Union

import torch

from ..errors import ConfigError
from ..images import PHOTOS, load_image
from .loop import Stage
from .optimizers import Adam
from .param import FourierParam, MacoParam, mean_amplitude_spectrum
from .presets import Setup
from .transforms import Jitter, RandomCrops, Views, robustness

PARAMS = ("pixel", "fourier", "maco")
#: lucid's Adam step on the spectrum
LR = 0.05
#: Adam's first step per parameterization (maco's on the phase: 0.1 against 0.05, chosen with
#: :data:`CROPS` below on cifar-resnet's and cifar-vgg's classes, 2 seeds each, judged by the two
#: networks not visualized: mean p 0.943 -> 0.956; 0.2: 0.957, within the seeds' noise, so the
#: smaller change; refnet's, 4 seeds: 0.945 -> 0.958)
STEP = {"fourier": LR, "maco": 0.1}
#: MACO's crops with noise (after Horama's ``optimization_step``: a square crop of 80-100% of the
#: side at a uniformly drawn place, resized back, Gaussian noise of sd 0.05; Horama draws the
#: center around the middle and adds uniform noise too): maco's transforms, instead of lucid's
#: robustness (pad, roll, scale, rotate, roll), which fourier keeps. Chosen on cifar-resnet's and
#: cifar-vgg's ten classes (2 seeds, each judged by the two networks not visualized), mean p: maco
#: 0.738 -> 0.919 (cifar-resnet's), 0.961 -> 0.967 (cifar-vgg's); then checked on refnet's: 0.851
#: -> 0.968 (seed 0), 0.945 (4 seeds), the slope kept (-1.33 -> -1.34). Box 0.6-1.0: 0.939 (mean
#: of the two networks), 0.9-1.0: 0.953; noise 0.02: 0.925, 0.1: 0.944; lucid's robustness and
#: then the crops: 0.929 on refnet. fourier with the crops (and its cosine) gained on the two
#: (seeds 0 and 1: 0.783 -> 0.915, 0.947 -> 0.972) and on refnet's classes (0.950 -> 0.953), but in
#: the table's run (refnet, seed 0; row fourier-crops in BENCHMARKS.md, "Feature visualization")
#: its p by cifar-resnet fell 0.946 -> 0.903 and its plausibility 0.98 -> 0.93: fourier keeps
#: lucid's, as lucid has it.
#: ``bench_featurevis_variants.py`` (every line in benchmarks/results/featurevis_variants.jsonl).
CROPS = ((0.8, 1.0), 0.05)
#: Adam's step falls on a cosine from LR to LR * LR_FLOOR over the run (lucid keeps it constant).
#: Chosen on cifar-resnet's and cifar-vgg's ten classes (each judged by the two networks not
#: visualized, 3 seeds), then checked on refnet (4 seeds): the mean probability of the intended
#: class 0.671 -> 0.764 (cifar-resnet's images) and 0.943 -> 0.949 (cifar-vgg's), 0.953 -> 0.956
#: (refnet's); the spectrum slope steeper on all three (-1.04 -> -1.12, -0.90 -> -1.01, -0.99 ->
#: -1.08). Stronger transforms (scale 0.8-1.2, rotate 15 degrees) with a cosine to 2% helped the
#: other two networks more but lost recognition on refnet (0.953 -> 0.922); the cosine to 2% alone
#: gave 0.947 there. cifar-vgg's gain is inside its seed spread (0.91-0.97). maco keeps
#: a constant step: with this floor its plausibility on refnet's classes fell (0.89 -> 0.82 by
#: cifar-resnet's features) and nothing gained (with :data:`CROPS` too: 0.946 against 0.943 on
#: cifar-resnet's and cifar-vgg's classes).
LR_FLOOR = {"fourier": 0.1, "maco": 1.0}
#: the 1/f exponent of the Fourier scaling (REFERENCE section 8: 1.5 gave the more recognizable classes at 32 px)
DECAY = 1.5
#: caricatures (a start at the photo, an objective aligned with the photo's own code) run without the
#: transformation robustness, which misaligns the code (maco: gain 0.7-1.2 with it). Measured on refnet
#: conv5, three photos, 300 iterations: gain 3.2-3.6 at 0.05 for fourier (0.02: 3.0-3.4; 0.15:
#: 3.2-3.8), 1.9-2.1 for maco (0.005: 1.5-1.6); the pixel default reaches 2.7-3.0.
CARICATURE_LR = {"fourier": LR, "maco": LR}


def check_param(param: str) -> str:
    if param not in PARAMS:
        raise ConfigError(f"unknown --param {param!r}; valid: {', '.join(PARAMS)}")
    return param


def transforms_for(param: str, size: Tuple[int, int], keys: Sequence[torch.Generator]) -> List:
    """The transformation robustness of ``param`` at ``size``, drawn from ``keys`` (one per image):
    lucid's (:func:`~preimage.optimize.transforms.robustness`) for fourier, MACO's crops with noise
    (:data:`CROPS`) for maco."""
    if param == "maco":
        return [RandomCrops(size, keys, *CROPS)]
    return robustness(size, keys)


def photo_spectrum(size: int) -> torch.Tensor:
    """MACO's default magnitude at ``size`` px: the mean amplitude spectrum
    (:func:`~preimage.optimize.param.mean_amplitude_spectrum`) of the color photos scikit-image
    ships, never downloaded (computed once per size, a copy returned)."""
    return _photo_spectrum(int(size)).clone()


@functools.lru_cache(maxsize=8)
def _photo_spectrum(size: int) -> torch.Tensor:
    return mean_amplitude_spectrum(torch.stack([load_image(f"sample:{n}", size) for n in PHOTOS]))


def recipe_key() -> str:
    """The constants of the recipe, as a string: what a stored visualization (the atlas's) must
    match besides its parameterization to be reused."""
    return f"step {STEP} floor {LR_FLOOR} crops {CROPS} decay {DECAY}"


def _draw(keys: Sequence[torch.Generator], fn) -> torch.Tensor:
    return torch.cat([fn(g) for g in keys])


def restyle(setup: Setup, param: str, size: Tuple[int, int], data_term, keys: Sequence[torch.Generator],
            transform_keys: Sequence[torch.Generator], init: Optional[torch.Tensor] = None,
            spectrum: Optional[torch.Tensor] = None, device=None, robust: bool = True, lr: Optional[float] = None,
            lr_floor: Optional[float] = None, views: int = 1) -> Setup:
    """``setup`` with the ``param`` parameterization (``pixel``: unchanged), its transforms
    (``robust``, :func:`transforms_for`; their draws from ``transform_keys``, one generator per
    image), Adam at ``lr`` (default :data:`STEP`) and one stage of the preset's length, the step
    falling on a cosine to ``lr * lr_floor`` (default :data:`LR_FLOOR`). Starts: from ``keys`` (one
    per image) or ``init`` (N, 3, H, W) images. ``spectrum``: MACO's magnitude (3, H, W // 2 + 1);
    None: :func:`photo_spectrum` (square sizes).
    ``views``: each image seen ``views`` times per step (:class:`~preimage.optimize.transforms.Views`;
    ``transform_keys`` then holds one generator per image and view, image-major, and ``data_term``
    must average the views)."""
    check_param(param)
    if param == "pixel":
        return setup
    h, w = size
    p: Union[FourierParam, MacoParam]
    if param == "fourier":
        if init is not None:
            p = FourierParam(None, size, DECAY, init=init.to(device))
        else:
            u = _draw(keys, lambda g: 0.01 * torch.randn((1, 3, h, w // 2 + 1, 2), generator=g))
            p = FourierParam(u.to(device), size, DECAY)
    else:
        if spectrum is None:
            if h != w:
                raise ConfigError(f"--param maco at {h}x{w} needs the natural images' amplitude spectrum (the "
                                  "default, the bundled photos', is square)")
            spectrum = photo_spectrum(h)
        if tuple(spectrum.shape) != (3, h, w // 2 + 1):
            raise ConfigError(f"the amplitude spectrum is {tuple(spectrum.shape)}, not (3, {h}, {w // 2 + 1})")
        if init is not None:
            p = MacoParam(None, spectrum.to(device), init=init.to(device), size=size)
        else:
            u = _draw(keys, lambda g: torch.randn((1, 3, h, w // 2 + 1), generator=g))
            p = MacoParam(u.to(device), spectrum.to(device), size=size)
    if p.u.shape[0] * views != len(transform_keys):
        raise ConfigError(f"{len(transform_keys)} transform generators for {p.u.shape[0]} images x {views} views")
    total = sum(s.iters for s in setup.stages)
    transforms: List = transforms_for(param, size, transform_keys) if robust else []
    if views > 1:
        transforms = [Views(views), *transforms]
    floor = LR_FLOOR[param] if lr_floor is None else lr_floor
    lr = STEP[param] if lr is None else lr
    return Setup(p, data_term, Adam(lr), [Stage(total, lr, jitter=robust, decay=floor)], Jitter(1),
                 reset_on_lr_change=False, extra_transforms=transforms)
