"""Natural-image priors as pure batched functions: (N, C, H, W) -> (N,)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TV_GRAD_EPS = 1e-5


def sq_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-image squared L2 norm, (N, ...) -> (N,) (the cheapest form forward + backward on CPU)."""
    return (t * t).reshape(t.shape[0], -1).sum(1)


def alpha_norm(u: torch.Tensor, alpha: float = 6.0, form: str = "sum") -> torch.Tensor:
    """The alpha-norm prior, per image.

    ``form="sum"`` (CVPR 2015): ``sum over pixels and channels of |u|^alpha``.
    ``form="pixel"`` (IJCV 2016): ``(1/HW) sum over pixels of ||u_uv||_2^alpha`` (color-vector norm).
    """
    if form == "sum":
        return u.abs().pow(alpha).flatten(1).sum(1)
    if form == "pixel":
        hw = u.shape[-2] * u.shape[-1]
        sq = u.pow(2).sum(1)  # (N, H, W)
        return sq.pow(alpha / 2).flatten(1).sum(1) / hw
    raise ValueError(f"alpha_norm form must be 'sum' or 'pixel', got {form!r}")


def _power_clamped_grad(s: torch.Tensor, p: float, eps: float = TV_GRAD_EPS) -> torch.Tensor:
    """``s ** p`` whose gradient is taken at ``max(s, eps)`` (finite where s = 0 and p < 1)."""
    if p >= 1:
        return s.pow(p)
    sc = s.clamp_min(eps).pow(p)
    return sc + (s.detach().pow(p) - sc.detach())


def total_variation(u: torch.Tensor, beta: float = 2.0, form: str = "sum") -> torch.Tensor:
    """TV^beta per image: ``sum over pixels and channels of (d1^2 + d2^2)^(beta/2)``.

    Forward differences with the last row/column replicated (so the difference there is zero).
    ``form="mean"`` divides by H*W (IJCV 2016). For ``beta < 2`` the gradient of the power is
    evaluated at ``max(d1^2 + d2^2, 1e-5)``.
    """
    if beta == 2:
        # (d1^2 + d2^2)^1 summed = sum of d1^2 plus sum of d2^2 (the replicated edge adds zeros)
        out = _TV2.apply(u)
        if form == "mean":
            return out / (u.shape[-2] * u.shape[-1])
        if form != "sum":
            raise ValueError(f"total_variation form must be 'sum' or 'mean', got {form!r}")
        return out
    dx = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    s = dx.pow(2) + dy.pow(2)
    v = s if beta == 2 else _power_clamped_grad(s, beta / 2)
    out = v.flatten(1).sum(1)
    if form == "mean":
        out = out / (u.shape[-2] * u.shape[-1])
    elif form != "sum":
        raise ValueError(f"total_variation form must be 'sum' or 'mean', got {form!r}")
    return out


class _TV2(torch.autograd.Function):
    """Per-image ``sum d1^2 + sum d2^2`` with a hand-written backward: one gradient buffer instead
    of a zero-filled copy per slice (the prior runs every iteration)."""

    @staticmethod
    def forward(ctx, u):
        dx = u[..., :, 1:] - u[..., :, :-1]
        dy = u[..., 1:, :] - u[..., :-1, :]
        ctx.save_for_backward(dx, dy)
        ctx.shape = u.shape
        return sq_norm(dx) + sq_norm(dy)

    @staticmethod
    def backward(ctx, grad):
        dx, dy = ctx.saved_tensors
        g = torch.zeros(ctx.shape, dtype=dx.dtype, device=dx.device)
        w = (2 * grad).view(-1, *([1] * (len(ctx.shape) - 1)))
        dx = dx * w
        dy = dy * w
        g[..., :, 1:] += dx
        g[..., :, :-1] -= dx
        g[..., 1:, :] += dy
        g[..., :-1, :] -= dy
        return g
