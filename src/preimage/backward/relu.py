"""Backward rules for ReLU, however a network calls it.

ReLU reaches autograd through ``nn.ReLU`` modules (which call ``F.relu``), ``F.relu`` /
``torch.relu`` / ``Tensor.relu`` in a ``forward``, in place or not. :func:`relu_rule` swaps all of
these, for the duration of a ``with`` block, for one autograd function whose forward is the ordinary
ReLU (the codes do not change) and whose backward is the chosen rule; on exit everything is as before.

Rules (``grad``: the gradient arriving from above, ``x``: the ReLU's input):

* ``gradient``: ``1[x > 0] * grad`` (plain backprop);
* ``leaky``: ``(1[x > 0] + slope * 1[x <= 0]) * grad`` - a surrogate gradient through inactive
  units, so an optimiser can switch on a unit the target code has on (``slope`` is read at every
  backward pass: a schedule may change it);
* ``deconvnet``: ``max(grad, 0)``, ignoring the forward input (Zeiler & Fergus);
* ``guided``: ``1[x > 0] * max(grad, 0)`` (Springenberg et al.).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F

RULES = ("gradient", "leaky", "deconvnet", "guided")


class RuleState:
    """The active rule and its slope (mutable, so a schedule can anneal it inside one block)."""

    def __init__(self, rule: str = "gradient", slope: float = 0.0):
        if rule not in RULES:
            from ..errors import ConfigError

            raise ConfigError(f"unknown backward rule {rule!r}; valid: {', '.join(RULES)}")
        self.rule, self.slope = rule, float(slope)


def _backward(st: RuleState, on: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    if st.rule == "deconvnet":
        return g.clamp_min(0)
    if st.rule == "guided":
        return g.clamp_min(0) * on
    if st.rule == "leaky" and st.slope:
        return torch.where(on, g, g * st.slope)
    return g * on


class _RuleReLU(torch.autograd.Function):
    """ReLU forward (in place when asked: the input is marked dirty), the state's rule backward."""

    @staticmethod
    def forward(ctx, x, state, inplace):
        on = x > 0
        ctx.save_for_backward(on)
        ctx.state = state
        if inplace:
            ctx.mark_dirty(x)
            return x.mul_(on)
        return x * on

    @staticmethod
    def backward(ctx, g):
        (on,) = ctx.saved_tensors
        return _backward(ctx.state, on, g), None, None


@contextlib.contextmanager
def relu_rule(rule: str = "gradient", slope: float = 0.0) -> Iterator[RuleState]:
    """Every ReLU in the block computes ``relu`` forward and ``rule`` backward (see the module doc).

    Yields the :class:`RuleState`; set its ``slope`` to change the leak while the block runs.
    """
    state = RuleState(rule, slope)
    saved = (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_)

    def relu(x, inplace: bool = False):
        if not torch.is_grad_enabled() or not x.requires_grad:
            return torch._C._VariableFunctions.relu_(x) if inplace else torch._C._VariableFunctions.relu(x)
        return _RuleReLU.apply(x, state, inplace)

    def method(self):
        return relu(self)

    F.relu = relu  # type: ignore[assignment]
    torch.relu = relu  # type: ignore[assignment]
    torch.relu_ = lambda x: relu(x, inplace=True)  # type: ignore[assignment]
    torch.Tensor.relu = method  # type: ignore[method-assign]
    torch.Tensor.relu_ = lambda self: relu(self, inplace=True)  # type: ignore[method-assign]
    try:
        yield state
    finally:
        F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_ = saved  # type: ignore[method-assign]
