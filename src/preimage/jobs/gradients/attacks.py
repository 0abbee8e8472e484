"""The server's attacks on one shared update: the labels first, then the images.

Labels (:func:`recover_labels`), read from the last layer's share of the update ``g`` (for a FedAvg
weight difference, ``-g``: one SGD step is minus a multiple of the gradient):

* ``B = 1`` - **iDLG** (Zhao et al. 2020): with cross-entropy, the gradient of the last layer's row
  ``k`` is ``(p_k - y_k) h``; the features ``h`` after a ReLU or sigmoid are not negative, so only the
  true class's row sums to a negative number. The label is the row with the most negative sum.
* ``B > 1`` - a count rule (after Wainakh et al.'s LLG, :func:`count_rule`): a class is present when
  its weight-gradient row has a negative entry (an absent class's row is ``sum_i p_ik h_i >= 0``);
  the slots left over go by the magnitude of the bias gradient ``sum_i (p_ik - y_ik) / B`` (the
  rows' sums without a bias): one at a time, to the present class whose entry stays most negative
  after adding the mean impact of one example for each slot it already has.

Images, on the same engine as inversion (:class:`~preimage.optimize.param.PixelParam` with the box
constraint, :class:`~preimage.optimize.optimizers.Adam`) and differentiating the client's own
computation (:meth:`Client.shared` with ``create_graph=True``: the double backward):

* ``ig`` - **inverting gradients** (Geiping et al. 2020): one cosine distance between the dummy's
  update and the shared one over all parameters (inner products and norms summed over the tensors),
  plus ``tv`` x the anisotropic total variation (mean absolute horizontal plus vertical difference),
  minimized by Adam on the gradient's sign, lr ``0.1`` divided by 10 at 3/8, 5/8 and 7/8 of the
  run, pixels projected into [0, 1] after every step; the variable is the image in the model's
  normalized units (``(x - mean) / std``, as in the paper; one std for all channels) started from a
  standard normal draw keyed by (seed, image, restart).
* ``dlg`` - **deep leakage from gradients** (Zhu et al. 2019): the squared distance between the
  updates minimized by L-BFGS (torch's, strong-Wolfe line search, history 100) from the same start,
  the labels given or (``labels="optimize"``) optimized jointly as soft labels; no box constraint
  (the result is clamped into [0, 1] before it is scored).

With restarts, the restart whose final gradient distance is smallest is kept. The attacker is not
adaptive: against a defended update it matches the plain update of its dummy batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch

from ...errors import ConfigError
from ...keys import keyed
from ...optimize.optimizers import Adam
from ...optimize.param import PixelParam
from .client import Client, Grads

METHODS = ("ig", "dlg")
LABELS = ("recovered", "true", "optimize")
#: inverting gradients' step decay: the learning rate divided by 10 at these fractions of the run
MILESTONES = (3 / 8, 5 / 8, 7 / 8)


@dataclass(frozen=True)
class AttackSettings:
    method: str = "ig"
    iters: int = 3000
    restarts: int = 1
    lr: float = 0.1
    tv: float = 0.01
    labels: str = "recovered"

    def check(self) -> "AttackSettings":
        if self.method not in METHODS:
            raise ConfigError(f"--attack must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.labels not in LABELS:
            raise ConfigError(f"--labels must be one of {', '.join(LABELS)}, got {self.labels!r}")
        if self.labels == "optimize" and self.method != "dlg":
            raise ConfigError("--labels optimize (soft labels optimized with the images) is DLG's: use --attack dlg")
        if self.iters < 1 or self.restarts < 1:
            raise ConfigError(f"--iters and --restarts must be at least 1, got {self.iters} and {self.restarts}")
        if not (math.isfinite(self.lr) and self.lr > 0) or not (math.isfinite(self.tv) and self.tv >= 0):
            raise ConfigError(f"--lr must be positive and --tv at least 0, got {self.lr} and {self.tv}")
        return self

    def to_json(self) -> dict:
        d = {"method": self.method, "iters": self.iters, "restarts": self.restarts, "labels": self.labels}
        if self.method == "ig":
            d.update({"lr": self.lr, "tv": self.tv, "objective": "cosine distance over all parameters + tv x "
                      "anisotropic TV (of the normalized image)", "optimizer": "Adam on the gradient's sign, lr /10 "
                      "at 3/8, 5/8, 7/8 of the run", "constraint": "pixels in [0, 1] (projection after every step)"})
        else:
            d.update({"objective": "squared distance summed over all parameters", "optimizer": "L-BFGS (strong "
                      "Wolfe line search, history 100), iters = its iteration limit", "constraint": "none (clamped "
                      "into [0, 1] for scoring)"})
        return d


# ---------------------------------------------------------------- labels
def count_rule(rows: torch.Tensor, v: torch.Tensor, b: int) -> List[int]:
    """``b`` labels (with repeats) from the last layer's weight-gradient ``rows`` (K, D) and one entry
    per class ``v`` (K,) (the bias gradient, or the rows' sums), both of the gradient's sign.

    A class is present when its row has a negative entry (with features that are not negative, a
    class absent from the batch only gets ``p_k h`` added: a row of numbers >= 0); if more than
    ``b`` are, the ``b`` whose smallest entry is most negative. The slots left go one at a time to
    the present class whose ``v`` stays most negative after adding the mean impact of one example
    (``v``'s negative mass over ``b``) for each slot it already has."""
    rows = rows.detach().double().flatten(1)
    v = v.detach().double().flatten()
    low = rows.min(1).values
    present = [int(k) for k in torch.argsort(low) if low[k] < 0]
    if not present:  # nothing is negative (a defense erased it): the b most negative entries of v
        return sorted(int(k) for k in torch.argsort(v)[:b])
    if len(present) >= b:
        return sorted(present[:b])
    counts = torch.zeros_like(v)
    counts[present] = 1
    impact = float(-v.clamp(max=0).sum()) / b
    mask = torch.full_like(v, math.inf)
    mask[present] = 0
    while int(counts.sum()) < b:
        counts[int(torch.argmin(v + counts * impact + mask))] += 1
    return sorted(k for k in range(len(v)) for _ in range(int(counts[k])))


def recover_labels(shared: Sequence[torch.Tensor], client: Client, b: int) -> List[int]:
    """The batch's labels (sorted, with repeats) from the last layer's part of ``shared``."""
    head = client.head()
    sign = 1.0 if client.mode == "gradient" else -1.0
    w = sign * shared[head.weight].detach().flatten(1)
    if b == 1:
        return [int(torch.argmin(w.sum(1)))]
    v = sign * shared[head.bias].detach() if head.bias is not None else w.sum(1)
    return count_rule(w, v, b)


# ---------------------------------------------------------------- the images
@dataclass
class Attempt:
    """An attack's outcome on one batch."""

    images: torch.Tensor            # (B, 3, H, W) in [0, 1]
    loss: float                     # the final gradient distance (cosine for ig, squared for dlg)
    iterations: int                 # optimizer steps (ig) or L-BFGS iterations (dlg), all restarts
    seconds: float
    soft: Optional[torch.Tensor] = None   # (B, K) label probabilities (dlg with optimized labels)


def start(seed: int, indices: Sequence[int], restart: int, size: int) -> torch.Tensor:
    """The keyed start of each image of a batch, in normalized units: (B, 3, size, size)."""
    return torch.stack([torch.randn(3, size, size, generator=keyed(seed, "gradient-start", int(i), restart))
                        for i in indices])


def cosine_distance(g: Sequence[torch.Tensor], t: Sequence[torch.Tensor], t_norm: torch.Tensor) -> torch.Tensor:
    """``1 - <g, t> / (|g| |t|)`` over all tensors at once."""
    dot = torch.stack([(a * b).sum() for a, b in zip(g, t)]).sum()
    gg = torch.stack([(a * a).sum() for a in g]).sum()
    return 1 - dot / (gg.sqrt() * t_norm).clamp_min(1e-30)


def squared_distance(g: Sequence[torch.Tensor], t: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack([(a - b).pow(2).sum() for a, b in zip(g, t)]).sum()


def anisotropic_tv(u: torch.Tensor) -> torch.Tensor:
    """Mean absolute horizontal plus mean absolute vertical difference (Geiping et al.'s TV)."""
    return (u[..., :, 1:] - u[..., :, :-1]).abs().mean() + (u[..., 1:, :] - u[..., :-1, :]).abs().mean()


def _param(client: Client, z: torch.Tensor, box: bool) -> PixelParam:
    mean = torch.tensor(client.info.mean, dtype=torch.float32)
    std = float(torch.tensor(client.info.std, dtype=torch.float32).mean())
    return PixelParam(z, scale=1.0 / std, offset=mean, constraint="box" if box else None)


def invert_gradients(client: Client, target: Grads, labels: torch.Tensor, z0: torch.Tensor, s: AttackSettings,
                     tick: Callable[[int], None] = lambda n: None) -> Attempt:
    """Geiping et al.'s attack from the start ``z0`` (normalized units); see the module."""
    t0 = time.perf_counter()
    target = [t.detach() for t in target]
    t_norm = torch.stack([(t * t).sum() for t in target]).sum().sqrt()
    param = _param(client, z0, box=True)
    u = param.u
    opt = Adam(s.lr)
    decay = {int(s.iters * m) for m in MILESTONES}
    for it in range(s.iters):
        if it in decay:
            opt.lr *= 0.1
        g = client.shared(param.image(), labels, create_graph=True)
        cost = cosine_distance(g, target, t_norm)
        if s.tv:
            cost = cost + s.tv * anisotropic_tv(u)
        gu, = torch.autograd.grad(cost, u)
        opt.step(u, gu.sign_())
        param.project()
        if it % 50 == 49:
            tick(50)
    tick(s.iters % 50)
    with torch.no_grad():
        x = param.image().detach().clamp(0, 1)
    final = float(cosine_distance(client.shared(x, labels), target, t_norm))
    return Attempt(x, final, s.iters, time.perf_counter() - t0)


def dlg(client: Client, target: Grads, labels: Optional[torch.Tensor], z0: torch.Tensor, s: AttackSettings,
        soft0: Optional[torch.Tensor] = None, tick: Callable[[int], None] = lambda n: None) -> Attempt:
    """Zhu et al.'s attack from the start ``z0``; ``labels`` None optimizes soft labels from ``soft0``."""
    t0 = time.perf_counter()
    target = [t.detach() for t in target]
    param = _param(client, z0, box=False)
    variables: List[torch.Tensor] = [param.u]
    soft = None
    if labels is None:
        assert soft0 is not None
        soft = soft0.detach().clone().requires_grad_()
        variables.append(soft)
    opt = torch.optim.LBFGS(variables, lr=1.0, max_iter=s.iters, history_size=100, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-15)
    done = [0]

    def closure():
        y = torch.softmax(soft, 1) if soft is not None else labels
        assert y is not None
        cost = squared_distance(client.shared(param.image(), y, create_graph=True), target)
        grads = torch.autograd.grad(cost, variables)
        for v, gv in zip(variables, grads):
            v.grad = gv.detach()
        done[0] += 1
        if done[0] % 20 == 0:
            tick(20)
        return cost.detach()

    opt.step(closure)
    iterations = int(opt.state[opt._params[0]].get("n_iter", 0))
    with torch.no_grad():
        x = param.image().detach().clamp(0, 1)
        y = torch.softmax(soft, 1).detach() if soft is not None else labels
        assert y is not None
    final = float(squared_distance(client.shared(x, y), target))
    if not math.isfinite(final):
        final = math.inf
    return Attempt(x, final, iterations, time.perf_counter() - t0, None if soft is None else y)


def attack(client: Client, target: Grads, labels: Optional[torch.Tensor], indices: Sequence[int], size: int,
           s: AttackSettings, seed: int = 0, classes: int = 10, tick: Callable[[int], None] = lambda n: None) -> Attempt:
    """The attack ``s`` on one shared update of the private images ``indices``, over its restarts;
    ``labels`` None (DLG only) optimizes soft labels."""
    best: Optional[Attempt] = None
    spent, seconds = 0, 0.0
    for r in range(s.restarts):
        z0 = start(seed, indices, r, size).to(client.params[0].device)
        if s.method == "ig":
            assert labels is not None
            a = invert_gradients(client, target, labels, z0, s, tick)
        else:
            soft0 = None
            if labels is None:
                soft0 = torch.stack([torch.randn(classes, generator=keyed(seed, "gradient-soft-label", int(i), r))
                                     for i in indices])
            a = dlg(client, target, labels, z0, s, soft0, tick)
        spent += a.iterations
        seconds += a.seconds
        if best is None or a.loss < best.loss:
            best = a
    assert best is not None
    best.iterations, best.seconds = spent, seconds
    return best
