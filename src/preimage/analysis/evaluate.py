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
from ..errors import ConfigError
from ..images import list_images, load_image, to_grayscale
from ..optimize import invert


@dataclass
class Evaluation:
    summary: Dict
    originals: torch.Tensor        # (N, 3, S, S) grayscale
    reconstructions: torch.Tensor  # (N, 3, S, S) grayscale
    mv_errors: torch.Tensor        # (N,)
    files: List[str]
    rep: Optional[object] = None

    def figure(self, show: int = 6) -> bytes:
        """Original, reconstruction (and HOG glyphs for HOG) for the first ``show`` images."""
        from ..images import encode_png
        from ..report import grid
        from ..representations import HOG, glyphs

        hog = isinstance(self.rep, HOG)
        rows = []
        for i in range(min(show, len(self.files))):
            row = [self.originals[i], self.reconstructions[i]]
            if hog:
                with torch.no_grad():
                    row.append(glyphs(self.rep(self.originals[i:i + 1])[0], 8))  # type: ignore[operator]
            rows.append(row)
        cols = ["original", f"from {self.summary['representation']}"] + (["HOG glyphs"] if hog else [])
        return encode_png(grid(rows, cols, min_side=int(self.summary["size"])))

    def save(self, out: str, force: bool = False) -> None:
        import json

        from .. import _io

        with _io.StagedDir(out, command="evaluate", force=force) as d:
            (d / "evaluate.json").write_text(json.dumps(self.summary, indent=2) + "\n")
            (d / "evaluate.png").write_bytes(self.figure())
            (d / "per_image.json").write_text(json.dumps(
                [{"file": f, "mv_error": float(e)} for f, e in zip(self.files, self.mv_errors)], indent=2) + "\n")

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
    if n < 2:
        raise ConfigError(f"--n {n}: mv_error is normalised by the distances between the codes of the N images, "
                          f"so it needs at least 2")
    files = list_images(data)[:n]
    if len(files) < 2:
        raise ConfigError(f"{data} holds {len(files)} image(s); mv_error needs at least 2")
    x = torch.stack([to_grayscale(load_image(f, size)) for f in files])
    g = invert_grayscale(rep, x, preset, iters, seed, batch, show)
    mv = metrics.mv_error(g.phi, g.phi0)
    summary = {"representation": rep.name, "method": method, "preset": getattr(preset, "name", preset),
               "n": len(files), "size": size, "mv_error_mean": float(mv.mean()), "mv_error_std": float(mv.std()),
               "feature_error_mean": float(g.feature_error.mean()), "image_error_mean": float(g.image_error.mean()),
               "seconds_per_image": g.seconds / len(files), "data": str(data),
               "iters": g.iterations}
    return Evaluation(summary, x, g.reconstructions, mv, [str(f) for f in files], rep)
