"""HOG as a differentiable network (Mahendran & Vedaldi's construction, IJCV 2016).

``hog``  - UoCTTI HOG without the 4 texture dimensions: 27 numbers per cell (18 contrast-sensitive
           orientations + 9 contrast-insensitive), hard orientation assignment.
``hogb`` - the same with soft (bilinear) orientation assignment, smooth almost everywhere.
``hog-dt`` - a Dalal-Triggs variant laid out like ``skimage.feature.hog`` (see :class:`HOGDalalTriggs`),
           the anchor that ties this code to an independent implementation.

All operate on the luma of the image (the CVPR-2015 protocol is grayscale), are batched, and run
on any device.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from ._grad import binned_cell_pool, central_gradient, hard_direction, luma, magnitude, safe_angle
from .base import Handcrafted

HOG_CLAMP = 0.2
HOG_EPS = 1e-6


def hog(x: torch.Tensor, cell: int = 8, orientations: int = 9, soft: bool = False,
        clamp: float = HOG_CLAMP, eps: float = HOG_EPS) -> torch.Tensor:
    """UoCTTI HOG (27 channels for 9 orientations) of [0, 1] images.

    x: (N, 3, H, W) -> (N, 3 * orientations, H // cell, W // cell).

    Steps: luma; gradient ``[-1 0 1] / 2``; assignment of the magnitude to ``2 * orientations``
    directions (hard: the best projection; soft: bilinear in angle); bilinear pooling into cells
    (window 2 * cell, stride cell); per cell, 2O signed and O unsigned (opposite directions summed)
    histograms; blocks of 2x2 cells normalized by the L2 norm of their unsigned histograms; each
    normalization clamped at ``clamp``; each cell sums its 4 block normalizations weighted 0.5.
    """
    g = luma(x)
    if soft:
        gx, gy = central_gradient(g)
        sq = gx * gx + gy * gy
        signed = binned_cell_pool(magnitude(gx, gy, sq=sq), safe_angle(gx, gy, sq=sq), 2 * orientations, cell, True)
    else:   # the direction is a rounding: fused, without autograd; the differences' halving is in the pooling
        mag2, k = hard_direction(g, 2 * orientations)
        signed = binned_cell_pool(mag2, None, 2 * orientations, cell, False, index=k, scale=0.5)  # (N, 2O, Hc, Wc)
    unsigned = signed[:, :orientations] + signed[:, orientations:]  # (N, O, Hc, Wc)
    energy = unsigned.pow(2).sum(1, keepdim=True)                # (N, 1, Hc, Wc)
    # block (a, b) covers cells (a-1..a, b-1..b) of the replicated-border energy map
    e = F.pad(energy, (1, 1, 1, 1), mode="replicate")
    block = F.avg_pool2d(e, 2, stride=1) * 4                     # (N, 1, Hc+1, Wc+1)
    inv = (block + eps).rsqrt()
    hist = torch.cat([signed, unsigned], 1)                      # (N, 3O, Hc, Wc)
    out = torch.zeros_like(hist)
    for dy in (0, 1):
        for dx in (0, 1):
            n = inv[..., dy:dy + hist.shape[-2], dx:dx + hist.shape[-1]]
            out = out + torch.clamp(hist * n, max=clamp)
    return 0.5 * out


def hog_dalal_triggs(x: torch.Tensor, cell: int = 8, orientations: int = 9, block: int = 2,
                     clamp: float = 0.2, eps: float = 1e-5) -> torch.Tensor:
    """Dalal-Triggs HOG with ``skimage.feature.hog``'s layout (``block_norm='L2-Hys'``).

    x: (N, 3, H, W) -> (N, by, bx, block, block, orientations) with by = H // cell - block + 1.

    Matches skimage on: unsigned orientations in [0, 180) split into ``orientations`` equal bins,
    hard assignment, gradients by ``[-1, 0, 1]`` (skimage leaves the border gradient at zero; so does
    this), cells of ``cell`` x ``cell`` pixels averaged without spatial interpolation, blocks of
    ``block`` x ``block`` cells with stride one cell, L2-Hys normalization (L2, clip at 0.2, L2).
    Differences: the image is the luma of the RGB input (skimage's ``channel_axis`` picks, per pixel,
    the channel with the largest gradient); skimage assigns a pixel whose orientation falls exactly
    on a bin edge by its own half-open rule and this by ``floor``, so the two differ where a
    gradient direction sits on a bin boundary, which real photos rarely do.
    """
    g = luma(x)[:, 0]
    gx = torch.zeros_like(g)
    gy = torch.zeros_like(g)
    gx[:, :, 1:-1] = g[:, :, 2:] - g[:, :, :-2]
    gy[:, 1:-1, :] = g[:, 2:, :] - g[:, :-2, :]
    mag = torch.sqrt(gx * gx + gy * gy)
    ang = torch.rad2deg(torch.atan2(gy, gx)) % 180.0
    b = torch.clamp((ang / (180.0 / orientations)).floor().long(), 0, orientations - 1)
    onehot = F.one_hot(b, orientations).permute(0, 3, 1, 2).to(x.dtype) * mag[:, None]
    n, _, H, W = onehot.shape
    hc, wc = H // cell, W // cell
    cells = F.avg_pool2d(onehot[..., : hc * cell, : wc * cell], cell)     # (N, O, hc, wc)
    blocks = cells.unfold(2, block, 1).unfold(3, block, 1)                # (N, O, by, bx, b, b)
    blocks = blocks.permute(0, 2, 3, 4, 5, 1)                             # (N, by, bx, b, b, O)
    flat = blocks.reshape(n, blocks.shape[1], blocks.shape[2], -1)
    flat = flat / torch.sqrt((flat ** 2).sum(-1, keepdim=True) + eps ** 2)
    flat = flat.clamp(max=clamp)
    flat = flat / torch.sqrt((flat ** 2).sum(-1, keepdim=True) + eps ** 2)
    return flat.view_as(blocks)


class HOG(Handcrafted):
    """``hog`` / ``hogb`` as a representation. Stride = cell; input at least two cells a side."""

    def __init__(self, cell: int = 8, orientations: int = 9, soft: bool = False):
        super().__init__()
        self.cell, self.orientations, self.soft = int(cell), int(orientations), bool(soft)
        self.name = "hogb" if soft else "hog"
        self.min_size = 2 * self.cell

    @property
    def stride(self) -> int:
        return self.cell

    def features(self, x):
        return hog(x, self.cell, self.orientations, self.soft)

    def options(self):
        return {"cell": self.cell, "orientations": self.orientations}


class HOGDalalTriggs(Handcrafted):
    """``hog-dt``: :func:`hog_dalal_triggs` flattened to (N, by * bx * block^2 * O)."""

    name = "hog-dt"

    def __init__(self, cell: int = 8, orientations: int = 9, block: int = 2):
        super().__init__()
        self.cell, self.orientations, self.block = int(cell), int(orientations), int(block)
        self.min_size = self.block * self.cell

    @property
    def stride(self) -> int:
        return self.cell

    def features(self, x):
        return hog_dalal_triggs(x, self.cell, self.orientations, self.block).flatten(1)

    def options(self):
        return {"cell": self.cell, "orientations": self.orientations, "block": self.block}


def glyphs(features: torch.Tensor, cell_px: int = 16, orientations: Optional[int] = None) -> torch.Tensor:
    """The usual HOG picture: per cell, a star of line segments, one per orientation, brightness
    proportional to how far that orientation's weight exceeds the cell's weakest one. Each segment is drawn perpendicular to its gradient
    direction (along the edge it stands for).

    features: (C, Hc, Wc) with C = 3O (UoCTTI: the O unsigned channels are used) or O.
    Returns (3, Hc * cell_px, Wc * cell_px) in [0, 1].
    """
    f = features.detach().float().cpu()
    c = f.shape[0]
    o = orientations or (c // 3 if c % 3 == 0 else c)
    w = f[2 * o: 3 * o] if c == 3 * o else f[:o]
    w = w.clamp_min(0)
    w = w - w.min(dim=0, keepdim=True).values     # per cell, show what stands out
    w = w / w.max().clamp_min(1e-12)
    hc, wc = w.shape[1:]
    # a template per orientation: a line through the center
    s = cell_px
    yy, xx = torch.meshgrid(torch.arange(s) - (s - 1) / 2, torch.arange(s) - (s - 1) / 2, indexing="ij")
    templ = []
    for k in range(o):
        t = math.pi * k / o + math.pi / 2           # edge direction, perpendicular to the gradient
        dist = (xx * math.sin(t) - yy * math.cos(t)).abs()
        along = (xx * math.cos(t) + yy * math.sin(t)).abs()
        templ.append(((dist <= 0.6) & (along <= s / 2 - 1)).float())
    T = torch.stack(templ)                           # (O, s, s)
    img = torch.einsum("khw,kyx->hywx", w, T).reshape(hc * s, wc * s)
    img = img.clamp(0, 1)
    return img.expand(3, -1, -1).contiguous()
