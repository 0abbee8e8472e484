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


@dataclass(frozen=True)
class Field:
    """Where a layer's units look in the input. ``side``: the receptive field's side (the support
    of the unit at the center of the map, clipped to the image); ``first``: the input row and column
    where the field of unit (0, 0) starts (negative where it reaches into the padding), so that unit
    (y, x)'s field starts at ``(y * stride + first[0], x * stride + first[1])``. ``first`` is None
    for a vector code, or when the center unit's field reaches both borders of an axis and its
    placement cannot be read off."""

    side: int
    first: Optional[Tuple[int, int]] = None


def field_of(rep: Representation, size: int, probes: int = 3) -> Field:
    """The :class:`Field` of ``rep`` at ``size`` pixels, measured: the support of the center unit's
    gradient with every ReLU passing gradient (leak 1), over a few random images. Measured rather
    than assumed, so a network with unpadded convolutions or odd pooling gets its crops where its
    units look."""
    x = torch.rand(probes, 3, size, size, generator=torch.Generator().manual_seed(0)).to(rep.device)
    x.requires_grad_(True)
    with relu_rule("leaky", 1.0, model=rep.network):
        f = rep.features(x)
        if f.dim() == 2:
            return Field(size)
        cy, cx = f.shape[-2] // 2, f.shape[-1] // 2
        (g,) = torch.autograd.grad(f[:, :, cy, cx].sum(), x)
    support = g.abs().sum((0, 1)) > 0
    ys, xs = support.any(1).nonzero(), support.any(0).nonzero()
    if len(ys) == 0:
        return Field(size)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    side = max(y1 - y0 + 1, x1 - x0 + 1)
    stride = rep.stride
    if not ((y0 > 0 and y1 < size - 1) or (x0 > 0 and x1 < size - 1)):
        return Field(side)                  # clipped along both axes: neither its side nor its place is known

    def start(lo: int, hi: int, c: int) -> Optional[int]:
        if lo > 0:                          # the field's first row is inside the image
            return lo - c * stride
        if hi < size - 1:                   # its last row is: count back one side (the other axis's, whole)
            return hi - side + 1 - c * stride
        return None

    first = (start(y0, y1, cy), start(x0, x1, cx))
    return Field(side, None if None in first else (int(first[0]), int(first[1])))  # type: ignore[arg-type]


def receptive_field(rep: Representation, size: int, probes: int = 3) -> int:
    """Side of the input region that reaches a unit at the center of ``rep``'s map (:func:`field_of`)."""
    return field_of(rep, size, probes).side


def crop_box(place: Tuple[int, int], stride: int, field: int | Field, size: int) -> Tuple[int, int, int, int]:
    """(top, left, bottom, right) of a unit's receptive field, clipped to the image. With a
    :class:`Field` whose start is known, where the unit's field is; otherwise a square of the
    field's side centered at ``place * stride + stride // 2``."""
    side = field.side if isinstance(field, Field) else int(field)
    first = field.first if isinstance(field, Field) else None
    if first is not None:
        top, left = place[0] * stride + first[0], place[1] * stride + first[1]
    else:
        h = side // 2
        top, left = place[0] * stride + stride // 2 - h, place[1] * stride + stride // 2 - h
    return max(0, top), max(0, left), min(size, top + side), min(size, left + side)


def place_of(flat: int, shape: Sequence[int]) -> Tuple[int, ...]:
    """A flat index into a (C, H, W) code's map as (y, x); ``()`` for a vector code (C,)."""
    if len(shape) != 3:
        return ()
    return (int(flat) // int(shape[2]), int(flat) % int(shape[2]))


__all__: List[str] = ["Field", "crop_box", "field_of", "place_of", "project_batch", "project_one", "receptive_field",
                       "strongest", "to_picture"]
