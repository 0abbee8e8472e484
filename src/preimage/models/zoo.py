"""Named models: short names users can type, with normalisation, input size and layer aliases."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from torch import nn

from ..errors import WeightsError
from . import refnet as _refnet
from .loading import ModelInfo, load_weights


@dataclass
class ZooEntry:
    factory: Callable[[], nn.Module]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    input_size: int
    aliases: Dict[str, str] = field(default_factory=dict)
    bundled: Optional[str] = None          # file name under preimage/models/weights
    classes: Optional[Tuple[str, ...]] = None
    about: str = ""


MODELS: Dict[str, ZooEntry] = {
    "refnet": ZooEntry(_refnet.refnet, _refnet.CIFAR10_MEAN, _refnet.CIFAR10_STD, 32, _refnet.REFNET_ALIASES,
                       bundled="refnet.safetensors", classes=_refnet.CIFAR10_CLASSES,
                       about="AlexNet-shaped CIFAR-10 classifier trained by this project (32x32)"),
}


def bundled_path(filename: str) -> Path:
    return Path(str(resources.files("preimage.models") / "weights" / filename))


def build(name: str, weights: Optional[str] = None, pretrained: bool = True) -> ModelInfo:
    e = MODELS[name]
    module = e.factory()
    if weights is not None:
        load_weights(module, weights)
    elif pretrained and e.bundled:
        path = bundled_path(e.bundled)
        if not path.is_file():
            raise WeightsError(f"{name}: bundled weights {path} are missing; pass --weights FILE")
        load_weights(module, path)
    return ModelInfo(module=module, name=name, mean=e.mean, std=e.std, input_size=e.input_size,
                     aliases=dict(e.aliases), classes=e.classes)
