"""Shared pieces of the hand-crafted representations: luma, image gradients, orientation binning,
triangular (bilinear) spatial pooling. Pure batched functions with shape docstrings."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, 1, H, W) gray (ITU-R 601 weights)."""
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def central_gradient(g: torch.Tensor):
    """(N, 1, H, W) -> (gx, gy), each (N, 1, H, W): ``[-1 0 1] / 2`` with replicated borders."""
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")
    gx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) * 0.5
    gy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) * 0.5
    return gx, gy


def magnitude(gx: torch.Tensor, gy: torch.Tensor, eps: float = 1e-12, sq: Optional[torch.Tensor] = None) -> torch.Tensor:
    """sqrt(gx^2 + gy^2 + eps): finite gradient where the image is flat (``sq``: gx^2 + gy^2, if
    the caller has it)."""
    return ((gx * gx + gy * gy if sq is None else sq) + eps).sqrt()


def safe_angle(gx: torch.Tensor, gy: torch.Tensor, eps: float = 1e-10, sq: Optional[torch.Tensor] = None) -> torch.Tensor:
    """atan2(gy, gx) in [0, 2pi); where the gradient vanishes the angle is 0 with zero derivative
    (``sq``: gx^2 + gy^2, if the caller has it)."""
    small = (gx * gx + gy * gy if sq is None else sq) < eps
    if torch.is_grad_enabled() and (gx.requires_grad or gy.requires_grad):
        # atan2's derivative at (0, 0) is 0/0: feed it a safe point there, so that no NaN flows back
        a = torch.atan2(torch.where(small, torch.zeros_like(gy), gy), torch.where(small, torch.ones_like(gx), gx))
    else:   # the same values, one pass fewer
        a = torch.atan2(gy, gx).masked_fill_(small, 0.0)
    return torch.where(a < 0, a + 2 * math.pi, a)    # (-pi, pi] -> [0, 2 pi)


def soft_orientation_bins(theta: torch.Tensor, mag: torch.Tensor, bins: int) -> torch.Tensor:
    """Bilinear assignment in angle over ``bins`` directions ``2 pi k / bins`` on the full circle.

    theta, mag: (N, 1, H, W) -> (N, bins, H, W); bin k gets ``max(0, 1 - bins/(2 pi) * angle to
    direction k) * mag``, i.e. the two nearest directions share the magnitude linearly.
    """
    b = theta * (bins / (2 * math.pi))
    f = torch.floor(b)
    w1 = b - f
    k0 = torch.remainder(f.long(), bins)
    k1 = torch.remainder(k0 + 1, bins)
    n, _, H, W = mag.shape
    out = torch.zeros((n, bins, H, W), dtype=mag.dtype, device=mag.device)
    out = out.scatter_add(1, k0, (1 - w1) * mag)
    return out.scatter_add(1, k1, w1 * mag)


def hard_orientation_bins(gx: torch.Tensor, gy: torch.Tensor, mag: torch.Tensor, bins: int) -> torch.Tensor:
    """All of the magnitude to the best of ``bins`` directions ``2 pi k / bins``: the one with the
    largest projection ``cos t * gx + sin t * gy``, i.e. the nearest in angle.
    (N, 1, H, W) -> (N, bins, H, W)."""
    theta = safe_angle(gx, gy)
    k = torch.remainder(torch.round(theta * (bins / (2 * math.pi))).long(), bins)
    n, _, H, W = mag.shape
    out = torch.zeros((n, bins, H, W), dtype=mag.dtype, device=mag.device)
    return out.scatter(1, k, mag)


_POOL_CACHE: dict = {}


def pool_matrix(n: int, cell: int, dtype, device) -> torch.Tensor:
    """(n // cell, n) matrix of triangular weights: row i is the window of cell i (centered on pixel
    block i, length 2 * cell, zero outside the image)."""
    key = (n, cell, dtype, str(device))
    m = _POOL_CACHE.get(key)
    if m is None:
        pos = torch.arange(n, dtype=torch.float64) + 0.5                  # pixel centers
        centers = (torch.arange(n // cell, dtype=torch.float64) + 0.5) * cell
        m = (1 - (pos.view(1, -1) - centers.view(-1, 1)).abs() / cell).clamp_min(0)
        m = m.to(dtype=dtype, device=device)
        if len(_POOL_CACHE) > 64:
            _POOL_CACHE.clear()
        _POOL_CACHE[key] = m
    return m


def cell_pool(h: torch.Tensor, cell: int) -> torch.Tensor:
    """The reference path (with :func:`hard_orientation_bins` / :func:`soft_orientation_bins`) that
    :func:`binned_cell_pool` fuses; kept for tests and for pooling arbitrary maps.

    Bilinear (triangular) spatial pooling of (N, C, H, W) into cells: window 2*cell, stride cell.

    -> (N, C, H // cell, W // cell); cell (i, j) is centered on pixel block (i, j); pixels outside
    the image count as zero. Two small matrix products (separable).
    """
    H, W = h.shape[-2:]
    my = pool_matrix(H, cell, h.dtype, h.device)
    mx = pool_matrix(W, cell, h.dtype, h.device)
    return torch.matmul(my, torch.matmul(h, mx.t()))


_AXIS_CACHE: dict = {}


def _axis_weights(n: int, cell: int, dtype, device):
    """For each pixel along an axis: the two nearest cell centers (indices into a grid padded by
    one cell on each side) and their bilinear weights."""
    key = (n, cell, dtype, str(device))
    r = _AXIS_CACHE.get(key)
    if r is None:
        pos = (torch.arange(n, dtype=torch.float64) + 0.5) / cell - 0.5   # in cell units
        i0 = torch.floor(pos)
        w1 = pos - i0
        i0 = i0.long() + 1                                                 # padded index
        r = (i0.to(device), (i0 + 1).to(device), (1 - w1).to(dtype=dtype, device=device),
             w1.to(dtype=dtype, device=device))
        if len(_AXIS_CACHE) > 64:
            _AXIS_CACHE.clear()
        _AXIS_CACHE[key] = r
    return r


def hard_direction(g: torch.Tensor, bins: int, eps: float = 1e-12, small: float = 1e-10):
    """The gradient of a luma image ``g`` (N, 1, H, W) for hard orientation binning, fused:
    ``(mag2, k)`` with ``mag2 = 2 * magnitude(gx, gy)`` (the central differences before their
    halving; the caller scales by 0.5 where it is free) and ``k`` (long, N, 1, H, W) the nearest of
    ``bins`` directions as :func:`hard_orientation_bins` picks it, in 0 ... ``bins`` (``bins`` is
    direction 0 again, as in :func:`binned_cell_pool`'s spare slot). Where two directions are exactly
    equally near (a tie: 45 degrees with 12 or 36 bins) the rounding may pick the other of the two;
    with 18 bins, hog's, the ties (90 and 270 degrees) go the same way in both (tested). ``k``
    carries no gradient (it is a rounding); ``mag2`` does.

    The differences are taken negated (left minus right): the angle of the gradient is then
    ``atan2(-gy, -gx) + pi`` in (0, 2 pi] with one ``atan2`` and no wrap-around.
    """
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")
    ndx = p[..., 1:-1, :-2] - p[..., 1:-1, 2:]          # -2 gx
    ndy = p[..., :-2, 1:-1] - p[..., 2:, 1:-1]          # -2 gy
    sq = ndx * ndx + ndy * ndy                          # 4 (gx^2 + gy^2)
    mag2 = (sq + 4 * eps).sqrt()
    with torch.no_grad():
        k = torch.atan2(ndy, ndx).mul_(bins / (2 * math.pi)).add_(bins / 2).round_()
        k = k.masked_fill_(sq < 4 * small, 0.0).long()  # a vanishing gradient: direction 0, as safe_angle
    return mag2, k


def binned_cell_pool(mag: torch.Tensor, theta: Optional[torch.Tensor], bins: int, cell: int, soft: bool,
                     index: Optional[torch.Tensor] = None, scale: float = 1.0) -> torch.Tensor:
    """Orientation binning and bilinear cell pooling in one pass, without materializing the
    (N, bins, H, W) histogram image: each pixel's magnitude is scattered straight into its 2
    nearest cell columns (rows kept) and its 1 (hard) or 2 (soft) nearest directions, then a matrix
    product pools the rows into their 2 nearest cell rows (separable bilinear pooling).

    Equal to ``cell_pool(hard/soft_orientation_bins(...), cell)``. mag, theta: (N, 1, H, W) ->
    (N, bins, H // cell, W // cell). Hard binning may instead take ``index`` (the direction per
    pixel, 0 ... bins, from :func:`hard_direction`; ``theta`` unused); ``scale`` multiplies ``mag``.
    """
    n, _, H, W = mag.shape
    hc, wc = H // cell, W // cell
    hp, wp = -(-H // cell) + 2, -(-W // cell) + 2
    y0, y1, wy0, wy1 = _axis_weights(H, cell, mag.dtype, mag.device)
    x0, _, wx0, wx1 = _axis_weights(W, cell, mag.dtype, mag.device)    # the second column is x0 + 1
    if scale != 1.0:
        wx0, wx1 = wx0 * scale, wx1 * scale                                 # W numbers, not H * W
    if soft:
        assert theta is not None
        b = theta * (bins / (2 * math.pi))
        f = torch.floor(b)
        wo1 = b - f
        k0 = torch.remainder(f.long(), bins)
        orient = [(k0, (1 - wo1) * mag), (torch.remainder(k0 + 1, bins), wo1 * mag)]
    else:
        # theta in [0, 2 pi) rounds to 0 ... bins; slot ``bins`` is direction 0 again, folded in below
        if index is None:
            assert theta is not None
            index = torch.round(theta * (bins / (2 * math.pi))).long()
        orient = [(index, mag)]
    # along x: scatter into the 2 nearest cell columns (rows kept), then along y: a matrix product
    # with each row's 2 cell weights (separable: 2 scatters instead of 4)
    slots = bins + 1
    sp = torch.arange(H, device=mag.device).view(-1, 1) * wp + x0.view(1, -1)  # (H, W): row, first column
    inplace = not (torch.is_grad_enabled() and mag.requires_grad)
    ox = torch.zeros((n, slots * H * wp), dtype=mag.dtype, device=mag.device)
    for k, v in orient:
        idx = torch.add(sp, k[:, 0], alpha=H * wp).reshape(n, -1)           # orientation's plane + place
        for step, wx in ((0, wx0), (1, wx1)):                              # x1 = x0 + 1: the next column
            if step:
                idx = idx + 1
            val = (v[:, 0] * wx.view(1, -1)).reshape(n, -1)
            ox = ox.scatter_add_(1, idx, val) if inplace else ox.scatter_add(1, idx, val)
    my = torch.zeros((hp, H), dtype=mag.dtype, device=mag.device)
    hs = torch.arange(H, device=mag.device)
    my.index_put_((y0, hs), wy0, accumulate=True)
    my.index_put_((y1, hs), wy1, accumulate=True)
    out = torch.matmul(my, ox.view(n, slots, H, wp))                       # (N, slots, hp, wp)
    out = out.view(n, bins + 1, hp, wp)
    if not soft:
        out = torch.cat([out[:, :1] + out[:, bins:], out[:, 1:bins]], 1)
    else:
        out = out[:, :bins]
    return out[:, :, 1:1 + hc, 1:1 + wc]
