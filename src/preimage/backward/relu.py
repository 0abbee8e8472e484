"""Backward rules for ReLU, however a network calls it.

ReLU reaches autograd through ``nn.ReLU`` modules (which call ``F.relu``), ``F.relu`` /
``torch.relu`` / ``Tensor.relu`` in a ``forward``, in place or not. :func:`relu_rule` routes all of
these, for the duration of a ``with`` block, to one autograd function whose forward is the ordinary
ReLU (the codes do not change) and whose backward is the chosen rule; on exit everything is as before.

Scope. Given the ``model`` it is applied to, the rule reaches that model only: its ``nn.ReLU``
modules get the rule on the module itself (their ``forward``, restored on exit), and the functional
calls - which PyTorch offers no per-model hook for - are replaced for the block but answer with the
rule only while that model's forward pass runs in this thread (a forward pre-hook and an
always-called forward hook on the model mark it); any other caller in the process, in the block or
in another thread, gets the ordinary ReLU. Without ``model`` every ReLU the process computes in the
block follows the rule.

Rules (``grad``: the gradient arriving from above, ``x``: the ReLU's input):

* ``gradient``: ``1[x > 0] * grad`` (plain backprop);
* ``leaky``: ``(1[x > 0] + slope * 1[x <= 0]) * grad`` - a surrogate gradient through inactive
  units, so an optimizer can switch on a unit the target code has on (``slope`` is read at every
  backward pass: a schedule may change it);
* ``soft``: ``sigmoid(x / (slope * rms(x))) * grad`` - the gradient of a softened ReLU whose
  temperature is ``slope`` times the root mean square of the ReLU's input for that image at that
  pass: the scale is read from the network's own activations, so it means
  the same on a BatchNorm network and on one without. Units just below threshold get part of the
  gradient, far ones almost none (the default preset's inversion uses it, ``slope`` 0.2);
* ``deconvnet``: ``max(grad, 0)``, ignoring the forward input (Zeiler & Fergus);
* ``guided``: ``1[x > 0] * max(grad, 0)`` (Springenberg et al.).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

RULES = ("gradient", "leaky", "deconvnet", "guided")
#: rules for optimizing an image (not for visualizing a backward pass)
SURROGATES = ("leaky", "soft")


class RuleState:
    """The active rule and its slope (mutable, so a schedule can anneal it inside one block)."""

    def __init__(self, rule: str = "gradient", slope: float = 0.0):
        if rule not in RULES + SURROGATES:
            raise ConfigError(f"unknown backward rule {rule!r}; valid: {', '.join(dict.fromkeys(RULES + SURROGATES))}")
        self.rule, self.slope = rule, float(slope)


def _soft(x: torch.Tensor, slope: float) -> torch.Tensor:
    """``sigmoid(x / (slope * rms(x)))``, the root mean square taken per image (every dimension but
    the first), so no image's gradient depends on another's."""
    dims = list(range(1, x.dim())) or [0]
    n = x[0].numel() if x.dim() > 1 else x.numel()
    rms = torch.linalg.vector_norm(x, dim=dims, keepdim=True).mul_(n ** -0.5).clamp_min_(1e-12)
    return (x * rms.mul_(slope).reciprocal_()).sigmoid_()


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
        ctx.state = state
        if state.rule == "soft" and state.slope > 0:
            # the soft rule needs the input itself; its slope is fixed at this forward pass
            ctx.slope = state.slope
            ctx.save_for_backward(x.clone() if inplace else x)
            if inplace:
                ctx.mark_dirty(x)
                return torch._C._VariableFunctions.relu_(x)
            return torch._C._VariableFunctions.relu(x)
        ctx.slope = None
        on = x > 0
        ctx.save_for_backward(on)
        if inplace:
            ctx.mark_dirty(x)
            return x.mul_(on)
        return x * on

    @staticmethod
    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        if ctx.slope is not None:
            return _soft(saved, ctx.slope).mul_(g), None, None
        return _backward(ctx.state, saved, g), None, None


@contextlib.contextmanager
def relu_rule(rule: str = "gradient", slope: float = 0.0, model: Optional[nn.Module] = None) -> Iterator[RuleState]:
    """Every ReLU in the block - or, given ``model``, every ReLU of that model's forward passes -
    computes ``relu`` forward and ``rule`` backward (see the module doc for the rules and the scope).

    Yields the :class:`RuleState`; set its ``slope`` to change the leak while the block runs.
    """
    state = RuleState(rule, slope)
    saved = (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_)
    inside = threading.local()  # how deep this thread is in ``model``'s forward pass

    def applies() -> bool:
        return model is None or getattr(inside, "depth", 0) > 0

    def relu(x, inplace: bool = False):
        if not torch.is_grad_enabled() or not x.requires_grad or not applies():
            return torch._C._VariableFunctions.relu_(x) if inplace else torch._C._VariableFunctions.relu(x)
        return _RuleReLU.apply(x, state, inplace)

    def method(self):
        return relu(self)

    handles: List = []
    modules: List[Tuple[nn.Module, Optional[object]]] = []  # each nn.ReLU and the forward it had as an attribute
    if model is not None:
        def enter(module, args):
            inside.depth = getattr(inside, "depth", 0) + 1

        def leave(module, args, out):
            inside.depth -= 1

        handles = [model.register_forward_pre_hook(enter), model.register_forward_hook(leave, always_call=True)]
        for m in model.modules():
            if type(m) is nn.ReLU:  # the module itself carries the rule (an instance attribute, undone on exit)
                modules.append((m, vars(m).get("forward")))
                m.forward = (lambda mod: lambda x: relu(x, mod.inplace))(m)  # type: ignore[method-assign]
    F.relu = relu  # type: ignore[assignment]
    torch.relu = relu  # type: ignore[assignment]
    torch.relu_ = lambda x: relu(x, inplace=True)  # type: ignore[assignment]
    torch.Tensor.relu = method  # type: ignore[method-assign]
    torch.Tensor.relu_ = lambda self: relu(self, inplace=True)  # type: ignore[method-assign]
    try:
        yield state
    finally:
        F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_ = saved  # type: ignore[method-assign]
        for h in handles:
            h.remove()
        for m, before in reversed(modules):  # an enclosing rule's forward comes back
            if before is None:
                del m.forward
            else:
                m.forward = before  # type: ignore[assignment]
