"""Dense SIFT as a differentiable network (the authors' construction, Mahendran & Vedaldi, IJCV 2016).

8 orientations with soft (bilinear) assignment, 4x4 spatial bins pooled bilinearly, a Gaussian
window over the bins (sigma = 1.5 bins), 128 numbers per descriptor, L2-normalized and clamped at
0.2 (no renormalization after the clamp). Bin size 8 px (IJCV 2016) by default, 5 px for CVPR 2015;
descriptors every ``step`` pixels (default: one bin).
"""

from __future__ import annotations

import torch

from ._grad import binned_cell_pool, central_gradient, luma, magnitude, safe_angle
from .base import Handcrafted


def dsift(x: torch.Tensor, bin_size: int = 8, orientations: int = 8, spatial: int = 4,
          sigma: float = 1.5, clamp: float = 0.2, eps: float = 1e-6) -> torch.Tensor:
    """x: (N, 3, H, W) in [0, 1] -> (N, spatial^2 * orientations, Hb - spatial + 1, Wb - spatial + 1)
    with Hb = H // bin_size; channel order (bin row, bin column, orientation)."""
    g = luma(x)
    gx, gy = central_gradient(g)
    sq = gx * gx + gy * gy
    b = binned_cell_pool(magnitude(gx, gy, sq=sq), safe_angle(gx, gy, sq=sq), orientations, bin_size, soft=True)  # (N, O, Hb, Wb)
    n, o = b.shape[:2]
    d = b.unfold(2, spatial, 1).unfold(3, spatial, 1)                 # (N, O, Hd, Wd, s, s)
    c = torch.arange(spatial, dtype=x.dtype, device=x.device) - (spatial - 1) / 2
    w = torch.exp(-(c.view(-1, 1) ** 2 + c.view(1, -1) ** 2) / (2 * sigma ** 2))
    d = d * w
    d = d.permute(0, 4, 5, 1, 2, 3).reshape(n, spatial * spatial * o, d.shape[2], d.shape[3])
    d = d / (d.pow(2).sum(1, keepdim=True) + eps).sqrt()
    return torch.clamp(d, max=clamp)


class DSIFT(Handcrafted):
    """``dsift`` as a representation. Stride = bin size; input at least ``spatial`` bins a side."""

    name = "dsift"

    def __init__(self, bin_size: int = 8, orientations: int = 8, spatial: int = 4, sigma: float = 1.5):
        super().__init__()
        self.bin_size, self.orientations, self.spatial, self.sigma = int(bin_size), int(orientations), int(spatial), float(sigma)
        self.min_size = self.spatial * self.bin_size

    @property
    def stride(self) -> int:
        return self.bin_size

    def features(self, x):
        return dsift(x, self.bin_size, self.orientations, self.spatial, self.sigma)

    def options(self):
        return {"bin_size": self.bin_size, "orientations": self.orientations, "spatial": self.spatial,
                "sigma": self.sigma}
