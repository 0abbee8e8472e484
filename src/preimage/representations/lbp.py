"""Uniform local binary patterns, histogrammed per cell (the LBP that Dosovitskiy & Brox invert).

The codes are identical to ``skimage.feature.local_binary_pattern(image, P, R, method="uniform")``
on the image's luma (computed here in double precision): neighbors sampled on a circle by bilinear
interpolation with zeros outside the image, a neighbor counts as 1 when it is >= the center, a
pattern with at most two 0/1 transitions (not counting the wrap-around) gets its number of ones,
any other gets P + 1. The representation is the fraction of each of the P + 2 codes in each
``cell`` x ``cell`` cell. Piecewise constant in the pixels, so not differentiable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._grad import LUMA
from .base import Representation


def _luma64(x: torch.Tensor) -> torch.Tensor:
    x = x.double()
    return x[:, 0] * LUMA[0] + x[:, 1] * LUMA[1] + x[:, 2] * LUMA[2]


def _bilinear(img: torch.Tensor, rr: torch.Tensor, cc: torch.Tensor) -> torch.Tensor:
    """img (N, H, W) float64; rr, cc (H, W) float64 sample positions; zeros outside."""
    n, H, W = img.shape

    def px(r, c):
        inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        rc = r.clamp(0, H - 1).long()
        cc_ = c.clamp(0, W - 1).long()
        v = img[:, rc, cc_]
        return torch.where(inside, v, torch.zeros((), dtype=img.dtype))

    minr, minc = torch.floor(rr), torch.floor(cc)
    maxr, maxc = torch.ceil(rr), torch.ceil(cc)
    dr, dc = rr - minr, cc - minc
    top = (1 - dc) * px(minr, minc) + dc * px(minr, maxc)
    bottom = (1 - dc) * px(maxr, minc) + dc * px(maxr, maxc)
    return (1 - dr) * top + dr * bottom


def lbp_codes(x: torch.Tensor, P: int = 8, R: float = 1.0) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, H, W) int64 uniform LBP codes in 0 .. P + 1."""
    g = _luma64(x)
    n, H, W = g.shape
    r0 = torch.arange(H, dtype=torch.float64, device=g.device).view(-1, 1).expand(H, W)
    c0 = torch.arange(W, dtype=torch.float64, device=g.device).view(1, -1).expand(H, W)
    bits = []
    for p in range(P):
        rp = round(-R * math.sin(2 * math.pi * p / P), 5)
        cp = round(R * math.cos(2 * math.pi * p / P), 5)
        v = _bilinear(g, r0 + rp, c0 + cp)
        bits.append((v - g) >= 0)
    s = torch.stack(bits, 1).long()                                   # (N, P, H, W)
    changes = (s[:, :-1] != s[:, 1:]).sum(1)
    ones = s.sum(1)
    return torch.where(changes <= 2, ones, torch.full_like(ones, P + 1))


def lbp(x: torch.Tensor, cell: int = 8, P: int = 8, R: float = 1.0) -> torch.Tensor:
    """(N, 3, H, W) -> (N, P + 2, H // cell, W // cell): fraction of each code per cell."""
    codes = lbp_codes(x, P, R)
    H, W = codes.shape[-2:]
    hc, wc = H // cell, W // cell
    onehot = F.one_hot(codes[:, : hc * cell, : wc * cell], P + 2).permute(0, 3, 1, 2).to(x.dtype)
    return F.avg_pool2d(onehot, cell)


class LBP(Representation):
    """``lbp`` as a representation (not differentiable: use a trained inverter)."""

    name = "lbp"
    differentiable = False
    sees_color = False

    def __init__(self, cell: int = 8, P: int = 8, R: float = 1.0):
        super().__init__()
        self.cell, self.P, self.R = int(cell), int(P), float(R)
        self.min_size = max(self.cell, 2 * int(math.ceil(R)) + 1)

    @property
    def stride(self) -> int:
        return self.cell

    def features(self, x):
        return lbp(x, self.cell, self.P, self.R)

    def spec(self):
        return {"kind": self.name, "cell": self.cell, "P": self.P, "R": self.R}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.spec().items())
