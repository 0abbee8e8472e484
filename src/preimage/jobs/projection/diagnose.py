"""Dead-filter diagnostics: over a folder of images, per layer and channel, how often the channel
is active at all (its output > 0 somewhere in the map), its mean and its maximum; channels never
active are dead, channels active on under 1% of the images rare. One streaming pass, every layer
at once: memory does not grow with the folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from ...backward.project import project_one
from ...hooks import capture, eval_mode
from ...models.loading import ModelInfo
from ...representations.cnn import CNNLayer


def addressable_layers(info: ModelInfo) -> List[str]:
    """A model's layers worth a row: its aliases (conv, bn, relu, pool, fc, stage, block, logits
    ...), else every leaf module."""
    if info.aliases:
        return list(info.aliases)
    return [n for n, m in info.module.named_modules() if n and not list(m.children())]


@dataclass
class LayerStats:
    channels: int
    active_fraction: List[float]
    mean: List[float]
    max: List[float]
    dead: List[int] = field(default_factory=list)
    rare: List[int] = field(default_factory=list)


@dataclass
class Diagnosis:
    """Channel activity per layer (a :class:`~preimage.results.Result`, recorded as ``diagnose.json``;
    the report writes ``diagnose.html``)."""

    command = "diagnose"
    record_name = "diagnose.json"

    model: str
    images: int
    layers: Dict[str, LayerStats]
    rare_below: float
    blank: Dict[str, Tuple[List[int], List[torch.Tensor]]] = field(default_factory=dict)  # layer -> (dead channels, projections)

    def to_json(self) -> Dict:
        return {"model": self.model, "images": self.images, "rare_below": self.rare_below,
                "layers": {k: {"channels": v.channels, "dead": v.dead, "rare": v.rare,
                               "active_fraction": v.active_fraction, "mean": v.mean, "max": v.max}
                           for k, v in self.layers.items()}}

    def files(self) -> Dict[str, bytes]:
        return {}

    def lines(self) -> List[str]:
        return [f"{k:<14} {v.channels:>5} channels  {len(v.dead):>4} dead  {len(v.rare):>4} rare"
                for k, v in self.layers.items()]


@torch.no_grad()
def diagnose(info: ModelInfo, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]],
             layers: Optional[Sequence[str]] = None, rare_below: float = 0.01,
             first_image: Optional[torch.Tensor] = None) -> Diagnosis:
    """Channel activity of ``info``'s layers over ``batches`` of [0, 1] images (an iterable of
    ``(indices, images)``, e.g. :func:`preimage.data.stream_folder`)."""
    layers = list(layers) if layers else addressable_layers(info)
    model = info.module
    dev = next(iter(model.parameters())).device
    mean = torch.tensor(info.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(info.std, device=dev).view(1, 3, 1, 1)
    count: Dict[str, torch.Tensor] = {}
    total: Dict[str, torch.Tensor] = {}
    peak: Dict[str, torch.Tensor] = {}
    n = 0
    with eval_mode(model), capture(model, layers, info.aliases) as cap:
        for _, x in batches:
            x = x.to(dev)
            outs = cap((x - mean) / std)
            for k, f in outs.items():
                if f is None or f.dim() not in (2, 4):
                    continue
                f = f.float()
                if f.dim() == 4:
                    fmax, fmean = f.flatten(2).amax(2), f.flatten(2).mean(2)
                else:
                    fmax, fmean = f, f
                active = (fmax > 0).sum(0)
                count[k] = count.get(k, 0) + active
                total[k] = total.get(k, 0) + fmean.sum(0)
                m = fmax.amax(0)
                peak[k] = m if k not in peak else torch.maximum(peak[k], m)
            n += len(x)
    stats = {}
    for k in layers:
        if k not in count:
            continue
        frac = (count[k].float() / max(n, 1)).cpu()
        st = LayerStats(int(frac.numel()), [float(v) for v in frac], [float(v) for v in (total[k] / max(n, 1)).cpu()],
                        [float(v) for v in peak[k].cpu()])
        st.dead = [i for i, v in enumerate(frac.tolist()) if v == 0]
        st.rare = [i for i, v in enumerate(frac.tolist()) if 0 < v < rare_below]
        stats[k] = st
    diag = Diagnosis(info.name, n, stats, rare_below)
    if first_image is not None:
        diag.blank = _blank_projections(info, stats, first_image)
    return diag


def _blank_projections(info: ModelInfo, stats: Dict[str, LayerStats], x: torch.Tensor,
                       per_layer: int = 8) -> Dict[str, Tuple[List[int], List[torch.Tensor]]]:
    """Per layer with dead channels: the first ``per_layer`` of them and their DeconvNet projections of ``x``."""
    out = {}
    for k, st in stats.items():
        if not st.dead or not re.match(r"^(conv|relu|bn|fc|block|stage|features|classifier)", k):
            continue
        rep = CNNLayer.from_info(info, k, x.shape[-1])
        chans = st.dead[:per_layer]
        pics = []
        for c in chans:
            with torch.enable_grad():
                p, _, _ = project_one(rep, x, c, "deconvnet")
            pics.append(p)
        out[k] = (chans, pics)
    return out
