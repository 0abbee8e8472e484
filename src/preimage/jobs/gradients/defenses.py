"""Defenses of a shared update, each at a strength (``--defense``), and the syntax that names them.

* ``noise:s`` - Gaussian noise of standard deviation ``s`` times the update's own RMS (over all its
  numbers) added to every number; ``noise:0`` is the identity.
* ``prune:p`` - gradient pruning (Zhu et al.): in every parameter tensor the fraction ``p`` of numbers
  smallest in magnitude set to zero; ``prune:0`` is the identity.
* ``quantize:bits`` - every parameter tensor rounded to ``2^(bits-1) - 1`` levels each side of zero
  over its own largest magnitude (zero stays exact); one bit keeps the sign times the mean magnitude.
* ``dpsgd:C/s`` - DP-SGD (Abadi et al.): each example's gradient clipped to L2 norm ``C``, summed,
  Gaussian noise of standard deviation ``s * C`` added, divided by the batch size; applied to every
  local step. ``dpsgd:inf/0`` is the plain gradient.

noise, prune and quantize change the update once, as it leaves the client; dpsgd changes every
step's gradient inside it. Random draws come from :func:`preimage.keys.keyed` with the run's seed,
the batch and the step, so a run is reproducible whatever else it measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence

import torch

from ...errors import ConfigError
from ...parsing import parse_groups

KINDS = ("noise", "prune", "quantize", "dpsgd")
ALIASES = {"quantise": "quantize", "pruning": "prune", "dp-sgd": "dpsgd"}
EXAMPLES = {"noise": "0.01,0.1,1", "prune": "0.5,0.9,0.99", "quantize": "8,4,2", "dpsgd": "1/0.01,1/0.1,1/1"}
SYNTAX = ("noise:S,.. (noise std relative to the update's RMS) | prune:P,.. (fraction of each tensor zeroed) | "
          "quantize:BITS,.. | dpsgd:CLIP/SIGMA,.. (per-example clipping, noise SIGMA x CLIP)")


@dataclass(frozen=True)
class Defense:
    """One defense at one strength (``clip`` is DP-SGD's clipping norm; ``strength`` its noise multiplier)."""

    kind: str
    strength: float
    clip: float = math.inf

    @property
    def label(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "quantize":
            return f"{int(self.strength)}-bit"
        if self.kind == "dpsgd":
            return f"DP-SGD C={self.clip:g} s={self.strength:g}"
        return f"{self.kind} {self.strength:g}"

    @property
    def key(self) -> str:
        """A file-name-safe name: ``noise-0.1``, ``quantize-4``, ``dpsgd-1-0.1``."""
        if self.kind == "none":
            return "none"
        tail = f"{self.clip:g}-{self.strength:g}" if self.kind == "dpsgd" else f"{self.strength:g}"
        return f"{self.kind}-{tail}"

    def severity(self) -> float:
        """Orders one kind from weakest to strongest (more noise, more pruned, fewer bits)."""
        return -self.strength if self.kind == "quantize" else self.strength

    def to_json(self) -> dict:
        d = {"defense": self.kind, "strength": self.strength, "label": self.label}
        if self.kind == "dpsgd":
            d["clip"] = self.clip if math.isfinite(self.clip) else None
        return d

    # ------------------------------------------------------------ on the update as it leaves
    def perturb(self, update: Sequence[torch.Tensor], gen: torch.Generator) -> List[torch.Tensor]:
        """The update as the server receives it (noise, prune, quantize; the others leave it)."""
        if self.kind == "noise" and self.strength > 0:
            total = sum(float(u.detach().double().pow(2).sum()) for u in update)
            rms = math.sqrt(total / max(1, sum(u.numel() for u in update)))
            return [u + self.strength * rms * torch.randn(u.shape, generator=gen).to(u) for u in update]
        if self.kind == "prune" and self.strength > 0:
            return [_prune(u, self.strength) for u in update]
        if self.kind == "quantize":
            return [_quantize(u, int(self.strength)) for u in update]
        return list(update)

    # ------------------------------------------------------------ DP-SGD, inside every step
    def privatize(self, per_example: Sequence[torch.Tensor], gen: torch.Generator) -> List[torch.Tensor]:
        """DP-SGD's gradient from per-example gradients ``(B, *shape)``: clipped, summed, noised, / B."""
        b = per_example[0].shape[0]
        norms = torch.stack([g.detach().double().flatten(1).pow(2).sum(1) for g in per_example]).sum(0).sqrt()
        scale = (self.clip / norms.clamp_min(1e-12)).clamp(max=1.0) if math.isfinite(self.clip) else torch.ones_like(norms)
        out = []
        for g in per_example:
            s = (g * scale.to(g).view(-1, *([1] * (g.dim() - 1)))).sum(0)
            if self.strength > 0 and math.isfinite(self.clip):
                s = s + self.strength * self.clip * torch.randn(s.shape, generator=gen).to(s)
            out.append(s / b)
        return out


NONE = Defense("none", 0.0)


def _prune(u: torch.Tensor, fraction: float) -> torch.Tensor:
    flat = u.flatten()
    k = int(math.floor(fraction * flat.numel()))
    if k <= 0:
        return u
    out = flat.clone()
    out[flat.abs().topk(k, largest=False).indices] = 0
    return out.view_as(u)


def _quantize(u: torch.Tensor, bits: int) -> torch.Tensor:
    m = u.abs().max()
    if float(m) == 0:
        return u.clone()
    if bits == 1:
        return torch.sign(u) * u.abs().mean()
    levels = 2 ** (bits - 1) - 1
    return torch.round(u / m * levels) / levels * m


def parse_defenses(text: str) -> List[Defense]:
    """``"noise:0.01,0.1|prune:0.9|quantize:4|dpsgd:1/0.1"`` -> defenses, or one clear error."""
    out: List[Defense] = []
    groups = parse_groups(text, "--defense", KINDS, SYNTAX, EXAMPLES,
                          key=lambda k: ALIASES.get(k.strip().lower(), k.strip().lower()))
    for kind, values in groups:
        for v in values:
            if kind == "dpsgd":
                out.append(_dpsgd(v))
                continue
            try:
                s = float(v)
            except ValueError:
                raise ConfigError(f"--defense {kind}: {v!r} is not a number (e.g. {kind}:{EXAMPLES[kind]})") from None
            if kind == "noise" and not (math.isfinite(s) and s >= 0):
                raise ConfigError(f"--defense noise: strength must be a finite number >= 0, got {v}")
            if kind == "prune" and not 0 <= s < 1:
                raise ConfigError(f"--defense prune: the fraction zeroed must be in [0, 1), got {v}")
            if kind == "quantize" and not (s == int(s) and 1 <= s <= 32):
                raise ConfigError(f"--defense quantize: bits must be a whole number from 1 to 32, got {v}")
            out.append(Defense(kind, s))
    return out


def _dpsgd(v: str) -> Defense:
    clip, sep, sigma = v.partition("/")
    if not sep:
        raise ConfigError(f"--defense dpsgd: write CLIP/SIGMA pairs separated by commas, e.g. dpsgd:{EXAMPLES['dpsgd']} "
                          f"(got {v!r})")
    try:
        c, s = float(clip), float(sigma)
    except ValueError:
        raise ConfigError(f"--defense dpsgd: {v!r} is not CLIP/SIGMA (two numbers, e.g. 1/0.1)") from None
    if not (c > 0) or not (math.isfinite(s) and s >= 0):
        raise ConfigError(f"--defense dpsgd: the clipping norm must be positive (or inf) and the noise multiplier a "
                          f"finite number >= 0, got {v}")
    if math.isinf(c) and s > 0:
        raise ConfigError(f"--defense dpsgd: noise SIGMA x CLIP needs a finite clipping norm, got {v}")
    return Defense("dpsgd", s, c)
