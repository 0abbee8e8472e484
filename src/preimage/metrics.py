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
