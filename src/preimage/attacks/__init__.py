"""Adversarial examples on any classifier the package loads: FGSM and PGD (L-infinity and L2
budgets, random start, targeted or not), on [0, 1] images, the model's normalization inside.

    from preimage.attacks import Classifier, pgd
    clf = Classifier.from_info(load_model("refnet"))
    x_adv = pgd(clf, x, labels, eps=8 / 255, steps=10)

Batched and deterministic: the random start of image ``i`` is drawn from ``(seed, i)``'s own
generator, so an image's example does not depend on its companions' number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..keys import keyed
from ..models.classifier import Classifier

__all__ = ["NORMS", "AttackOutcome", "Classifier", "check_budget", "check_norm", "fgsm", "outcome", "parse_eps", "pgd", "quantize"]

NORMS = ("inf", "2")


def check_norm(norm: str) -> str:
    """``inf`` or ``2``, or a clear error."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; valid: inf, 2")
    return norm


def parse_eps(text: str, option: str = "--eps") -> float:
    """``"8/255"``, ``"0.03"``: a non-negative budget (or step), or a clear error naming ``option``."""
    try:
        v = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"{option} must be a number or a fraction like 8/255, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise ConfigError(f"{option} must be a finite number >= 0, got {text!r}")
    return v


def check_budget(eps: float, norm: str, shape: Tuple[int, ...]) -> float:
    """Refuse a budget that lets an attack reach any image of the [0, 1] box (the attack is then no
    small change but a free choice): L-inf eps >= 1, or L2 eps >= the box's diagonal sqrt(C*H*W)."""
    if norm == "inf" and eps >= 1:
        raise ConfigError(f"--eps {eps:g} lets an L-inf attack change every pixel to anything (images are in [0, 1]); "
                          f"use a budget below 1, such as 8/255")
    diagonal = math.sqrt(math.prod(shape))
    if norm == "2" and eps >= diagonal:
        raise ConfigError(f"--eps {eps:g} is at least the diagonal of the image box ({diagonal:.1f} for {shape}): an L2 "
                          f"attack could reach any image; use a smaller budget")
    return eps


def _grad(clf: Classifier, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Gradient of the loss the attack ascends: cross-entropy of the true label (untargeted) or
    minus that of the target (targeted)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(clf(x), y, reduction="sum")
    (g,) = torch.autograd.grad(-loss if targeted else loss, x)
    return g


def fgsm(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, targeted: bool = False) -> torch.Tensor:
    """One step of size ``eps`` along the sign of the gradient, clipped to [0, 1]."""
    return (x + eps * _grad(clf, x, y, targeted).sign()).clamp(0, 1).detach()


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "inf":
        return delta.clamp(-eps, eps)
    n = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return delta * torch.clamp(eps / n.clamp_min(1e-12), max=1.0)


def _random_start(x: torch.Tensor, eps: float, norm: str, seed: int) -> torch.Tensor:
    out = []
    for i in range(len(x)):
        g = keyed(seed, "pgd start", i)
        if norm == "inf":
            d = (torch.rand(x.shape[1:], generator=g) * 2 - 1) * eps
        else:
            d = torch.randn(x.shape[1:], generator=g)
            r = torch.rand((), generator=g) ** (1.0 / d.numel())
            d = d / d.norm().clamp_min(1e-12) * eps * r
        out.append(d)
    return torch.stack(out).to(x.device, x.dtype)


def pgd(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10,
        step_size: Optional[float] = None, norm: str = "inf", random_start: bool = True, targeted: bool = False,
        seed: int = 0) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): ``steps`` steps of ``step_size`` (default
    2.5 eps / steps) along the gradient's sign (L-inf) or direction (L2), projected back onto the
    eps-ball around ``x`` and into [0, 1] after each."""
    check_norm(norm)
    if steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}")
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    x = x.detach()
    adv = (x + _random_start(x, eps, norm, seed)).clamp(0, 1) if random_start and eps > 0 else x.clone()
    for _ in range(steps):
        g = _grad(clf, adv, y, targeted)
        if norm == "inf":
            step = g.sign()
        else:
            step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        adv = (x + _project(adv + alpha * step - x, eps, norm)).clamp(0, 1).detach()
    return adv


@dataclass
class AttackOutcome:
    clean_label: torch.Tensor
    clean_conf: torch.Tensor
    adv_label: torch.Tensor
    adv_conf: torch.Tensor
    success: torch.Tensor        # fooled (untargeted: label changed from the true one; targeted: = target)
    linf: torch.Tensor
    l2: torch.Tensor


@torch.no_grad()
def outcome(clf: Classifier, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor,
            target: Optional[torch.Tensor] = None) -> AttackOutcome:
    pc, pa = F.softmax(clf(x), 1), F.softmax(clf(adv), 1)
    lc, la = pc.argmax(1), pa.argmax(1)
    success = (la == target) if target is not None else (la != y)
    d = (adv - x).flatten(1)
    return AttackOutcome(lc, pc.amax(1), la, pa.amax(1), success, d.abs().amax(1), d.norm(dim=1))


def quantize(x: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG keeps of an image."""
    return (x * 255).round() / 255
