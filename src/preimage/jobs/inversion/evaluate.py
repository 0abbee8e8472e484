"""The CVPR-2015 evaluation protocol for inverting a representation.

Grayscale images (luma replicated on three channels), N images evenly spaced over a folder in name
order, resized (shorter side) and center-cropped to a stated size; every image inverted from its
own code; errors: the set-normalized ``mv_error`` (Mahendran & Vedaldi, CVPR 2015), ``feature_error`` and
``image_error`` (against the grayscale original; the reconstruction is reduced to its luma, which
leaves a luma-based representation's code unchanged).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

from ... import metrics, progress
from ...data import Stream, list_items
from ...errors import ConfigError
from ...images import to_grayscale
from ...optimize import invert
from ...representations.base import Representation
from ...results import Shown


@dataclass(repr=False)
class Evaluation(Shown):
    """The CVPR-2015 protocol's outcome (a :class:`~preimage.results.Result` recorded as
    ``evaluate.json`` with ``per_image.json``; the report draws ``evaluate.png``)."""

    command = "evaluate"
    record_name = "evaluate.json"

    summary: Dict
    originals: torch.Tensor        # (N, 3, S, S) grayscale
    reconstructions: torch.Tensor  # (N, 3, S, S) grayscale
    mv_errors: torch.Tensor        # (N,)
    sources: List[str]
    rep: Optional[Representation] = None

    def to_json(self) -> Dict:
        return self.summary

    def files(self) -> Dict[str, bytes]:
        per_image = [{"file": f, "mv_error": float(e)} for f, e in zip(self.sources, self.mv_errors)]
        return {"per_image.json": (json.dumps(per_image, indent=2) + "\n").encode()}

    def lines(self) -> List[str]:
        return self.table().splitlines()

    def table(self) -> str:
        s = self.summary
        return ("| representation | method | preset | n | size | mv_error % | feature_error | image_error | s/image |\n"
                "|---|---|---|---|---|---|---|---|---|\n"
                f"| {s['representation']} | {s['method']} | {s['preset']} | {s['n']} | {s['size']} | "
                f"{100 * s['mv_error_mean']:.2f} +- {100 * s['mv_error_std']:.2f} | {s['feature_error_mean']:.4f} | "
                f"{s['image_error_mean']:.4f} | {s['seconds_per_image']:.2f} |")


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


def invert_grayscale(rep: Representation, x: torch.Tensor, preset="default", iters: Optional[int] = None, seed: int = 0,
                     batch: int = 25, show: Optional[bool] = None) -> GrayInversion:
    """Invert grayscale images ``x`` in batches; the reconstruction is reduced to its luma (which
    leaves a luma-based representation's code unchanged) before the errors are measured."""
    with torch.no_grad():
        phi0 = rep(x)
    t0 = time.perf_counter()
    recs = []
    for i in progress.bar(range(0, len(x), batch), desc=f"inverting {rep.name}", show=show, unit="batch"):
        # the CVPR-2015 protocol: every image runs the same iterations
        res = invert(rep, x[i:i + batch], preset=preset, iters=iters, seed=seed + i, show=show, converge=False)
        recs.append(res.images[:, 0])
    seconds = time.perf_counter() - t0
    rec = to_grayscale(torch.cat(recs))
    with torch.no_grad():
        phi = rep(rec)
    return GrayInversion(x, rec, phi0, phi, metrics.feature_error(phi, phi0), metrics.image_error(rec, x),
                         seconds, res.iterations)


def evaluate(rep: Representation, data: str, n: int = 100, size: int = 224, preset: str = "default",
             iters: Optional[int] = None, seed: int = 0, batch: int = 25, show: Optional[bool] = None,
             method: str = "optimization", workers: int = 0, keep: int = 6) -> Evaluation:
    """The protocol over ``n`` images evenly spaced over ``data`` (a folder or tar shards), streamed: each
    batch is decoded, inverted and reduced as it comes (the set normalization of ``mv_error`` from
    running sums of the codes), so memory does not grow with ``n``; the first ``keep`` images and
    reconstructions are kept for the figure."""

    if n < 2:
        raise ConfigError(f"--n {n}: mv_error is normalized by the distances between the codes of the N images, "
                          f"so it needs at least 2")
    items = list_items(data)
    items = items.evenly_spaced(n)
    if len(items) < 2:
        raise ConfigError(f"{data} holds {len(items)} image(s); mv_error needs at least 2")
    N = len(items)
    code_sum: Optional[torch.Tensor] = None
    code_sq = torch.zeros((), dtype=torch.float64)
    diff_sq, feat_err, img_err = torch.zeros(N, dtype=torch.float64), torch.zeros(N), torch.zeros(N)
    originals, recs = [], []
    seconds, iterations = 0.0, 0
    bar = progress.bar(total=N, desc=f"inverting {rep.name}", show=show, unit="img")
    for idx, x in Stream(items, size, batch, workers, show=False):
        g = invert_grayscale(rep, torch.stack([to_grayscale(v) for v in x]), preset, iters, seed, len(x), show=False)
        f0 = g.phi0.detach().double().flatten(1)
        code_sum = f0.sum(0) if code_sum is None else code_sum + f0.sum(0)
        code_sq += f0.pow(2).sum()
        diff_sq[idx] = (g.phi.detach().double().flatten(1) - f0).pow(2).sum(1)
        feat_err[idx], img_err[idx] = g.feature_error, g.image_error
        for j, i in enumerate(idx.tolist()):
            if i < keep:
                originals.append(g.originals[j])
                recs.append(g.reconstructions[j])
        seconds += g.seconds
        iterations = g.iterations
        bar.update(len(idx))
    bar.close()
    assert code_sum is not None
    mean_sq = (2 * N * code_sq - 2 * code_sum.pow(2).sum()) / (N * (N - 1))  # mean ||Phi0_j - Phi0_k||^2, j != k
    mv = (diff_sq / mean_sq).float()
    summary = {"representation": rep.name, "method": method, "preset": getattr(preset, "name", preset),
               "n": N, "size": size, "mv_error_mean": float(mv.mean()), "mv_error_std": float(mv.std()),
               "feature_error_mean": float(feat_err.mean()), "image_error_mean": float(img_err.mean()),
               "seconds_per_image": seconds / N, "data": str(data), "iters": iterations}
    return Evaluation(summary, torch.stack(originals), torch.stack(recs), mv, list(items.names), rep)
