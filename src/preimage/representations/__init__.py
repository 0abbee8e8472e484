"""Representations Phi: images in [0, 1] -> features."""

from .base import Representation
from .cnn import CNNLayer, LayerInfo, probe_layers, resolve_layer

__all__ = ["Representation", "CNNLayer", "LayerInfo", "probe_layers", "resolve_layer", "build"]


def build(model: str, layer: str | None = None, weights: str | None = None, mean=None, std=None,
          size: int | None = None, pretrained: bool = True) -> Representation:
    """A representation from a model spec (and a layer, for CNNs)."""
    from ..errors import LayerError
    from ..models import load_model

    info = load_model(model, weights=weights, mean=mean, std=std, input_size=size, pretrained=pretrained)
    if layer is None:
        raise LayerError(f"model {model!r} needs --layer; 'preimage layers {model}' lists them")
    return CNNLayer(info.module, layer, mean=info.mean, std=info.std, aliases=info.aliases,
                    input_size=info.input_size, name=f"{info.name}/{layer}")
