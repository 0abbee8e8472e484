"""A CNN cut at a named layer, as a representation.

Any ``nn.Module`` works: the layer is addressed by module path (``features.8``, ``layer2.1.conv1``)
or by an alias the model provides (``conv3``). A forward hook on the target module captures its
output and stops the forward pass there, so nothing past the layer runs, whatever the model's
``forward`` looks like.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import LayerError, ModelError
from ..hooks import StopForward, capture, device_of, first_tensor, forward_hooks, resolve_layer
from ..models.loading import ModelInfo
from .base import Hints, Representation


@dataclass
class LayerInfo:
    path: str
    alias: Optional[str]
    kind: str
    shape: Optional[Tuple[int, ...]]
    stride: Optional[int]


def _pow2_stride(in_hw: int, out_hw: int) -> int:
    r = in_hw / max(out_hw, 1)
    return int(2 ** round(math.log2(max(r, 1.0))))


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
        t = first_tensor(out)
        shape = tuple(t.shape[1:]) if t is not None else None
        if shape is not None and len(shape) >= 3:
            last_stride[0] = _pow2_stride(size, shape[-1])
        if n not in seen:
            order.append(n)
        seen[n] = LayerInfo(n, rev.get(n), type(mod).__name__, shape, last_stride[0] if shape else None)
        if stop_at is not None and n == stop_at:
            raise StopForward

    dev = device_of(model)
    x = torch.full((1, 3, size, size), 0.5, device=dev)
    x = (x - torch.tensor(mean, device=dev).view(1, 3, 1, 1)) / torch.tensor(std, device=dev).view(1, 3, 1, 1)
    was_training = model.training
    model.eval()
    try:
        with forward_hooks([(m, hook) for m in names]), torch.no_grad():
            model(x)
    except StopForward:
        pass
    except Exception as e:
        raise ModelError(f"a {size}x{size} forward pass through the model failed: {type(e).__name__}: {e}".splitlines()[0]) from None
    finally:
        model.train(was_training)
    result = [seen[n] for n in order]
    if stop_at is None:
        result += [LayerInfo(n, rev.get(n), type(m).__name__, None, None)
                   for n, m in model.named_modules() if n and n not in seen]
    return result


_ALIAS = re.compile(r"^(conv|relu|pool|norm|bn|lrn|fc)(\d+)")


def cvpr_band(name: str, relative_depth=lambda: 1.0) -> float:
    """The CVPR-2015 TV band of a layer: 1 for conv1 ... relu2, 10 for pool2 ... relu4, 100 for
    conv5 ... fc8 (AlexNet-style names); other layers by ``relative_depth()`` (first, middle, last
    third of the modules that run)."""
    m = _ALIAS.match(name)
    if m:
        kind, k = m.group(1), int(m.group(2))
        if k <= 1 or (k == 2 and kind not in ("pool", "norm", "lrn")):
            return 1.0
        return 10.0 if k <= 4 else 100.0
    frac = float(relative_depth())
    return 1.0 if frac <= 1 / 3 else (10.0 if frac <= 2 / 3 else 100.0)


class CNNLayer(Representation):
    mean: torch.Tensor
    std: torch.Tensor

    """``Phi(x)`` = the output of module ``layer`` of ``model`` for the normalized image ``x``.

    Args:
        model: any ``nn.Module``; it is put in eval mode and its parameters are never updated.
        layer: module path or alias.
        mean, std: the normalization the model expects of [0, 1] RGB images.
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
        self.mean = self.mean.to(device_of(model))
        self.std = self.std.to(device_of(model))
        self.input_size = int(input_size)
        self.name = name or f"{type(model).__name__}/{self.alias or self.path}"
        info = probe_layers(model, self.input_size, self.aliases, mean, std, stop_at=self.path)
        if not info or info[-1].path != self.path:
            raise LayerError(f"layer {layer!r} ({self.path}) does not run in the model's forward pass")
        self._shape = info[-1].shape
        self._stride = info[-1].stride or 1
        self.depth = len(info)  # modules run up to and including the target

    @classmethod
    def from_info(cls, info: ModelInfo, layer: str, input_size: Optional[int] = None) -> "CNNLayer":
        """Layer ``layer`` of a loaded model, with its normalization, aliases and input size (or
        ``input_size``), named ``MODEL/LAYER``."""
        return cls(info.module, layer, info.mean, info.std, info.aliases, input_size or info.input_size,
                   name=f"{info.name}/{layer}")

    @property
    def stride(self) -> int:
        return self._stride

    @property
    def network(self) -> nn.Module:
        return self.model

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

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        with capture(self.model, [self.path]) as cap:
            return cap(self.normalize(x))[self.path]

    def features_at(self, x: torch.Tensor, layers: Sequence[Optional[str]]) -> Dict[Optional[str], torch.Tensor]:
        """The outputs of several layers of the same model in one forward pass (``None``: this
        representation's own layer). Objectives bound to other layers read them from here."""
        paths = {k: (self.path if k is None else resolve_layer(self.model, k, self.aliases)) for k in layers}
        with capture(self.model, sorted(set(paths.values()))) as cap:
            out = cap(self.normalize(x))
        return {k: out[p] for k, p in paths.items()}

    def spec(self) -> Dict:
        """Model class, module path and input normalization (the weights are compared by digest)."""
        return {"kind": "cnn", "model": type(self.model).__name__, "layer": self.path,
                "mean": [round(float(v), 6) for v in self.mean.view(3)],
                "std": [round(float(v), 6) for v in self.std.view(3)]}

    def mean_color(self) -> Optional[torch.Tensor]:
        return self.mean.detach().view(3)

    def hints(self) -> Hints:
        return Hints(mv2015_lambda_tv=cvpr_band(self.alias or self.layer, lambda: self.relative_depth))

    def train(self, mode: bool = True):
        # The wrapped model always stays in eval mode (batch norm, dropout frozen).
        super().train(mode)
        self.model.eval()
        return self
