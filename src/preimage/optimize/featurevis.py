"""Feature visualization as the field does it now (lucid / lucent, Horama / MACO), on the same loop
and objectives as every other optimization here: a preset's :class:`~preimage.optimize.presets.Setup`
re-dressed with another parameterization (``fourier``: a decorrelated 1/f spectrum; ``maco``: the
phase alone, the amplitude of natural images), lucid's transformation robustness drawn per image,
Adam at 0.05 (fourier's falling on a cosine to a tenth), the data term alone (the sigmoid keeps the
image in [0, 1]; no pixel prior), for the preset's iteration count.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch

from ..errors import ConfigError
from .loop import Stage
from .optimizers import Adam
from .param import FourierParam, MacoParam
from .presets import Setup
from .transforms import Jitter, Views, robustness

PARAMS = ("pixel", "fourier", "maco")
#: lucid's Adam step on the spectrum
LR = 0.05
#: Adam's step falls on a cosine from LR to LR * LR_FLOOR over the run (lucid keeps it constant).
#: Chosen on cifar-resnet's and cifar-vgg's ten classes (each judged by the two networks not
#: visualized, 3 seeds), then checked on refnet (4 seeds): the mean probability of the intended
#: class 0.671 -> 0.764 (cifar-resnet's images) and 0.943 -> 0.949 (cifar-vgg's), 0.953 -> 0.956
#: (refnet's); the spectrum slope steeper on all three (-1.04 -> -1.12, -0.90 -> -1.01, -0.99 ->
#: -1.08). Stronger transforms (scale 0.8-1.2, rotate 15 degrees) with a cosine to 2% helped the
#: other two networks more but lost recognition on refnet (0.953 -> 0.922); the cosine to 2% alone
#: gave 0.947 there. cifar-vgg's gain is inside its seed spread (0.91-0.97). maco keeps
#: a constant step: with this floor its plausibility on refnet's classes fell (0.89 -> 0.82 by
#: cifar-resnet's features) and nothing gained.
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


def _draw(keys: Sequence[torch.Generator], fn) -> torch.Tensor:
    return torch.cat([fn(g) for g in keys])


def restyle(setup: Setup, param: str, size: Tuple[int, int], data_term, keys: Sequence[torch.Generator],
            transform_keys: Sequence[torch.Generator], init: Optional[torch.Tensor] = None,
            spectrum: Optional[torch.Tensor] = None, device=None, robust: bool = True, lr: float = LR,
            lr_floor: Optional[float] = None, views: int = 1) -> Setup:
    """``setup`` with the ``param`` parameterization (``pixel``: unchanged), lucid's transforms
    (``robust``; their draws from ``transform_keys``, one generator per image), Adam at ``lr`` and one
    stage of the preset's length, the step falling on a cosine to ``lr * lr_floor`` (default
    :data:`LR_FLOOR`). Starts: from ``keys`` (one per image) or ``init`` (N, 3, H, W) images.
    ``spectrum``: MACO's magnitude (3, H, W // 2 + 1). ``views``: each image seen ``views`` times per
    step (:class:`~preimage.optimize.transforms.Views`; ``transform_keys`` then holds one generator per
    image and view, image-major, and ``data_term`` must average the views)."""
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
            raise ConfigError("--param maco needs the natural images' amplitude spectrum")
        if tuple(spectrum.shape) != (3, h, w // 2 + 1):
            raise ConfigError(f"the amplitude spectrum is {tuple(spectrum.shape)}, not (3, {h}, {w // 2 + 1})")
        if init is not None:
            p = MacoParam(None, spectrum.to(device), init=init.to(device))
        else:
            u = _draw(keys, lambda g: torch.randn((1, 3, h, w // 2 + 1), generator=g))
            p = MacoParam(u.to(device), spectrum.to(device))
    if p.u.shape[0] * views != len(transform_keys):
        raise ConfigError(f"{len(transform_keys)} transform generators for {p.u.shape[0]} images x {views} views")
    total = sum(s.iters for s in setup.stages)
    transforms: List = robustness(size, transform_keys) if robust else []
    if views > 1:
        transforms = [Views(views), *transforms]
    floor = LR_FLOOR[param] if lr_floor is None else lr_floor
    return Setup(p, data_term, Adam(lr), [Stage(total, lr, jitter=robust, decay=floor)], Jitter(1),
                 reset_on_lr_change=False, extra_transforms=transforms)
