"""The strongest patches of every filter (Zeiler & Fergus's figure): stream a folder, keep per
channel the k images and places with the highest activation (memory: channels x k, whatever the
folder's size), then crop each unit's receptive field from its image beside its DeconvNet projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ...backward.project import crop_box, field_of, project_one
from ...data import ImageStream
from ...hooks import capture, eval_mode
from ...models.loading import ModelInfo
from ...representations.cnn import CNNLayer
from ...results import Shown
from ...streams import Ranked


class TopK(Ranked):
    """Per channel the k strongest (value, image index, place) seen so far (ties in the fixed order of ``streams.spread``)."""

    def __init__(self, channels: int, k: int):
        super().__init__(channels, k, largest=True)

    def add(self, f: torch.Tensor, indices: torch.Tensor, place: Optional[torch.Tensor] = None) -> None:
        """``f``: (B, C, H, W) or (B, C) codes of images ``indices`` (B,)."""
        if f.dim() == 4:
            v, p = f.flatten(2).max(2)                                       # (B, C)
        else:
            v, p = f, torch.zeros_like(f, dtype=torch.long)
        super().add(v, indices, p)


@dataclass(repr=False)
class TopActivations(Shown):
    """Per channel the k strongest dataset patches and their projections (a :class:`~preimage.results.Result`;
    the report draws ``top_activations.png``)."""

    command = "top-activations"

    model: str
    layer: str
    channels: List[int]
    sources: List[str]
    values: torch.Tensor       # (C, k)
    index: torch.Tensor        # (C, k)
    places: List[List[Tuple[int, ...]]]
    patches: List[List[torch.Tensor]]
    projections: List[List[torch.Tensor]]
    field: int
    stride: int
    images: int

    def to_json(self) -> Dict:
        return {"model": self.model, "layer": self.layer, "images": self.images, "receptive_field": self.field,
                "stride": self.stride,
                "channels": [{"channel": c, "top": [{"file": self.sources[int(i)], "activation": float(v), "place": list(p)}
                                                    for v, i, p in zip(self.values[j], self.index[j], self.places[j])]}
                             for j, c in enumerate(self.channels)]}

    def files(self) -> Dict[str, bytes]:
        return {}

    def lines(self) -> List[str]:
        return [f"channel {c:>4}  top activation {float(self.values[j, 0]):.3f}" for j, c in enumerate(self.channels)]


@torch.no_grad()
def stream_top(info: ModelInfo, rep: CNNLayer, stream: ImageStream, channels: Sequence[int], k: int,
               extra_layers: Sequence[str] = ()) -> Dict[str, TopK]:
    """One pass over ``stream``: per-channel top-k for ``rep``'s layer (and ``extra_layers`` of the
    same network, all in the same forward pass)."""
    keys = [rep.layer, *[lay for lay in extra_layers if lay != rep.layer]]
    dev = rep.device
    tops: Dict[str, TopK] = {}
    chans = torch.tensor(list(channels))
    with eval_mode(info.module), capture(info.module, keys, info.aliases) as cap:
        for idx, x in stream:
            outs = cap(rep.normalize(x.to(dev)))
            for key, f in outs.items():
                f = f.float()
                if key == rep.layer:
                    f = f[:, chans.to(f.device)]
                if key not in tops:
                    tops[key] = TopK(f.shape[1], k)
                tops[key].add(f, idx)
    return tops


def top_activations(info: ModelInfo, rep: CNNLayer, stream: ImageStream, channels: Sequence[int], k: int = 9,
                    model: str = "") -> TopActivations:
    """The ``k`` strongest dataset patches of each channel and their DeconvNet projections."""
    top = stream_top(info, rep, stream, channels, k)[rep.layer]
    size = stream.size
    geometry = field_of(rep, size)
    field = geometry.side
    stride = rep.stride
    shape = rep.output_shape(size)
    patches, projs, places = [], [], []
    for j, c in enumerate(channels):
        row_p, row_q, row_w = [], [], []
        for i, p in zip(top.index[j], top.place[j]):
            img = stream.image(int(i))
            where: Tuple[int, ...] = tuple(int(t) for t in torch.unravel_index(p, shape[1:])) if len(shape) == 3 else ()
            with torch.enable_grad():
                q, _, _ = project_one(rep, img.to(rep.device), c, "deconvnet", where)
            if where:
                t, l, b, r = crop_box((where[0], where[1]), stride, geometry, size)
                row_p.append(img[:, t:b, l:r])
                row_q.append(q.cpu()[:, t:b, l:r])
            else:
                row_p.append(img)
                row_q.append(q.cpu())
            row_w.append(where)
        patches.append(row_p)
        projs.append(row_q)
        places.append(row_w)
    return TopActivations(model or info.name, rep.layer, list(channels), [str(f) for f in stream.files], top.values,
                          top.index, places, patches, projs, field, stride, len(stream) - len(stream.skipped))
