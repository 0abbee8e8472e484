"""Reconstruct with a trained inverter (one pass), or start optimization from it (hybrid).

Both return an :class:`~preimage.optimize.InversionResult`, so that everything downstream (metrics,
figures, the CLI's output) treats the three methods alike.
"""

from __future__ import annotations

import time
from typing import Optional

import torch

from .. import metrics
from ..errors import ConfigError
from ..optimize import invert
from ..optimize.inversion import InversionResult, _check_images
from ..optimize.objectives import Selection
from ..representations.base import Representation
from .data import in_batches
from .inverter import Inverter, find_bundled, load_inverter


def resolve_inverter(rep: Representation, inverter=None, size: Optional[int] = None) -> Inverter:
    """An :class:`Inverter` from an object, a file path, or (None / ``"bundled"``) the bundled one for ``rep``."""
    if isinstance(inverter, Inverter):
        inverter.check(rep, size)
        return inverter
    if inverter is None or inverter == "bundled":
        return find_bundled(rep, size)
    return load_inverter(inverter, rep, size)


@torch.no_grad()
def decode(rep: Representation, inverter: Inverter, images: Optional[torch.Tensor] = None,
           target: Optional[torch.Tensor] = None, batch: int = 256) -> InversionResult:
    """Decode the codes of ``images`` (or the codes ``target``) in one pass of the inverter."""
    originals = None
    dev = inverter.decoder.in_scale.device
    assert isinstance(dev, torch.device)
    if images is not None:
        originals = _check_images(images).to(dev)
        if originals.shape[-1] != inverter.image_size or originals.shape[-2] != inverter.image_size:
            raise ConfigError(f"the inverter makes {inverter.image_size}x{inverter.image_size} images; the inputs are "
                              f"{originals.shape[-2]}x{originals.shape[-1]} (pass --size {inverter.image_size})")
    t0 = time.perf_counter()
    if target is None:
        if originals is None:
            raise ConfigError("decode needs images or a target code")
        target = in_batches(rep, originals, batch)
    rec = in_batches(inverter, target, batch)
    seconds = time.perf_counter() - t0
    phi = in_batches(rep, rec, batch)
    n = rec.shape[0]
    return InversionResult(
        images=rec[:, None], std=torch.zeros_like(rec), feature_error=metrics.feature_error(phi, target).view(n, 1),
        history=torch.zeros(0, n, 1), seconds=seconds, iterations=0, preset="learned",
        objective=f"decoder({inverter.name})", selection=Selection(None, None), originals=originals)


def hybrid(rep: Representation, inverter: Inverter, images: torch.Tensor, preset="hybrid", iters: Optional[int] = None,
           samples: int = 1, seed: int = 0, show: Optional[bool] = None, **kw) -> InversionResult:
    """Optimization started from the inverter's reconstruction (the combination Dosovitskiy & Brox
    propose as future work): the decoder supplies a natural-looking start, the optimizer then
    matches the code. The ``hybrid`` preset is the default one at a gentler learning rate.
    ``seconds`` includes the decoding."""
    t0 = time.perf_counter()
    start = decode(rep, inverter, images).images[:, 0]
    res = invert(rep, images, preset=preset, iters=iters, samples=samples, seed=seed, init=start, show=show, **kw)
    res.seconds = time.perf_counter() - t0
    res.objective = f"{res.objective}, started from decoder({inverter.name})"
    return res
