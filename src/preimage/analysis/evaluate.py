"""The CVPR-2015 evaluation protocol for inverting a representation.

Grayscale images (luma replicated on three channels), the first N images of a folder in name
order, resized (shorter side) and centre-cropped to a stated size; every image inverted from its
own code; errors: the set-normalised ``mv_error`` (REFERENCE.md section 4), ``feature_error`` and
``image_error`` (against the grayscale original; the reconstruction is reduced to its luma, which
leaves a luma-based representation's code unchanged).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

from .. import metrics, progress
from ..images import list_images, load_image, to_grayscale
from ..optimize import invert


@dataclass
class Evaluation:
    summary: Dict
    originals: torch.Tensor        # (N, 3, S, S) grayscale
    reconstructions: torch.Tensor  # (N, 3, S, S) grayscale
    mv_errors: torch.Tensor        # (N,)
    files: List[str]


@dataclass
class GrayInversion:
    """Grayscale images, their reconstructions (reduced to luma) and the errors between them."""

    originals: torch.Tensor        # (N, 3, S, S)
    reconstructions: torch.Tensor  # (N, 3, S, S)
    phi0: torch.Tensor
    phi: torch.Tensor
    feature_error: torch.Tensor    # (N,)
    image_error: torch.Tensor      # (N,)
    seconds: float
    iterations: int


def invert_grayscale(rep, x: torch.Tensor, preset="default", iters: Optional[int] = None, seed: int = 0,
                     batch: int = 25, show: Optional[bool] = None) -> GrayInversion:
    """Invert grayscale images ``x`` in batches; the reconstruction is reduced to its luma (which
    leaves a luma-based representation's code unchanged) before the errors are measured."""
    with torch.no_grad():
        phi0 = rep(x)
    t0 = time.perf_counter()
    recs = []
    for i in progress.bar(range(0, len(x), batch), desc=f"inverting {rep.name}", show=show, unit="batch"):
        res = invert(rep, x[i:i + batch], preset=preset, iters=iters, seed=seed + i, show=show)
        recs.append(res.images[:, 0])
    seconds = time.perf_counter() - t0
    rec = to_grayscale(torch.cat(recs))
    with torch.no_grad():
        phi = rep(rec)
    return GrayInversion(x, rec, phi0, phi, metrics.feature_error(phi, phi0), metrics.image_error(rec, x),
                         seconds, res.iterations)


def evaluate(rep, data: str, n: int = 100, size: int = 224, preset: str = "default",
             iters: Optional[int] = None, seed: int = 0, batch: int = 25, show: Optional[bool] = None,
             method: str = "optimisation") -> Evaluation:
    files = list_images(data)[:n]
    x = torch.stack([to_grayscale(load_image(f, size)) for f in files])
    g = invert_grayscale(rep, x, preset, iters, seed, batch, show)
    mv = metrics.mv_error(g.phi, g.phi0)
    summary = {"representation": rep.name, "method": method, "preset": getattr(preset, "name", preset),
               "n": len(files), "size": size, "mv_error_mean": float(mv.mean()), "mv_error_std": float(mv.std()),
               "feature_error_mean": float(g.feature_error.mean()), "image_error_mean": float(g.image_error.mean()),
               "seconds_per_image": g.seconds / len(files), "data": str(data),
               "iters": g.iterations}
    return Evaluation(summary, x, g.reconstructions, mv, [str(f) for f in files])
