"""Small in-place optimisers over one tensor, with an explicit momentum reset.

Each has ``lr`` (settable), ``step(u, g)`` (update ``u`` in place from gradient ``g``) and
``reset()`` (forget momentum; called by the loop when the learning rate changes, as in the
CVPR-2015 code).
"""

from __future__ import annotations

from typing import Optional

import torch


class Optimizer:
    lr: float = 0.0

    def step(self, u: torch.Tensor, g: torch.Tensor) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        pass


class MomentumSGD(Optimizer):
    """``m <- mu m - lr g``; ``u <- u + m``."""

    def __init__(self, lr: float, momentum: float = 0.9):
        self.lr, self.momentum = float(lr), float(momentum)
        self.m: Optional[torch.Tensor] = None

    @torch.no_grad()
    def step(self, u, g):
        if self.m is None:
            self.m = torch.zeros_like(u)
        self.m.mul_(self.momentum).add_(g, alpha=-self.lr)
        u.add_(self.m)

    def reset(self):
        self.m = None


class Adam(Optimizer):
    """Adam (torch's fused kernel where available); ``reset()`` forgets both moments."""

    def __init__(self, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = float(lr), betas, eps
        self._opt = None
        self._u = None

    def reset(self):
        self._opt = None

    @torch.no_grad()
    def step(self, u, g):
        if self._opt is None or self._u is not u:
            self._u = u
            kw = {}
            if u.device.type in ("cpu", "cuda"):
                kw["fused"] = True
            self._opt = torch.optim.Adam([u], lr=self.lr, betas=self.betas, eps=self.eps, **kw)
        for group in self._opt.param_groups:
            group["lr"] = self.lr
        u.grad = g
        self._opt.step()
        u.grad = None


class MomentumAdaGrad(Optimizer):
    """The IJCV-2016 rule: ``G <- rho G + g^2``; ``m <- mu m - g / (1/eta + sqrt(G))``; ``u <- u + m``.

    Here ``lr`` is ``eta`` itself (the preset sets ``eta = H W lr``).
    """

    def __init__(self, lr: float, momentum: float = 0.9, rho: float = 0.9):
        self.lr, self.momentum, self.rho = float(lr), float(momentum), float(rho)
        self.G: Optional[torch.Tensor] = None
        self.m: Optional[torch.Tensor] = None

    @torch.no_grad()
    def step(self, u, g):
        if self.G is None:
            self.G, self.m = torch.zeros_like(u), torch.zeros_like(u)
        self.G.mul_(self.rho).addcmul_(g, g)
        denom = self.G.sqrt().add_(1.0 / self.lr)
        self.m.mul_(self.momentum).addcdiv_(g, denom, value=-1.0)
        u.add_(self.m)

    def reset(self):
        self.m = torch.zeros_like(self.m) if self.m is not None else None
