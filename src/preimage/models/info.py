"""What a loaded model is (:class:`ModelInfo`) and how weights are read into it, safely:
safetensors, or a torch checkpoint read with ``torch.load(..., weights_only=True)``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import WeightsError


@dataclass
class ModelInfo:
    """A model and what it takes to feed it [0, 1] images."""

    module: nn.Module
    name: str
    mean: Tuple[float, ...] = (0.0, 0.0, 0.0)
    std: Tuple[float, ...] = (1.0, 1.0, 1.0)
    input_size: int = 224
    aliases: Dict[str, str] = field(default_factory=dict)
    classes: Optional[Tuple[str, ...]] = None



def _bookkeeping(m: nn.Module) -> bool:
    """A normalization, activation, pooling, dropout, flatten or identity module: the same units as
    the layer before it, seen again."""
    mod = type(m).__module__
    return mod.startswith("torch.nn.modules.") and mod.rsplit(".", 1)[-1] in (
        "batchnorm", "normalization", "activation", "pooling", "dropout", "flatten", "linear") and \
        not isinstance(m, (nn.Linear, nn.Bilinear))


def main_layers(info: ModelInfo, nested: bool = True) -> List[str]:
    """The layers worth showing when none are named, in the model's order (its modules' order). With
    aliases: every alias but those of normalization, activation, pooling and dropout modules (refnet:
    conv1 ... conv5, fc6, fc7, fc8; a ResNet: its stem, stages and blocks, logits); ``nested=False``
    also leaves out an alias inside another one shown (a ResNet's blocks inside its stages). Without
    aliases: the convolutions and linear layers, by module path."""
    modules = list(info.module.named_modules())
    order = {n: i for i, (n, _) in enumerate(modules)}
    named = dict(modules)
    if not info.aliases:
        return [n for n, m in modules if n and isinstance(m, (nn.Conv2d, nn.Linear))]
    shown = sorted(((a, p) for a, p in info.aliases.items() if p in named and not _bookkeeping(named[p])),
                   key=lambda ap: order[ap[1]])
    if not nested:
        paths = [p for _, p in shown]
        shown = [(a, p) for a, p in shown if not any(p != q and p.startswith(q + ".") for q in paths)]
    return [a for a, _ in shown]

def read_state_dict(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """Read a weights file safely: safetensors, or a torch checkpoint with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    if path.suffix == ".safetensors" or (len(head) == 8 and not head.startswith(b"PK") and not head.startswith(b"\x80")):
        try:
            return load_file(str(path))
        except Exception as e:
            if path.suffix == ".safetensors":
                raise WeightsError(f"cannot read safetensors file {path}: {e}") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        unsafe = "weights only load failed" in str(e).lower() or "unpickl" in str(e).lower()
        why = ("it holds Python objects that only unpickling could rebuild, which preimage refuses; save its "
               "state_dict with torch.save or safetensors" if unsafe else f"{type(e).__name__}")
        raise WeightsError(f"cannot read {path} as safetensors or as a weights-only torch checkpoint ({why})") from None
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds no state dict (expected name -> tensor, or "
                           f"{{'state_dict': ...}} / {{'model': ...}})")
    return obj


def _strip_prefix(sd: Dict[str, torch.Tensor], expected: set) -> Dict[str, torch.Tensor]:
    for prefix in ("module.", "model.", "_orig_mod."):
        if sd and all(k.startswith(prefix) for k in sd) and not any(k in expected for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _short(keys, n: int = 6) -> str:
    keys = list(keys)
    s = ", ".join(keys[:n])
    return s + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a weights file into ``model`` strictly; a mismatch names the keys involved."""
    sd = read_state_dict(path)
    own = model.state_dict()
    sd = _strip_prefix(sd, set(own))
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_short(unexpected)}")
        if wrong:
            parts.append(f"shape mismatch: {_short(wrong, 3)}")
        raise WeightsError(f"weights {path} do not fit the model: " + "; ".join(parts))
    model.load_state_dict({k: sd[k].to(own[k].dtype) for k in own}, strict=True)
    return model
