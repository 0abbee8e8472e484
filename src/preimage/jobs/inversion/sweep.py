"""Layer sweeps: invert the same images from every layer of a model (CVPR 2015, Figure 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from ... import progress
from ...models.info import main_layers
from ...models.loading import ModelInfo
from ...optimize import invert
from ...representations import CNNLayer


@dataclass
class LayerResult:
    layer: str
    path: str
    kind: str
    shape: tuple
    stride: int
    images: torch.Tensor            # (N, 3, H, W) reconstructions (first sample)
    feature_error: torch.Tensor     # (N,)
    image_error: torch.Tensor       # (N,)
    psnr: torch.Tensor              # (N,)
    ssim: torch.Tensor              # (N,)
    seconds: float
    iterations: int


def default_layers(info: ModelInfo) -> List[str]:
    """The layers a sweep inverts when none are named: :func:`~preimage.models.info.main_layers`
    without nested aliases (refnet: conv1 ... conv5, fc6 ... fc8; a ResNet: its stem, stages and
    logits, not the blocks inside the stages)."""
    return main_layers(info, nested=False)


def layer_sweep(info: ModelInfo, images: torch.Tensor, layers: Optional[Sequence[str]] = None,
                preset: str = "default", iters: Optional[int] = None, seed: int = 0,
                show: Optional[bool] = None) -> List[LayerResult]:
    """Invert ``images`` from each layer in turn (all images of a layer in one batched run), where
    ``info``'s network is; the results are on the CPU."""
    layers = list(layers) if layers else default_layers(info)
    out: List[LayerResult] = []
    size = images.shape[-1]
    for layer in progress.bar(layers, desc="layers", show=show, unit="layer"):
        rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, size, name=f"{info.name}/{layer}")
        res = invert(rep, images, preset=preset, iters=iters, seed=seed, show=show)
        m = res.image_metrics()
        out.append(LayerResult(layer, rep.path, type(rep.target).__name__, tuple(rep.probed_shape or ()),
                               rep.stride, res.images[:, 0].cpu(), res.feature_error[:, 0].cpu(),
                               m["image_error"][:, 0].cpu(), m["psnr"][:, 0].cpu(), m["ssim"][:, 0].cpu(), res.seconds,
                               res.iterations))
    return out
