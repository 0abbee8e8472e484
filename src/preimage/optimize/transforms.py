"""Transforms applied to the image before the representation sees it, as a list (lucent-style).

A transform is a callable ``t(x, random) -> x'`` with a ``pad`` attribute: how many pixels of each
side it consumes (a crop of an image enlarged by ``pad`` pixels). ``random=False`` is its
deterministic version, used for the final image. :class:`Jitter` is one; :func:`apply` runs a list.
"""

from __future__ import annotations

from typing import List, Optional, Protocol, Sequence

import torch


class Transform(Protocol):
    pad: int

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor: ...


def apply(transforms: Sequence[Transform], x: torch.Tensor, random: bool = True) -> torch.Tensor:
    for t in transforms:
        x = t(x, random=random)
    return x


def total_pad(transforms: Sequence[Transform]) -> int:
    return sum(int(t.pad) for t in transforms)


def center(x: torch.Tensor, pad: int) -> torch.Tensor:
    """The center (H - pad) x (W - pad) crop: the image the transforms' deterministic versions see."""
    if pad == 0:
        return x
    o = pad // 2
    return crop(x, o, o, x.shape[-2] - pad, x.shape[-1] - pad)


class RandomFlip:
    """Mirror the whole batch left-right with probability ``p`` (consumes no pixels)."""

    pad = 0

    def __init__(self, p: float = 0.5, generator: Optional[torch.Generator] = None):
        self.p, self.generator = float(p), generator

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if random and float(torch.rand((), generator=self.generator)) < self.p:
            return x.flip(-1)
        return x


def as_list(transforms) -> List:
    if transforms is None:
        return []
    return list(transforms) if isinstance(transforms, (list, tuple)) else [transforms]


def jitter_amount(stride: int) -> int:
    """IJCV 2016: ``T = max(round(stride / 4), 1)`` for a layer of the given stride."""
    return max(int(round(stride / 4)), 1)


class Jitter:
    """Crops an (N, C, H + T - 1, W + T - 1) tensor to (N, C, H, W).

    ``__call__(x, random=True)`` takes one random offset in [0, T - 1]^2 for the whole batch (from
    ``generator``); ``random=False`` takes the center crop.
    """

    def __init__(self, t: int, generator: Optional[torch.Generator] = None):
        self.t = max(int(t), 1)
        self.generator = generator

    @property
    def pad(self) -> int:
        return self.t - 1

    def center(self, x: torch.Tensor) -> torch.Tensor:
        return center(x, self.pad)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        p = self.pad
        if p == 0:
            return x
        if not random:
            return self.center(x)
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
