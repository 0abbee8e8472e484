"""Project activations of a layer back to pixels (Zeiler & Fergus's DeconvNet, guided backprop,
or the plain gradient): keep one activation - a channel's strongest - zero the rest, and take its
backward pass to the image under the chosen ReLU rule. Max-pooling's backward routes through the
switches recorded in the forward pass (unpooling), convolutions' backward is the transposed
convolution with the same filters, whatever the network calls them.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import ConfigError
from ..representations.base import Representation
from .relu import RULES, relu_rule


def strongest(f: torch.Tensor, c: int) -> Tuple[Tuple[int, ...], float]:
    """Where channel ``c`` of one code ``f`` (C, H, W) or (C,) is strongest, and the value."""
    ch = f[c]
    if ch.dim() == 0:
        return (), float(ch)
    idx = int(ch.flatten().argmax())
    return tuple(int(v) for v in torch.unravel_index(torch.tensor(idx), ch.shape)), float(ch.flatten()[idx])


def project_one(rep: Representation, x: torch.Tensor, channel: int, rule: str = "deconvnet",
                where: Optional[Tuple[int, ...]] = None) -> Tuple[torch.Tensor, float, Tuple[int, ...]]:
    """The projection of image ``x`` (3, H, W)'s channel ``channel`` (at its strongest place, or
    ``where``) to pixels: (3, H, W) signed, the activation, its place. As in Zeiler & Fergus the
    activation itself is what goes back (the rest zeroed): an inactive unit projects to nothing."""
    if rule not in RULES:
        raise ConfigError(f"unknown rule {rule!r}; valid: gradient, deconvnet, guided")
    xi = x[None].detach().clone().requires_grad_(True)
    with relu_rule(rule, model=rep.network):
        f = rep.features(xi)[0]
        if where is None:
            where, _ = strongest(f.detach(), channel)
        a = f[(channel, *where)]
        (g,) = torch.autograd.grad(a, xi)
    return g[0].detach() * max(float(a.detach()), 0.0), float(a.detach()), where


def to_picture(p: torch.Tensor) -> torch.Tensor:
    """A signed projection as an image: gray is zero, brighter/darker the sign, scaled by its
    largest magnitude (a projection that is all zeros stays flat gray: a blank, dead filter)."""
    m = p.abs().max()
    return (0.5 + 0.5 * p / m).clamp(0, 1) if float(m) > 0 else torch.full_like(p, 0.5)


def project_batch(rep: Representation, x: torch.Tensor, channels: Sequence[int], where: Sequence[Tuple[int, ...]],
                  rule: str = "deconvnet") -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`project_one` for many (image, channel, place) at once: ``x`` (B, 3, H, W), row b's
    channel ``channels[b]`` at ``where[b]`` (a place in the map, ``()`` for a vector code). One
    forward and one backward pass; each row's projection is its own (the network is in eval mode,
    so rows do not mix). Returns the (B, 3, H, W) projections and the (B,) activations."""
    if rule not in RULES:
        raise ConfigError(f"unknown rule {rule!r}; valid: gradient, deconvnet, guided")
    xi = x.detach().clone().requires_grad_(True)
    with relu_rule(rule, model=rep.network):
        f = rep.features(xi)
        rows = torch.arange(len(xi), device=f.device)
        c = torch.tensor([int(v) for v in channels], device=f.device)
        if f.dim() == 4:
            ys = torch.tensor([int(w[0]) for w in where], device=f.device)
            xs = torch.tensor([int(w[1]) for w in where], device=f.device)
            a = f[rows, c, ys, xs]
        else:
            a = f[rows, c]
        (g,) = torch.autograd.grad(a.sum(), xi)
    a = a.detach()
    return g.detach() * a.clamp_min(0).view(-1, 1, 1, 1), a


def receptive_field(rep: Representation, size: int, probes: int = 3) -> int:
    """Side of the input region that reaches a unit at the center of ``rep``'s map: the support of
    the unit's gradient with every ReLU passing gradient (leak 1) on a few random images."""
    x = torch.rand(probes, 3, size, size, generator=torch.Generator().manual_seed(0)).to(rep.device)
    x.requires_grad_(True)
    with relu_rule("leaky", 1.0, model=rep.network):
        f = rep.features(x)
        if f.dim() == 2:
            return size
        c = f[:, :, f.shape[-2] // 2, f.shape[-1] // 2].sum()
        (g,) = torch.autograd.grad(c, x)
    support = g.abs().sum((0, 1)) > 0
    ys, xs = support.any(1).nonzero(), support.any(0).nonzero()
    if len(ys) == 0:
        return size
    return int(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))


def crop_box(place: Tuple[int, int], stride: int, field: int, size: int) -> Tuple[int, int, int, int]:
    """(top, left, bottom, right) of a unit's receptive field, clipped to the image."""
    cy, cx = place[0] * stride + stride // 2, place[1] * stride + stride // 2
    h = field // 2
    return max(0, cy - h), max(0, cx - h), min(size, cy - h + field), min(size, cx - h + field)


def place_of(flat: int, shape: Sequence[int]) -> Tuple[int, ...]:
    """A flat index into a (C, H, W) code's map as (y, x); ``()`` for a vector code (C,)."""
    if len(shape) != 3:
        return ()
    return (int(flat) // int(shape[2]), int(flat) % int(shape[2]))


__all__: List[str] = ["crop_box", "place_of", "project_batch", "project_one", "receptive_field", "strongest", "to_picture"]
