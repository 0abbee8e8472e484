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
        return x[..., o:x.shape[-2] - (p - o), o:x.shape[-1] - (p - o)]

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        p = self.pad
        if p == 0:
            return x
        if not random:
            return self.centre(x)
        dy, dx = torch.randint(0, p + 1, (2,), generator=self.generator).tolist()
        return x[..., dy:x.shape[-2] - p + dy, dx:x.shape[-1] - p + dx]
