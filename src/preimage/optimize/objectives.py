"""Objectives: per-image energies that compose like numbers and name themselves.

An objective maps a :class:`Context` (the current image, its parameterization and lazily computed
features) to a tensor of shape (N,), one energy per image. Objectives form an algebra::

    energy = FeatureMatch(target) * 20 + 0.1 * TotalVariation(beta=2)
    energy.name   # '20*feature_match + 0.1*tv2'

Minimizing the sum over the batch minimizes every image's energy independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import torch

from ..errors import ConfigError
from ..parsing import parse_range
from ..representations.base import Representation
from . import priors


class Context:
    """What an objective sees at one iteration.

    Attributes:
        image: (N, 3, H, W) the image fed to the representation, in [0, 1] units (after the transforms).
        pixels: (N, 3, H', W') the full optimized variable in the parameterization's units.
        rep: the representation; its model runs at most once per context, for every layer the
            objective needs (``layers``: ``None`` is the representation's own output, other names
            are layers of the same network).
        progress: how far the run is, 0 at the first iteration and 1 at the last (and after it);
            read by scheduled terms (:meth:`Objective.annealed`).
    """

    def __init__(self, image: torch.Tensor, pixels: torch.Tensor, rep: Optional[Representation] = None,
                 layers: Iterable[Optional[str]] = (), progress: float = 1.0):
        self.image = image
        self.pixels = pixels
        self.rep = rep
        self.layers = frozenset(layers)
        self.progress = float(progress)
        self._cache: Dict[Optional[str], torch.Tensor] = {}

    def features(self, layer: Optional[str] = None) -> torch.Tensor:
        """The code at ``layer`` (default: the representation's own) for the current image."""
        if layer not in self._cache:
            assert self.rep is not None, "this objective reads features: its context needs a representation"
            wanted = self.layers | {layer}
            if wanted == {None}:
                # the optimizer's own images need no input validation on every step
                self._cache[None] = self.rep.features(self.image)
            else:
                self._cache.update(self.rep.features_at(self.image, sorted(wanted, key=str)))
        return self._cache[layer]


class Objective:
    """A named per-image energy. ``fn(ctx) -> (N,)``; ``layers``: the codes it reads (``None``:
    the representation's own output; a layer name: that layer of the same network)."""

    def __init__(self, fn: Callable[[Context], torch.Tensor], name: str,
                 layers: Iterable[Optional[str]] = ()):
        self.fn = fn
        self.name = name
        self.layers: FrozenSet[Optional[str]] = frozenset(layers)

    def __call__(self, ctx: Context) -> torch.Tensor:
        return self.fn(ctx)

    # --- algebra
    def __add__(self, other: "Objective | float") -> "Objective":
        if isinstance(other, (int, float)):
            if other == 0:
                return self
            return Objective(lambda c: self(c) + other, f"{self.name} + {other:g}", self.layers)
        return Sum([self, other])

    __radd__ = __add__

    def __mul__(self, k: float) -> "Objective":
        if not isinstance(k, (int, float)):
            return NotImplemented
        return Scaled(self, float(k))

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return self * -1.0

    def __sub__(self, other: "Objective") -> "Objective":
        return self + (-other)

    def __truediv__(self, k: float) -> "Objective":
        return self * (1.0 / k)

    def annealed(self, start: float, end: float) -> "Objective":
        """This term weighted ``start * (end / start) ** progress``: ``start`` at the first
        iteration, ``end`` at the last, geometric between (a continuation: a strong prior shapes the
        start, a weak one lets the data term finish)."""
        return Annealed(self, start, end)

    def terms(self) -> List["Objective"]:
        """The summands, for per-term reporting."""
        return [self]

    def __repr__(self) -> str:
        return f"Objective({self.name})"


class Scaled(Objective):
    def __init__(self, inner: Objective, k: float):
        self.inner, self.k = inner, k
        name = inner.name if k == 1 else (f"-{_paren(inner)}" if k == -1 else f"{k:g}*{_paren(inner)}")
        super().__init__(lambda c: inner(c) * k, name, inner.layers)


class Annealed(Objective):
    def __init__(self, inner: Objective, start: float, end: float):
        if start <= 0 or end <= 0:
            raise ValueError(f"annealed weights must be positive, got {start:g} -> {end:g}")
        self.inner, self.start, self.end = inner, float(start), float(end)
        super().__init__(self._weighted, f"{start:g}->{end:g}*{_paren(inner)}", inner.layers)

    def weight(self, progress: float) -> float:
        return self.start * (self.end / self.start) ** min(max(progress, 0.0), 1.0)

    def _weighted(self, c: Context) -> torch.Tensor:
        return self.inner(c) * self.weight(c.progress)


class Sum(Objective):
    parts: List[Objective]

    def __init__(self, parts: Sequence[Objective]):
        flat: List[Objective] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, Sum) else [p])
        self.parts = flat
        name = " + ".join(p.name for p in flat).replace("+ -", "- ")
        super().__init__(self._total, name, frozenset().union(*(p.layers for p in flat)))

    def _total(self, c: Context) -> torch.Tensor:
        parts = iter(self.parts)
        total = next(parts)(c)
        for p in parts:
            total = total + p(c)
        return total

    def terms(self) -> List[Objective]:
        return list(self.parts)


def _paren(o: Objective) -> str:
    return f"({o.name})" if isinstance(o, Sum) else o.name


# ---------------------------------------------------------------- feature selection (locality)
@dataclass(frozen=True)
class Selection:
    """Which part of the code is matched: a centered ``window`` x ``window`` of the feature map and/or
    channels ``channels[0]:channels[1]``. ``None`` keeps everything."""

    window: Optional[int] = None
    channels: Optional[Tuple[int, int]] = None

    def validate(self, shape: Sequence[int]) -> None:
        """``shape`` is a feature shape without the batch dimension."""
        if self.channels is not None:
            a, b = self.channels
            if not (0 <= a < b <= shape[0]):
                raise ConfigError(f"--channels {a}:{b} is outside the layer's {shape[0]} channels (valid: 0 <= A < B <= {shape[0]})")
        if self.window is not None:
            if len(shape) < 3:
                raise ConfigError(f"--window needs a spatial feature map, but the layer's output is a vector of shape {tuple(shape)}")
            if not (1 <= self.window <= min(shape[-2:])):
                raise ConfigError(f"--window {self.window} must be between 1 and the feature map size {min(shape[-2:])}")

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        if self.channels is not None:
            f = f[:, self.channels[0]:self.channels[1]]
        if self.window is not None:
            h, w = f.shape[-2:]
            k = self.window
            t, l = (h - k) // 2, (w - k) // 2
            f = f[..., t:t + k, l:l + k]
        return f

    @property
    def active(self) -> bool:
        return self.window is not None or self.channels is not None

    def describe(self) -> str:
        parts = []
        if self.channels is not None:
            parts.append(f"channels {self.channels[0]}:{self.channels[1]}")
        if self.window is not None:
            parts.append(f"{self.window}x{self.window} window")
        return ", ".join(parts) or "all"


def parse_channels(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """``--channels A:B`` (the layer's size is checked where the code is known), or None."""
    return None if text is None else parse_range(text, "--channels")


# ---------------------------------------------------------------- feature objectives
_flat_sq = priors.sq_norm


class FeatureMatch(Objective):
    """``||S(Phi(x)) - S(Phi0)||^2 / ||S(Phi0)||^2`` per image, S the selection.

    ``layer``: match that layer of the representation's network instead of its own output, so one
    energy can span several layers (``FeatureMatch(t3, layer="conv3") + FeatureMatch(t5, layer="conv5")``).
    """

    def __init__(self, target: torch.Tensor, selection: Selection = Selection(), layer: Optional[str] = None):
        self.selection = selection
        self.layer = layer
        self.target = selection(target).detach()
        self.norm = _flat_sq(self.target).clamp_min(1e-12)
        name = "feature_match" + (f"@{layer}" if layer else "") + (f"[{selection.describe()}]" if selection.active else "")
        super().__init__(self._value, name, {layer})

    def _value(self, ctx: Context) -> torch.Tensor:
        return _flat_sq(self.selection(ctx.features(self.layer)) - self.target) / self.norm


class Prior(Objective):
    """A natural-image prior evaluated on the optimized variable ``ctx.pixels``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str):
        super().__init__(lambda c: fn(c.pixels), name)


def AlphaNorm(alpha: float = 6.0, form: str = "sum") -> Prior:
    """See :func:`priors.alpha_norm`."""
    return Prior(lambda u: priors.alpha_norm(u, alpha, form), f"alpha{alpha:g}" + ("" if form == "sum" else f"_{form}"))


def TotalVariation(beta: float = 2.0, form: str = "sum") -> Prior:
    """See :func:`priors.total_variation`."""
    return Prior(lambda u: priors.total_variation(u, beta, form), f"tv{beta:g}" + ("" if form == "sum" else f"_{form}"))
