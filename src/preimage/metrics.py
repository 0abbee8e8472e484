"""Errors in feature space and image space.

All functions take batches and return one value per image (a tensor of shape (N,)), except
:func:`mv_error`, which normalizes by a whole set.
"""

from __future__ import annotations

import numpy as np
import torch


def _sq(t: torch.Tensor) -> torch.Tensor:
    return t.detach().double().flatten(1).pow(2).sum(1)


def feature_error(phi: torch.Tensor, phi0: torch.Tensor) -> torch.Tensor:
    """``sqrt(||Phi(x) - Phi0||^2 / ||Phi0||^2)`` per image (IJCV 2016)."""
    return (_sq(phi - phi0) / _sq(phi0).clamp_min(1e-30)).sqrt().float()


def mv_error(phi: torch.Tensor, phi0: torch.Tensor) -> torch.Tensor:
    """The CVPR-2015 set-normalized error, per image:
    ``||Phi(x_i) - Phi0_i||^2 / mean_{j != k} ||Phi0_j - Phi0_k||^2``
    (normalized by the mean squared distance between the targets of the set; needs N >= 2).
    """
    if phi0.shape[0] < 2:
        raise ValueError("mv_error needs a set of at least two targets")
    f0 = phi0.detach().double().flatten(1)
    d = torch.cdist(f0, f0).pow(2)
    n = f0.shape[0]
    mean_sq = d.sum() / (n * (n - 1))
    return (_sq(phi - phi0) / mean_sq).float()


def image_error(x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """``||x - x0|| / ||x0||`` per image."""
    return (_sq(x - x0) / _sq(x0).clamp_min(1e-30)).sqrt().float()


def psnr(x: torch.Tensor, x0: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image."""
    mse = (x.detach().double() - x0.detach().double()).flatten(1).pow(2).mean(1)
    return (10 * torch.log10(data_range ** 2 / mse.clamp_min(1e-20))).float()


def ssim(x: torch.Tensor, x0: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (scikit-image's implementation, over color channels).

    Images smaller than 7 pixels use the largest odd window that fits.
    """
    from skimage.metrics import structural_similarity

    a = x.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
    b = x0.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
    win = min(7, min(a.shape[1:3]) - (1 - min(a.shape[1:3]) % 2))
    out = [structural_similarity(p, q, data_range=data_range, channel_axis=2, win_size=max(win, 3))
           for p, q in zip(a, b)]
    return torch.tensor(np.array(out, dtype=np.float32))


#: the band of :func:`spectrum_slope`, in cycles per image at 32 px (scaled with the image's size)
SLOPE_BAND_32 = (2.0, 14.0)


def radial_amplitude(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The radially averaged amplitude spectrum of each (N, 3, H, W) image's grey (the mean of its
    channels, its mean removed): (radii in cycles per image along the shorter side, (N, R) amplitudes),
    one ring per integer radius."""
    g = x.detach().double().cpu()
    g = g.mean(1) if g.dim() == 4 else g
    g = g - g.mean(dim=(-2, -1), keepdim=True)
    h, w = g.shape[-2:]
    a = torch.fft.fft2(g).abs()
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1) * h
    fx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1) * w
    r = (fy * fy * (min(h, w) / h) ** 2 + fx * fx * (min(h, w) / w) ** 2).sqrt().round().long().flatten()
    n = int(r.max()) + 1
    count = torch.bincount(r, minlength=n).double()
    sums = torch.zeros(a.shape[0], n, dtype=torch.float64).index_add_(1, r, a.flatten(1))
    return torch.arange(n, dtype=torch.float64), sums / count.clamp_min(1)


def spectrum_slope(x: torch.Tensor) -> torch.Tensor:
    """Per image, the log-log slope of its radially averaged amplitude spectrum (grey) over 2 to 14
    cycles per image at 32 px - the same band in cycles per pixel at other sizes (4 to 28 at 64 px).
    Natural photos fall near -1.3 to -1.4 at 32 px; white noise is flat (0); 1/f^a noise gives -a. (N,)"""
    radii, amp = radial_amplitude(x)
    s = min(x.shape[-2:]) / 32
    lo, hi = SLOPE_BAND_32[0] * s, SLOPE_BAND_32[1] * s
    keep = (radii >= lo - 1e-9) & (radii <= hi + 1e-9)
    lx = radii[keep].log()
    ly = amp[:, keep].clamp_min(1e-30).log()
    lx0 = lx - lx.mean()
    slope = ((ly - ly.mean(1, keepdim=True)) * lx0).sum(1) / lx0.pow(2).sum()
    return slope.float()
