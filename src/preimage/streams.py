"""Per-channel statistics kept as streams: what one pass over a folder keeps of every channel,
with memory that does not grow with the folder's size, and that merges exactly - the same numbers
whatever the batching, the order of the batches, or how the data was split between processes.

- :class:`Ranked`: the k largest (or smallest) values with their image index and place; ties go
  in a fixed order of the image indices (:func:`spread`), so a merge of two halves equals one pass
  over the whole.
- :class:`Histogram`: exact counts in 32 bins of width 2**e aligned on multiples of 2**e; e is the
  smallest that holds every value seen, and grows (pairs of bins merge) when a value falls outside.
  Two histograms merge exactly, so the bins depend only on the set of values.
- :class:`Moments`: float64 sums for each channel's mean and its correlation with each output (the
  classes a unit pushes up and down).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

BINS = 32
E_MIN = -30     # the finest bin width, 2**-30: a constant channel gets one bin of this width


def reduce_maps(f: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A layer's (B, C, H, W) or (B, C) output -> per image and channel its largest value, that
    value's flat place in the map and the map's mean (each (B, C)), and per channel the smallest
    value over the batch (C,): what the streams and the dead-channel diagnosis keep of a batch."""
    flat = f.detach().float().flatten(2) if f.dim() == 4 else f.detach().float().unsqueeze(2)
    v, p = flat.max(2)
    return v, p, flat.mean(2), flat.amin(2).amin(0)


def spread(index: torch.Tensor) -> torch.Tensor:
    """A fixed shuffle of image indices (Knuth's multiplicative hash, a bijection mod 2**32): the
    order ties are broken in. A function of the index alone, so merges stay exact; unlike the index
    itself it does not pick the first class folder's images among the many a rectified unit gives 0."""
    return (index.long() * 2654435761) % (2 ** 32)


class Ranked:
    """Per channel the ``k`` largest (``largest=True``) or smallest values seen, with each value's
    image index and place (the flat index of the strongest position in the map; 0 for vectors).
    Equal values are ordered by :func:`spread` of their image index."""

    def __init__(self, channels: int, k: int, largest: bool = True):
        self.k, self.largest = int(k), bool(largest)
        self.values = torch.zeros((channels, 0))
        self.index = torch.zeros((channels, 0), dtype=torch.long)
        self.place = torch.zeros((channels, 0), dtype=torch.long)

    def add(self, values: torch.Tensor, index: torch.Tensor, place: Optional[torch.Tensor] = None) -> None:
        """``values`` (B, C) for images ``index`` (B,) at ``place`` (B, C)."""
        v = values.detach().float().t().cpu()
        i = index.view(1, -1).expand_as(v).cpu().long()
        p = (place.t().cpu().long() if place is not None else torch.zeros_like(i))
        self._keep(torch.cat([self.values, v], 1), torch.cat([self.index, i], 1), torch.cat([self.place, p], 1))

    def merge(self, other: "Ranked") -> None:
        self._keep(torch.cat([self.values, other.values], 1), torch.cat([self.index, other.index], 1),
                   torch.cat([self.place, other.place], 1))

    def _keep(self, v: torch.Tensor, i: torch.Tensor, p: torch.Tensor) -> None:
        o = spread(i).argsort(dim=1, stable=True)               # first by a hash of the image index ...
        v, i, p = v.gather(1, o), i.gather(1, o), p.gather(1, o)
        o = (-v if self.largest else v).argsort(dim=1, stable=True)[:, :self.k]   # ... then by value
        self.values, self.index, self.place = v.gather(1, o), i.gather(1, o), p.gather(1, o)

    def state(self, prefix: str) -> Dict[str, torch.Tensor]:
        return {f"{prefix}.values": self.values, f"{prefix}.index": self.index, f"{prefix}.place": self.place}

    @classmethod
    def from_state(cls, t: Dict[str, torch.Tensor], prefix: str, k: int, largest: bool) -> "Ranked":
        r = cls(t[f"{prefix}.values"].shape[0], k, largest)
        r.values, r.index, r.place = t[f"{prefix}.values"], t[f"{prefix}.index"], t[f"{prefix}.place"]
        return r


def _fits(lo: torch.Tensor, hi: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    w = torch.pow(2.0, e.double())
    return torch.floor(hi / w) - torch.floor(lo / w) <= BINS - 1


class Histogram:
    """Exact per-channel counts of values in ``BINS`` bins of width ``2**exponent``, the first bin
    starting at ``start * 2**exponent``."""

    def __init__(self, channels: int):
        self.exponent = torch.full((channels,), E_MIN, dtype=torch.long)
        self.start = torch.zeros(channels, dtype=torch.long)
        self.counts = torch.zeros((channels, BINS), dtype=torch.long)
        self.lo = torch.full((channels,), float("inf"), dtype=torch.float64)
        self.hi = torch.full((channels,), float("-inf"), dtype=torch.float64)

    @property
    def empty(self) -> torch.Tensor:
        return self.counts.sum(1) == 0

    def _regrid(self, lo: torch.Tensor, hi: torch.Tensor, at_least: Optional[torch.Tensor] = None) -> None:
        """Grow each channel's bins until [lo, hi] fits: the smallest exponent, at least the present
        one (and ``at_least``), that holds them."""
        span = (hi - lo).clamp_min(0)
        lower = torch.where(span > 0, torch.floor(torch.log2(span.clamp_min(1e-300) / BINS)),
                            torch.full_like(span, E_MIN)).long()
        e = torch.maximum(self.exponent, lower.clamp_min(E_MIN))
        mag = torch.maximum(lo.abs(), hi.abs()).nan_to_num(0.0, posinf=0.0)
        e = torch.maximum(e, torch.where(mag > 0, torch.floor(torch.log2(mag.clamp_min(1e-300))) - 52,
                                         torch.full_like(mag, E_MIN)).long())   # bin indices below 2**53
        if at_least is not None:
            e = torch.maximum(e, at_least)
        while True:
            bad = ~_fits(lo, hi, e)
            if not bool(bad.any()):
                break
            e = e + bad.long()
        seen = torch.isfinite(lo)
        start = torch.where(seen, torch.floor(lo.clamp(-1e300, 1e300) / torch.pow(2.0, e.double())), torch.zeros_like(lo)).long()
        counts = torch.zeros_like(self.counts)
        full = ~self.empty
        if bool(full.any()):
            shift = (e - self.exponent)[full].clamp_max(62)                            # >= 0
            absolute = self.start[full, None] + torch.arange(BINS)[None]               # old bins' absolute index
            new = torch.div(absolute, torch.pow(2, shift)[:, None], rounding_mode="floor") - start[full, None]
            new = new.clamp(0, BINS - 1)          # only empty old bins fall outside the data's range
            part = torch.zeros((int(full.sum()), BINS), dtype=torch.long)
            part.scatter_add_(1, new, self.counts[full])
            counts[full] = part
        self.exponent, self.start, self.counts, self.lo, self.hi = e, start, counts, lo, hi

    def add(self, values: torch.Tensor) -> None:
        """``values`` (B, C): one value per image and channel."""
        v = values.detach().double().cpu()
        v = torch.where(torch.isfinite(v), v, torch.zeros_like(v))
        self._regrid(torch.minimum(self.lo, v.amin(0)), torch.maximum(self.hi, v.amax(0)))
        w = torch.pow(2.0, self.exponent.double())
        b = (torch.floor(v / w[None]).long() - self.start[None]).t()                 # (C, B)
        self.counts.scatter_add_(1, b, torch.ones_like(b))

    def merge(self, other: "Histogram") -> None:
        other = other.copy()
        lo, hi = torch.minimum(self.lo, other.lo), torch.maximum(self.hi, other.hi)
        e = torch.maximum(self.exponent, other.exponent)     # both grow to the same smallest grid
        self._regrid(lo, hi, e)
        other._regrid(lo, hi, e)
        self.counts = self.counts + other.counts

    def copy(self) -> "Histogram":
        h = Histogram(len(self.start))
        h.exponent, h.start, h.counts, h.lo, h.hi = (self.exponent.clone(), self.start.clone(), self.counts.clone(),
                                                     self.lo.clone(), self.hi.clone())
        return h

    def edges(self, c: int) -> torch.Tensor:
        """The ``BINS + 1`` bin edges of channel ``c``."""
        w = 2.0 ** int(self.exponent[c])
        return (int(self.start[c]) + torch.arange(BINS + 1, dtype=torch.float64)) * w

    def state(self, prefix: str) -> Dict[str, torch.Tensor]:
        return {f"{prefix}.exponent": self.exponent, f"{prefix}.start": self.start, f"{prefix}.counts": self.counts,
                f"{prefix}.lo": self.lo, f"{prefix}.hi": self.hi}

    @classmethod
    def from_state(cls, t: Dict[str, torch.Tensor], prefix: str) -> "Histogram":
        h = cls(len(t[f"{prefix}.start"]))
        h.exponent, h.start, h.counts = t[f"{prefix}.exponent"], t[f"{prefix}.start"], t[f"{prefix}.counts"]
        h.lo, h.hi = t[f"{prefix}.lo"], t[f"{prefix}.hi"]
        return h


class Moments:
    """Sums over images of each channel's value ``x`` (C), its square, and its products with each
    output ``y`` (K): means and correlations, in float64."""

    def __init__(self, channels: int, outputs: int = 0):
        self.n = torch.zeros((), dtype=torch.float64)
        self.sx = torch.zeros(channels, dtype=torch.float64)
        self.sxx = torch.zeros(channels, dtype=torch.float64)
        self.sy = torch.zeros(outputs, dtype=torch.float64)
        self.syy = torch.zeros(outputs, dtype=torch.float64)
        self.sxy = torch.zeros((channels, outputs), dtype=torch.float64)

    def add(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> None:
        x = x.detach().double().cpu()
        self.n = self.n + len(x)
        self.sx = self.sx + x.sum(0)
        self.sxx = self.sxx + (x * x).sum(0)
        if y is not None and self.sy.numel():
            y = y.detach().double().cpu()
            self.sy = self.sy + y.sum(0)
            self.syy = self.syy + (y * y).sum(0)
            self.sxy = self.sxy + x.t() @ y

    def merge(self, other: "Moments") -> None:
        self.n, self.sx, self.sxx = self.n + other.n, self.sx + other.sx, self.sxx + other.sxx
        self.sy, self.syy, self.sxy = self.sy + other.sy, self.syy + other.syy, self.sxy + other.sxy

    def mean(self) -> torch.Tensor:
        return self.sx / self.n.clamp_min(1)

    def correlation(self) -> torch.Tensor:
        """(C, K) Pearson correlation of each channel with each output over the images (0 where
        either is constant)."""
        n = self.n.clamp_min(1)
        cov = n * self.sxy - self.sx[:, None] * self.sy[None]
        vx = (n * self.sxx - self.sx ** 2).clamp_min(0)
        vy = (n * self.syy - self.sy ** 2).clamp_min(0)
        den = (vx[:, None] * vy[None]).sqrt()
        return torch.where(den > 0, cov / den.clamp_min(1e-300), torch.zeros_like(cov))

    def state(self, prefix: str) -> Dict[str, torch.Tensor]:
        return {f"{prefix}.{k}": getattr(self, k) for k in ("n", "sx", "sxx", "sy", "syy", "sxy")}

    @classmethod
    def from_state(cls, t: Dict[str, torch.Tensor], prefix: str) -> "Moments":
        m = cls(0, 0)
        for k in ("n", "sx", "sxx", "sy", "syy", "sxy"):
            setattr(m, k, t[f"{prefix}.{k}"])
        return m
