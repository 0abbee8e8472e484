"""A CNN cut at a named layer, as a representation.

Any ``nn.Module`` works: the layer is addressed by module path (``features.8``, ``layer2.1.conv1``)
or by an alias the model provides (``conv3``). A forward hook on the target module captures its
output and stops the forward pass there, so nothing past the layer runs, whatever the model's
``forward`` looks like.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import LayerError, ModelError
from .base import Representation


class _Stop(Exception):
    """Raised by the capture hook to end the forward pass at the target layer."""


@dataclass
class LayerInfo:
    path: str
    alias: Optional[str]
    kind: str
    shape: Optional[Tuple[int, ...]]
    stride: Optional[int]


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, dict):
        for v in out.values():
            if isinstance(v, torch.Tensor):
                return v
    return None


def _pow2_stride(in_hw: int, out_hw: int) -> int:
    r = in_hw / max(out_hw, 1)
    return int(2 ** round(math.log2(max(r, 1.0))))


def _device_of(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


def probe_layers(model: nn.Module, size: int, aliases: Optional[Dict[str, str]] = None,
                 mean: Sequence[float] = (0, 0, 0), std: Sequence[float] = (1, 1, 1),
                 stop_at: Optional[str] = None) -> List[LayerInfo]:
    """Run one forward pass at ``size`` x ``size`` and record every module's output shape and stride.

    Modules listed in execution order; those that never ran are listed last with no shape.
    """
    rev = {v: k for k, v in (aliases or {}).items()}
    names = {m: n for n, m in model.named_modules() if n}
    seen: Dict[str, LayerInfo] = {}
    order: List[str] = []
    last_stride = [1]

    def hook(mod, inp, out):
        n = names.get(mod)
        if n is None:
            return
        t = _first_tensor(out)
        shape = tuple(t.shape[1:]) if t is not None else None
        if shape is not None and len(shape) >= 3:
            last_stride[0] = _pow2_stride(size, shape[-1])
        if n not in seen:
            order.append(n)
        seen[n] = LayerInfo(n, rev.get(n), type(mod).__name__, shape, last_stride[0] if shape else None)
        if stop_at is not None and n == stop_at:
            raise _Stop

    handles = [m.register_forward_hook(hook) for m in names]
    dev = _device_of(model)
    x = torch.full((1, 3, size, size), 0.5, device=dev)
    x = (x - torch.tensor(mean, device=dev).view(1, 3, 1, 1)) / torch.tensor(std, device=dev).view(1, 3, 1, 1)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    except Exception as e:
        raise ModelError(f"a {size}x{size} forward pass through the model failed: {type(e).__name__}: {e}".splitlines()[0]) from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result = [seen[n] for n in order]
    if stop_at is None:
        result += [LayerInfo(n, rev.get(n), type(m).__name__, None, None)
                   for n, m in model.named_modules() if n and n not in seen]
    return result


def resolve_layer(model: nn.Module, layer: str, aliases: Optional[Dict[str, str]] = None) -> str:
    """Alias or module path -> module path; unknown names fail listing the nearest valid ones."""
    aliases = aliases or {}
    paths = [n for n, _ in model.named_modules() if n]
    if layer in aliases:
        return aliases[layer]
    if layer in paths:
        return layer
    valid = list(aliases) + paths
    near = difflib.get_close_matches(layer, valid, n=5, cutoff=0.4)
    if not near:
        near = valid[:8]
    raise LayerError(f"unknown layer {layer!r}; nearest valid names: {', '.join(near)}"
                     f" ('preimage layers MODEL' lists all {len(valid)})")


class CNNLayer(Representation):
    """``Phi(x)`` = the output of module ``layer`` of ``model`` for the normalised image ``x``.

    Args:
        model: any ``nn.Module``; it is put in eval mode and its parameters are never updated.
        layer: module path or alias.
        mean, std: the normalisation the model expects of [0, 1] RGB images.
        aliases: alias -> module path (default: the model's ``preimage_aliases`` attribute, if any).
        input_size: the size used to probe output shape and stride.
    """

    def __init__(self, model: nn.Module, layer: str, mean: Sequence[float] = (0, 0, 0),
                 std: Sequence[float] = (1, 1, 1), aliases: Optional[Dict[str, str]] = None,
                 input_size: int = 224, name: Optional[str] = None):
        super().__init__()
        self.model = model.eval()
        self.aliases = dict(aliases if aliases is not None else getattr(model, "preimage_aliases", {}))
        self.path = resolve_layer(model, layer, self.aliases)
        self.layer = layer
        self.alias = {v: k for k, v in self.aliases.items()}.get(self.path)
        self.target = dict(model.named_modules())[self.path]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.mean = self.mean.to(_device_of(model))
        self.std = self.std.to(_device_of(model))
        self.input_size = int(input_size)
        self.name = name or f"{type(model).__name__}/{self.alias or self.path}"
        info = probe_layers(model, self.input_size, self.aliases, mean, std, stop_at=self.path)
        if not info or info[-1].path != self.path:
            raise LayerError(f"layer {layer!r} ({self.path}) does not run in the model's forward pass")
        self._shape = info[-1].shape
        self._stride = info[-1].stride or 1
        self.depth = len(info)  # modules run up to and including the target

    @property
    def stride(self) -> int:
        return self._stride

    @property
    def relative_depth(self) -> float:
        """Position of the layer among the modules that run, in (0, 1]."""
        if getattr(self, "_total_depth", None) is None:
            full = probe_layers(self.model, self.input_size, self.aliases, self.mean.view(3).tolist(),
                                self.std.view(3).tolist())
            self._total_depth = sum(1 for i in full if i.shape is not None)
        return self.depth / max(self._total_depth, 1)

    @property
    def probed_shape(self) -> Optional[Tuple[int, ...]]:
        """Output shape (no batch dimension) at ``input_size``."""
        return self._shape

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        captured = []

        def hook(mod, inp, out):
            captured.append(_first_tensor(out))
            raise _Stop

        h = self.target.register_forward_hook(hook)
        try:
            self.model(self.normalise(x))
        except _Stop:
            pass
        finally:
            h.remove()
        if not captured:
            raise LayerError(f"layer {self.path} did not run in the forward pass")
        return captured[0]

    def train(self, mode: bool = True):
        # The wrapped model always stays in eval mode (batch norm, dropout frozen).
        super().train(mode)
        self.model.eval()
        return self
