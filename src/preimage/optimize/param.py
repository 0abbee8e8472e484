"""Image parameterizations: the variable the optimizer changes, and how it maps to a [0, 1] image.

:class:`PixelParam` holds ``u`` of shape (N, 3, H + T - 1, W + T - 1) (T - 1 extra pixels for
jitter) in its own units: ``image = offset + u / scale``. The paper presets use ``scale = 255``
and ``offset = the model's mean color`` (0-255 pixels with the mean subtracted); the default
preset works directly in [0, 1] (``scale = 1``, ``offset = 0``).

:class:`FourierParam` (lucid's decorrelated 1/f spectrum) and :class:`MacoParam` (MACO: the phase
alone, the amplitude fixed to natural images') are the feature-visualization parameterizations;
both map through a sigmoid, so their images are always in [0, 1].
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

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


#: lucid's color decorrelation: the square root of the color covariance of ImageNet photos (its SVD
#: form), each column scaled so the largest has norm 1. ``rgb = decorrelated @ COLOR_MATRIX.T``.
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64)
COLOR_MATRIX = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


def recorrelate(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) decorrelated color channels -> RGB (before the sigmoid)."""
    m = COLOR_MATRIX.to(device=x.device, dtype=x.dtype)
    return torch.einsum("ij,njhw->nihw", m, x)


def decorrelate(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`recorrelate`."""
    m = torch.linalg.inv(COLOR_MATRIX).to(device=x.device, dtype=x.dtype)
    return torch.einsum("ij,njhw->nihw", m, x)


def frequencies(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(H, W // 2 + 1): each real-FFT coefficient's radial frequency in cycles per pixel."""
    fy = torch.fft.fftfreq(h, device=device, dtype=dtype).view(-1, 1)
    fx = torch.fft.rfftfreq(w, device=device, dtype=dtype).view(1, -1)
    return (fy * fy + fx * fx).sqrt()


def _logit(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(1e-3, 1 - 1e-3)
    return torch.log(x) - torch.log1p(-x)


def mean_amplitude_spectrum(images: torch.Tensor) -> torch.Tensor:
    """(3, H, W // 2 + 1): the mean amplitude of the real FFT of (N, 3, H, W) images in [0, 1], taken
    in the decorrelated color space of :class:`FourierParam` after the sigmoid's inverse (each image's
    mean color removed): the fixed magnitude of :class:`MacoParam`."""
    z = decorrelate(_logit(images.double()))
    z = z - z.mean(dim=(-2, -1), keepdim=True)
    return torch.fft.rfft2(z, norm="ortho").abs().mean(0).float()


class FourierParam(nn.Module):
    """lucid / lucent's spectral parameterization: ``u`` (N, 3, H, W // 2 + 1, 2) is a real-FFT
    spectrum (real, imaginary) in decorrelated color; each coefficient is scaled by
    ``1 / max(f, 1 / s) ** decay`` (``f`` in cycles per pixel, ``s = max(H, W)``) and by
    ``(s / 32) ** (1 - decay)`` (1 at decay 1, lucent's; otherwise lucent's at 32 px), brought
    back by the inverse real FFT (orthonormal) divided by 4, recorrelated (:data:`COLOR_MATRIX`) and
    squashed by a sigmoid, so ``image()`` is always in [0, 1] and :meth:`project` does nothing.

    Every image is its own inverse FFT: nothing couples the images of a batch.
    ``init``: an (N, 3, H, W) image in [0, 1] to start from (its exact spectrum) instead of ``u``.
    """

    spectrum_scale: torch.Tensor

    def __init__(self, u: Optional[torch.Tensor], size: Tuple[int, int], decay: float = 1.5,
                 init: Optional[torch.Tensor] = None):
        super().__init__()
        h, w = int(size[0]), int(size[1])
        self.size, self.decay = (h, w), float(decay)
        f = frequencies(h, w)
        s = max(h, w)
        # lucent's ``1 / max(f, 1 / s) ** decay`` (with an orthonormal inverse FFT), times
        # ``(s / 32) ** (1 - decay)``: at 32 px lucent's exactly; at other sizes the gain of the lowest
        # frequency stays what it is at 32 px (as lucent's does at decay 1) instead of growing as
        # s^(decay - 1), which saturated the sigmoid at 224 px
        scale = 1.0 / f.clamp_min(1.0 / s) ** self.decay * (s / 32) ** (1.0 - self.decay)
        if init is not None:
            z = decorrelate(_logit(init.detach().float())) * 4.0
            spec = torch.fft.rfft2(z, norm="ortho") / scale.to(z.device)
            u = torch.view_as_real(spec)
        if u is None:
            raise ValueError("FourierParam needs u or init")
        self.register_buffer("spectrum_scale", scale.to(u.device), persistent=False)
        self.u = nn.Parameter(u.detach().clone().contiguous())

    def image(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.u) * self.spectrum_scale
        z = torch.fft.irfft2(spec, s=self.size, norm="ortho") / 4.0
        return torch.sigmoid(recorrelate(z))

    def project(self) -> None:
        return None


class MacoParam(nn.Module):
    """MACO (Fel et al., NeurIPS 2023; Horama): only the phase ``u`` (N, 3, H, W // 2 + 1) is
    optimized; the amplitude is fixed to ``magnitude`` (3, H, W // 2 + 1), the mean amplitude
    spectrum of natural images (:func:`mean_amplitude_spectrum`). The inverse real FFT is
    standardized per image (zero mean, unit variance over its pixels and channels), recorrelated and
    squashed by a sigmoid into [0, 1]. ``init``: start from an image's own phase. ``size`` (H, W):
    the image's; by default ``init``'s, else the square one the magnitude fits (a real FFT of width
    W keeps W // 2 + 1 columns, so an odd and the next even width share them).
    """

    magnitude: torch.Tensor

    def __init__(self, u: Optional[torch.Tensor], magnitude: torch.Tensor, init: Optional[torch.Tensor] = None,
                 size: Optional[Tuple[int, int]] = None):
        super().__init__()
        h, cols = int(magnitude.shape[-2]), int(magnitude.shape[-1])
        if size is not None:
            hw = (int(size[0]), int(size[1]))
        elif init is not None:
            hw = (int(init.shape[-2]), int(init.shape[-1]))
        else:
            hw = (h, h if h // 2 + 1 == cols else 2 * (cols - 1))
        if (hw[0], hw[1] // 2 + 1) != (h, cols):
            raise ValueError(f"a {hw[0]}x{hw[1]} image has no ({h}, {cols}) half spectrum")
        self.size = hw
        if init is not None:
            z = decorrelate(_logit(init.detach().float()))
            u = torch.angle(torch.fft.rfft2(z - z.mean(dim=(-2, -1), keepdim=True), norm="ortho"))
        if u is None:
            raise ValueError("MacoParam needs u or init")
        self.register_buffer("magnitude", magnitude.detach().to(u.device, u.dtype), persistent=False)
        self.u = nn.Parameter(u.detach().clone().contiguous())

    def image(self) -> torch.Tensor:
        spec = torch.polar(self.magnitude.expand_as(self.u), self.u)
        z = torch.fft.irfft2(spec, s=self.size, norm="ortho")
        z = (z - z.mean(dim=(1, 2, 3), keepdim=True)) / z.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
        return torch.sigmoid(recorrelate(z))

    def project(self) -> None:
        return None


#: what the loop optimizes: any of them has ``u``, ``image()`` and ``project()``
Param = Union[PixelParam, FourierParam, MacoParam]
