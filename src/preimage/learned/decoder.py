"""Up-convolutional decoders that map a representation's output back to an image
(Dosovitskiy & Brox, CVPR 2016).

Built from the feature shape alone:

* feature maps (C, h, w): a few 3x3 convolutions, then one stride-2 up-convolution (4x4 kernel)
  followed by a 3x3 convolution per factor of two, down to 3 channels;
* vectors (D,): three fully connected layers, a reshape to a 4x4 map, then the same stack.

Leaky ReLU (0.2) throughout; the output is bounded to [0, 1] by a sigmoid. When the input size
is not the feature size times a power of two, the last map is resized to it (bilinear).

Codes differ in scale by orders of magnitude (HOG cells ~0.1, CNN logits ~10), so the decoder
first standardizes its input with statistics of the training codes kept as buffers
(``in_mean`` per channel, ``in_scale`` one number), set once by :meth:`Decoder.fit_input`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..representations.base import Representation


def _act():
    return nn.LeakyReLU(0.2, inplace=True)


class Decoder(nn.Module):
    in_mean: torch.Tensor
    in_scale: torch.Tensor
    """``Decoder(feature_shape, image_size)``: features (N, *feature_shape) -> images (N, 3, S, S)."""

    def __init__(self, feature_shape: Sequence[int], image_size: int, width: int = 128,
                 fc_width: int = 1024, min_width: int = 16):
        super().__init__()
        self.feature_shape = tuple(int(s) for s in feature_shape)
        self.image_size = int(image_size)
        if len(self.feature_shape) == 3:
            c, h, w = self.feature_shape
            start = max(h, w)
            self.head = nn.Sequential(
                nn.Conv2d(c, width, 3, padding=1), _act(),
                nn.Conv2d(width, width, 3, padding=1), _act(),
                nn.Conv2d(width, width, 3, padding=1), _act(),
            )
            self.fc = None
        elif len(self.feature_shape) == 1:
            start = 4
            self.fc = nn.Sequential(
                nn.Linear(self.feature_shape[0], fc_width), _act(),
                nn.Linear(fc_width, fc_width), _act(),
                nn.Linear(fc_width, width * 16), _act(),
            )
            self.head = None  # type: ignore[assignment]
        else:
            raise ConfigError(f"cannot build a decoder for features of shape {self.feature_shape}")
        self.width = width
        self.fc_width = fc_width
        self.min_width = min_width
        self.register_buffer("in_mean", torch.zeros(self.feature_shape[0]))
        self.register_buffer("in_scale", torch.ones(()))
        ups = max(0, int(math.ceil(math.log2(max(self.image_size / start, 1.0)))))
        layers = []
        ch = width
        for _ in range(ups):
            out = max(min_width, ch // 2)
            layers += [nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1), _act(),
                       nn.Conv2d(out, out, 3, padding=1), _act()]
            ch = out
        layers.append(nn.Conv2d(ch, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def config(self) -> dict:
        return {"feature_shape": list(self.feature_shape), "image_size": self.image_size, "width": self.width,
                "fc_width": self.fc_width, "min_width": self.min_width}

    @torch.no_grad()
    def fit_input(self, f: torch.Tensor) -> None:
        """Set the input standardization from a batch of codes ``f`` (N, *feature_shape)."""
        dims = [0] + list(range(2, f.dim()))
        mean = f.double().mean(dims)
        centered = f.double() - mean.view(1, -1, *([1] * (f.dim() - 2)))
        self.in_mean.copy_(mean.float())
        self.in_scale.copy_(centered.pow(2).mean().sqrt().clamp_min(1e-8).float())

    def _standardize(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.in_mean.view(1, -1, *([1] * (f.dim() - 2)))) / self.in_scale

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if tuple(f.shape[1:]) != self.feature_shape:
            raise ConfigError(f"decoder expects features of shape {self.feature_shape}, got {tuple(f.shape[1:])}")
        f = self._standardize(f)
        if self.fc is not None:
            x = self.fc(f).view(f.shape[0], self.width, 4, 4)
        else:
            x = self.head(f)
        x = self.body(x)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)


def build_decoder(rep: Representation, image_size: int, **kw) -> Decoder:
    """A decoder for ``rep`` at ``image_size``, from the representation's output shape."""
    return Decoder(rep.output_shape(image_size), image_size, **kw)
