"""Transforms applied to the image before the representation sees it, as a list (lucent-style).

A transform is a callable ``t(x, random) -> x'`` with a ``pad`` attribute: how many pixels of each
side it consumes (a crop of an image enlarged by ``pad`` pixels). ``random=False`` is its
deterministic version, used for the final image. :class:`Jitter` is one; :func:`apply` runs a list.
Feature visualization's transformation robustness (:func:`robustness`: :class:`Pad`,
:class:`RandomShift`, :class:`RandomScale`, :class:`RandomRotate`, :class:`Resize`, and MACO's
:class:`RandomCrops` with noise) draws every random choice per image from its keyed generator.
"""

from __future__ import annotations

import math
from typing import List, Optional, Protocol, Sequence, Tuple

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


# --- transformation robustness (lucid / MACO), drawn per image -----------------------------------
#
# Each random draw comes from the image's own generator (``keys[i]``, from :func:`preimage.keys.keyed`),
# so an image's transforms - and its result - do not depend on the other images of its batch. These
# transforms consume no border in the ``pad`` sense (``pad = 0``): ``Pad`` grows the image, the others
# keep its size, and the chain ends with :class:`Resize` back to the model's input size.


class PerImage:
    """Base of the per-image random transforms: ``keys`` holds one generator per image."""

    pad = 0

    def __init__(self, keys: Sequence[torch.Generator]):
        self.keys = list(keys)

    def _check(self, x: torch.Tensor) -> None:
        if len(self.keys) != x.shape[0]:
            raise ValueError(f"{len(self.keys)} generators for {x.shape[0]} images")


class Pad:
    """Pad every side by ``n`` pixels of a constant gray (lucid's ``pad(12, mode="constant", 0.5)``);
    ``random=False`` leaves the image as it is (the chain's deterministic version is the image itself)."""

    pad = 0

    def __init__(self, n: int, value: float = 0.5):
        self.n, self.value = int(n), float(value)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if self.n <= 0 or not random:
            return x
        return torch.nn.functional.pad(x, (self.n,) * 4, mode="constant", value=self.value)


class RandomShift(PerImage):
    """Roll each image by its own offset in [0, d]^2 (lucid's jitter, size kept by wrapping around)."""

    def __init__(self, d: int, keys: Sequence[torch.Generator]):
        super().__init__(keys)
        self.d = int(d)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if not random or self.d <= 0:
            return x
        self._check(x)
        out = []
        for i, g in enumerate(self.keys):
            dy, dx = torch.randint(0, self.d + 1, (2,), generator=g).tolist()
            out.append(torch.roll(x[i:i + 1], (dy, dx), dims=(-2, -1)))
        return torch.cat(out)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = torch.nn.functional.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomScale(PerImage):
    """Zoom each image about its center by its own factor, uniform in ``[lo, hi]`` (size kept)."""

    def __init__(self, keys: Sequence[torch.Generator], lo: float = 0.9, hi: float = 1.1):
        super().__init__(keys)
        self.lo, self.hi = float(lo), float(hi)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if not random:
            return x
        self._check(x)
        s = torch.cat([self.lo + (self.hi - self.lo) * torch.rand(1, generator=g, dtype=torch.float64) for g in self.keys])
        theta = torch.zeros(len(s), 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / s
        return _affine(x, theta)


class RandomRotate(PerImage):
    """Rotate each image about its center by its own angle, uniform in ``[-degrees, degrees]``."""

    def __init__(self, keys: Sequence[torch.Generator], degrees: float = 10.0):
        super().__init__(keys)
        self.degrees = float(degrees)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if not random:
            return x
        self._check(x)
        a = torch.cat([(2 * torch.rand(1, generator=g, dtype=torch.float64) - 1) * self.degrees for g in self.keys])
        a = a * math.pi / 180
        theta = torch.zeros(len(a), 2, 3, dtype=torch.float64)
        theta[:, 0, 0], theta[:, 0, 1] = a.cos(), -a.sin()
        theta[:, 1, 0], theta[:, 1, 1] = a.sin(), a.cos()
        return _affine(x, theta)


class Resize:
    """Bilinear resize to ``size`` (H, W) (deterministic; a no-op when already there)."""

    pad = 0

    def __init__(self, size: Tuple[int, int]):
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if tuple(x.shape[-2:]) == self.size:
            return x
        return torch.nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)


class RandomCrops(PerImage):
    """MACO's crops with noise: each image a square crop of its own side (a share in ``box`` of the
    image's side) at its own place, resized to ``size``, plus Gaussian noise of sd ``noise`` drawn
    from its generator. ``random=False``: the whole image resized, no noise."""

    def __init__(self, size: Tuple[int, int], keys: Sequence[torch.Generator], box: Tuple[float, float] = (0.8, 1.0),
                 noise: float = 0.02):
        super().__init__(keys)
        self.size, self.box, self.noise = (int(size[0]), int(size[1])), (float(box[0]), float(box[1])), float(noise)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        if not random:
            return Resize(self.size)(x)
        self._check(x)
        h, w = x.shape[-2:]
        out = []
        for i, g in enumerate(self.keys):
            share = self.box[0] + (self.box[1] - self.box[0]) * float(torch.rand((), generator=g, dtype=torch.float64))
            ch, cw = max(1, round(h * share)), max(1, round(w * share))
            top = int(torch.randint(0, h - ch + 1, (), generator=g))
            left = int(torch.randint(0, w - cw + 1, (), generator=g))
            c = torch.nn.functional.interpolate(x[i:i + 1, :, top:top + ch, left:left + cw], size=self.size,
                                                mode="bilinear", align_corners=False)
            if self.noise > 0:
                c = c + self.noise * torch.randn(c.shape, generator=g).to(c.device, c.dtype)
            out.append(c)
        return torch.cat(out)


class Views:
    """Each image ``v`` times (MACO's several views per step): the transforms after it see N * v images
    (each with its own generator) and the energy averages every image's views (``maximize(views=v)``)."""

    pad = 0

    def __init__(self, v: int):
        self.v = int(v)

    def __call__(self, x: torch.Tensor, random: bool = True) -> torch.Tensor:
        return x if self.v == 1 else x.repeat_interleave(self.v, dim=0)


def robustness(size: Tuple[int, int], keys: Sequence[torch.Generator]) -> List:
    """lucid's transformation robustness at ``size`` (calibrated at 32 px, REFERENCE section 8): pad
    (4 px at 32, growing with the size up to lucid's 12), roll, scale 0.9-1.1, rotate +-10 degrees,
    a smaller roll, resize back to ``size``; every draw per image from ``keys``."""
    s = max(size)
    grow = s / 32
    return [Pad(min(12, max(1, round(4 * grow)))), RandomShift(min(8, max(1, round(4 * grow))), keys),
            RandomScale(keys, 0.9, 1.1), RandomRotate(keys, 10.0), RandomShift(min(4, max(1, round(2 * grow))), keys),
            Resize(size)]
