"""Image parameterizations: the variable the optimizer changes, and how it maps to a [0, 1] image.

:class:`PixelParam` holds ``u`` of shape (N, 3, H + T - 1, W + T - 1) (T - 1 extra pixels for
jitter) in its own units: ``image = offset + u / scale``. The paper presets use ``scale = 255``
and ``offset = the model's mean color`` (0-255 pixels with the mean subtracted); the default
preset works directly in [0, 1] (``scale = 1``, ``offset = 0``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class PixelParam(nn.Module):
    """Pixels as parameters, with an optional constraint applied after every step.

    Args:
        u: initial values, (N, 3, H', W'), in parameter units.
        scale, offset: ``image = offset + u / scale``; ``offset`` is a color (3 values) or a scalar.
        constraint: ``None``; ``"box"`` (the image stays in [0, 1]); or ``("ball", r)`` (each pixel's
            color vector has norm at most ``r``, in parameter units).
    """

    offset: torch.Tensor

    def __init__(self, u: torch.Tensor, scale: float = 1.0, offset: float | Sequence[float] | torch.Tensor = 0.0,
                 constraint=None):
        super().__init__()
        self.u = nn.Parameter(u.detach().clone(memory_format=torch.contiguous_format))
        self.scale = float(scale)
        off = torch.as_tensor(offset, dtype=u.dtype, device=u.device)
        self.register_buffer("offset", off.view(1, -1, 1, 1) if off.dim() else off.view(1, 1, 1, 1), persistent=False)
        self.constraint = constraint
        self._identity = self.scale == 1.0 and bool(torch.all(self.offset == 0))
        self.project()

    def image(self) -> torch.Tensor:
        """The full image in [0, 1] units (not clamped; see :meth:`project`)."""
        if self._identity:
            return self.u
        return self.offset + self.u / self.scale

    @torch.no_grad()
    def project(self) -> None:
        c = self.constraint
        if c is None:
            return
        if c == "box":
            if self.offset.numel() == 1:
                off = float(self.offset)
                self.u.clamp_(-off * self.scale, (1.0 - off) * self.scale)
                return
            lo = (0.0 - self.offset) * self.scale
            hi = (1.0 - self.offset) * self.scale
            torch.maximum(self.u, lo, out=self.u)
            torch.minimum(self.u, hi, out=self.u)
        elif isinstance(c, tuple) and c[0] == "ball":
            r = float(c[1])
            n = self.u.pow(2).sum(1, keepdim=True).sqrt_()
            self.u.mul_(torch.clamp(r / n.clamp_min(1e-12), max=1.0))
        else:
            raise ValueError(f"unknown constraint {c!r}")
