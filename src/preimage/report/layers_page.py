"""The layer-sweep report: one row per image, one column per layer, errors against depth."""

from __future__ import annotations

import re
from typing import Dict, Optional, Sequence

import torch

from ..images import encode_png
from . import html
from .figures import grid

_NOTES = [
    (r"conv1$", "a bank of linear filters on the pixels: colour and fine detail are kept"),
    (r"(conv|relu|pool|norm|bn)2", "after the first pooling: edges and colour survive, exact positions start to blur"),
    (r"(conv|relu|pool|norm|bn)[34]", "after two poolings: shapes and colour regions; fine texture is left undetermined"),
    (r"(conv|relu|bn)5", "the last convolution: parts and layout remain, colour and detail drift"),
    (r"pool5", "the last pooling: a coarse grid of part detectors"),
    (r"fc[67]", "fully connected: no explicit spatial map any more; what remains is what the classifier needs"),
    (r"fc8", "class scores: only as many numbers as classes; the image shows what drives them, not the photo"),
]


def layer_note(layer: str, kind: str, shape: Sequence[int], stride: int) -> str:
    dims = "x".join(map(str, shape))
    base = f"{kind} output {dims}" + (f", stride {stride}" if len(shape) == 3 else " (a vector)")
    for pat, text in _NOTES:
        if re.search(pat, layer):
            return f"{base}: {text}"
    return base


def grey_reference(originals: torch.Tensor) -> float:
    """Mean image error of a flat grey (0.5) image against ``originals``: what a reconstruction from
    no information at all scores (the default preset starts from grey, and its prior alone keeps it
    there)."""
    from ..metrics import image_error

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
    grey = grey_reference(originals)
    plot_png = html.line_plot(layers, {"feature error": fe, "image error": ie, **(extra_series or {})},
                              "mean error", "Reconstruction error by depth",
                              references={"image error of a grey image": grey})
    at_floor = [l for l, e in zip(layers, ie) if e >= 0.95 * grey]
    floor_note = (f" From {at_floor[0]} on, the reconstructions are no nearer the photos than a flat grey "
                  f"image is ({grey:.3f}, the dashed line): past that point image error no longer tells how much of "
                  "the photo a layer keeps, and the feature error says how closely each code is matched." if at_floor else "")
    body = [
        "<p>Each column is the image that the default optimisation finds when it is given only the code of that "
        "layer for the photo on the left, and told to match it under a natural-image prior. What survives in a "
        "column is what the layer keeps; what changes is what it throws away.</p>",
        html.figure(grid_png, "Rows: images. Columns: the original, then reconstructions from each layer."),
        html.figure(plot_png, "Mean feature error (how well the code is matched) and image error "
                              "||x - x0|| / ||x0|| (how far the reconstruction is from the photo) per layer." + floor_note,
                    width=640),
        "<h2>What each column shows</h2><ul class=cols>",
    ]
    for r, f, e in zip(results, fe, ie):
        body.append(f"<li><b>{html.esc(r.layer)}</b> ({html.esc(r.path)}): {html.esc(layer_note(r.layer, r.kind, r.shape, r.stride))}. "
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
