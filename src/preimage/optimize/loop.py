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

    def frozen(self) -> Optional[torch.Tensor]:
        """(N,) bool: the images whose run has ended (their parameters are held from then on), or
        None when this rule ends the whole batch at once. Read after each ``__call__``."""
        return None

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


class Converged(StopRule):
    """Stops each image on its own when it has converged: when the best energy of its last
    ``window`` iterations is lower than its best before them by at most ``rel_tol`` of that
    (relative), its parameters are held from then on and it is done; the run ends when every image
    is done, or at ``total`` (a cap). Each image's decision reads its own energies only, so a result
    never depends on its batch companions (its start, jitter and optimizer state are its own too).
    The test starts at iteration ``after`` (the end of a jittered phase, whose energies are noisy and
    whose finish is still to come). ``stopped``: (N,) the iterations each image ran."""

    def __init__(self, total: int, window: int = 30, rel_tol: float = 1e-3, after: int = 0, **kw):
        super().__init__(total, **kw)
        if window < 1 or rel_tol < 0:
            raise ConfigError(f"a convergence test needs a window of at least 1 and a tolerance >= 0, got "
                              f"{window} and {rel_tol}")
        self.window, self.rel_tol, self.after = int(window), float(rel_tol), int(after)
        self.recent: List[torch.Tensor] = []
        self.best_before: Optional[torch.Tensor] = None
        self.done: Optional[torch.Tensor] = None
        self.stopped: Optional[torch.Tensor] = None

    def __call__(self, step, losses):
        cap = super().__call__(step, losses)
        e = losses.detach().double().cpu()
        if self.done is None:
            self.done = torch.zeros(e.shape[0], dtype=torch.bool)
            self.stopped = torch.full((e.shape[0],), self.total, dtype=torch.long)
        assert self.stopped is not None
        if step < self.after:
            return cap
        self.recent.append(e)
        if len(self.recent) > self.window:
            old = self.recent.pop(0)
            self.best_before = old if self.best_before is None else torch.minimum(self.best_before, old)
            best_recent = torch.stack(self.recent).min(0).values
            now = (self.best_before - best_recent <= self.rel_tol * self.best_before.abs()) & ~self.done
            self.stopped[now] = step + 1
            self.done |= now
        return cap or bool(self.done.all())

    def frozen(self):
        return self.done


@dataclass
class OptimResult:
    image: torch.Tensor                 # (N, 3, H, W) in [0, 1], center crop, clamped
    history: torch.Tensor               # (iterations, N) energy per image
    iterations: int
    seconds: float
    terms: dict = field(default_factory=dict)   # name -> (N,) final value of each summand
    stopped: Optional[torch.Tensor] = None      # (N,) iterations each image ran, if the stop rule ends images on their own


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
    held: Optional[torch.Tensor] = None     # the parameters of images whose run has ended
    frozen: Optional[torch.Tensor] = None
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
                if frozen is not None and held is not None:
                    with torch.no_grad():               # ended images keep their parameters
                        param.u[frozen] = held[frozen]
                e = e.detach()
                history.append(e)
                if callback is not None:
                    callback(step, e)
                if stop(step, e):
                    done = True
                mask = stop.frozen()
                if mask is not None and bool(mask.any()):
                    mask = mask.to(param.u.device)
                    if held is None:
                        held = param.u.detach().clone()
                    else:
                        new = mask & ~frozen if frozen is not None else mask
                        held[new] = param.u.detach()[new]
                    frozen = mask.clone()
                if done:
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
    stopped = getattr(stop, "stopped", None)
    return OptimResult(image=image.detach(), history=torch.stack(history) if history else torch.empty(0),
                       iterations=len(history), seconds=seconds, terms=terms,
                       stopped=None if stopped is None else stopped.clamp(max=len(history)))
