"""Project activations of a layer back to pixels (Zeiler & Fergus's DeconvNet, guided backprop,
or the plain gradient): keep one activation - a channel's strongest - zero the rest, and take its
backward pass to the image under the chosen ReLU rule. Max-pooling's backward routes through the
switches recorded in the forward pass (unpooling), convolutions' backward is the transposed
convolution with the same filters, whatever the network calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import ConfigError
from .relu import RULES, relu_rule


def strongest(f: torch.Tensor, c: int) -> Tuple[Tuple[int, ...], float]:
    """Where channel ``c`` of one code ``f`` (C, H, W) or (C,) is strongest, and the value."""
    ch = f[c]
    if ch.dim() == 0:
        return (), float(ch)
    idx = int(ch.flatten().argmax())
    return tuple(int(v) for v in torch.unravel_index(torch.tensor(idx), ch.shape)), float(ch.flatten()[idx])


def project_one(rep, x: torch.Tensor, channel: int, rule: str = "deconvnet",
                where: Optional[Tuple[int, ...]] = None) -> Tuple[torch.Tensor, float, Tuple[int, ...]]:
    """The projection of image ``x`` (3, H, W)'s channel ``channel`` (at its strongest place, or
    ``where``) to pixels: (3, H, W) signed, the activation, its place. As in Zeiler & Fergus the
    activation itself is what goes back (the rest zeroed): an inactive unit projects to nothing."""
    if rule not in RULES:
        raise ConfigError(f"unknown rule {rule!r}; valid: gradient, deconvnet, guided")
    xi = x[None].detach().clone().requires_grad_(True)
    with relu_rule(rule):
        f = rep.features(xi)[0]
        if where is None:
            where, _ = strongest(f.detach(), channel)
        a = f[(channel, *where)]
        (g,) = torch.autograd.grad(a, xi)
    return g[0].detach() * max(float(a.detach()), 0.0), float(a.detach()), where


def to_picture(p: torch.Tensor) -> torch.Tensor:
    """A signed projection as an image: grey is zero, brighter/darker the sign, scaled by its
    largest magnitude (a projection that is all zeros stays flat grey: a blank, dead filter)."""
    m = p.abs().max()
    return (0.5 + 0.5 * p / m).clamp(0, 1) if float(m) > 0 else torch.full_like(p, 0.5)


@dataclass
class Projection:
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

    def to_json(self):
        return {"model": self.model, "layer": self.layer, "rule": self.rule,
                "images": [{"input": s, "channel": c, "activation": a, "place": list(w), "output": n}
                           for i, s in enumerate(self.sources)
                           for c, a, w, n in zip(self.selections[i], self.activations[i], self.places[i], self.names(i))]}

    def save(self, out, force: bool = False):
        import json

        from .. import _io
        from ..images import encode_png
        from ..report import grid

        record = self.to_json()
        with _io.StagedDir(out, command="project", force=force) as d:
            rows = []
            for i in range(len(self.sources)):
                pics = [to_picture(p) for p in self.projections[i]]
                for name, pic in zip(self.names(i), pics):
                    (d / name).write_bytes(encode_png(pic))
                rows.append([self.images[i], *pics])
            ncol = max(len(r) for r in rows)
            cols = ["image"] + ([f"ch {c}" for c in self.selections[0]] if all(
                s == self.selections[0] for s in self.selections) else [f"top {k + 1}" for k in range(ncol - 1)])
            (d / "side_by_side.png").write_bytes(encode_png(grid(rows, cols, self.labels, min_side=96)))
            (d / "results.json").write_text(json.dumps(record, indent=2) + "\n")
        return record


def project(rep, inputs, channel: Optional[int] = None, top: Optional[int] = None, rule: str = "deconvnet",
            labels: Optional[Sequence[str]] = None, model: str = "", layer: str = "") -> Projection:
    """Project ``channel`` (or each image's ``top`` channels by strongest activation) of ``rep`` back
    to the pixels of each image (paths / ``sample:NAME``, or an (N, 3, H, W) tensor)."""
    from ..images import load_image
    from ..reconstruct import labels_for

    rep.require_differentiable("projection")
    if (channel is None) == (top is None):
        raise ConfigError("choose --channel C or --top N")
    if isinstance(inputs, torch.Tensor):
        x, sources = inputs, [f"image{i}" for i in range(len(inputs))]
    else:
        sources = list(inputs)
        x = torch.stack([load_image(s, rep.input_size) for s in sources])
    x = x.to(rep.device)
    n_ch = rep.output_shape(tuple(x.shape[-2:]))[0]
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
