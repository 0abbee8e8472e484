"""Jitter: each iteration looks at a random H x W crop of an image enlarged by T - 1 pixels."""

from __future__ import annotations

from typing import Optional

import torch


def jitter_amount(stride: int) -> int:
    """IJCV 2016: ``T = max(round(stride / 4), 1)`` for a layer of the given stride."""
    return max(int(round(stride / 4)), 1)


class Jitter:
    """Crops an (N, C, H + T - 1, W + T - 1) tensor to (N, C, H, W).

    ``__call__(x, random=True)`` takes one random offset in [0, T - 1]^2 for the whole batch (from
    ``generator``); ``random=False`` takes the centre crop.
    """

    def __init__(self, t: int, generator: Optional[torch.Generator] = None):
        self.t = max(int(t), 1)
        self.generator = generator

    @property
    def pad(self) -> int:
        return self.t - 1

    def centre(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        o = p // 2
        return crop(x, o, o, x.shape[-2] - p, x.shape[-1] - p) if p else x

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        p = self.pad
        if p == 0:
            return x
        if not random:
            return self.centre(x)
        dy, dx = torch.randint(0, p + 1, (2,), generator=self.generator).tolist()
        return crop(x, dy, dx, x.shape[-2] - p, x.shape[-1] - p)


class _Crop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, top, left, h, w):
        ctx.meta = (x.shape, top, left, h, w)
        return x[..., top:top + h, left:left + w].contiguous()

    @staticmethod
    def backward(ctx, g):
        shape, top, left, h, w = ctx.meta
        out = torch.zeros(shape, dtype=g.dtype, device=g.device)
        out[..., top:top + h, left:left + w] = g
        return out, None, None, None, None


def crop(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    """``x[..., top:top+h, left:left+w]`` (contiguous), with a single-buffer backward."""
    return _Crop.apply(x, top, left, h, w)
