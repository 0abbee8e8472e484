"""The energy minimizer: stages of (iterations, learning rate, jitter), a stop rule, a history."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from .. import progress
from ..backward.relu import relu_rule
from ..errors import ConfigError, DivergedError
from ..representations.base import Representation
from ..trainkit import lr_schedule
from .objectives import Context, Objective
from .optimizers import Optimizer, as_optimizer
from .param import Param
from .transforms import Transform, apply, as_list, center, total_pad


@dataclass(frozen=True)
class Stage:
    """``iters`` iterations at learning rate ``lr`` (jittered or not); ``decay`` in (0, 1] ends the
    stage at ``lr * decay`` on a cosine curve (1 = constant)."""

    iters: int
    lr: float
    jitter: bool = False
    decay: float = 1.0

    def lr_at(self, i: int) -> float:
        if self.decay == 1.0 or self.iters <= 1:
            return self.lr
        return lr_schedule(i, self.iters - 1, self.lr, decay="cosine", floor=self.decay)


def rescale_stages(stages: Sequence[Stage], total: int) -> List[Stage]:
    """Stretch or shrink a schedule to ``total`` iterations, keeping its proportions."""
    if total < 1:
        raise ConfigError(f"--iters must be at least 1, got {total}")
    old = sum(s.iters for s in stages)
    out, used = [], 0
    for i, s in enumerate(stages):
        n = total - used if i == len(stages) - 1 else round(s.iters * total / old)
        n = max(0, min(n, total - used))
        used += n
        if n:
            out.append(Stage(n, s.lr, s.jitter, s.decay))
    return out


class StopRule:
    """Decides when to stop and drives the progress bar. ``__call__(step, losses) -> bool``."""

    def __init__(self, total: int, desc: str = "optimizing", show: Optional[bool] = None):
        self.total = total
        self.desc = desc
        self.show = show
        self.bar = None

    def start(self) -> None:
        self.bar = progress.bar(total=self.total, desc=self.desc, show=self.show)

    def __call__(self, step: int, losses: torch.Tensor) -> bool:
        if self.bar is not None:
            self.bar.update(1)
            if step % 10 == 0 or step + 1 == self.total:
                self.bar.set_postfix(energy=f"{float(losses.mean()):.4g}")
        return step + 1 >= self.total

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Plateau(StopRule):
    """Stops at ``total`` iterations, or earlier when the mean energy has improved by less than
    ``rel_tol`` (relative) over the last ``patience`` iterations."""

    def __init__(self, total: int, patience: int = 50, rel_tol: float = 1e-4, **kw):
        super().__init__(total, **kw)
        self.patience, self.rel_tol = patience, rel_tol
        self.trace: List[float] = []

    def __call__(self, step, losses):
        done = super().__call__(step, losses)
        self.trace.append(float(losses.mean()))
        if len(self.trace) > self.patience:
            old, new = self.trace[-self.patience - 1], self.trace[-1]
            if old - new <= self.rel_tol * abs(old):
                return True
        return done


@dataclass
class OptimResult:
    image: torch.Tensor                 # (N, 3, H, W) in [0, 1], center crop, clamped
    history: torch.Tensor               # (iterations, N) energy per image
    iterations: int
    seconds: float
    terms: dict = field(default_factory=dict)   # name -> (N,) final value of each summand


def optimize(param: Param, objective: Objective, optimizer: Optimizer, stages: Sequence[Stage],
             rep: Optional[Representation] = None, transforms: Optional[Sequence[Transform]] = None,
             stop: Optional[StopRule] = None,
             reset_on_lr_change: bool = True, callback: Optional[Callable[[int, torch.Tensor], None]] = None,
             show: Optional[bool] = None,
             relu: Optional[Tuple[str, float]] = None) -> OptimResult:
    """Minimize ``objective`` over ``param``; every image of the batch independently.

    Each iteration: pass the image through the ``transforms`` (random in stages marked ``jitter``,
    their deterministic versions otherwise), evaluate the per-image energies (every layer the
    objective reads comes from one forward pass), take the gradient of their sum with respect to
    the parameter only (model weights get no gradient), step, project. ``optimizer``: one of ours
    or any ``torch.optim`` class.
    ``relu``: ``(rule, slope)`` - every ReLU of ``rep``'s network computes this backward rule while the
    loop runs (:func:`preimage.backward.relu_rule`; the codes themselves do not change).
    """
    with relu_rule(*relu, model=rep.network if rep is not None else None) if relu is not None else contextlib.nullcontext():
        return _optimize(param, objective, optimizer, stages, rep, transforms, stop, reset_on_lr_change,
                         callback, show)


def _optimize(param, objective, optimizer, stages, rep: Optional[Representation], transforms, stop, reset_on_lr_change,
              callback, show) -> OptimResult:
    chain = as_list(transforms)
    pad = total_pad(chain)
    optimizer = as_optimizer(optimizer, stages[0].lr if stages else 1e-3)
    layers = objective.layers
    total = sum(s.iters for s in stages)
    stop = stop or StopRule(total, show=show)
    history: List[torch.Tensor] = []
    step = 0
    prev_lr = None
    t0 = time.perf_counter()
    stop.start()
    try:
        done = False
        for stage in stages:
            for i in range(stage.iters):
                lr = stage.lr_at(i)
                if prev_lr is not None and lr != prev_lr and reset_on_lr_change and i == 0:
                    optimizer.reset()
                optimizer.lr = lr
                prev_lr = lr
                full = param.image()
                ctx = Context(apply(chain, full, random=stage.jitter), param.u, rep, layers,
                              progress=step / max(total - 1, 1))
                e = objective(ctx)
                if not math.isfinite(float(e.detach().sum())):  # NaN or inf anywhere
                    raise DivergedError(f"the optimization diverged at iteration {step + 1} (energy {float(e.detach().max()):g}); "
                                        f"the learning rate is too large for this layer: use fewer iterations of "
                                        f"this preset or another preset (--preset default)")
                (g,) = torch.autograd.grad(e.sum(), param.u)
                optimizer.step(param.u, g)
                param.project()
                e = e.detach()
                history.append(e)
                if callback is not None:
                    callback(step, e)
                if stop(step, e):
                    done = True
                    break
                step += 1
            if done:
                break
    finally:
        stop.close()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        full = param.image()
        ctx = Context(apply(chain, full, random=False), param.u, rep, layers)
        terms = {t.name: t(ctx).detach() for t in objective.terms()}
        image = center(full, pad).clamp(0, 1)
    return OptimResult(image=image.detach(), history=torch.stack(history) if history else torch.empty(0),
                       iterations=len(history), seconds=seconds, terms=terms)
