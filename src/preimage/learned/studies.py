"""Feature-space studies with a trained inverter (Dosovitskiy & Brox, section 5 of REFERENCE.md).

* :func:`binarise`: keep only which units are active. Each code's active units (> 0) are set to the
  mean of its active values and the others to the mean of its inactive values (0 for a code taken
  after a ReLU), so the code keeps one bit per unit and two numbers.
* :func:`dropout`: zero a random fraction ``p`` of the units and scale the rest by ``1 / (1 - p)``
  (the expectation is kept, as dropout does at training time).
* :func:`perturb`: decode clean, binarised and dropped-out codes; the errors say what survives.
* :func:`interpolate`: decode a straight line between two images' codes.
* :func:`sample_codes` / :func:`sample`: draw every dimension independently from its empirical
  distribution over a set of codes, and decode.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch

from .. import metrics
from .data import in_batches
from .inverter import Inverter


def binarise(f: torch.Tensor) -> torch.Tensor:
    """(N, ...) codes -> the same shape, two values per code: the mean active and mean inactive value."""
    flat = f.flatten(1)
    active = flat > 0
    n_on = active.sum(1, keepdim=True)
    n_off = flat.shape[1] - n_on
    on = torch.where(active, flat, torch.zeros_like(flat)).sum(1, keepdim=True) / n_on.clamp_min(1)
    off = torch.where(active, torch.zeros_like(flat), flat).sum(1, keepdim=True) / n_off.clamp_min(1)
    return torch.where(active, on, off).view_as(f)


def dropout(f: torch.Tensor, p: float = 0.5, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Zero each unit with probability ``p``; scale the survivors by ``1 / (1 - p)``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout fraction must be in [0, 1), got {p}")
    keep = torch.rand(f.shape, generator=generator) >= p
    return f * keep.to(f.dtype) / (1.0 - p)


@torch.no_grad()
def perturb(rep, inverter: Inverter, images: torch.Tensor, p: float = 0.5, seed: int = 0) -> Dict:
    """Decode each image's code as it is, binarised, and with a fraction ``p`` dropped.

    Returns ``{"codes": {mode: codes}, "images": {mode: (N, 3, S, S)}, "image_error": {mode: (N,)},
    "feature_error": {mode: (N,)}}`` for the modes ``clean``, ``binarised``, ``dropout`` and two
    references that carry no information about the image: ``mean code`` (the set's mean code) and
    ``other image`` (the next image's code); ``feature_error`` compares each code with the clean one.
    """
    f = rep(images)
    gen = torch.Generator().manual_seed(int(seed))
    codes = {"clean": f, "binarised": binarise(f), "dropout": dropout(f, p, gen),
             "mean code": f.mean(0, keepdim=True).expand_as(f).contiguous(), "other image": f.roll(1, 0)}
    out = {"codes": codes, "images": {}, "image_error": {}, "feature_error": {}}
    for mode, c in codes.items():
        rec = inverter(c)
        out["images"][mode] = rec
        out["image_error"][mode] = metrics.image_error(rec, images)
        out["feature_error"][mode] = metrics.feature_error(c, f)
    return out


@torch.no_grad()
def interpolate(rep, inverter: Inverter, a: torch.Tensor, b: torch.Tensor, steps: int = 8):
    """Decode ``(1 - t) Phi(a) + t Phi(b)`` for ``steps`` values of t from 0 to 1.

    ``a``, ``b``: (3, S, S) images. Returns (t values (steps,), images (steps, 3, S, S)).
    """
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
    fa, fb = rep(a[None]), rep(b[None])
    t = torch.linspace(0, 1, steps)
    codes = torch.cat([(1 - ti) * fa + ti * fb for ti in t])
    return t, inverter(codes)


def sample_codes(codes: torch.Tensor, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``n`` codes whose every dimension is drawn independently from that dimension's values in
    ``codes`` (M, ...): the product of the empirical marginals."""
    flat = codes.flatten(1)
    idx = torch.randint(flat.shape[0], (n, flat.shape[1]), generator=generator)
    return flat.gather(0, idx).view(n, *codes.shape[1:])


@torch.no_grad()
def sample(rep, inverter: Inverter, images: torch.Tensor, n: int = 8, seed: int = 0, batch: int = 256):
    """Decode ``n`` codes drawn from the marginals of ``images``' codes. Returns (codes, images)."""
    codes = in_batches(rep, images, batch)
    s = sample_codes(codes, n, torch.Generator().manual_seed(int(seed)))
    return s, inverter(s)
