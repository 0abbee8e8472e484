"""What an attacker learns from decoded embeddings, and the defenses that perturb the embedding.

* :func:`similarity` / :func:`reidentify`: each reconstruction is compared with every private image
  by the **correlation of their pixel values** (each image's mean removed, then cosine similarity);
  the most similar private image is the attacker's guess. Correlation ignores the brightness and
  contrast a decoder loses (decoders return the expected pre-image, which is blurred and flat), so
  the comparison rewards the layout and colors that survive. Ties (a flat image correlates 0 with
  everything) are broken at random in expectation: a reconstruction tied with ``t`` images, ``g``
  strictly more similar than the true one, is counted ``clamp((k - g) / t, 0, 1)`` for top-``k``,
  so a flat gray guess scores exactly ``k / N``, the chance rate.
* :class:`Defense`: ``noise`` (Gaussian noise of ``strength`` times the code's own RMS, drawn per
  image from the seed), ``quantize`` (each code to ``strength`` bits per unit over its own
  [min, max] range) and ``topk`` (keep the ``strength`` fraction of units largest in magnitude, zero
  the rest). ``noise:0`` and ``topk:1`` return the code unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence

import torch

from ...errors import ConfigError
from ...keys import keyed
from ...parsing import parse_groups

KINDS = ("noise", "quantize", "topk")


def _unit_rows(x: torch.Tensor, dtype=torch.float64) -> torch.Tensor:
    f = x.flatten(1).to(dtype)
    f = f - f.mean(1, keepdim=True)
    n = f.norm(dim=1, keepdim=True)
    return torch.where(n > 1e-12, f / n.clamp_min(1e-12), torch.zeros_like(f))


def similarity(recs: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """(N, ...) reconstructions x (M, ...) images -> (N, M) pixel correlations in [-1, 1] (float64)."""
    return _unit_rows(recs) @ _unit_rows(originals).T


class Reidentifier:
    """Re-identification counted batch by batch against a fixed set of private images, so only the
    private images (any dtype; uint8 is enough) stay in memory, never the reconstructions.

    ``add(index, recs)``: ``recs[j]`` reconstructs private image ``index[j]``. ``result()`` ->
    ``{"top1": rate, "top5": rate, "rank": (N,) expected rank of the true image (1 = first),
    "guess": (N,) most similar index}`` over the images added. The true image's own similarity is
    never compared with itself (it counts as one tie), so rounding cannot push it below itself.
    """

    def __init__(self, originals: torch.Tensor, ks: Sequence[int] = (1, 5), block: int = 256):
        self.originals, self.ks, self.block = originals, tuple(ks), int(block)
        n = len(originals)
        self.hits = {k: torch.zeros(n, dtype=torch.float64) for k in self.ks}
        self.rank = torch.zeros(n, dtype=torch.float64)
        self.guess = torch.zeros(n, dtype=torch.long)
        self.seen = torch.zeros(n, dtype=torch.bool)

    def _unit(self, x: torch.Tensor) -> torch.Tensor:
        return _unit_rows(x.float() / 255 if x.dtype == torch.uint8 else x, torch.float32)

    def add(self, index: torch.Tensor, recs: torch.Tensor) -> None:
        r = self._unit(recs)
        true = (r * self._unit(self.originals[index])).sum(1)
        greater = torch.zeros(len(r), dtype=torch.float64)
        tied = torch.ones(len(r), dtype=torch.float64)  # the true image itself
        best, arg = true.clone(), index.clone()
        for s in range(0, len(self.originals), self.block):
            sim = r @ self._unit(self.originals[s:s + self.block]).T
            cols = torch.arange(s, s + sim.shape[1])
            own = index[:, None] == cols[None, :]
            greater += ((sim > true[:, None]) & ~own).sum(1)
            tied += ((sim == true[:, None]) & ~own).sum(1)
            m, a = sim.masked_fill(own, -2.0).max(1)
            better = m > best
            best, arg = torch.where(better, m, best), torch.where(better, cols[a], arg)
        for k in self.ks:
            self.hits[k][index] = ((k - greater) / tied).clamp(0, 1)
        self.rank[index] = greater + (tied + 1) / 2
        self.guess[index] = arg
        self.seen[index] = True

    def result(self) -> Dict:
        seen = self.seen
        out: Dict = {f"top{k}": float(v[seen].mean()) for k, v in self.hits.items()}
        out["rank"] = self.rank[seen]
        out["guess"] = self.guess[seen]
        return out


def reidentify(recs: torch.Tensor, originals: torch.Tensor, ks: Sequence[int] = (1, 5), block: int = 256) -> Dict:
    """How often the true image is among the top ``k`` most similar private images, for each ``k``.

    ``recs[i]`` is the reconstruction of ``originals[i]``. Returns ``{"top1": rate, "top5": rate,
    "rank": (N,) expected rank of the true image (1 = found first), "guess": (N,) most similar index}``.
    """
    n = len(originals)
    if len(recs) != n or n < 2:
        raise ConfigError(f"re-identification needs one reconstruction per private image and at least 2 images "
                          f"(got {len(recs)} reconstructions of {n})")
    counter = Reidentifier(originals, ks, block)
    for s in range(0, n, 512):
        counter.add(torch.arange(s, min(n, s + 512)), recs[s:s + 512])
    return counter.result()


# ---------------------------------------------------------------- defenses
@dataclass(frozen=True)
class Defense:
    """A perturbation of the embedding; ``defense(codes, index, seed)`` -> defended codes."""

    kind: str
    strength: float

    @property
    def label(self) -> str:
        s = int(self.strength) if self.kind == "quantize" else f"{self.strength:g}"
        return {"noise": f"noise {s}", "quantize": f"{s}-bit", "topk": f"top {s}"}[self.kind]

    def __call__(self, codes: torch.Tensor, index: torch.Tensor, seed: int = 0) -> torch.Tensor:
        flat = codes.flatten(1)
        if self.kind == "noise":
            if self.strength == 0:
                return codes
            rms = flat.pow(2).mean(1, keepdim=True).sqrt()
            noise = torch.stack([torch.randn(flat.shape[1], generator=_image_generator(seed, int(i)))
                                 for i in index]).to(flat)
            return (flat + self.strength * rms * noise).view_as(codes)
        if self.kind == "quantize":
            levels = 2 ** int(self.strength) - 1
            lo = flat.min(1, keepdim=True).values
            span = (flat.max(1, keepdim=True).values - lo).clamp_min(1e-30)
            return (torch.round((flat - lo) / span * levels) / levels * span + lo).view_as(codes)
        keep = max(1, math.ceil(self.strength * flat.shape[1]))
        if keep >= flat.shape[1]:
            return codes
        idx = flat.abs().topk(keep, dim=1).indices
        out = torch.zeros_like(flat).scatter_(1, idx, flat.gather(1, idx))
        return out.view_as(codes)


def _image_generator(seed: int, index: int) -> torch.Generator:
    return keyed(seed, "defense", index)


def parse_defenses(text: str) -> List[Defense]:
    """``"noise:0.1,0.3|quantize:8,4,2|topk:0.5,0.1"`` -> defenses, or one clear error."""
    out: List[Defense] = []
    groups = parse_groups(text, "--defense", KINDS, "noise:S,.. (noise std relative to the code's RMS), "
                          "quantize:BITS,.., topk:FRACTION,..", {"noise": "0.1,0.3", "quantize": "8,4", "topk": "0.5,0.1"})
    for kind, values in groups:
        for v in values:
            try:
                s = float(v)
            except ValueError:
                raise ConfigError(f"--defense {kind}: {v!r} is not a number") from None
            if kind == "noise" and not (math.isfinite(s) and s >= 0):
                raise ConfigError(f"--defense noise: strength must be a finite number >= 0, got {v}")
            if kind == "quantize" and not (s == int(s) and 1 <= s <= 24):
                raise ConfigError(f"--defense quantize: bits must be a whole number from 1 to 24, got {v}")
            if kind == "topk" and not 0 < s <= 1:
                raise ConfigError(f"--defense topk: the fraction kept must be in (0, 1], got {v}")
            out.append(Defense(kind, s))
    return out
