"""The ``project`` job: a layer's strongest activations projected back to pixels, per image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ...backward.project import project_one, to_picture
from ...errors import ConfigError
from ...images import encode_png, labels_for, load_image
from ...representations.base import Representation
from ...results import Shown


@dataclass(repr=False)
class Projection(Shown):
    """Activations projected back to pixels (a :class:`~preimage.results.Result`)."""

    command = "project"

    sources: List[str]
    labels: List[str]
    images: torch.Tensor                          # (N, 3, H, W)
    selections: List[List[int]]                   # channels per image
    projections: List[List[torch.Tensor]]         # signed (3, H, W) per image and channel
    activations: List[List[float]]
    places: List[List[Tuple[int, ...]]]
    rule: str
    layer: str
    model: str

    def names(self, i: int) -> List[str]:
        return [f"{i:02d}_{self.labels[i].replace('/', '_')}_ch{c:04d}_{self.rule}.png" for c in self.selections[i]]

    def to_json(self) -> Dict:
        return {"model": self.model, "layer": self.layer, "rule": self.rule,
                "images": [{"input": s, "channel": c, "activation": a, "place": list(w), "output": n}
                           for i, s in enumerate(self.sources)
                           for c, a, w, n in zip(self.selections[i], self.activations[i], self.places[i], self.names(i))]}

    def files(self) -> Dict[str, bytes]:
        return {name: encode_png(to_picture(p)) for i in range(len(self.sources))
                for name, p in zip(self.names(i), self.projections[i])}

    def lines(self) -> List[str]:
        return [f"{e['input']:<24} channel {e['channel']:>4}  activation {e['activation']:.3f}  at {tuple(e['place'])}"
                for e in self.to_json()["images"]]


def project(rep: Representation, inputs: Union[Sequence[str], torch.Tensor],
            channel: Optional[int] = None, top: Optional[int] = None, rule: str = "deconvnet",
            labels: Optional[Sequence[str]] = None, model: str = "", layer: str = "") -> Projection:
    """Project ``channel`` (or each image's ``top`` channels by strongest activation) of ``rep`` back
    to the pixels of each image (paths / ``sample:NAME``, or an (N, 3, H, W) tensor)."""
    rep.require_differentiable("projection")
    if (channel is None) == (top is None):
        raise ConfigError("choose --channel C or --top N")
    if isinstance(inputs, torch.Tensor):
        x, sources = inputs, [f"image{i}" for i in range(len(inputs))]
    else:
        sources = list(inputs)
        x = torch.stack([load_image(s, rep.input_size) for s in sources])
    x = x.to(rep.device)
    n_ch = rep.output_shape((x.shape[-2], x.shape[-1]))[0]
    if channel is not None and not 0 <= channel < n_ch:
        raise ConfigError(f"--channel {channel} is out of range: {rep.name} has {n_ch} channels (0 to {n_ch - 1})")
    if top is not None and not 1 <= top <= n_ch:
        raise ConfigError(f"--top {top} is larger than the {n_ch} channels of {rep.name}")
    with torch.no_grad():
        codes = rep(x)
    sel, projs, acts, places = [], [], [], []
    for i in range(len(x)):
        if channel is not None:
            chans = [channel]
        else:
            peak = codes[i].flatten(1).amax(1) if codes.dim() > 2 else codes[i]
            chans = [int(c) for c in peak.argsort(descending=True)[:top]]
        out = [project_one(rep, x[i], c, rule) for c in chans]
        sel.append(chans)
        projs.append([o[0].cpu() for o in out])
        acts.append([o[1] for o in out])
        places.append([o[2] for o in out])
    return Projection(sources, list(labels) if labels else labels_for(sources), x.cpu(), sel, projs, acts, places,
                      rule, layer, model)
