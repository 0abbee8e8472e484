"""Project activations of a layer back to pixels (Zeiler & Fergus's DeconvNet, guided backprop,
or the plain gradient): keep one activation - a channel's strongest - zero the rest, and take its
backward pass to the image under the chosen ReLU rule. Max-pooling's backward routes through the
switches recorded in the forward pass (unpooling), convolutions' backward is the transposed
convolution with the same filters, whatever the network calls them.
"""

from __future__ import annotations

from typing import Optional, Tuple

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
