"""Small in-place optimizers over one tensor, with an explicit momentum reset.

Each has ``lr`` (settable), ``step(u, g)`` (update ``u`` in place from gradient ``g``) and
``reset()`` (forget momentum; called by the loop when the learning rate changes, as in the
CVPR-2015 code).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..errors import ConfigError


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
    """Adam; ``reset()`` forgets both moments.

    One pass over the pixels per step with torch's fused Adam kernel (the one behind
    ``torch.optim.Adam(fused=True)``, called directly: the optimizer wrapper's Python overhead is
    a measurable share of a small inversion's iteration); five in-place kernels where this torch
    build has no fused kernel for the tensor's device or dtype.
    """

    def __init__(self, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = float(lr), betas, eps
        self._fused = getattr(torch, "_fused_adam_", None)
        self.reset()

    def reset(self):
        self.m: Optional[torch.Tensor] = None
        self.v: Optional[torch.Tensor] = None
        self.t = 0

    @torch.no_grad()
    def step(self, u, g):
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = torch.zeros_like(u), torch.zeros_like(u)
        self.t += 1
        if not g.is_contiguous():
            g = g.contiguous()  # the fused kernel reads memory in order: a permuted gradient would be misread
        if self._fused is not None:
            try:
                self._fused([u], [g], [self.m], [self.v], [], [torch.tensor(float(self.t))], amsgrad=False,
                            lr=self.lr, beta1=b1, beta2=b2, weight_decay=0.0, eps=self.eps, maximize=False)
                return
            except (RuntimeError, TypeError):
                self._fused = None
        assert self.v is not None  # set with self.m above
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = self.v.sqrt().div_((1 - b2 ** self.t) ** 0.5).add_(self.eps)
        u.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))


class PyramidAdam(Adam):
    """Adam on a gradient whose coarse components are amplified: for ``k = 1 .. levels``, the
    gradient average-pooled over ``2^k x 2^k`` blocks, weighted ``weight**k``, is added back at full
    size (the gradient a Laplacian-pyramid parameterization of the image would give, to first
    order). Coarse structure moves faster than fine detail, which a deep code needs first.

    Computed as a cascade - each level pooled from the one below and each coarser sum upsampled by
    2 (bilinear) into the next finer one - so only one pooling and one upsampling run at full size;
    levels smaller than 1 pixel are skipped.
    """

    def __init__(self, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, levels: int = 3, weight: float = 2.0):
        super().__init__(lr, betas=betas, eps=eps)
        self.levels, self.weight = int(levels), float(weight)

    def precondition(self, g: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if g.dim() != 4 or self.levels < 1:
            return g
        pooled = [g]
        for _ in range(self.levels):
            if min(pooled[-1].shape[-2:]) < 2:
                break
            pooled.append(F.avg_pool2d(pooled[-1], 2, ceil_mode=True))
        acc = None
        for k in range(len(pooled) - 1, 0, -1):   # coarsest first
            term = pooled[k] * self.weight ** k
            if acc is not None:
                term = term + F.interpolate(acc, size=term.shape[-2:], mode="bilinear", align_corners=False)
            acc = term
        if acc is None:
            return g
        return g + F.interpolate(acc, size=g.shape[-2:], mode="bilinear", align_corners=False)

    def step(self, u, g):
        return super().step(u, self.precondition(g))


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
        assert self.m is not None  # set with self.G above; reset() keeps it set
        self.G.mul_(self.rho).addcmul_(g, g)
        denom = self.G.sqrt().add_(1.0 / self.lr)
        self.m.mul_(self.momentum).addcdiv_(g, denom, value=-1.0)
        u.add_(self.m)

    def reset(self):
        self.m = torch.zeros_like(self.m) if self.m is not None else None


class TorchOptimizer(Optimizer):
    """Any ``torch.optim`` optimizer that steps from ``.grad`` (SGD, Adam, AdamW, RMSprop, ...), on
    the preset's learning-rate schedule::

        invert(rep, x, optimizer=torch.optim.AdamW)            # or functools.partial(torch.optim.SGD, momentum=0.9)

    ``reset()`` builds a fresh instance (its state forgotten). Optimizers that need a closure
    (L-BFGS) re-evaluate the energy themselves and do not fit this loop.
    """

    def __init__(self, factory, lr: float = 1e-3, **kwargs):
        cls = getattr(factory, "func", factory)
        if cls is torch.optim.LBFGS:
            raise ConfigError("torch.optim.LBFGS needs a closure that re-evaluates the energy; use an optimizer "
                              "that steps from the gradient (SGD, Adam, AdamW, RMSprop, ...)")
        self.factory, self.kwargs, self.lr = factory, kwargs, float(lr)
        self.opt: Optional[torch.optim.Optimizer] = None

    def step(self, u, g):
        if self.opt is None or self.opt.param_groups[0]["params"][0] is not u:
            self.opt = self.factory([u], lr=self.lr, **self.kwargs)
        for group in self.opt.param_groups:
            group["lr"] = self.lr
        u.grad = g
        self.opt.step()
        u.grad = None

    def reset(self):
        self.opt = None


def as_optimizer(opt, lr: float) -> Optimizer:
    """An :class:`Optimizer` from one of ours, a ``torch.optim`` class, or a factory ``f(params, lr=...)``."""
    if isinstance(opt, Optimizer):
        return opt
    if isinstance(opt, torch.optim.Optimizer):
        raise ConfigError("pass the optimizer's class (torch.optim.Adam) or a factory, not an instance bound to other parameters")
    if callable(opt):
        return TorchOptimizer(opt, lr)

    raise ConfigError(f"not an optimizer: {opt!r}")
