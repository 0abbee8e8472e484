"""The layer-sweep report: one row per image, one column per layer, errors against depth."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch

from ..images import encode_png
from ..metrics import image_error
from . import html, plot
from .figures import grid


def layer_note(r, prev, gray: float, pixels: int) -> str:
    """What one column shows, written from that layer's own measurements: the size of its code
    against the image's, how close its reconstructions come (SSIM, image error against a flat gray
    image's), and how much was lost since the previous column."""
    shape = tuple(r.shape)
    size = 1
    for d in shape:
        size *= int(d)
    dims = "x".join(map(str, shape))
    where = f", stride {r.stride}" if len(shape) == 3 else " (a vector)"
    ie, ss = float(r.image_error.mean()), float(r.ssim.mean())
    if ie >= 0.95 * gray:
        how = "its reconstructions are no nearer the photos than flat gray: what it keeps does not show as these pixels"
    elif ss >= 0.9:
        how = f"its reconstructions are nearly the photos (SSIM {ss:.2f})"
    elif ss >= 0.6:
        how = f"its reconstructions keep the photos' layout and colors, not their fine detail (SSIM {ss:.2f})"
    else:
        how = f"its reconstructions keep a rough layout (SSIM {ss:.2f}), far from the photos"
    step = ""
    if prev is not None:
        d = ie - float(prev.image_error.mean())
        step = f"; image error {'+' if d >= 0 else '-'}{abs(d):.3f} against {prev.layer}"
    return (f"{r.kind} output {dims}{where}: {size:,} numbers per image ({size / pixels:.2g}x the {pixels:,} pixel "
            f"values); {how}{step}")


def gray_reference(originals: torch.Tensor) -> float:
    """Mean image error of a flat gray (0.5) image against ``originals``: what a reconstruction from
    no information at all scores (the default preset starts from gray, and its prior alone keeps it
    there)."""


    return float(image_error(torch.full_like(originals, 0.5), originals).mean())


def render(results, originals: torch.Tensor, names: Sequence[str], title: str, meta: str,
           extra_rows=None, extra_series: Optional[Dict[str, list]] = None) -> Dict[str, bytes]:
    """Build ``report.html`` (self-contained), ``layers.png`` and the error plot from a sweep.

    ``extra_series``: more curves for the error plot, name -> one value (or ``None``) per layer.
    """
    layers = [r.layer for r in results]
    rows = [[originals[i]] + [r.images[i] for r in results] for i in range(len(names))]
    grid_png = encode_png(grid(rows, ["original", *layers], names, min_side=96))
    fe = [float(r.feature_error.mean()) for r in results]
    ie = [float(r.image_error.mean()) for r in results]
    gray = gray_reference(originals)
    plot_png = plot.line_plot(layers, {"feature error": fe, "image error": ie, **(extra_series or {})},
                              "mean error", "Reconstruction error by depth",
                              references={"image error of a gray image": gray})
    at_floor = [l for l, e in zip(layers, ie) if e >= 0.95 * gray]
    floor_note = (f" From {at_floor[0]} on, the reconstructions are no nearer the photos than a flat gray "
                  f"image is ({gray:.3f}, the dashed line): past that point image error no longer tells how much of "
                  "the photo a layer keeps, and the feature error says how closely each code is matched." if at_floor else "")
    body = [
        "<p>Each column is the image that the default optimization finds when it is given only the code of that "
        "layer for the photo on the left, and told to match it under a natural-image prior. What survives in a "
        "column is what the layer keeps; what changes is what it throws away.</p>",
        html.figure(grid_png, "Rows: images. Columns: the original, then reconstructions from each layer."),
        html.figure(plot_png, "Mean feature error (how well the code is matched) and image error "
                              "||x - x0|| / ||x0|| (how far the reconstruction is from the photo) per layer." + floor_note,
                    width=640),
        "<h2>What each column shows</h2><ul class=cols>",
    ]
    pixels = int(originals[0].numel())
    for k, (r, f, e) in enumerate(zip(results, fe, ie)):
        note = layer_note(r, results[k - 1] if k else None, gray, pixels)
        body.append(f"<li><b>{html.esc(r.layer)}</b> ({html.esc(r.path)}): {html.esc(note)}. "
                    f"Feature error {f:.3f}, image error {e:.3f}.</li>")
    body.append("</ul><h2>Numbers</h2>")
    body.append(html.table(["layer", "output", "feature error", "image error", "PSNR dB", "SSIM", "seconds"],
                           [[r.layer, "x".join(map(str, r.shape)), float(r.feature_error.mean()),
                             float(r.image_error.mean()), f"{float(r.psnr.mean()):.2f}",
                             f"{float(r.ssim.mean()):.3f}", f"{r.seconds:.1f}"] for r in results], left=2))
    if extra_rows:
        body.append(extra_rows)
    return {"report.html": html.page(title, "\n".join(body), meta).encode(), "layers.png": grid_png,
            "errors.png": plot_png}
